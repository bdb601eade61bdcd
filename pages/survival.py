"""Survival page: Kaplan-Meier analysis of real cohorts, the loaded study's individual
prognosis, and the validation of the image model's risk score on held-out patients.

Thin Streamlit layer: cohorts come from :mod:`model.survival.cohorts`, every statistic and figure from
:mod:`model.survival`. Reads (never writes) ``st.session_state["prediction"]``; the image cohort is that of the served
checkpoint (:data:`model.nets.checkpoint.DEFAULT_CHECKPOINT`); its own widgets use keys ``survival_*``.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:  # run standalone (AppTest / streamlit run pages/survival.py)
    sys.path.insert(0, str(_ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

from model.nets import checkpoint as ckpt  # noqa: E402
from model.survival import cohorts as co  # noqa: E402
from model import survival as sv  # noqa: E402

NONE = "None"
UNKNOWN = "unknown"


def _label(col: str) -> str:
    return NONE if col == NONE else co.COVARIATES[col].label if col in co.COVARIATES else col


def _mtime(checkpoint_dir: str | None) -> float:
    if not checkpoint_dir:
        return 0.0
    p = Path(checkpoint_dir) / "cohort_risk.csv"
    return p.stat().st_mtime if p.is_file() else 0.0


# ---------------------------------------------------------------------------------- caching
@st.cache_data(show_spinner="Loading the cohort...")
def _load(key: str, endpoint: str, checkpoint_dir: str | None, mtime: float) -> pd.DataFrame | None:
    # mtime is only a cache key: a retrained checkpoint rewrites cohort_risk.csv.
    return co.load_cohort(key, endpoint=endpoint, checkpoint_dir=checkpoint_dir)


@st.cache_data(show_spinner="Computing the Kaplan-Meier analysis...")
def _km(key: str, endpoint: str, checkpoint_dir: str | None, mtime: float, group_col: str | None,
        unit: str, times: tuple[float, ...], title: str, correction: str) -> dict:
    # Keyed by what defines the selection, so reruns for other widgets reuse it.
    return sv.km_analysis(_load(key, endpoint, checkpoint_dir, mtime), group_col, unit,
                          list(times), title, correction)


@st.cache_data(show_spinner="Fitting the Cox model...")
def _cox(key: str, endpoint: str, checkpoint_dir: str | None, mtime: float,
         cols: tuple[str, ...]) -> tuple[pd.DataFrame, dict]:
    refs = {c: co.COVARIATES[c].levels[0] for c in cols
            if c in co.COVARIATES and co.COVARIATES[c].levels}
    return sv.cox_hazard_ratios(_load(key, endpoint, checkpoint_dir, mtime), list(cols),
                                references=refs, labels={c: _label(c) for c in cols})


@st.cache_data(show_spinner=False)
def _cdr() -> pd.DataFrame:
    return sv.load_tcga_cdr(endpoint="OS")


@st.cache_resource(show_spinner="Fitting the prognostic Cox model...")
def _prognostic_model(checkpoint_dir: str, mtime: float, inputs: tuple[str, ...]) -> sv.CoxModel:
    img = co.load_image_cohort(checkpoint_dir)
    if img is None:
        raise ValueError("cohort_risk.csv not found")
    return sv.fit_prognostic_model(img, inputs=inputs)


@st.cache_data(show_spinner="Bootstrapping the individual survival curve...")
def _individual(checkpoint_dir: str, mtime: float, inputs: tuple[str, ...], values: tuple, n_boot: int):
    model = _prognostic_model(checkpoint_dir, mtime, inputs)
    return sv.individual_survival(model, dict(values), n_boot=n_boot, seed=0)


@st.cache_data(show_spinner="Validating the risk score on held-out patients...")
def _validation(checkpoint_dir: str, mtime: float, n_boot: int) -> dict:
    risk = sv.load_cohort_risk(checkpoint_dir)
    if risk is None:
        raise ValueError("cohort_risk.csv not found")
    return sv.validate_risk(risk, _cdr(), n_boot=n_boot, seed=0)


@st.cache_data(show_spinner="Rendering the PNG...")
def _png(fig_json: str) -> bytes:
    import plotly.io as pio

    return sv.figure_png(pio.from_json(fig_json), width=1100)


# ---------------------------------------------------------------------------------- helpers
def _fmt_days(days: float, unit: str) -> str:
    if days is None or (isinstance(days, float) and math.isnan(days)):
        return "n/a"
    if math.isinf(days):
        return "not reached"
    return f"{days / sv.UNITS[unit]:.1f}"


def _fmt_p(p: float) -> str:
    return "< 0.0001" if p < 1e-4 else f"{p:.4f}"


def _median_display(med: pd.DataFrame, unit: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "group": med["group"],
            "n": med["n"],
            "events": med["events"],
            f"median ({unit})": [_fmt_days(v, unit) for v in med["median_days"]],
            f"95% CI lower ({unit})": [_fmt_days(v, unit) for v in med["ci_lower_days"]],
            f"95% CI upper ({unit})": [_fmt_days(v, unit) for v in med["ci_upper_days"]],
        }
    )


def _parse_times(text: str, unit: str) -> list[float] | None:
    """Comma/space separated times in ``unit`` -> days; None when empty; ValueError if bad."""
    parts = [p for p in text.replace(";", ",").replace(" ", ",").split(",") if p.strip()]
    if not parts:
        return None
    vals = sorted({float(p) for p in parts})
    if any(v < 0 or not math.isfinite(v) for v in vals):
        raise ValueError("times must be >= 0")
    return [v * sv.UNITS[unit] for v in vals]


def _reset_if_invalid(key: str, options: list, default) -> None:
    cur = st.session_state.get(key)
    if isinstance(cur, list):
        keep = [c for c in cur if c in options]
        if keep != cur:
            st.session_state[key] = keep
    elif key in st.session_state and cur not in options:
        st.session_state[key] = default


def _png_download(fig, name: str, key: str) -> None:
    """A 'Prepare PNG' button; then the download button, or a message when kaleido fails."""
    fig_json = fig.to_json()
    state_key = f"{key}_result"
    if st.button("Prepare PNG of the figure", key=f"{key}_prepare",
                 help="Static export with Plotly + kaleido (needs Chrome/Chromium)."):
        try:
            st.session_state[state_key] = (fig_json, _png(fig_json), None)
        except sv.FigureExportError as exc:
            st.session_state[state_key] = (fig_json, None, str(exc))
    res = st.session_state.get(state_key)
    if res is None or res[0] != fig_json:
        return
    if res[1] is not None:
        st.download_button("Download figure (PNG)", data=res[1], file_name=f"{name}.png",
                           mime="image/png", key=f"{key}_download")
    else:
        st.warning(f"PNG export is not available here: {res[2]}. Use the camera icon of the "
                   "figure's toolbar to save it from the browser instead.")


# ---------------------------------------------------------------------------------- page
st.title("Survival")
st.caption(
    "Kaplan-Meier estimates (lifelines) of real brain-tumour cohorts, Cox models and the image "
    "model's risk score. Population-level reference: research use only, not a medical device."
)

checkpoint_dir = str(ckpt.DEFAULT_CHECKPOINT)
ck_mtime = _mtime(checkpoint_dir)

with st.sidebar:
    st.header("Survival")
    _reset_if_invalid("survival_cohort", list(co.COHORTS), "tcga")
    cohort_key = st.selectbox(
        "Cohort", list(co.COHORTS), format_func=lambda k: co.COHORTS[k].title, key="survival_cohort"
    )
    spec = co.COHORTS[cohort_key]
    _reset_if_invalid("survival_endpoint", list(spec.endpoints), spec.endpoints[0])
    endpoint = st.radio(
        "Endpoint", list(spec.endpoints), key="survival_endpoint",
        help="OS = overall survival; PFI = progression-free interval (TCGA-CDR only, Liu et al. 2018).",
    )

load_args = ((checkpoint_dir, ck_mtime) if spec.needs_checkpoint else (None, 0.0))
try:
    cohort = _load(cohort_key, endpoint, *load_args)
except (FileNotFoundError, ValueError, KeyError) as exc:
    st.error(f"The cohort could not be loaded: {exc}")
    st.stop()

strata_opts = [NONE] + (co.stratifiable(cohort, cohort_key) if cohort is not None else [])
adjust_opts = [] if cohort is None else [
    c for c in (*spec.numeric, *co.stratifiable(cohort, cohort_key)) if c != "split"
]
with st.sidebar:
    _reset_if_invalid("survival_strata", strata_opts, NONE)
    group_choice = st.selectbox("Stratify by", strata_opts, format_func=_label, key="survival_strata")
    unit = st.selectbox("Time unit", list(sv.UNITS), key="survival_unit")
    times_text = st.text_input(
        f"Table times ({unit})", key="survival_times",
        help="Comma-separated times for the number-at-risk table and x ticks; empty = automatic.",
    )
    correction = st.radio(
        "Pairwise correction", list(sv.CORRECTIONS), key="survival_correction",
        format_func=lambda k: {"holm": "Holm", "bh": "Benjamini-Hochberg"}[k],
        help="Multiple-comparison correction of the pairwise log-rank p-values.",
    )
    adj_choices = [c for c in adjust_opts if c != group_choice]
    _reset_if_invalid("survival_adjust", adj_choices, [])
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
    conv = {"months": "converted from months (x 30.4375 days)",
            "weeks": "converted from weeks (x 7 days)",
            "days (text)": "days; 'ALIVE (N days later)' = censored at N"}.get(spec.source_unit, "days")
    st.caption(
        f"{spec.description} {len(cohort)} patients, {int(cohort['event'].sum())} events. "
        f"Time: {conv}. Source: {spec.citation} ({spec.licence}; see data/cohorts/ATTRIBUTION.md)."
        + (f" Note: {spec.note}" if spec.note else "")
    )

    try:
        times = _parse_times(times_text or "", unit)
    except ValueError:
        st.warning("Table times must be numbers >= 0 separated by commas; using automatic times.")
        times = None
    if times is None:
        times = sv.default_at_risk_times(float(cohort["time_days"].max()), unit)
    title = f"{endpoint}, {spec.title}" + (f" by {_label(group_choice)}" if group_col else "")
    km = _km(cohort_key, endpoint, *load_args, group_col, unit, tuple(times), title, correction)
    fig = km["figure"]
    if fig is None:
        st.warning(f"No Kaplan-Meier curve for this selection: {km['figure_error']}")
    else:
        st.plotly_chart(fig, width="stretch", key="survival_km", theme=None)
        if fig.layout.meta and fig.layout.meta.get("n_dropped"):
            st.caption(
                f"{fig.layout.meta['n_dropped']} patient(s) without a {_label(group_choice)} value "
                "are not shown."
            )
        st.caption(
            "Shaded: pointwise 95% CI (exponential Greenwood). Ticks: censored patients. Tables: "
            "number at risk (follow-up >= t), cumulative events and censored (time <= t)."
        )

    med, risk = km["median"], km["at_risk"]
    base = f"survival_{cohort_key}_{endpoint}_{group_col or 'all'}".lower()
    c1, c2 = st.columns(2)
    with c1:
        if fig is not None:
            _png_download(fig, base, "survival_png")
    with c2:
        st.download_button(
            "Download at-risk + median table (CSV)",
            data=sv.summary_table(risk, med).to_csv(index=False).encode("utf-8"),
            file_name=f"{base}.csv", mime="text/csv", key="survival_download",
        )

    # Tests
    st.markdown("#### Log-rank test")
    if group_col is None:
        st.info("Choose a 'Stratify by' variable to compare groups with the log-rank test.")
    else:
        lr = km["logrank"]
        if lr is None:
            st.info(f"Log-rank test not applicable: {km['logrank_error']}")
        else:
            m1, m2, m3 = st.columns(3)
            m1.metric("Test", lr["test"])
            m2.metric("Chi-square statistic", f"{lr['test_statistic']:.2f}",
                      help=f"df = {lr['degrees_of_freedom']}")
            m3.metric("p-value", _fmt_p(lr["p_value"]))
            if lr["n_groups"] >= 3:
                pw = km["pairwise"]
                st.markdown("Pairwise log-rank tests")
                st.dataframe(
                    pw.assign(
                        p_value=pw["p_value"].map(_fmt_p), p_adjusted=pw["p_adjusted"].map(_fmt_p)
                    ).drop(columns=["correction"]),
                    hide_index=True, width="stretch",
                )
                st.caption(f"Adjusted p: {sv.CORRECTIONS[correction]}, over {len(pw)} pairs.")

    st.markdown("#### Median survival (Kaplan-Meier, 95% CI)")
    st.dataframe(_median_display(med, unit), hide_index=True, width="stretch")

    st.markdown("#### Cox proportional hazards")
    cox_cols = ([group_col] if group_col else []) + list(adjust)
    if not cox_cols:
        st.info("Choose a 'Stratify by' variable or a covariate under 'Cox: adjust for'.")
    else:
        try:
            hr, info = _cox(cohort_key, endpoint, *load_args, tuple(cox_cols))
        except ValueError as exc:
            st.info(f"Cox model not available: {exc}")
        else:
            st.plotly_chart(sv.forest_figure(hr, title="Hazard ratios (Cox, 95% CI)"),
                            width="stretch", key="survival_forest", theme=None)
            st.caption(
                f"{info['method']}. {info['n']} patients, {info['events']} events"
                + (f", {info['n_missing']} left out for a missing covariate" if info["n_missing"] else "")
                + f". Harrell's C (fitting rows) {info['concordance']:.2f}; likelihood-ratio "
                f"p {_fmt_p(info['lr_p'])}."
                + (f" Ridge penalty {info['penalizer']} (unpenalised fit did not converge)."
                   if info["penalizer"] else "")
            )

    st.markdown("#### Number at risk")
    st.caption(
        "At risk at t = patients with follow-up time >= t; events and censored are cumulative "
        "counts with time <= t."
    )
    risk_show = risk.assign(**{f"time ({unit})": (risk["time_days"] / sv.UNITS[unit]).round(2)})
    st.dataframe(
        risk_show[["group", f"time ({unit})", "time_days", "at_risk", "events", "censored"]],
        hide_index=True, width="stretch",
    )

# ---------------------------------------------------------------------------------------------
st.divider()
st.subheader("This study: individual prognosis")

prediction = st.session_state.get("prediction")
study_score = getattr(prediction, "risk_score", None)
study_group = getattr(prediction, "risk_group", None)
study_pct = getattr(prediction, "risk_percentile", None)
image_cohort = None
try:
    image_cohort = _load("tcga_image", "OS", checkpoint_dir, ck_mtime)
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
    n_boot_ind = st.session_state.get("survival_n_boot", 200)

    values = {"risk_score": study_score}
    inputs = ["risk_score"]
    if age is not None:
        values["age_years"] = float(age)
        inputs.append("age_years")
    if sex != UNKNOWN:
        values["sex"] = sex
        inputs.append("sex")
    avail = [c for c in ("age_years", "sex") if c in image_cohort.columns and image_cohort[c].notna().any()]
    inputs = [c for c in inputs if c == "risk_score" or c in avail]
    values = {k: v for k, v in values.items() if k in inputs}
    try:
        if not math.isfinite(study_score):
            raise ValueError("the study has no finite risk score")
        model = _prognostic_model(checkpoint_dir, ck_mtime, tuple(inputs))
        prog = _individual(checkpoint_dir, ck_mtime, tuple(inputs), tuple(sorted(values.items())), int(n_boot_ind))
    except ValueError as exc:
        st.info(f"No individual survival curve: {exc}")
    else:
        used = set(model.inputs)
        usage = pd.DataFrame(
            [
                ("image risk score", f"{study_score:.3f}", "risk_score" in used, "Cox covariate (per SD)"),
                ("age", UNKNOWN if age is None else f"{age} years", "age_years" in used,
                 "Cox covariate (per 10 years)" if "age_years" in used else
                 ("not entered" if age is None else "not available for the fitting patients")),
                ("sex", sex, "sex" in used, "Cox covariate (male vs female)" if "sex" in used else
                 ("not entered" if sex == UNKNOWN else "not available for the fitting patients")),
                ("Karnofsky", kps, False, "recorded only: not in TCGA-CDR for these patients"),
                ("resection", resection, False, "recorded only: not in TCGA-CDR for these patients"),
                ("IDH", idh, False, "recorded only: not in TCGA-CDR for these patients"),
                ("MGMT", mgmt, False, "recorded only: not in TCGA-CDR for these patients"),
            ],
            columns=["covariate", "entered", "used by the fitted model", "note"],
        )
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
        hr_tab = sv.hazard_ratio_table(model)
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
        km_img = sv.km_figure(
            image_cohort, group_col="risk_group", unit=unit, highlight_group=study_group,
            title="This study over the image cohort by model risk group",
        )
        sv.add_individual_curve(km_img, prog, unit=unit)
        st.plotly_chart(km_img, width="stretch", key="survival_km_individual", theme=None)
        st.caption(
            f"Dashed black: this study's predicted S(t) with 95% band ({prog.ci_method}). Cox "
            f"model (lifelines CoxPHFitter) fitted on the image model's training patients "
            f"({model.n} patients, {model.events} deaths; OS from TCGA-CDR) with "
            f"{', '.join(_label(c) for c in model.inputs)}. Coloured: Kaplan-Meier of all image-"
            "cohort patients by the image model's risk group (the study's group drawn thicker)."
        )
        st.plotly_chart(
            sv.forest_figure(sv.hazard_ratio_table(model, {c: _label(c) for c in model.inputs}),
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
    val = _validation(checkpoint_dir, ck_mtime, int(n_boot))
except (ValueError, FileNotFoundError) as exc:
    st.info(f"Validation not available: {exc} (the served checkpoint may be retraining).")
else:
    st.caption(
        f"{val['n_heldout']} held-out patients ({', '.join(val['heldout_splits'])}; "
        f"{val['events_heldout']} deaths); Cox models fitted on {val['n_train']} training "
        f"patients ({val['events_train']} deaths). CIs: {val['ci_method']}. Uno's C truncated "
        f"at {val['tau_days'] / sv.UNITS['years']:.1f} years; IPCW from the training censoring "
        "distribution (torchsurv)."
    )
    st.dataframe(sv.validation_table(val, "years"), hide_index=True, width="stretch")
    diffs = sv.differences_table(val)
    st.markdown("Paired differences in C-index (same held-out patients and resamples)")
    st.dataframe(diffs, hide_index=True, width="stretch")
    st.plotly_chart(sv.calibration_figure(val, "years"), width="stretch", key="survival_calibration",
                    theme=None)
    ph = sv.ph_table(val)
    st.markdown("Proportional-hazards check (scaled Schoenfeld residuals vs rank of time, "
                "lifelines `proportional_hazard_test`, training fits)")
    if ph.empty:
        st.info("No proportional-hazards test could be computed.")
    else:
        st.dataframe(ph.assign(p_value=ph["p_value"].map(_fmt_p)), hide_index=True, width="stretch")
        st.caption("p < 0.05 suggests the covariate's hazard ratio changes over time.")
    for note in val["notes"]:
        st.warning(note)
