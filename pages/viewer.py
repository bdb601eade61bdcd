"""Viewer page: axial, coronal and sagittal slices of each sequence (radiological convention)."""

import pandas as pd
import streamlit as st

from model.cached import current_study, get_window
from model.render import EDGE_LETTERS, VIEWS, render, view_axis

st.title("Viewer")
study = current_study()
if study is None:
    st.info("Load a study on the Study page first.")
    st.stop()

seq = st.selectbox("Sequence", study.sequences, key="viewer_seq")
vol = study.volumes[seq]
level, width = get_window(study, seq)

cols = st.columns(3)
for col, view in zip(cols, VIEWS):
    axis = view_axis(view)
    n = vol.shape[axis]
    with col:
        idx = st.slider(f"{view} slice", 0, n - 1, n // 2, key=f"viewer_{view}_{seq}")
        top, bottom, left, right = EDGE_LETTERS[view]
        st.image(render(vol.data, vol.spacing_mm, view, idx, level, width),
                 caption=f"{view} {idx + 1}/{n}  ·  top {top}, bottom {bottom}, left {left}, right {right}",
                 width="stretch")

if len(study.sequences) > 1:
    st.subheader("All sequences, axial")
    z_frac = st.slider("Axial position (% of the volume)", 0, 100, 50, key="viewer_compare_z")
    cols = st.columns(len(study.sequences))
    for col, s in zip(cols, study.sequences):
        v = study.volumes[s]
        z = min(v.shape[2] - 1, round(z_frac / 100 * (v.shape[2] - 1)))
        lv, wd = get_window(study, s)
        col.image(render(v.data, v.spacing_mm, "axial", z, lv, wd, out_px=240), caption=f"{s} (slice {z + 1})",
                  width="stretch")

st.subheader("Geometry")
st.dataframe(pd.DataFrame(study.summary()).T, width="stretch")
st.caption("Images in the radiological convention: the patient's right is on the left of the image.")
for w in study.warnings:
    st.warning(w)
