"""TumorBoard model package: study I/O, preprocessing, network, predictor, attributions, survival.

Data flows one way: files -> :class:`model.imaging.study.Study` -> tensors -> predictions.
Nothing here imports Streamlit except :mod:`model.cached`.
"""
