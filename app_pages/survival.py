"""Survival page: Kaplan-Meier analysis of real cohorts, the patient's clinical-molecular
prognosis, the tumour board's cross-cohort risk groups, the prognosis model's cross-cohort
validation, and (experimental) the image model's risk score on held-out patients.

Widgets and layout only: cohorts and every statistic come from :mod:`model.survival` through
the cached accessors of :mod:`model.cached` (``survival_*``, ``get_prognosis_model``,
``clinical_risk_groups``), the prognosis of the entered inputs from
:func:`model.analysis.clinical_prognosis` (the Prediction page's and the PDF's path), figures
from :mod:`model.views.survival_figures` / :mod:`model.views.clinical_figures`, tables from
:mod:`model.survival.tables` / :mod:`model.survival.clinical_tables`. The clinical inputs are
read and written through :func:`model.cached.get_clinical_inputs` /
:func:`model.cached.set_clinical_inputs` (shared with the Prediction page and the PDF); the
page's own widgets use keys ``survival_*``.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from model import cached
from model.analysis import clean_clinical, clinical_prognosis
from model.core.errors import CheckpointError
from model.survival import clinical_groups as cg
from model.survival import clinical_tables as ct
from model.views.tables import CROSS_COHORT_GRID
from model.survival import cohorts as co
from model.survival import km as skm
from model.survival import tables as tb
from model.views import clinical_figures as cf
from model.views import survival_figures as sf



NONE = "None"
UNKNOWN = "unknown"
# the Prediction page's spellings, so inputs entered on either page show on the other
TUMOUR_TYPES = [UNKNOWN, "glioma", "astrocytoma", "oligodendroglioma", "glioblastoma",
                "metastasis", "meningioma", "pituitary", "lymphoma"]


def _label(col: str) -> str:
    return NONE if col == NONE else co.covariate_label(col)


def _png_download(fig, name: str, key: str) -> None:
    """A 'Prepare PNG' button; then the download button, or a message when kaleido fails."""
    fig_json = fig.to_json()
    pressed = st.button("Prepare PNG of the figure", key=f"{key}_prepare",
                        help="Static export with Plotly + kaleido (needs Chrome/Chromium).")
    res = cached.prepared_png(key, fig_json, pressed)
    if res is None:
        return
    png, error = res
    if png is not None:
        st.download_button("Download figure (PNG)", data=png, file_name=f"{name}.png",
                           mime="image/png", key=f"{key}_download")
    else:
        st.warning(f"PNG export is not available here: {error}. Use the camera icon of the "
                   "figure's toolbar to save it from the browser instead.")


# ---------------------------------------------------------------------------------- page
st.title("Survival")
st.caption(
    "Kaplan-Meier estimates (lifelines) of real brain-tumour cohorts, Cox models and the image "
    "model's risk score. Population-level reference: research use only, not a medical device."
)

with st.sidebar:
    st.header("Survival")
    cached.reset_invalid_widget("survival_cohort", list(co.COHORTS), "tcga")
    cohort_key = st.selectbox(
        "Cohort", list(co.COHORTS), format_func=lambda k: co.COHORTS[k].title, key="survival_cohort"
    )
    spec = co.COHORTS[cohort_key]
    cached.reset_invalid_widget("survival_endpoint", list(spec.endpoints), spec.endpoints[0])
    endpoint = st.radio(
        "Endpoint", list(spec.endpoints), key="survival_endpoint",
        help="OS = overall survival; PFI = progression-free interval (TCGA-CDR only, Liu et al. 2018).",
    )

try:
    cohort = cached.survival_cohort(cohort_key, endpoint)
except (FileNotFoundError, ValueError, KeyError) as exc:
    st.error(f"The cohort could not be loaded: {exc}")
    st.stop()

# issue 15: the image-only risk score is no longer presented as a risk group (its median split
# is not offered as a stratum or a covariate; the score itself stays, as an experimental number)
strata_opts = [NONE] + [c for c in (co.stratifiable(cohort, cohort_key) if cohort is not None else [])
                        if c != "risk_group"]
adjust_opts = [c for c in co.adjusters(cohort, cohort_key) if c != "risk_group"]
with st.sidebar:
    cached.reset_invalid_widget("survival_strata", strata_opts, NONE)
    group_choice = st.selectbox("Stratify by", strata_opts, format_func=_label, key="survival_strata")
    unit = st.selectbox("Time unit", list(skm.UNITS), key="survival_unit")
    times_text = st.text_input(
        f"Table times ({unit})", key="survival_times",
        help="Comma-separated times for the number-at-risk table and x ticks; empty = automatic.",
    )
    correction = st.radio(
        "Pairwise correction", list(skm.CORRECTIONS), key="survival_correction",
        format_func=lambda k: {"holm": "Holm", "bh": "Benjamini-Hochberg"}[k],
        help="Multiple-comparison correction of the pairwise log-rank p-values.",
    )
    adj_choices = [c for c in adjust_opts if c != group_choice]
    cached.reset_invalid_widget("survival_adjust", adj_choices, [])
    adjust = st.multiselect("Cox: adjust for", adj_choices, format_func=_label, key="survival_adjust")

group_col = None if group_choice == NONE else group_choice

st.subheader(f"{endpoint} - {spec.title}")
if cohort is None:
    st.info(
        "The image cohort's risk scores (cohort_risk.csv of the served checkpoint) are not "
        "available right now, e.g. while the model is being retrained. Pick another cohort."
    )
    cohort = pd.DataFrame()
elif cohort.empty:
    st.warning("No patients in this cohort.")

if not cohort.empty:
    conv = co.time_conversion_text(spec)
    st.caption(
        f"{spec.description} {len(cohort)} patients, {int(cohort['event'].sum())} events. "
        f"Time: {conv}. Source: {spec.citation} ({spec.licence}; see data/cohorts/ATTRIBUTION.md)."
        + (f" Note: {spec.note}" if spec.note else "")
    )

    try:
        times = skm.parse_times(times_text or "", unit)
    except ValueError:
        st.warning("Table times must be numbers >= 0 separated by commas; using automatic times.")
        times = None
    if times is None:
        times = skm.default_at_risk_times(float(cohort["time_days"].max()), unit)
    title = f"{endpoint}, {spec.title}" + (f" by {_label(group_choice)}" if group_col else "")
    km = cached.survival_km(cohort_key, endpoint, group_col, unit, times, correction)
    fig = cached.survival_km_figure(cohort_key, endpoint, group_col, unit, times, correction, title=title,
                                    table_rows=("at_risk", "events", "censored"))
    st.plotly_chart(fig, width="stretch", key="survival_km")
    if km.n_dropped:
        st.caption(
            f"{km.n_dropped} patient(s) without a {_label(group_choice)} value "
            "are not shown."
        )
    st.caption(
        "Shaded: pointwise 95% CI (exponential Greenwood). Ticks: censored patients. Tables: "
        "number at risk (follow-up >= t), cumulative events and censored (time <= t)."
    )

    med, risk = km.median, km.at_risk
    base = f"survival_{cohort_key}_{endpoint}_{group_col or 'all'}".lower()
    c1, c2 = st.columns(2)
    with c1:
        _png_download(fig, base, "survival_png")
    with c2:
        st.download_button(
            "Download at-risk + median table (CSV)",
            data=tb.summary_table(risk, med).to_csv(index=False).encode("utf-8"),
            file_name=f"{base}.csv", mime="text/csv", key="survival_download",
        )

    # Tests
    st.markdown("#### Log-rank test")
    if group_col is None:
        st.info("Choose a 'Stratify by' variable to compare groups with the log-rank test.")
    else:
        lr = km.logrank
        if lr is None:
            st.info(f"Log-rank test not applicable: {km.logrank_error}")
        else:
            m1, m2, m3 = st.columns(3)
            m1.metric("Test", lr.test)
            m2.metric("Chi-square statistic", f"{lr.test_statistic:.2f}",
                      help=f"df = {lr.degrees_of_freedom}")
            m3.metric("p-value", tb.format_p(lr.p_value))
            if lr.n_groups >= 3:
                pw = km.pairwise
                st.markdown("Pairwise log-rank tests")
                st.dataframe(tb.pairwise_display(pw), hide_index=True, width="stretch")
                st.caption(f"Adjusted p: {skm.CORRECTIONS[correction]}, over {len(pw)} pairs.")

    st.markdown("#### Median survival (Kaplan-Meier, 95% CI)")
    st.dataframe(tb.median_table(med, unit), hide_index=True, width="stretch")

    st.markdown("#### Cox proportional hazards")
    cox_cols = ([group_col] if group_col else []) + list(adjust)
    if not cox_cols:
        st.info("Choose a 'Stratify by' variable or a covariate under 'Cox: adjust for'.")
    else:
        try:
            hrs = cached.survival_hazard_ratios(cohort_key, endpoint, cox_cols)
        except ValueError as exc:
            st.info(f"Cox model not available: {exc}")
        else:
            st.plotly_chart(sf.forest_figure(hrs.table, title="Hazard ratios (Cox, 95% CI)"),
                            width="stretch", key="survival_forest")
            st.caption(
                f"{hrs.method}. {hrs.n} patients, {hrs.events} events"
                + (f", {hrs.n_missing} left out for a missing covariate" if hrs.n_missing else "")
                + f". Harrell's C (fitting rows) {hrs.concordance:.2f}; likelihood-ratio "
                f"p {tb.format_p(hrs.lr_p)}."
                + (f" Ridge penalty {hrs.penalizer} (unpenalised fit did not converge)."
                   if hrs.penalizer else "")
            )

    st.markdown("#### Number at risk")
    st.caption(
        "At risk at t = patients with follow-up time >= t; events and censored are cumulative "
        "counts with time <= t."
    )
    # column labels in words; time_days is the same column again when the unit is days
    st.dataframe(tb.at_risk_display(risk, unit), hide_index=True, width="stretch",
                 column_config={"time_days": None if unit == "days" else "time (days)", "at_risk": "at risk"})

# ---------------------------------------------------------------------------------------------
st.divider()
st.subheader("Individual prognosis (clinical-molecular model)")
st.caption(
    "From what the pathology report and the chart give. Leave *unknown* what is not known: the "
    "model then uses the largest validated input set among those given. The same inputs are used "
    "by the Prediction page and the PDF report."
)
try:
    clin_model = cached.get_prognosis_model()
except CheckpointError as exc:
    clin_model = None
    st.error(f"The clinical prognosis model could not be loaded: {exc}")

stored = cached.get_clinical_inputs()


def _pick(col, label: str, options: list, name: str, fmt=str, help: str | None = None):
    """A selectbox for input ``name`` starting at the session's stored value."""
    cur = stored.get(name, UNKNOWN)
    try:
        cur = type(options[-1])(cur) if cur != UNKNOWN else cur
    except (TypeError, ValueError):
        cur = UNKNOWN
    return col.selectbox(label, options, index=options.index(cur) if cur in options else 0,
                         key=f"survival_clin_{name}", format_func=fmt, help=help)


c1, c2, c3 = st.columns(3)
tumour_type = _pick(c1, "Tumour type", TUMOUR_TYPES, "tumour_type",
                    help="The model covers adult diffuse glioma (WHO CNS grade 2-4) only.")
age = c2.number_input("Age at diagnosis (years)", min_value=0.0, max_value=120.0, step=1.0, format="%.0f",
                      value=float(stored["age_years"]) if stored.get("age_years") is not None else None,
                      key="survival_clin_age_years", placeholder="unknown")
sex = _pick(c3, "Sex", [UNKNOWN, "female", "male"], "sex")
c4, c5, c6 = st.columns(3)
grade = _pick(c4, "WHO CNS grade (2021)", [UNKNOWN, 2, 3, 4], "grade")
idh = _pick(c5, "IDH", [UNKNOWN, "mutant", "wildtype"], "idh")
codel = _pick(c6, "1p/19q", [UNKNOWN, "codeleted", "intact"], "codeletion_1p19q",
              help="Used only together with IDH (WHO 2021).")
c7, c8, c9 = st.columns(3)
mgmt = _pick(c7, "MGMT promoter", [UNKNOWN, "methylated", "unmethylated"], "mgmt")
kps = _pick(c8, "Karnofsky", [UNKNOWN] + list(range(100, -1, -10)), "karnofsky")
resection = _pick(c9, "Extent of resection", [UNKNOWN, "GTR", "STR", "biopsy"], "resection",
                  fmt=lambda v: {"GTR": "gross total (GTR)", "STR": "subtotal (STR)"}.get(v, v))
entered = {"tumour_type": tumour_type, "age_years": age, "sex": sex, "grade": grade, "idh": idh,
           "codeletion_1p19q": codel, "mgmt": mgmt, "resection": resection,
           "karnofsky": float(kps) if kps != UNKNOWN else kps}  # numbers as floats, as the Prediction page
if clean_clinical(entered) != clean_clinical(stored):
    cached.set_clinical_inputs(entered)

clinical = None
if clin_model is not None:
    finding = clinical_prognosis(entered, clin_model)
    clinical = finding.result
    if clinical is None:
        if finding.reason and finding.reason.startswith(("Outside", "Contradictory")):
            st.warning(f"**Not covered by the prognosis model.** {finding.reason} No survival curve "
                       "is shown.")
        else:
            st.info(f"No individual prognosis yet: {finding.reason}")
    else:
        m_cols = st.columns(4)
        for col, a in zip(m_cols, clinical.survival_at):
            band = "beyond the fitting cohort's follow-up" if a.survival is None else \
                f"95% band {a.lower:.0%}-{a.upper:.0%}"
            col.metric(f"{a.years:g}-year survival", "n/a" if a.survival is None else f"{a.survival:.0%}",
                       help=band)
            col.caption(band)
        m_cols[3].metric(f"Median survival ({unit})", ct.format_median(clinical, unit).split(" (")[0])
        m_cols[3].caption(ct.format_median(clinical, unit))
        st.markdown(ct.inputs_sentence(clinical))
        cidx = clinical.c_index or {}
        ci_txt = (f" Validated C-index of this input set {cidx['value']:.2f} (95% CI {cidx['ci95'][0]:.2f}-"
                  f"{cidx['ci95'][1]:.2f}; {cidx.get('how', '')})." if cidx.get("value") is not None else "")
        st.caption(f"Cox model of {ct.set_label('+'.join(clinical.input_set))} fitted on {clinical.training_cohort} "
                   f"({clinical.n_patients} patients, {clinical.n_events} deaths).{ci_txt} Band: {clinical.band}.")
        for note in clinical.notes:
            st.caption(f"Note: {note}")
        curve_fig = cf.clinical_curve_figure(clinical, unit=unit)
        st.plotly_chart(curve_fig, width="stretch", key="survival_clinical_curve")
        with st.expander("Inputs: entered, used, ignored"):
            st.dataframe(ct.inputs_table(clinical, entered), hide_index=True, width="stretch")
        st.download_button("Download the predicted curve (CSV)",
                           data=ct.curve_table(clinical, unit).to_csv(index=False).encode("utf-8"),
                           file_name="clinical_prognosis_curve.csv", mime="text/csv",
                           key="survival_clinical_csv")

# ---------------------------------------------------------------------------------------------
st.divider()
st.subheader("For the tumour board: risk groups across cohorts")
st.caption(
    "A Cox model fitted on one cohort; its risk groups (cut at the training cohort's quantiles of "
    "the risk) are applied unchanged to another cohort and compared there by Kaplan-Meier and the "
    "log-rank test. The patient's own predicted curve (above) is overlaid."
)
b1, b2, b3, b4 = st.columns(4)
train_key = b1.selectbox("Fitted on", list(cg.CLINICAL_COHORTS), format_func=cg.CLINICAL_COHORTS.get,
                         key="survival_board_train")
test_opts = [k for k in cg.CLINICAL_COHORTS if k != train_key]
cached.reset_invalid_widget("survival_board_test", test_opts, test_opts[0])
test_key = b2.selectbox("Shown on", test_opts, format_func=cg.CLINICAL_COHORTS.get, key="survival_board_test")
board_sets = {"age_years+sex+grade": ("age_years", "sex", "grade"), "age_years+grade": ("age_years", "grade"),
              "age_years": ("age_years",)}
set_key = b3.selectbox("Inputs", list(board_sets), format_func=ct.set_label, key="survival_board_inputs")
n_groups = b4.radio("Risk groups", [3, 2, 4], horizontal=True, key="survival_board_groups")
try:
    board_model, board = cached.clinical_risk_groups(train_key, test_key, board_sets[set_key], n_groups)
except (ValueError, KeyError, FileNotFoundError) as exc:
    st.info(f"Risk groups not available: {exc}")
else:
    patient_group = None
    if clinical is not None:
        patient_group = cg.patient_group(board_model, board, entered)
    board_fig = sf.km_figure(board.km, unit=unit, highlight_group=patient_group,
                             title=f"{board.test_cohort} by risk groups of a {ct.set_label(set_key)} model "
                                   f"fitted on {board.train_cohort}")
    if clinical is not None:
        cf.add_clinical_curve(board_fig, clinical, unit=unit)
    st.plotly_chart(board_fig, width="stretch", key="survival_board_km")
    lr = board.logrank
    g1, g2, g3 = st.columns(3)
    if lr is not None:
        g1.metric("Log-rank chi-square", f"{lr.test_statistic:.1f}", help=f"{lr.test}, df = {lr.degrees_of_freedom}")
        g2.metric("Log-rank p", tb.format_p(lr.p_value))
    g3.metric(f"Harrell C on {board.test_cohort}", f"{board.harrell_c:.3f}",
              help="Of the continuous risk, not of the groups.")
    st.dataframe(board.counts_table().assign(share=lambda d: d["share"].map("{:.0%}".format)),
                 hide_index=True, width="stretch")
    cuts = ", ".join(f"{c:.2f}" for c in board.cut_points)
    st.caption(
        f"Fitted on {board.train_cohort} ({board.n_train} patients, {board.events_train} deaths); cut points "
        f"(log relative hazard, {board.train_cohort} quantiles): {cuts}. Shown on {len(board.patients)} "
        f"{board.test_cohort} patients" + (f" ({board.n_test_missing} left out for a missing input)"
                                           if board.n_test_missing else "") + ". "
        + (f"This patient falls in the **{patient_group}** group of this model. " if patient_group else "")
        + ("Dashed grey: this patient's predicted curve from the served model (its own inputs and cohort)."
           if clinical is not None else "Enter the patient's inputs above to overlay their predicted curve.")
    )
    base_name = f"risk_groups_{train_key}_on_{test_key}_{set_key.replace('+', '_')}_{n_groups}"
    d1, d2, d3 = st.columns(3)
    with d1:
        _png_download(board_fig, base_name, "survival_board_png")
    with d2:
        st.download_button("Download groups: at risk + medians (CSV)",
                           data=tb.summary_table(board.km.at_risk, board.km.median).to_csv(index=False).encode(),
                           file_name=f"{base_name}_summary.csv", mime="text/csv", key="survival_board_csv")
    with d3:
        st.download_button("Download patients and groups (CSV)",
                           data=board.patients.to_csv(index=False).encode(), file_name=f"{base_name}_patients.csv",
                           mime="text/csv", key="survival_board_patients_csv")

# ---------------------------------------------------------------------------------------------
st.divider()
st.subheader("Validation of the prognosis model across cohorts")
if clin_model is None:
    st.info("The prognosis model card is not available.")
else:
    card_p = clin_model.card_
    st.caption(
        "Each row: the inputs fitted on one cohort and scored on another (no patient in both). Harrell "
        "and Uno C with bootstrap 95% CIs, time-dependent AUC, Cox calibration slope (1 = ideal). "
        "Age-only rows are the baseline of the same direction."
    )
    st.dataframe(ct.cross_cohort_table(card_p), hide_index=True, width="stretch", **CROSS_COHORT_GRID)
    st.markdown("Published anchors")
    st.dataframe(ct.anchors_table(card_p), hide_index=True, width="stretch")
    choices = ct.calibration_choices(card_p)
    if choices:
        labels = {f"{s}|{d}": f"{ct.set_label(s)}: {ct.direction_label(d).replace('served_', 'served ')}"
                  for s, d in choices}
        default = "age_years+sex+grade|ucsf_to_tcga"
        order = sorted(labels, key=lambda k: k != default)  # the default first
        cached.reset_invalid_widget("survival_calibration_choice", order, order[0])
        pick = st.selectbox("Calibration of", order, format_func=labels.get, key="survival_calibration_choice")
        s_key, d_key = pick.split("|")
        st.plotly_chart(cf.clinical_calibration_figure(ct.calibration_of(card_p, s_key, d_key),
                                                       title=f"Calibration: {labels[pick]}"),
                        width="stretch", key="survival_clinical_calibration")
    with st.expander("Input sets with molecular inputs: 5 x 5-fold cross-validation within UCSF-PDGM"):
        st.dataframe(ct.cv_table(card_p, "ucsf"), hide_index=True, width="stretch")
    for item in card_p.get("limitations", []):
        st.caption(f"- {item}")

# ---------------------------------------------------------------------------------------------
st.divider()
st.subheader("Experimental: the image model's risk score")
st.caption(
    "The grade model's Cox-risk head, validated on held-out patients below. It is not a risk group "
    "and the prognosis above uses an image feature only where it adds to the clinical inputs."
)
try:
    added = cached.survival_image_added_value()
except (ValueError, FileNotFoundError, KeyError) as exc:
    st.info(f"Added value of the image risk score not available: {exc}")
else:
    st.markdown(added.sentence())
    st.caption(f"{added.folds} folds (5 x 5-fold CV, Harrell C, Cox with L2 penalizer 0.01); hazard ratio "
               f"{added.hazard_ratio_per_sd:.2f} per SD with the clinical inputs; likelihood-ratio "
               f"chi-square {added.lr_statistic:.2f} (1 df). {added.caveat}")
with st.expander("Settings"):
    n_boot = st.number_input("Bootstrap resamples", min_value=20, max_value=2000, value=200, step=20,
                             key="survival_n_boot")
try:
    val = cached.survival_validation(int(n_boot))
except (ValueError, FileNotFoundError) as exc:
    val = None
    st.info(f"Validation not available: {exc} (the served checkpoint may be retraining).")
prediction = cached.current_prediction()
study_score = getattr(prediction, "risk_score", None)
if study_score is not None:
    img_c = ((val or {}).get("models", {}).get("image", {}) or {}).get("harrell_c") or {}
    c_txt = (f"Harrell C on {val['n_heldout']} held-out patients {img_c['estimate']:.2f}"
             + (f" (95% CI {img_c['ci_lower']:.2f}-{img_c['ci_upper']:.2f})" if img_c.get("ci_lower") is not None else "")
             if img_c.get("estimate") is not None else "C-index not available")
    try:
        score_txt = f"{float(study_score):.3f}"
    except (TypeError, ValueError):
        score_txt = "n/a"
    st.markdown(f"This study's image-only risk score: **{score_txt}** (experimental; {c_txt}).")
if val is not None:
    st.caption(
        f"{val['n_heldout']} held-out patients ({', '.join(val['heldout_splits'])}; "
        f"{val['events_heldout']} deaths); Cox models fitted on {val['n_train']} training "
        f"patients ({val['events_train']} deaths). CIs: {val['ci_method']}. Uno's C truncated "
        f"at {val['tau_days'] / skm.UNITS['years']:.1f} years; IPCW from the training censoring "
        "distribution (torchsurv)."
    )
    st.dataframe(tb.validation_table(val, "years"), hide_index=True, width="stretch")
    diffs = tb.differences_table(val)
    st.markdown("Paired differences in C-index (same held-out patients and resamples)")
    st.dataframe(diffs, hide_index=True, width="stretch")
    st.plotly_chart(sf.calibration_figure(val, "years"), width="stretch", key="survival_calibration")
    ph = tb.ph_table(val)
    st.markdown("Proportional-hazards check (scaled Schoenfeld residuals vs rank of time, "
                "lifelines `proportional_hazard_test`, training fits)")
    if ph.empty:
        st.info("No proportional-hazards test could be computed.")
    else:
        st.dataframe(ph.assign(p_value=ph["p_value"].map(tb.format_p)), hide_index=True, width="stretch")
        st.caption("p < 0.05 suggests the covariate's hazard ratio changes over time.")
    for note in val["notes"]:
        st.warning(note)
