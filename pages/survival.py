"""Survival page: Kaplan-Meier curves of the TCGA-CDR LGG/GBM cohort and of the image cohort.

Thin Streamlit layer: every statistic and figure comes from :mod:`model.survival`.
Reads (never writes) ``st.session_state["prediction"]`` and ``st.session_state["checkpoint_dir"]``.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:  # run standalone (AppTest / streamlit run pages/survival.py)
    sys.path.insert(0, str(_ROOT))

import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

from model import survival as sv  # noqa: E402

STRATA = {
    "None": None,
    "cancer type": "cancer_type",
    "grade": "grade",
    "histology": "histology",
    "sex": "sex",
}


@st.cache_data(show_spinner="Loading the TCGA-CDR cohort...")
def _load_cohort(endpoint: str) -> pd.DataFrame:
    return sv.load_tcga_cdr(endpoint=endpoint)


@st.cache_data(show_spinner=False)
def _load_cohort_risk(checkpoint_dir: str, mtime: float) -> pd.DataFrame | None:
    # mtime is only a cache key: a retrained checkpoint rewrites cohort_risk.csv.
    return sv.load_cohort_risk(checkpoint_dir)


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


st.title("Survival")
st.caption(
    "Kaplan-Meier estimates (lifelines) for the TCGA Pan-Cancer Clinical Data Resource "
    "LGG + GBM cohort (Liu et al., Cell 2018). Population-level reference, not a prediction "
    "for an individual patient."
)

with st.sidebar:
    st.header("Survival")
    endpoint = st.radio(
        "Endpoint",
        list(sv.ENDPOINTS),
        key="survival_endpoint",
        help="OS = overall survival; PFI = progression-free interval (Liu et al. 2018).",
    )
    cohort_filter = st.selectbox("Cohort", ["All", "LGG", "GBM"], key="survival_cohort")
    strat_label = st.selectbox("Stratify by", list(STRATA), key="survival_strata")
    unit = st.selectbox("Time unit", list(sv.UNITS), key="survival_unit")

group_col = STRATA[strat_label]

try:
    cohort = _load_cohort(endpoint)
except (FileNotFoundError, ValueError) as exc:
    st.error(f"The reference cohort could not be loaded: {exc}")
    st.stop()

if cohort_filter != "All":
    cohort = cohort[cohort["cancer_type"] == cohort_filter]

cohort_name = "TCGA " + (cohort_filter if cohort_filter != "All" else "LGG + GBM")
st.subheader(f"{endpoint} - {cohort_name}")
if cohort.empty:
    st.warning("No patients in this selection.")
    st.stop()

times = sv.default_at_risk_times(float(cohort["time_days"].max()), unit)
title = f"{endpoint}, {cohort_name}" + (f" by {strat_label}" if group_col else "")
fig = sv.km_figure(cohort, group_col=group_col, unit=unit, at_risk_times=times, title=title)
st.plotly_chart(fig, width="stretch", key="survival_km")
if fig.layout.meta and fig.layout.meta.get("n_dropped"):
    st.caption(
        f"{fig.layout.meta['n_dropped']} patient(s) without a {strat_label} value are not shown."
    )

# Log-rank
st.markdown("#### Log-rank test")
if group_col is None:
    st.info("Choose a 'Stratify by' variable to compare groups with the log-rank test.")
else:
    try:
        lr = sv.logrank(cohort, group_col)
    except ValueError as exc:
        st.info(f"Log-rank test not applicable: {exc}")
    else:
        c1, c2, c3 = st.columns(3)
        c1.metric("Test", lr["test"])
        c2.metric("Chi-square statistic", f"{lr['test_statistic']:.2f}", help=f"df = {lr['degrees_of_freedom']}")
        c3.metric("p-value", _fmt_p(lr["p_value"]))

# Median survival + at-risk tables
med = sv.median_survival(cohort, group_col)
risk = sv.at_risk_table(cohort, times, group_col)
st.markdown("#### Median survival (Kaplan-Meier, 95% CI)")
st.dataframe(_median_display(med, unit), hide_index=True, width="stretch")
st.markdown("#### Number at risk")
st.caption(
    "At risk at t = patients with follow-up time >= t; events and censored are cumulative "
    "counts with time <= t."
)
risk_show = risk.assign(**{f"time ({unit})": (risk["time_days"] / sv.UNITS[unit]).round(2)})
st.dataframe(
    risk_show[["group", f"time ({unit})", "time_days", "at_risk", "events", "censored"]],
    hide_index=True,
    width="stretch",
)
st.download_button(
    "Download at-risk + median table (CSV)",
    data=sv.summary_table(risk, med).to_csv(index=False).encode("utf-8"),
    file_name=f"survival_{endpoint}_{cohort_filter}_{group_col or 'all'}.csv".lower(),
    mime="text/csv",
    key="survival_download",
)

# ---------------------------------------------------------------------------------------------
st.divider()
st.subheader("This study against the cohort")

prediction = st.session_state.get("prediction")
checkpoint_dir = st.session_state.get("checkpoint_dir")

cohort_risk = None
if prediction is not None and checkpoint_dir:
    csv_path = Path(str(checkpoint_dir)) / "cohort_risk.csv"
    try:
        mtime = csv_path.stat().st_mtime if csv_path.is_file() else 0.0
        cohort_risk = _load_cohort_risk(str(checkpoint_dir), mtime)
    except (ValueError, OSError) as exc:
        st.warning(f"The image cohort's risk scores could not be read: {exc}")

study_score = getattr(prediction, "risk_score", None)
study_group = getattr(prediction, "risk_group", None)
study_pct = getattr(prediction, "risk_percentile", None)

if prediction is None or cohort_risk is None or cohort_risk.empty or study_score is None:
    st.info(
        "Load a study and run the Prediction page to compare its model risk score with the "
        "image cohort (the checkpoint's cohort_risk.csv is also needed)."
    )
else:
    try:
        study_score = float(study_score)
        pct_txt = f"{float(study_pct):.0f}th percentile" if study_pct is not None else "percentile n/a"
    except (TypeError, ValueError):
        study_score, pct_txt = float("nan"), "percentile n/a"
    st.markdown(
        f"This study: risk score **{study_score:.3f}** ({pct_txt}), "
        f"**{study_group or 'unknown'}**-risk group."
    )
    splits = sorted(cohort_risk["split"].unique())
    held_out = cohort_risk[cohort_risk["split"] != "train"]
    options = ["Held-out splits (not train)", "All splits"] if not held_out.empty else ["All splits"]
    which = st.radio(
        "Image-cohort patients",
        options,
        horizontal=True,
        key="survival_risk_rows",
        help="Training patients were used to fit the model, so their separation is optimistic.",
    )
    rows = held_out if which.startswith("Held-out") else cohort_risk
    st.caption(
        f"Splits available: {', '.join(splits)}. Cut between low and high risk = median risk "
        f"score of the training split ({sv.risk_threshold(cohort_risk):.3f})."
    )
    try:
        km_risk = sv.km_figure(
            rows,
            group_col="risk_group",
            unit=unit,
            highlight_group=study_group,
            title="Image cohort by model risk group",
        )
    except ValueError as exc:
        st.info(f"Kaplan-Meier of the image cohort not available: {exc}")
    else:
        st.plotly_chart(km_risk, width="stretch", key="survival_km_risk")
    st.plotly_chart(
        sv.risk_histogram(cohort_risk, study_score=study_score),
        width="stretch",
        key="survival_risk_hist",
    )
