"""The networks and their checkpoint I/O (torch only; no data reading, no Streamlit)."""
