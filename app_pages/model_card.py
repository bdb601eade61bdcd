"""Model page: the tumour segmentation's and the tumour-type model's evidence (held-out and
cross-validated numbers next to published anchors and the goals), the experimental grade
checkpoint's model card, the attribution evaluation and the clinical prognosis model's card
(goals, cross-cohort validation, calibration, served input sets)."""

import json

import streamlit as st

from model.cached import get_predictor, get_prognosis_model
from model.core.errors import CheckpointError
from model.inference.segment import SEGMENT_CHECKPOINT
from model.inference.tumour_type import TYPE_CHECKPOINT
from model.nets.checkpoint import evidence_warning, read_card, read_sidecar
from model.survival import clinical_tables as ct
from model.views.tables import CROSS_COHORT_GRID
from model.views.clinical_figures import clinical_calibration_figure
from model.views.model_card_figures import (attribution_curve_figure, cv_fold_auc_figure,
                                            segment_dice_figure)
from model.views.tables import (SEGMENT_DICE_GOAL, attribution_eval_table, cv_table, inputs_table,
                                metrics_table, segment_brats_table, segment_cv_table,
                                segment_dice_table, segment_error_table, segment_postprocessing_table,
                                segment_subset_table, segment_time_table, settings_text,
                                type_anchor_table, type_cv_summary_table, type_path_check_table,
                                type_path_variants_table, type_scope_table, type_study_table)





def _wide_table(df) -> None:
    """A table too wide for a 1366 px screen as a grid (it scrolled sideways): a static table,
    whose cells wrap, so every column shows at once."""
    st.table(df, hide_index=True, border="horizontal")


# ------------------------------------------------ segmentation and tumour type (agent J)
def _json_list(path) -> list:
    """A JSON list written by training next to a checkpoint; [] when missing or not a list."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return data if isinstance(data, list) else []


def _segmentation_section() -> None:
    """The segmentation card (segment_lgg): Dice with CIs next to the anchors, the design
    comparison and its decision, per-subset Dice, volume error, tumour-free slices, BraTS
    transfer, HD95, training time, data."""
    st.header("Tumour segmentation")
    try:
        seg = read_card(SEGMENT_CHECKPOINT)
    except CheckpointError as exc:
        st.info(f"No segmentation checkpoint: {exc}")
        return
    seg_cv_file = read_sidecar(SEGMENT_CHECKPOINT, "cv.json", "designs")
    test = seg.get("metrics", {}).get("test", {})
    anchors = seg.get("metrics", {}).get("anchors", {})
    buda = next((a for k, a in anchors.items() if k.startswith("Buda")), {})
    st.write(f"{seg.get('task', '')} ({seg.get('name', '')} v{seg.get('version', '')}; sequences "
             f"{', '.join(seg.get('sequences', []))}; {', '.join(seg.get('required_sequences', []))} required).")
    mean, (lo, hi) = test.get("dice_mean"), test.get("dice_ci95", [None, None])
    if mean is not None and mean < SEGMENT_DICE_GOAL:
        st.warning(f"Goal not met: on {test.get('n_patients')} patients it never saw the model's mean "
                   f"Dice is {mean:.3f} (95% CI {lo:.2f} to {hi:.2f}), below the goal of "
                   f"{SEGMENT_DICE_GOAL:.2f}, below Buda et al. 2019's {buda.get('dice_mean', 'n/a')} "
                   "on the same data and below the agreement of two expert readers (about 0.84).")
    st.subheader("Dice on patients the model never saw, next to the anchors")
    st.dataframe(segment_dice_table(seg), width="stretch", hide_index=True)
    groups = {}
    per_patient = _json_list(SEGMENT_CHECKPOINT / "test_per_patient.json")
    if per_patient:
        groups[f"held-out test ({len(per_patient)})"] = {r["patient_id"]: r["dice"] for r in per_patient
                                                          if r.get("dice") is not None}
    for design, dice in ((seg_cv_file or {}).get("per_patient_dice") or {}).items():
        groups[f"CV out-of-fold, {design} ({len(dice)})"] = dice
    if groups:
        lines = {"Buda et al. mean": buda["dice_mean"]} if "dice_mean" in buda else {}
        lines["goal"] = SEGMENT_DICE_GOAL
        st.plotly_chart(segment_dice_figure(groups, lines), theme="streamlit", width="stretch",
                        key="model_segment_dice")
    st.caption(f"{test.get('test_note', seg.get('metrics', {}).get('test_note', ''))} 95% CIs: "
               "bootstrap over patients. Buda et al. 2019 cross-validated (22 folds) on all patients "
               "of the same collection; ours is a held-out split, so the two are not the same "
               "experiment.")
    st.subheader("Design comparison: patient-level cross-validation")
    _wide_table(segment_cv_table(seg, seg_cv_file))
    st.dataframe(segment_postprocessing_table(seg), width="stretch", hide_index=True)
    cv = seg.get("cv", {})
    st.write(f"**Rule, fixed before the runs:** {cv.get('decision_rule', '')}.")
    st.write(f"**Decision:** served design '{cv.get('chosen_design')}', post-processing "
             f"'{cv.get('chosen_postprocessing')}' ({cv.get('k')} folds, {cv.get('steps_per_run')} "
             "training steps per run). The paper's design (one encoder per sequence with attention "
             "fusion) was not compared.")
    st.subheader("Dice per available-sequence subset (held-out test)")
    st.dataframe(segment_subset_table(seg), width="stretch", hide_index=True)
    st.caption("The same held-out patients with the missing sequences removed (the model was trained "
               "with sequence dropout).")
    st.subheader("Volume error, slices without tumour, HD95")
    _wide_table(segment_error_table(seg))
    st.subheader("Transfer to BraTS 2018 (2 cases)")
    st.dataframe(segment_brats_table(seg), width="stretch", hide_index=True)
    st.warning("Only 2 cases, and the served plane scaling ('bbox') was chosen after seeing them: "
               "these numbers informed a choice and are not an independent estimate. "
               + seg.get("plane_mode_note", ""))
    st.subheader("Training time (2-core CPU)")
    st.dataframe(segment_time_table(seg), width="stretch", hide_index=True)
    st.caption(f"Command: `{seg.get('training', {}).get('command', '')}`; recipe: "
               f"{seg.get('training', {}).get('recipe', '')}.")
    st.subheader("Data, citation, licence")
    data = seg.get("data", {})
    st.write(f"Training: {data.get('training', '')}. Transfer: {data.get('transfer', '')}.")
    for c in data.get("citation", []):
        st.write(f"- {c}")
    st.write(f"Licence: {data.get('licence', '')}")
    st.markdown("**Limitations**")
    for item in seg.get("limitations", []):
        st.write(f"- {item}")
    st.caption(f"{seg.get('intended_use', '')} Weights sha256 {str(seg.get('sha256'))[:12]}... "
               "(verified at load).")


def _type_section() -> None:
    """The tumour-type card (type_figshare): CV accuracy / F1 / AUC with CIs, held-out test,
    anchors, the 3D-study glioma fraction, the scope rule's separation and the path check."""
    st.header("Tumour type (meningioma / glioma / pituitary tumour)")
    try:
        tcard = read_card(TYPE_CHECKPOINT)
    except CheckpointError as exc:
        st.info(f"No tumour-type checkpoint: {exc}")
        return
    st.write(f"{tcard.get('task', '')}. Trained on "
             f"{tcard.get('training_data', {}).get('dataset', '')}; "
             f"{tcard.get('training_data', {}).get('citation', '')} "
             f"Licence: {tcard.get('training_data', {}).get('licence', '')}.")
    tcv = read_sidecar(TYPE_CHECKPOINT, "cv.json", "variants")
    st.subheader("Cross-validated on figshare's published patient-level folds")
    if tcv is None:
        st.info("No cross-validation yet: run `python -m training.cv --task type --threads 1`.")
    else:
        _wide_table(type_cv_summary_table(tcv))
        st.caption(f"{tcv.get('method', '')} {tcv.get('decision', '')}")
        st.markdown("Next to the published anchors and the goal")
        st.dataframe(type_anchor_table(tcv, tcard), width="stretch", hide_index=True)
    st.subheader("Served checkpoint: its own split (test patients never used)")
    st.dataframe(metrics_table(tcard), width="stretch", hide_index=True)
    st.caption(tcard.get("metrics_note", ""))
    study_eval = read_sidecar(TYPE_CHECKPOINT, "study_eval.json", "datasets")
    st.subheader("On 3D studies: share of gliomas called glioma")
    if study_eval is not None:
        st.dataframe(type_study_table(study_eval), width="stretch", hide_index=True)
        st.warning(f"{study_eval.get('note', '')} The goal (at least 0.90) is not met.")
        st.caption(study_eval.get("what", ""))
        for item in study_eval.get("caveats", []):
            st.write(f"- {item}")
        with st.expander("The three slice paths measured on the same 3D gliomas"):
            st.dataframe(type_path_variants_table(study_eval), width="stretch", hide_index=True)
    path_check = read_sidecar(TYPE_CHECKPOINT, "path_check.json", "variants")
    if path_check is not None:
        st.markdown("The slice paths on the served model's own held-out figshare patients")
        st.dataframe(type_path_check_table(path_check, (study_eval or {}).get("variant")),
                     width="stretch", hide_index=True)
        st.caption(path_check.get("what", ""))
    ood = read_sidecar(TYPE_CHECKPOINT, "ood_mahalanobis.json", "meta")
    st.subheader("Scope: an answer, or 'outside what this model knows'")
    if ood is not None:
        meta = ood.get("meta", {})
        st.write(f"**Rule**{' (fixed before measuring)' if meta.get('rule_fixed_before_measuring') else ''}: "
                 f"{ood.get('rule', '')}; threshold {ood.get('threshold', float('nan')):.1f} "
                 f"({meta.get('threshold', '')}). Fitted on {meta.get('fit', '')}.")
        st.dataframe(type_scope_table(ood), width="stretch", hide_index=True)
        st.warning(meta.get("separation", {}).get("caveat", ""))
        st.caption(f"{meta.get('encoder_caveat', '')}. Before the type model, a study must also pass "
                   "the head-coverage check and have a tumour found by the segmentation.")
    st.caption(f"Weights sha256 {str(tcard.get('sha256'))[:12]}... (verified at load). Commands: "
               "`python -m training.cv --task type --threads 1`, `python -m training.type3d "
               "{study-eval,path-check,fit-ood}`, `python -m training.evaluate --task type --data DIR --json`.")


st.title("Models")
st.caption("What each model was validated on, next to published anchors and the goals. "
           "Research use only: not a medical device.")
_segmentation_section()
st.divider()
_type_section()
st.divider()

# ------------------------------------------------ WHO grade (experimental) checkpoint
predictor = get_predictor()
card = predictor.card
st.header(f"WHO grade model (experimental): {card.get('name')} v{card.get('version')}")
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
    # 14 columns do not fit 1366 px even wrapped: classification, then survival ranking, then
    # what each design is (a sentence per design, not a squeezed column).
    designs = cv_table(cv)
    _wide_table(designs[["design", "pooled AUC [95% CI]", "AUC minus served", "AUC (mean ± sd of folds)",
                         "accuracy (mean ± sd)", "F1 macro (mean ± sd)", "ECE (mean ± sd)", "id"]])
    _wide_table(designs[["design", "pooled C [95% CI]", "C minus served", "C-index (mean ± sd)", "folds",
                         "train s/fold"]])
    for d, what in zip(designs["design"], designs["what"]):
        st.caption(f"**{d}**: {what}")
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
st.dataframe(inputs_table(card.get("inputs", {})), width="stretch", hide_index=True)
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
    _wide_table(attribution_eval_table(ev))
    cols = st.columns(2)
    for col, kind in zip(cols, ("deletion", "insertion")):
        col.plotly_chart(attribution_curve_figure(ev, kind), width="stretch")
    st.caption(f"{ev.get('method_note', '')} Patients: {', '.join(ev.get('patients', []))} "
               f"(test split); randomisation check on {ev.get('n_randomisation_patients')} of them. "
               f"Settings: {settings_text(ev.get('settings', {}))}. Computed {ev.get('created')} in "
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
    st.subheader("Project goals")
    st.dataframe(ct.goals_table(prognosis_card), width="stretch", hide_index=True)
    st.subheader("Validation across cohorts (trained on one, tested on another)")
    st.dataframe(ct.cross_cohort_table(prognosis_card), width="stretch", hide_index=True, **CROSS_COHORT_GRID)
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
    served = ct.served_sets_table(prognosis_card)
    with st.expander(f"The {len(served)} served input sets, where each was fitted and its C-index"):
        _wide_table(served)
    with st.expander("5 x 5-fold cross-validation within UCSF-PDGM (all input sets)"):
        st.dataframe(ct.cv_table(prognosis_card, "ucsf"), width="stretch", hide_index=True)
    st.subheader("Decision")
    st.text(prognosis_card.get("decision_rule", ""))
    st.subheader("Limitations of the prognosis")
    for item in prognosis_card.get("limitations", []):
        st.write(f"- {item}")
    st.caption(f"Command: `{prognosis_card.get('command', '')}`; model.json sha256 "
               f"{str(prognosis_card.get('sha256'))[:12]}... (verified at load).")
