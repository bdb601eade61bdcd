"""Survival page: Kaplan-Meier analysis of real cohorts, the loaded study's individual
prognosis, and the validation of the image model's risk score on held-out patients.

Widgets and layout only: cohorts and every statistic come from :mod:`model.survival` through
the cached accessors of :mod:`model.cached` (``survival_*``), figures from
:mod:`model.views.survival_figures`, tables from :mod:`model.survival.tables`. Reads (never
writes) the session's prediction (:func:`model.cached.current_prediction`); the image cohort is
that of the served checkpoint; its own widgets use keys ``survival_*``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import streamlit as st

from model import cached
from model.survival import cohorts as co
from model.survival import km as skm
from model.survival import tables as tb
from model.survival.cox import hazard_ratio_table
from model.survival.prognosis import UNKNOWN, covariate_usage, select_prognosis_inputs
from model.views import survival_figures as sf

NONE = "None"


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

strata_opts = [NONE] + (co.stratifiable(cohort, cohort_key) if cohort is not None else [])
adjust_opts = co.adjusters(cohort, cohort_key)
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
    st.plotly_chart(fig, width="stretch", key="survival_km", theme=None)
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
                            width="stretch", key="survival_forest", theme=None)
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
    st.dataframe(tb.at_risk_display(risk, unit), hide_index=True, width="stretch")

# ---------------------------------------------------------------------------------------------
st.divider()
st.subheader("This study: individual prognosis")

prediction = cached.current_prediction()
study_score = getattr(prediction, "risk_score", None)
study_group = getattr(prediction, "risk_group", None)
study_pct = getattr(prediction, "risk_percentile", None)
image_cohort = None
try:
    image_cohort = cached.survival_cohort("tcga_image", "OS")
except (ValueError, OSError) as exc:
    st.warning(f"The image cohort's risk scores could not be read: {exc}")

if prediction is None or study_score is None:
    st.info(
        "Load a study and run the Prediction page to place its model risk score on the image "
        "cohort and get an individual survival curve."
    )
elif image_cohort is None or image_cohort.empty:
    st.info("The checkpoint's cohort_risk.csv (the image cohort's risk scores) is not available, "
            "e.g. while the model is being retrained, so there is no cohort to place the study on.")
else:
    try:
        study_score = float(study_score)
    except (TypeError, ValueError):
        study_score = float("nan")
    pct_txt = f"percentile {float(study_pct):.0f}" if study_pct is not None else "percentile n/a"
    st.markdown(
        f"Image model: risk score **{study_score:.3f}** ({pct_txt} of the training patients), "
        f"**{study_group or 'unknown'}**-risk group."
    )
    st.markdown("Clinical covariates (leave *unknown* when not known)")
    k1, k2, k3 = st.columns(3)
    age = k1.number_input("Age (years)", min_value=0, max_value=110, value=None, step=1,
                          key="survival_age", placeholder="unknown")
    sex = k2.selectbox("Sex", [UNKNOWN, "female", "male"], key="survival_sex")
    kps = k3.selectbox("Karnofsky", [UNKNOWN] + [str(v) for v in range(100, -1, -10)], key="survival_kps")
    k4, k5, k6 = st.columns(3)
    resection = k4.selectbox("Resection", [UNKNOWN, "GTR", "STR", "biopsy"], key="survival_resection")
    idh = k5.selectbox("IDH", [UNKNOWN, "wildtype", "mutant"], key="survival_idh")
    mgmt = k6.selectbox("MGMT", [UNKNOWN, "methylated", "unmethylated"], key="survival_mgmt")
    n_boot_ind = cached.widget_value("survival_n_boot", 200)
    entered = {"age_years": age, "sex": sex, "karnofsky": kps, "resection": resection,
               "idh": idh, "mgmt": mgmt}
    chosen = select_prognosis_inputs(image_cohort, study_score, entered)
    try:
        if not math.isfinite(study_score):
            raise ValueError("the study has no finite risk score")
        model = cached.survival_prognostic_model(chosen.inputs)
        prog = cached.survival_individual(chosen.inputs, chosen.values, int(n_boot_ind))
    except ValueError as exc:
        st.info(f"No individual survival curve: {exc}")
    else:
        usage = covariate_usage(study_score, entered, model.inputs_)
        st.dataframe(usage, hide_index=True, width="stretch")
        h = prog.horizons
        cols = st.columns(len(h))
        for col, (_, r) in zip(cols, h.iterrows()):
            ci = "" if not np.isfinite(r["lower"]) else f"95% CI {r['lower']:.0%}-{r['upper']:.0%}"
            col.metric(f"{r['years']:g}-year survival", f"{r['survival']:.0%}", help=ci or None)
            col.caption(ci + (" (beyond follow-up)" if r["beyond_follow_up"] else "")
                        + f"; {int(r['at_risk'])} fitting patients followed that long")
        st.markdown(
            f"Combined prognostic index (Cox linear predictor): **percentile {prog.percentile:.0f}** "
            f"of the fitting patients, **{prog.group}** half."
        )
        hr_tab = hazard_ratio_table(model)
        hr_risk = hr_tab.loc[hr_tab["covariate"] == "risk_score", "hr"]
        if len(hr_risk) and float(hr_risk.iloc[0]) < 1:
            st.warning(
                f"In the fitting patients a higher image risk score went with LONGER survival "
                f"(hazard ratio {float(hr_risk.iloc[0]):.2f} per SD). The curve follows the data, so "
                "its placement can disagree with the image model's own risk group."
            )
        lo_r, hi_r = image_cohort["risk_score"].min(), image_cohort["risk_score"].max()
        if not lo_r <= study_score <= hi_r:
            st.warning(
                f"This study's risk score ({study_score:.3f}) is outside the range of the image "
                f"cohort ({lo_r:.3f} to {hi_r:.3f}): the curve is an extrapolation of the Cox model."
            )
        km_img = cached.survival_km_figure(
            "tcga_image", "OS", "risk_group", unit, None, highlight_group=study_group,
            title="This study over the image cohort by model risk group",
        )
        sf.add_individual_curve(km_img, prog, unit=unit)
        st.plotly_chart(km_img, width="stretch", key="survival_km_individual", theme=None)
        st.caption(
            f"Dashed black: this study's predicted S(t) with 95% band ({prog.ci_method}). Cox "
            f"model (lifelines CoxPHFitter) fitted on the image model's training patients "
            f"({model.n_} patients, {model.events_} deaths; OS from TCGA-CDR) with "
            f"{', '.join(_label(c) for c in model.inputs_)}. Coloured: Kaplan-Meier of all image-"
            "cohort patients by the image model's risk group (the study's group drawn thicker)."
        )
        st.plotly_chart(
            sf.forest_figure(hazard_ratio_table(model, {c: _label(c) for c in model.inputs_}),
                             title="Prognostic model: hazard ratios (95% CI)"),
            width="stretch", key="survival_forest_individual", theme=None,
        )

# ---------------------------------------------------------------------------------------------
st.divider()
st.subheader("Validation of the risk score on held-out patients")
with st.expander("Settings"):
    n_boot = st.number_input("Bootstrap resamples", min_value=20, max_value=2000, value=200, step=20,
                             key="survival_n_boot")
try:
    val = cached.survival_validation(int(n_boot))
except (ValueError, FileNotFoundError) as exc:
    st.info(f"Validation not available: {exc} (the served checkpoint may be retraining).")
else:
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
    st.plotly_chart(sf.calibration_figure(val, "years"), width="stretch", key="survival_calibration",
                    theme=None)
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
