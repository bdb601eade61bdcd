"""Figures, images, tables and the PDF report drawn from results (never fit, predict or import Streamlit)."""
