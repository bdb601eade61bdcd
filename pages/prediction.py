"""Prediction page: class probabilities with uncertainty, sequence weights, slice attention,
risk score, Captum attribution maps over three views, and the one-page PDF report."""

import streamlit as st

from model.cached import (computed_attribution, current_study, get_attribution, get_predictor,
                          get_prediction, has_attribution, intensity_stats, report_prognosis)
from model.core.errors import StudyError
from model.inference.attribution import peak_voxel
from model.inference.classify import ATTRIBUTION_METHODS, uncertainty
from model.nets.checkpoint import evidence_warning
from model.views.prediction_figures import (probability_figure, sequence_weight_figure,
                                            slice_attention_figure)
from model.views.render import COLORMAPS, VIEWS, render_views, view_axis
from model.views.report import DeferredReport, attribution_eval_summary
from model.views.tables import fmt_num

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
left.plotly_chart(probability_figure(pred), width="stretch")
right.plotly_chart(sequence_weight_figure(pred), width="stretch")

with st.expander("Slice attention per sequence", expanded=False):
    st.plotly_chart(slice_attention_figure(pred), width="stretch")
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
have = has_attribution(study, method)
if not have and st.button("Compute attribution map", type="primary", key="attr_compute"):
    bar = st.progress(0.0, text=f"Computing {method}...")
    get_attribution(study, method,
                    progress=lambda f: bar.progress(min(1.0, max(0.0, f)), text=f"Computing {method}... {f:.0%}"))
    st.rerun()
maps = None
if have:
    maps = computed_attribution(study, method)
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
    level, width = intensity_stats(study, seq).preset("Auto (0.5-99.5 %)")
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
                        checkpoint_dir=str(predictor.checkpoint_dir),
                        prognosis=report_prognosis(pred.risk_score))
st.download_button("Download report (PDF)", data=report, file_name=f"tumorboard_{study.key}.pdf",
                   mime="application/pdf", key="report_download", icon=":material/picture_as_pdf:",
                   help="One page: de-identified study summary, prediction with uncertainty, key "
                        "slices (with the map shown above, when computed), survival over the cohort, "
                        "model card. Research use only.")
