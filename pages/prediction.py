"""Prediction page: class probabilities, sequence weights, risk score, attribution map."""

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from model.cached import current_study, get_attribution, get_predictor, get_prediction, get_window
from model.errors import StudyError
from model.predictor import ATTRIBUTION_METHODS
from model.render import VIEWS, render, view_axis

st.title("Prediction")
study = current_study()
if study is None:
    st.info("Load a study on the Study page first.")
    st.stop()

card = get_predictor().card
st.caption(f"Model {card.get('name')} v{card.get('version')}: {card.get('task')}. "
           "Research use only, not a diagnosis.")
try:
    with st.spinner("Predicting..."):
        pred = get_prediction(study)
except StudyError as exc:
    st.error(str(exc))
    st.stop()

for w in pred.warnings:
    st.warning(w)

c1, c2, c3 = st.columns(3)
c1.metric("Predicted class", pred.predicted_class,
          f"p = {pred.probabilities[pred.predicted_class]:.2f}", delta_color="off", delta_arrow="off")
c2.metric("Risk score (Cox log-risk)", f"{pred.risk_score:+.2f}",
          f"{pred.risk_group} risk, {pred.risk_percentile:.0f}th percentile", delta_color="off", delta_arrow="off")
test = card.get("metrics", {}).get("test", {})
if test:
    c3.metric("Held-out accuracy / AUC", f"{test.get('accuracy', float('nan')):.2f} / "
              f"{test.get('roc_auc', float('nan')):.2f}", f"{test.get('n_patients')} unseen patients",
              delta_color="off", delta_arrow="off")

left, right = st.columns(2)
with left:
    fig = go.Figure(go.Bar(x=list(pred.probabilities.values()), y=list(pred.probabilities),
                           orientation="h", text=[f"{v:.2f}" for v in pred.probabilities.values()]))
    fig.update_layout(title="Class probabilities", xaxis_range=[0, 1], height=250,
                      margin=dict(l=10, r=10, t=40, b=10))
    st.plotly_chart(fig, width="stretch")
with right:
    fig = go.Figure(go.Bar(x=list(pred.sequence_weights), y=list(pred.sequence_weights.values()),
                           text=[f"{v:.2f}" for v in pred.sequence_weights.values()]))
    fig.update_layout(title="Sequence weights (attention fusion)", yaxis_range=[0, 1], height=250,
                      margin=dict(l=10, r=10, t=40, b=10))
    st.plotly_chart(fig, width="stretch")

with st.expander("Slice attention per sequence"):
    fig = go.Figure()
    for s, pairs in pred.slice_weights.items():
        fig.add_trace(go.Scatter(x=[z for z, _ in pairs], y=[w for _, w in pairs], mode="lines+markers", name=s))
    fig.update_layout(xaxis_title="axial slice index", yaxis_title="attention weight", height=300)
    st.plotly_chart(fig, width="stretch")

st.subheader("Where the model looked")
method = st.selectbox("Attribution method (Captum)", ATTRIBUTION_METHODS, key="attr_method")
maps_key = (study.key, method)
have = maps_key in st.session_state.get("attribution_maps", {})
if not have and st.button("Compute attribution map", type="primary", key="attr_compute"):
    bar = st.progress(0.0, text=f"Computing {method}...")
    get_attribution(study, method, progress=lambda f: bar.progress(f, text=f"Computing {method}..."))
    st.rerun()
if have:
    maps = get_attribution(study, method)
    c1, c2, c3 = st.columns(3)
    seq = c1.selectbox("Sequence", list(maps), key="attr_seq")
    view = c2.selectbox("View", VIEWS, key="attr_view")
    opacity = c3.slider("Overlay opacity", 0.0, 1.0, 0.5, key="attr_opacity")
    vol, amap = study.volumes[seq], maps[seq]
    axis = view_axis(view)
    profile = amap.sum(axis=tuple(i for i in range(3) if i != axis))
    idx = st.slider("Slice", 0, vol.shape[axis] - 1, int(np.argmax(profile)), key=f"attr_slice_{view}_{seq}")
    level, width = get_window(study, seq)
    a, b = st.columns(2)
    a.image(render(vol.data, vol.spacing_mm, view, idx, level, width), caption=f"{seq} {view} {idx + 1}",
            width="stretch")
    b.image(render(vol.data, vol.spacing_mm, view, idx, level, width, overlay=amap, opacity=opacity),
            caption=f"{method} overlay (hot colours: strongest attribution)", width="stretch")
