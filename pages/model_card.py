"""Model page: the served checkpoint's model card, the attribution evaluation and the clinical
prognosis model's card (goals, cross-cohort validation, calibration, served input sets)."""

import json

import streamlit as st

from model.cached import get_predictor, get_prognosis_model
from model.core.errors import CheckpointError
from model.nets.checkpoint import evidence_warning, read_sidecar
from model.survival import clinical_tables as ct
from model.views.clinical_figures import clinical_calibration_figure
from model.views.model_card_figures import attribution_curve_figure, cv_fold_auc_figure
from model.views.tables import attribution_eval_table, cv_table, metrics_table

predictor = get_predictor()
card = predictor.card
st.title(f"Model: {card.get('name')} v{card.get('version')}")
st.write(card.get("task", ""))
st.info(card.get("intended_use", ""))

st.subheader("Metrics (patient level, 95% bootstrap CI)")
st.dataframe(metrics_table(card), width="stretch", hide_index=True)
st.caption(card.get("metrics_note", ""))

st.subheader("Design comparison: 5-fold cross-validation")
cv = read_sidecar(predictor.checkpoint_dir, "cv.json", "variants")
if cv is None:
    st.info("No cross-validation for this checkpoint yet: run `python -m training.cv`.")
else:
    cv_warning = evidence_warning(card)
    if cv_warning:
        st.warning(cv_warning)
    st.dataframe(cv_table(cv), width="stretch", hide_index=True)
    _pts, _folds = cv.get("patients", {}).get("n"), len(cv.get("patients", {}).get("folds", []))
    st.caption(f"ROC AUC: 0.5 is chance, 1 is perfect. 'Pooled' scores all {_pts} out-of-fold "
               f"predictions together (with a bootstrap 95% CI); 'mean ± sd' averages the "
               f"{_folds} folds. 'Minus served': paired difference to the served design. C-index: "
               "how well the risk score orders survival times (0.5 chance). ECE: expected "
               "calibration error, the average gap between stated confidence and accuracy "
               "(0 is perfect). The mask-feature baseline needs expert tumour outlines, which "
               "the app does not have.")
    st.plotly_chart(cv_fold_auc_figure(cv), width="stretch")
    st.write(f"**Decision:** {cv.get('decision', '')}")
    st.caption(f"Patients: {cv.get('patients', {}).get('pool', '')}, {cv.get('patients', {}).get('n')} "
               f"patients. {cv.get('method', '')} Computed {cv.get('created')}.")
    if cv.get("shipped_command") != card.get("training", {}).get("command"):
        st.warning("The served checkpoint was trained with another command than the one this "
                   "comparison cross-validated; rerun `python -m training.cv`.")

st.subheader("Inputs and preprocessing")
st.json(card.get("inputs", {}))
st.write(card.get("preprocessing", {}).get("description", ""))
st.subheader("Training data")
td = card.get("training_data", {})
st.write(td.get("dataset", ""))
st.write(f"Citation: {td.get('citation', '')}")
st.write(f"Licence: {td.get('licence', '')}")
_n = td.get("n_patients") or {}
st.write("Patients: " + ", ".join(f"{k} {v}" for k, v in _n.items()) + f" ({td.get('split_method', '')})")
st.subheader("Limitations")
for item in card.get("limitations", []):
    st.write(f"- {item}")
st.subheader("Do the attribution maps mean something?")
ev = read_sidecar(predictor.checkpoint_dir, "attribution_eval.json", "methods")
if ev is None:
    st.info("No attribution evaluation for this checkpoint yet: run `python -m training.attribution_eval`.")
else:
    st.dataframe(attribution_eval_table(ev), width="stretch", hide_index=True)
    cols = st.columns(2)
    for col, kind in zip(cols, ("deletion", "insertion")):
        col.plotly_chart(attribution_curve_figure(ev, kind), width="stretch")
    st.caption(f"{ev.get('method_note', '')} Patients: {', '.join(ev.get('patients', []))} "
               f"(test split); randomisation check on {ev.get('n_randomisation_patients')} of them. "
               f"Settings: {json.dumps(ev.get('settings', {}))}. Computed {ev.get('created')} in "
               f"{ev.get('seconds_total')} s for weights {str(ev.get('checkpoint', {}).get('sha256'))[:12]}...")
    if ev.get("checkpoint", {}).get("sha256") != card.get("sha256"):
        st.warning("This evaluation was computed for other weights than the ones served; rerun it.")
st.caption(f"Weights sha256 {card.get('sha256')} (verified at load).")

# ------------------------------------------------------------------ prognosis model (agent I)
st.divider()
st.header("Prognosis model (clinical-molecular)")
try:
    prognosis_card = get_prognosis_model().card_
except CheckpointError as exc:
    prognosis_card = None
    st.info(f"No clinical prognosis checkpoint: {exc}")
if prognosis_card is not None:
    st.write(prognosis_card.get("task", ""))
    st.write(f"**Model:** {prognosis_card.get('model', '')}. **Band:** {prognosis_card.get('band', '')}.")
    st.info(f"Covers: {prognosis_card.get('scope', '')}.")
    never = (prognosis_card.get("inputs") or {}).get("never_used") or {}
    if never:
        st.caption("Never used: " + "; ".join(f"{k} ({v})" for k, v in never.items()) + ".")
    st.subheader("Goals (issue 15)")
    st.dataframe(ct.goals_table(prognosis_card), width="stretch", hide_index=True)
    st.subheader("Validation across cohorts (trained on one, tested on another)")
    st.dataframe(ct.cross_cohort_table(prognosis_card), width="stretch", hide_index=True)
    st.caption("Harrell and Uno C with bootstrap 95% CIs; AUC at 1, 2, 5 years (cumulative/dynamic); "
               "Cox calibration slope of the linear predictor on the test cohort (1 = ideal). Age-only "
               "rows are the baseline in each direction.")
    st.markdown("Published anchors")
    st.dataframe(ct.anchors_table(prognosis_card), width="stretch", hide_index=True)
    choices = ct.calibration_choices(prognosis_card)
    if choices:
        cal_labels = {f"{s}|{d}": f"{ct.set_label(s)}: {ct.direction_label(d)}" for s, d in choices}
        cal_default = "age_years+sex+grade|ucsf_to_tcga"
        cal_order = sorted(cal_labels, key=lambda k: k != cal_default)
        cal_pick = st.selectbox("Calibration of", cal_order, format_func=cal_labels.get, key="model_calibration_choice")
        st.plotly_chart(clinical_calibration_figure(ct.calibration_of(prognosis_card, *cal_pick.split("|")),
                                                    title=f"Calibration: {cal_labels[cal_pick]}"),
                        width="stretch", key="model_prognosis_calibration")
    st.subheader("Served input sets")
    st.dataframe(ct.served_sets_table(prognosis_card), width="stretch", hide_index=True)
    with st.expander("5 x 5-fold cross-validation within UCSF-PDGM (all input sets)"):
        st.dataframe(ct.cv_table(prognosis_card, "ucsf"), width="stretch", hide_index=True)
    st.subheader("Decision")
    st.text(prognosis_card.get("decision_rule", ""))
    st.subheader("Limitations of the prognosis")
    for item in prognosis_card.get("limitations", []):
        st.write(f"- {item}")
    st.caption(f"Command: `{prognosis_card.get('command', '')}`; model.json sha256 "
               f"{str(prognosis_card.get('sha256'))[:12]}... (verified at load).")
