"""Prediction page, led by what is validated: the tumour (volume, extent, RANO product, centroid,
side), the tumour type with its held-out accuracy, the scope decision, the clinical prognosis
(inputs entered here or on the Survival page), then the experimental WHO grade II/III model with
its cross-validated AUC, every caveat, and the one-page PDF (the same StudyAnalysis)."""

import pandas as pd
import streamlit as st

from model.analysis import CLINICAL_KEYS
from model.cached import (computed_attribution, current_study, get_analysis, get_attribution,
                          get_clinical_inputs, get_predictor, has_attribution, intensity_stats,
                          set_clinical_inputs)
from model.core.errors import StudyError
from model.inference.attribution import peak_voxel
from model.inference.classify import ATTRIBUTION_METHODS
from model.views import prediction_figures as pf
from model.views.render import COLORMAPS, VIEWS, render_views, view_axis
from model.views.report import DeferredReport, attribution_eval_summary

METHOD_HELP = {
    "Saliency": "gradient of the class score w.r.t. each input pixel (one backward pass, ~0.5 s on 2 CPU cores)",
    "LayerGradCam": "Grad-CAM on the last encoder stage of each sequence (coarse 8x8 per slice, ~0.5 s)",
    "Occlusion": "drop of the class score when each 32x32-pixel patch (16 per slice) is blanked (model-agnostic, ~1.5 s)",
    "IntegratedGradients": "gradients integrated from a blank input, 16 steps (~4 s)",
}
UNKNOWN = "unknown"
CHOICES = {
    "sex": [UNKNOWN, "female", "male"],
    "tumour_type": [UNKNOWN, "glioma", "astrocytoma", "oligodendroglioma", "glioblastoma",
                    "metastasis", "meningioma", "pituitary", "lymphoma"],
    "grade": [UNKNOWN, 2, 3, 4],
    "idh": [UNKNOWN, "mutant", "wildtype"],
    "codeletion_1p19q": [UNKNOWN, "codeleted", "intact"],
    "mgmt": [UNKNOWN, "methylated", "unmethylated"],
    "resection": [UNKNOWN, "GTR", "STR", "biopsy"],
}
LABELS = {"sex": "Sex", "tumour_type": "Tumour type (pathology)", "grade": "WHO CNS grade",
          "idh": "IDH", "codeletion_1p19q": "1p/19q", "mgmt": "MGMT promoter",
          "resection": "Extent of resection"}

st.title("Prediction")
study = current_study()
if study is None:
    st.info("Load a study on the Study page first.")
    st.stop()
st.caption("Research use only, not a diagnosis. Validated results first; the experimental grade "
           "model last.")
try:
    with st.spinner("Segmenting and checking the study..."):
        analysis = get_analysis(study)
except StudyError as exc:  # a refused checkpoint propagates to app.show_error (reference id, log)
    st.error(str(exc))
    st.stop()

# ------------------------------------------------------------------ 1. tumour
st.subheader("Tumour")
tumour = analysis.tumour
size = tumour.size
if tumour.status == "found" and size is not None and size.geometry_known:
    # Wider column for the three-number extent (cut with an ellipsis at 1366 px in equal columns).
    c1, c2, c3, c4 = st.columns([1, 1.1, 1.3, 0.9])
    c1.metric("Volume", f"{size.volume_ml:.1f} mL")
    c2.metric("RANO bidimensional", f"{size.bidimensional_mm2:.0f} mm²",
              f"{size.longest_diameter_mm:.0f} x {size.perpendicular_diameter_mm:.0f} mm",
              delta_color="off", delta_arrow="off",
              help="Longest diameter on the largest axial cross-section x the longest diameter "
                   "perpendicular to it (Wen et al. 2010).")
    c3.metric("Extent, mm (R-L x A-P x S-I)", " x ".join(f"{e:.0f}" for e in size.extent_mm))
    c4.metric("Side", size.side or "unknown")
    st.caption(" · ".join(pf.tumour_lines(analysis)[3:]))
elif tumour.status == "found":
    st.warning(pf.tumour_lines(analysis)[0])
else:
    st.info(tumour.message)

# ------------------------------------------------------------------ 2. tumour type + scope
st.subheader("Tumour type")
tt = analysis.tumour_type
if tt.result is not None:
    r, ev = tt.result, tt.result.evidence
    c1, c2 = st.columns(2)
    c1.metric("Tumour type", r.predicted, f"p = {r.probabilities[r.predicted]:.2f}",
              delta_color="off", delta_arrow="off")
    if ev.get("test_accuracy") is not None:
        lo, hi = ev.get("test_accuracy_ci95") or (0, 0)
        c2.metric("Held-out accuracy", f"{ev['test_accuracy']:.2f}",
                  f"95% CI {lo:.2f}-{hi:.2f}, {ev.get('test_n_patients')} patients",
                  delta_color="off", delta_arrow="off")
    for line in pf.type_lines(analysis)[1:]:
        st.caption(line)
    with st.expander("Slice evidence"):
        st.dataframe(pd.DataFrame([{"plane": s.plane, "index": s.index, "tumour voxels": s.tumour_voxels,
                                    **{c: round(p, 3) for c, p in s.probabilities.items()}}
                                   for s in r.per_slice]), hide_index=True)
else:
    st.warning(tt.reason)
with st.expander("Scope checks (before any type is shown)"):
    for line in pf.scope_lines(analysis):
        st.markdown(f"- {line}")

# ------------------------------------------------------------------ 3. prognosis
st.subheader("Prognosis")
given = get_clinical_inputs()
with st.form("clinical_form"):
    st.caption("Clinical inputs (entered once: the Survival page and the PDF use the same).")
    cols = st.columns(3)
    age = cols[0].number_input("Age at diagnosis (years)", 0.0, 120.0, value=given.get("age_years"),
                               step=1.0, key="clin_age_years")
    kps = cols[1].number_input("Karnofsky (0-100)", 0.0, 100.0, value=given.get("karnofsky"),
                               step=10.0, key="clin_karnofsky")
    picked = {}
    for i, k in enumerate(CHOICES):
        opts = CHOICES[k]
        cur = given.get(k, UNKNOWN)
        picked[k] = cols[(i + 2) % 3].selectbox(LABELS[k], opts, index=opts.index(cur) if cur in opts else 0,
                                                key=f"clin_{k}")
    if st.form_submit_button("Use these inputs", key="clin_submit"):
        values = {"age_years": age, "karnofsky": kps, **picked}
        set_clinical_inputs({k: values.get(k) for k in CLINICAL_KEYS})
        st.rerun()
pr = analysis.prognosis
if pr.result is not None:
    unit = st.radio("Time unit", ["years", "months"], horizontal=True, key="prognosis_unit")
    st.plotly_chart(pf.prognosis_figure(pr.result, unit), width="stretch")
    cols = st.columns(3)
    for col, a in zip(cols, pr.result.survival_at):
        col.metric(f"{a.years:g}-year survival", "beyond follow-up" if a.survival is None else f"{a.survival:.0%}",
                   None if a.survival is None else f"95% band {a.lower:.0%}-{a.upper:.0%}",
                   delta_color="off", delta_arrow="off")
    for line in pf.prognosis_lines(analysis, unit)[1:]:
        st.caption(line)
else:
    st.info(pr.reason)

# ------------------------------------------------------------------ 4. experimental grade
grade = analysis.grade
with st.expander("Experimental: WHO grade II/III", expanded=False):
    lines = pf.grade_lines(analysis)
    if grade.prediction is None:
        st.info(lines[0])
        st.caption(lines[1])
    else:
        pred = grade.prediction
        st.warning(lines[0] + ". " + (grade.warning or ""))
        for line in lines[1:]:
            if line != grade.warning:
                st.caption(line)
        left, right = st.columns(2)
        left.plotly_chart(pf.probability_figure(pred), width="stretch")
        right.plotly_chart(pf.sequence_weight_figure(pred), width="stretch")
        st.plotly_chart(pf.slice_attention_figure(pred), width="stretch")
        predictor = get_predictor()
        check = attribution_eval_summary(predictor.checkpoint_dir)
        if check:
            st.info(check + " Read the maps as a view of the input's sensitivity, not as a lesion map.")
        method = st.selectbox("Attribution method (Captum)", ATTRIBUTION_METHODS, key="attr_method",
                              help="\n".join(f"{m}: {h}" for m, h in METHOD_HELP.items()))
        if not has_attribution(study, method) and st.button("Compute attribution map", key="attr_compute"):
            bar = st.progress(0.0, text=f"Computing {method}...")
            get_attribution(study, method, progress=lambda f: bar.progress(min(1.0, max(0.0, f))))
            st.rerun()
        if has_attribution(study, method):
            maps = computed_attribution(study, method)
            seqs = list(maps)
            top = max(seqs, key=lambda s: pred.sequence_weights.get(s, 0.0))
            c1, c2, c3 = st.columns(3)
            seq = c1.selectbox("Sequence", seqs, index=seqs.index(top), key="attr_seq")
            cmap = c2.selectbox("Colormap", COLORMAPS, key="attr_cmap")
            opacity = c3.slider("Overlay opacity", 0.0, 1.0, 0.5, key="attr_opacity")
            vol, amap = study.volumes[seq], maps[seq]
            ijk = peak_voxel(amap)
            level, width = intensity_stats(study, seq).preset("Auto (0.5-99.5 %)")
            imgs = render_views(vol.data, vol.spacing_mm, ijk, level, width, overlay=amap,
                                overlay_key=(method, seq), colormap=cmap, opacity=opacity, threshold=0.2)
            for col, view in zip(st.columns(3), VIEWS):
                col.image(imgs[view], width="stretch",
                          caption=f"{seq} {view} through the strongest voxel (index {ijk[view_axis(view)]})")

# ------------------------------------------------------------------ caveats + report
st.subheader("Caveats")
for c in analysis.caveats:
    st.markdown(f"- {c}")
report = DeferredReport(study, analysis, checkpoint_dir=str(get_predictor().checkpoint_dir))
st.download_button("Download report (PDF)", data=report, file_name=f"tumorboard_{study.key}.pdf",
                   mime="application/pdf", key="report_download", icon=":material/picture_as_pdf:",
                   help="One page, in this page's order and with its numbers: tumour, type, scope, "
                        "prognosis from the clinical inputs, experimental grade, caveats. Research use only.")
