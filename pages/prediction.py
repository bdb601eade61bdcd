"""Prediction page: class probabilities with uncertainty, sequence weights, slice attention,
risk score, Captum attribution maps over three views, and the one-page PDF report."""

import plotly.graph_objects as go
import streamlit as st

from model.inference.attribution import peak_voxel
from model.cached import current_study, get_attribution, get_predictor, get_prediction
from model.nets.checkpoint import evidence_warning
from model.core.errors import StudyError
from model.inference.classify import ATTRIBUTION_METHODS
from model.views.render import COLORMAPS, VIEWS, IntensityStats, render_views, view_axis
from model.views.report import DeferredReport, attribution_eval_summary, fmt_num, uncertainty

METHOD_HELP = {
    "Saliency": "gradient of the class score w.r.t. each input pixel (one backward pass, ~0.5 s on 2 CPU cores)",
    "LayerGradCam": "Grad-CAM on the last encoder stage of each sequence (coarse 8x8 per slice, ~0.5 s)",
    "Occlusion": "drop of the class score when each 32x32-pixel patch (16 per slice) is blanked (model-agnostic, ~1.5 s)",
    "IntegratedGradients": "gradients integrated from a blank input, 16 steps (~4 s)",
}

st.title("Prediction")
study = current_study()
if study is None:
    st.info("Load a study on the Study page first.")
    st.stop()

predictor = get_predictor()
card = predictor.card
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
evidence = evidence_warning(card)
if evidence:
    st.warning(evidence)
with st.expander("Scope of this model: read before using the answer", expanded=True):
    for item in card.get("limitations", []):
        st.markdown(f"- {item}")

unc = uncertainty(pred.probabilities)
c1, c2, c3 = st.columns(3)
c1.metric("Predicted class", pred.predicted_class,
          f"p = {pred.probabilities[pred.predicted_class]:.2f}, margin {unc['margin']:.2f}",
          delta_color="off", delta_arrow="off",
          help="Margin: top probability minus the next one; below 0.2 the model is uncertain.")
c2.metric("Risk score (Cox log-risk)", f"{pred.risk_score:+.2f}",
          f"{pred.risk_group} risk, percentile {pred.risk_percentile:.0f}", delta_color="off", delta_arrow="off")
test = card.get("metrics", {}).get("test", {})
if test:
    c3.metric("Held-out accuracy / AUC", f"{fmt_num(test.get('accuracy'))} / "
              f"{fmt_num(test.get('roc_auc'))}", f"{test.get('n_patients')} unseen patients",
              delta_color="off", delta_arrow="off")
mc = pred.uncertainty
if mc:
    sd = mc["probability_sd"][pred.predicted_class]
    st.caption(f"Monte Carlo dropout ({mc['samples']} samples): p({pred.predicted_class}) s.d. "
               f"{sd:.3f}; {mc['agreement']:.0%} of samples agree on the class; risk score s.d. "
               f"{mc['risk_sd']:.2f}. This measures the model's own uncertainty only, not whether "
               "the study is within its scope.")
if unc["margin"] < 0.2:
    st.info(f"Uncertain prediction: the two most likely classes are {unc['margin']:.2f} apart "
            f"(normalised entropy {unc['entropy']:.2f}).")

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
    fig.update_layout(title="Sequence weights (attention fusion, this case)", yaxis_range=[0, 1], height=250,
                      margin=dict(l=10, r=10, t=40, b=10))
    st.plotly_chart(fig, width="stretch")

with st.expander("Slice attention per sequence", expanded=False):
    fig = go.Figure()
    for s, pairs in pred.slice_weights.items():
        fig.add_trace(go.Scatter(x=[z for z, _ in pairs], y=[w for _, w in pairs], mode="lines+markers", name=s))
        z_top, w_top = max(pairs, key=lambda zw: zw[1])
        fig.add_annotation(x=z_top, y=w_top, text=f"{s} max z={z_top}", showarrow=True, arrowhead=2)
    k = max(len(p) for p in pred.slice_weights.values())
    fig.add_hline(y=1 / k, line_dash="dot", annotation_text="uniform 1/K")
    fig.update_layout(xaxis_title="axial slice index (RAS volume, z)", yaxis_title="attention weight",
                      height=300, margin=dict(l=10, r=10, t=30, b=10))
    st.plotly_chart(fig, width="stretch")
    st.caption("Gated attention over the model's slices (Ilse et al. 2018): which axial slices the "
               "model weighted when pooling each sequence.")

# ------------------------------------------------------------------ attribution
st.subheader("Where the model looked")
_check = attribution_eval_summary(predictor.checkpoint_dir)
if _check:
    st.info(_check + " Read the maps as a view of the input's sensitivity, not as a lesion map.")
method = st.selectbox("Attribution method (Captum)", ATTRIBUTION_METHODS, key="attr_method",
                      help="\n".join(f"{m}: {h}" for m, h in METHOD_HELP.items()))
st.caption(METHOD_HELP.get(method, ""))
maps_key = (study.key, method)
have = maps_key in st.session_state.get("attribution_maps", {})
if not have and st.button("Compute attribution map", type="primary", key="attr_compute"):
    bar = st.progress(0.0, text=f"Computing {method}...")
    get_attribution(study, method,
                    progress=lambda f: bar.progress(min(1.0, max(0.0, f)), text=f"Computing {method}... {f:.0%}"))
    st.rerun()
maps = None
if have:
    maps = get_attribution(study, method)
    c1, c2, c3, c4 = st.columns(4)
    # Default: the sequence the fusion weighted most, as in the PDF's key slices.
    seqs = list(maps)
    top = max(seqs, key=lambda s: pred.sequence_weights.get(s, 0.0))
    seq = c1.selectbox("Sequence", seqs, index=seqs.index(top), key="attr_seq")
    cmap = c2.selectbox("Colormap", COLORMAPS, key="attr_cmap")
    opacity = c3.slider("Overlay opacity", 0.0, 1.0, 0.5, key="attr_opacity")
    threshold = c4.slider("Hide below", 0.0, 1.0, 0.2, 0.05, key="attr_threshold")
    vol, amap = study.volumes[seq], maps[seq]
    if not amap.any():
        st.warning(f"{method} gives no positive evidence in {seq} for this class (the map is all zero).")
    z = (st.slider("Axial slice (z)", 0, vol.shape[2] - 1, peak_voxel(amap)[2],
                   key=f"attr_slice_{seq}") if vol.shape[2] > 1 else 0)
    ijk = peak_voxel(amap, z)
    stats = st.session_state.setdefault("attr_stats", {})
    if (study.key, seq) not in stats:
        stats[(study.key, seq)] = IntensityStats.of(vol.data)
    level, width = stats[(study.key, seq)].preset("Auto (0.5-99.5 %)")
    imgs = render_views(vol.data, vol.spacing_mm, ijk, level, width, overlay=amap, overlay_key=(method, seq),
                        colormap=cmap, opacity=opacity, threshold=threshold)
    cols = st.columns(3)
    for col, view in zip(cols, VIEWS):
        col.image(imgs[view], width="stretch",
                  caption=f"{seq} {view} through the strongest voxel of slice z={z} "
                          f"(index {ijk[view_axis(view)]})")
    st.caption(f"{method} map of the predicted class, on {seq}'s own voxels (radiological convention). "
               "It shows what the model's score depends on, not a tumour outline. The Viewer page "
               "overlays it with the linked crosshair.")

# ------------------------------------------------------------------ report
st.subheader("Report")
# Built on click (another thread); weak references, so a newly loaded study frees this one.
report = DeferredReport(study, pred, card, maps=maps, method=method,
                        checkpoint_dir=str(predictor.checkpoint_dir))
st.download_button("Download report (PDF)", data=report, file_name=f"tumorboard_{study.key}.pdf",
                   mime="application/pdf", key="report_download", icon=":material/picture_as_pdf:",
                   help="One page: de-identified study summary, prediction with uncertainty, key "
                        "slices (with the map shown above, when computed), survival over the cohort, "
                        "model card. Research use only.")
