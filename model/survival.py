"""Survival statistics and figures for the tumor-board Survival page.

No Streamlit here: the page ``pages/survival.py`` calls these functions and only displays.
All estimators and tests come from lifelines (Davidson-Pilon, *lifelines: survival analysis in
Python*, JOSS 2019); figures are Plotly. Every time in this module is in **days** unless a
function says otherwise (``unit`` only changes how a figure is drawn).

Methods
-------
* Kaplan-Meier product-limit estimator (Kaplan EL, Meier P, *J Am Stat Assoc* 1958;53:457-481),
  via :class:`lifelines.KaplanMeierFitter`.
* Pointwise 95% confidence bands exactly as lifelines computes them: Greenwood's variance on the
  log(-log) scale ("exponential Greenwood"), alpha = 0.05.
* Median survival and its 95% CI: :attr:`KaplanMeierFitter.median_survival_time_` and
  :func:`lifelines.utils.median_survival_times` applied to the KM confidence band (the first
  times the lower / upper band reach 0.5). ``inf`` means "not reached".
* Log-rank test (Mantel N, *Cancer Chemother Rep* 1966;50:163-170) via
  :func:`lifelines.statistics.logrank_test` (2 groups, 1 degree of freedom) and
  :func:`lifelines.statistics.multivariate_logrank_test` (k > 2 groups, k - 1 degrees of freedom).
* The number-at-risk table is computed here with numpy/pandas (definition in
  :func:`at_risk_table`), not by lifelines.

THE cohort schema
-----------------
:func:`load_tcga_cdr` returns, and the other functions expect, a frame with these columns:

============== ========= ==============================================================
column         dtype     meaning
============== ========= ==============================================================
patient_id     str       TCGA patient barcode, e.g. ``TCGA-02-0001``
time_days      float     follow-up time of the chosen endpoint, in days (>= 0)
event          int       1 = event (death for OS, progression/death for PFI), 0 = censored
cancer_type    str       ``"LGG"`` or ``"GBM"`` (TCGA project)
grade          str/NaN   ``"WHO II"``, ``"WHO III"`` or ``"WHO IV"``. GBM rows are WHO IV by
                         definition (glioblastoma is grade IV; the CDR leaves their grade
                         ``[Not Available]``). LGG ``G2`` -> WHO II, ``G3`` -> WHO III;
                         ``[Discrepancy]`` / ``[Not Available]`` -> NaN.
histology      str/NaN   CDR ``histological_type`` (e.g. ``Astrocytoma``)
age_years      float     age at initial pathologic diagnosis, years (NaN if missing)
sex            str/NaN   ``"female"`` or ``"male"``
============== ========= ==============================================================

Functions that take a cohort only need ``time_days`` and ``event`` plus the grouping column.

Source data: TCGA Pan-Cancer Clinical Data Resource (Liu J et al., *Cell* 2018;173:400-416),
LGG + GBM rows, committed as ``data/cohorts/tcga_cdr_lgg_gbm.csv`` (see the shared data README,
section 8).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from lifelines import KaplanMeierFitter
from lifelines.statistics import logrank_test, multivariate_logrank_test
from lifelines.utils import median_survival_times
from plotly.subplots import make_subplots

__all__ = [
    "REPO_ROOT",
    "DEFAULT_CDR_PATH",
    "ENDPOINTS",
    "UNITS",
    "COHORT_COLUMNS",
    "RISK_COLUMNS",
    "load_tcga_cdr",
    "load_cohort_risk",
    "risk_threshold",
    "logrank",
    "at_risk_table",
    "median_survival",
    "summary_table",
    "default_at_risk_times",
    "group_colors",
    "km_figure",
    "risk_histogram",
]

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CDR_PATH = REPO_ROOT / "data" / "cohorts" / "tcga_cdr_lgg_gbm.csv"

#: endpoint name -> (event column, time column) in the TCGA-CDR table.
ENDPOINTS = {"OS": ("OS", "OS.time"), "PFI": ("PFI", "PFI.time")}

#: display unit -> days per unit.
UNITS = {"days": 1.0, "months": 30.4375, "years": 365.25}

COHORT_COLUMNS = [
    "patient_id",
    "time_days",
    "event",
    "cancer_type",
    "grade",
    "histology",
    "age_years",
    "sex",
]
RISK_COLUMNS = ["patient_id", "risk_score", "split", "time_days", "event", "grade"]

_CDR_REQUIRED = [
    "bcr_patient_barcode",
    "type",
    "age_at_initial_pathologic_diagnosis",
    "gender",
    "histological_type",
    "histological_grade",
]
_GRADE_MAP = {"G2": "WHO II", "G3": "WHO III", "G4": "WHO IV"}
_ALL_LABEL = "All patients"

# Okabe-Ito colour-blind-safe palette.
_PALETTE = [
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",  # black
]
# Fixed colours for the groups the dashboard knows, so a group keeps its colour in every figure.
_FIXED_COLORS = {
    _ALL_LABEL: "#333333",
    "LGG": "#0072B2",
    "GBM": "#D55E00",
    "WHO II": "#009E73",
    "WHO III": "#E69F00",
    "WHO IV": "#D55E00",
    "low": "#0072B2",
    "high": "#D55E00",
    "female": "#CC79A7",
    "male": "#56B4E9",
    "Astrocytoma": "#0072B2",
    "Oligoastrocytoma": "#009E73",
    "Oligodendroglioma": "#56B4E9",
    "Untreated primary (de novo) GBM": "#D55E00",
    "Treated primary GBM": "#CC79A7",
    "Glioblastoma Multiforme (GBM)": "#E69F00",
}


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------
def _blank_bracket_texts(s: pd.Series) -> pd.Series:
    """Turn TCGA placeholder texts such as ``[Not Available]`` / ``[Discrepancy]`` into NaN."""
    if s.dtype != object:
        return s
    def _is_placeholder(v: object) -> bool:
        if not isinstance(v, str):
            return False
        v = v.strip()
        return v == "" or (v.startswith("[") and v.endswith("]"))

    return s.mask(s.map(_is_placeholder).astype(bool))


def load_tcga_cdr(path: str | Path | None = None, endpoint: str = "OS") -> pd.DataFrame:
    """Load the TCGA-CDR LGG + GBM table as a survival cohort for one endpoint.

    Parameters
    ----------
    path:
        CSV export of the TCGA-CDR sheet (columns ``bcr_patient_barcode, type,
        age_at_initial_pathologic_diagnosis, gender, histological_type, histological_grade`` and
        the endpoint's event/time columns). Default: ``<repo>/data/cohorts/tcga_cdr_lgg_gbm.csv``.
    endpoint:
        ``"OS"`` (overall survival: columns ``OS``, ``OS.time``) or ``"PFI"`` (progression-free
        interval: ``PFI``, ``PFI.time``), the two endpoints Liu et al. 2018 recommend for
        LGG/GBM.

    Returns
    -------
    pandas.DataFrame
        THE cohort schema (see the module docstring): ``patient_id`` str, ``time_days`` float
        (days), ``event`` int 0/1 (1 = event, 0 = censored), ``cancer_type`` "LGG"/"GBM",
        ``grade`` "WHO II"/"WHO III"/"WHO IV" or NaN (GBM = WHO IV by definition), ``histology``
        str, ``age_years`` float, ``sex`` "female"/"male". One row per patient, index 0..n-1.
        Rows whose time or event for ``endpoint`` is missing (NaN or a ``[...]`` text) are
        dropped; in the committed table this is one LGG patient (TCGA-CS-5390, no follow-up
        time), so OS gives 1067 rows (LGG 491 / 120 deaths, GBM 576 / 474 deaths).

    Raises
    ------
    ValueError
        Unknown ``endpoint``; required columns absent; event values other than 0/1; negative
        times.
    FileNotFoundError
        The CSV does not exist (the message names the path and what the file is).
    """
    if endpoint not in ENDPOINTS:
        raise ValueError(f"Unknown endpoint {endpoint!r}; use one of {sorted(ENDPOINTS)}.")
    path = Path(path) if path is not None else DEFAULT_CDR_PATH
    if not path.is_file():
        raise FileNotFoundError(
            f"TCGA-CDR cohort table not found at {path}. Expected the committed CSV export of the "
            "TCGA Pan-Cancer Clinical Data Resource (LGG + GBM rows), normally "
            "data/cohorts/tcga_cdr_lgg_gbm.csv in the repository."
        )
    raw = pd.read_csv(path, dtype={"bcr_patient_barcode": str}, low_memory=False)
    event_col, time_col = ENDPOINTS[endpoint]
    missing_cols = [c for c in [*_CDR_REQUIRED, event_col, time_col] if c not in raw.columns]
    if missing_cols:
        raise ValueError(f"{path.name} lacks the TCGA-CDR column(s) {missing_cols}.")

    raw = raw.apply(_blank_bracket_texts)
    time = pd.to_numeric(raw[time_col], errors="coerce")
    event = pd.to_numeric(raw[event_col], errors="coerce")
    keep = time.notna() & event.notna()
    raw, time, event = raw[keep], time[keep], event[keep]

    bad_events = sorted(set(event.unique()) - {0, 1})
    if bad_events:
        raise ValueError(f"{event_col} must be 0/1 (1 = event, 0 = censored); found {bad_events}.")
    if (time < 0).any():
        raise ValueError(f"{time_col} has negative times (days); the table is corrupt.")

    cancer_type = raw["type"].astype(str).str.strip().str.upper()
    grade = raw["histological_grade"].map(
        lambda g: _GRADE_MAP.get(str(g).strip().upper()) if isinstance(g, str) else np.nan
    )
    grade = grade.where(cancer_type != "GBM", "WHO IV")  # glioblastoma is WHO grade IV
    sex = raw["gender"].map(
        lambda g: str(g).strip().lower() if isinstance(g, str) else np.nan
    )
    sex = sex.where(sex.isin(["female", "male"]))

    out = pd.DataFrame(
        {
            "patient_id": raw["bcr_patient_barcode"].astype(str).str.strip(),
            "time_days": time.astype(float),
            "event": event.astype(int),
            "cancer_type": cancer_type,
            "grade": grade.astype(object),
            "histology": raw["histological_type"].astype(object),
            "age_years": pd.to_numeric(
                raw["age_at_initial_pathologic_diagnosis"], errors="coerce"
            ).astype(float),
            "sex": sex.astype(object),
        }
    )
    return out.reset_index(drop=True)


def risk_threshold(df: pd.DataFrame) -> float:
    """Median ``risk_score`` of the training rows: the cut between "low" and "high" risk.

    Parameters
    ----------
    df:
        Frame with ``risk_score`` (float, model output, higher = worse) and ``split`` (str;
        rows with ``split == "train"`` are used).

    Returns
    -------
    float
        ``numpy.median`` of the finite training risk scores. Taken on the training split only so
        that validation/test rows do not influence the cut applied to them.

    Raises
    ------
    ValueError
        Columns missing, or no training row with a finite risk score.
    """
    for col in ("risk_score", "split"):
        if col not in df.columns:
            raise ValueError(f"risk_threshold needs a {col!r} column.")
    scores = pd.to_numeric(df.loc[df["split"].astype(str) == "train", "risk_score"], errors="coerce")
    scores = scores[np.isfinite(scores)]
    if scores.empty:
        raise ValueError("No training rows (split == 'train') with a finite risk_score.")
    return float(np.median(scores.to_numpy()))


def load_cohort_risk(checkpoint_dir: str | Path | None) -> pd.DataFrame | None:
    """Read the image cohort's model risk scores written by training.

    Parameters
    ----------
    checkpoint_dir:
        Folder holding ``cohort_risk.csv`` with columns ``patient_id`` (str), ``risk_score``
        (float, higher = worse prognosis), ``split`` (str: "train"/"val"/"test"...),
        ``time_days`` (float, days), ``event`` (0/1; 1 = event, 0 = censored), ``grade``.
        ``None`` or an empty string is allowed (nothing loaded yet).

    Returns
    -------
    pandas.DataFrame or None
        ``None`` when ``checkpoint_dir`` is None/empty or the file does not exist (training has
        not written it yet). Otherwise the table with ``time_days`` float, ``event`` int and an
        added ``risk_group`` column: ``"high"`` when ``risk_score > risk_threshold(df)`` (median
        of the training split), else ``"low"``. Rows without time/event/risk score are dropped.

    Raises
    ------
    ValueError
        The file exists but lacks required columns, has non-0/1 events, negative times, or no
        training rows (see :func:`risk_threshold`).
    """
    if checkpoint_dir is None or str(checkpoint_dir).strip() == "":
        return None
    path = Path(checkpoint_dir) / "cohort_risk.csv"
    if not path.is_file():
        return None
    df = pd.read_csv(path, dtype={"patient_id": str, "split": str})
    missing = [c for c in RISK_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path} lacks the column(s) {missing}.")
    df = df.apply(_blank_bracket_texts)
    df["risk_score"] = pd.to_numeric(df["risk_score"], errors="coerce")
    df["time_days"] = pd.to_numeric(df["time_days"], errors="coerce")
    df["event"] = pd.to_numeric(df["event"], errors="coerce")
    df = df[df["risk_score"].notna() & df["time_days"].notna() & df["event"].notna()].copy()
    bad = sorted(set(df["event"].unique()) - {0, 1})
    if bad:
        raise ValueError(f"{path.name}: event must be 0/1; found {bad}.")
    if (df["time_days"] < 0).any():
        raise ValueError(f"{path.name}: negative time_days.")
    df["time_days"] = df["time_days"].astype(float)
    df["event"] = df["event"].astype(int)
    df["split"] = df["split"].astype(str).str.strip().str.lower()
    thr = risk_threshold(df)
    df["risk_group"] = np.where(df["risk_score"] > thr, "high", "low")
    return df.reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------
def _check_survival_columns(df: pd.DataFrame, group_col: str | None = None) -> None:
    need = ["time_days", "event"] + ([group_col] if group_col else [])
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise ValueError(f"Cohort frame lacks column(s) {missing}.")


def _clean(df: pd.DataFrame, group_col: str | None) -> tuple[pd.DataFrame, int]:
    """Rows with time, event (and group, if any); returns (frame, number of dropped rows)."""
    _check_survival_columns(df, group_col)
    cols = ["time_days", "event"] + ([group_col] if group_col else [])
    ok = df[cols].notna().all(axis=1)
    out = df.loc[ok].copy()
    out["time_days"] = out["time_days"].astype(float)
    out["event"] = out["event"].astype(int)
    return out, int((~ok).sum())


def _groups(df: pd.DataFrame, group_col: str | None) -> list[tuple[str, pd.DataFrame]]:
    """(label, rows) per group in sorted label order; one "All patients" group if no group_col."""
    if group_col is None:
        return [(_ALL_LABEL, df)]
    return [(str(g), sub) for g, sub in sorted(df.groupby(group_col, sort=False), key=lambda t: str(t[0]))]


def logrank(df: pd.DataFrame, group_col: str) -> dict:
    """Log-rank test of equal survival across the groups of ``group_col``.

    Parameters
    ----------
    df:
        Cohort frame with ``time_days`` (float, days), ``event`` (int 0/1) and ``group_col``.
        Rows with a missing group, time or event are ignored.
    group_col:
        Column whose distinct values define the groups.

    Returns
    -------
    dict
        ``test`` (str), ``test_statistic`` (float, chi-square), ``p_value`` (float),
        ``degrees_of_freedom`` (int, n_groups - 1), ``n_groups`` (int), ``n`` (int, rows used).
        Two groups: :func:`lifelines.statistics.logrank_test`; more:
        :func:`lifelines.statistics.multivariate_logrank_test` (Mantel 1966).

    Raises
    ------
    ValueError
        Missing columns, or fewer than 2 groups with data.
    """
    data, _ = _clean(df, group_col)
    groups = _groups(data, group_col)
    k = len(groups)
    if k < 2:
        raise ValueError(f"The log-rank test needs at least 2 groups in {group_col!r}; found {k}.")
    if k == 2:
        (_, a), (_, b) = groups
        res = logrank_test(a["time_days"], b["time_days"], a["event"], b["event"])
        test = "log-rank (2 groups)"
    else:
        res = multivariate_logrank_test(
            data["time_days"], data[group_col].astype(str), data["event"]
        )
        test = f"multivariate log-rank ({k} groups)"
    return {
        "test": test,
        "test_statistic": float(res.test_statistic),
        "p_value": float(res.p_value),
        "degrees_of_freedom": int(res.degrees_of_freedom),
        "n_groups": k,
        "n": int(len(data)),
    }


def at_risk_table(
    df: pd.DataFrame, times: Iterable[float], group_col: str | None = None
) -> pd.DataFrame:
    """Number at risk and cumulative events/censorings at given times, per group.

    Definition (the survminer / R ``summary(survfit, times)`` convention), for each time t:

    * ``at_risk``  = number of patients with ``time_days >= t`` (still under observation just
      before t; a patient who dies or is censored at exactly t is still at risk at t);
    * ``events``   = number with ``time_days <= t`` and ``event == 1``;
    * ``censored`` = number with ``time_days <= t`` and ``event == 0``.

    Because of ties at t, ``at_risk + events + censored`` can exceed n. Computed directly with
    numpy (not lifelines' at-risk table, which has reported off-by-one differences).

    Parameters
    ----------
    df:
        Cohort frame with ``time_days`` (float, days), ``event`` (int 0/1) and ``group_col``.
    times:
        Times in days (>= 0), in the order wanted.
    group_col:
        Grouping column or None (one group labelled "All patients"). Rows with NaN group are
        left out.

    Returns
    -------
    pandas.DataFrame
        Columns ``group`` (str), ``time_days`` (float), ``at_risk``, ``events``, ``censored``
        (int); groups in sorted order, times in the given order.

    Raises
    ------
    ValueError
        Missing columns, no times, or a negative / non-finite time.
    """
    data, _ = _clean(df, group_col)
    t = np.asarray(list(times), dtype=float)
    if t.size == 0:
        raise ValueError("at_risk_table needs at least one time.")
    if not np.all(np.isfinite(t)) or np.any(t < 0):
        raise ValueError("Times must be finite and >= 0 (days).")
    rows = []
    for label, sub in _groups(data, group_col):
        dur = sub["time_days"].to_numpy(dtype=float)
        ev = sub["event"].to_numpy(dtype=int) == 1
        at_risk = (dur[None, :] >= t[:, None]).sum(axis=1)
        done = dur[None, :] <= t[:, None]
        events = (done & ev[None, :]).sum(axis=1)
        censored = (done & ~ev[None, :]).sum(axis=1)
        for i, ti in enumerate(t):
            rows.append((label, float(ti), int(at_risk[i]), int(events[i]), int(censored[i])))
    return pd.DataFrame(rows, columns=["group", "time_days", "at_risk", "events", "censored"])


def _fit_km(sub: pd.DataFrame, label: str) -> KaplanMeierFitter:
    return KaplanMeierFitter(alpha=0.05, label=label).fit(
        sub["time_days"].to_numpy(dtype=float), sub["event"].to_numpy(dtype=int)
    )


def median_survival(df: pd.DataFrame, group_col: str | None = None) -> pd.DataFrame:
    """Kaplan-Meier median survival with its 95% CI, per group.

    Parameters
    ----------
    df:
        Cohort frame with ``time_days`` (float, days), ``event`` (int 0/1) and ``group_col``.
    group_col:
        Grouping column or None (one group "All patients"). Rows with NaN group are left out.

    Returns
    -------
    pandas.DataFrame
        Columns ``group`` (str), ``n`` (int), ``events`` (int), ``median_days``,
        ``ci_lower_days``, ``ci_upper_days`` (float, days). ``median_days`` is lifelines'
        ``KaplanMeierFitter.median_survival_time_``; the CI is
        ``lifelines.utils.median_survival_times(kmf.confidence_interval_)`` (exponential
        Greenwood band, alpha 0.05). ``inf`` = the curve (or band) never reaches 0.5 ("not
        reached"); values are kept as lifelines returns them.

    Raises
    ------
    ValueError
        Missing columns or no rows with data.
    """
    data, _ = _clean(df, group_col)
    if data.empty:
        raise ValueError("No rows with time_days and event to estimate survival.")
    rows = []
    for label, sub in _groups(data, group_col):
        kmf = _fit_km(sub, label)
        ci = median_survival_times(kmf.confidence_interval_)
        rows.append(
            {
                "group": label,
                "n": int(len(sub)),
                "events": int(sub["event"].sum()),
                "median_days": float(kmf.median_survival_time_),
                "ci_lower_days": float(ci.iloc[0, 0]),
                "ci_upper_days": float(ci.iloc[0, 1]),
            }
        )
    return pd.DataFrame(rows)


def summary_table(at_risk: pd.DataFrame, medians: pd.DataFrame) -> pd.DataFrame:
    """Join an :func:`at_risk_table` with a :func:`median_survival` table for export.

    Returns one row per (group, time) with the at-risk columns followed by the group's
    ``n_total``, ``events_total``, ``median_days``, ``ci_lower_days``, ``ci_upper_days``
    (days; ``inf`` = not reached). Raises ValueError if a ``group`` column is missing.
    """
    if "group" not in at_risk.columns or "group" not in medians.columns:
        raise ValueError("Both tables need a 'group' column.")
    med = medians.rename(columns={"n": "n_total", "events": "events_total"})
    return at_risk.merge(med, on="group", how="left")


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------
def _check_unit(unit: str) -> float:
    if unit not in UNITS:
        raise ValueError(f"Unknown time unit {unit!r}; use one of {list(UNITS)}.")
    return UNITS[unit]


def default_at_risk_times(max_days: float, unit: str = "days", n_max: int = 10) -> list[float]:
    """Round-numbered times (returned in **days**) for the at-risk table and x-axis ticks.

    The step is a "nice" number in the display ``unit`` (1, 2 or 5 x 10^k; for months 2, 3,
    6, 12, 24... months) giving at most ``n_max`` intervals from 0 to ``max_days``. Raises ValueError for an unknown unit.
    """
    per = _check_unit(unit)
    span = max(float(max_days), 0.0) / per
    if not np.isfinite(span) or span <= 0:
        return [0.0]
    raw = span / max(n_max, 1)
    if unit == "months" and raw > 1:
        # whole quarters / half-years / years read better than 2.5 or 5 months
        step = next((m for m in (2, 3, 6, 12, 24, 36, 48, 60, 120) if m >= raw), None)
    else:
        step = None
    if step is None:
        mag = 10 ** math.floor(math.log10(raw))
        step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    ticks = np.arange(0.0, span + 1e-9, step)
    return [float(x * per) for x in ticks]


def group_colors(groups: Sequence[str]) -> dict[str, str]:
    """Colour per group label: fixed colours for known labels (LGG/GBM, WHO grades, high/low,
    sex, TCGA histologies) so a group looks the same in every figure; others get the
    Okabe-Ito palette in the given order, skipping colours already used."""
    out: dict[str, str] = {}
    used = {_FIXED_COLORS[g] for g in groups if g in _FIXED_COLORS}
    free = [c for c in _PALETTE if c not in used] or list(_PALETTE)
    i = 0
    for g in groups:
        if g in _FIXED_COLORS:
            out[g] = _FIXED_COLORS[g]
        else:
            out[g] = free[i % len(free)]
            i += 1
    return out


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _format_p(p: float) -> str:
    if not np.isfinite(p):
        return "p = n/a"
    if p < 1e-4:
        return "p < 0.0001"
    return f"p = {p:.2g}" if p < 0.001 else f"p = {p:.3f}"


def km_figure(
    df: pd.DataFrame,
    group_col: str | None = None,
    unit: str = "days",
    at_risk_times: Iterable[float] | None = None,
    highlight_group: str | None = None,
    title: str | None = None,
) -> go.Figure:
    """Kaplan-Meier curves with 95% bands, censoring ticks and a number-at-risk table.

    Parameters
    ----------
    df:
        Cohort frame with ``time_days`` (float, days), ``event`` (int 0/1; 1 = event) and
        ``group_col``. Rows with NaN time/event/group are dropped and counted.
    group_col:
        Column to stratify by, or None for a single "All patients" curve.
    unit:
        x-axis unit: ``"days"``, ``"months"`` (30.4375 days) or ``"years"`` (365.25 days).
    at_risk_times:
        Times **in days** for the at-risk table (also used as x ticks). Default: round numbers
        in ``unit`` from :func:`default_at_risk_times`.
    highlight_group:
        Group label whose curve is drawn thicker (others fainter); ignored if not present.
    title:
        Figure title; default "Kaplan-Meier estimate".

    Returns
    -------
    plotly.graph_objects.Figure
        Row 1: per group a shaded CI band (two traces), the KM step curve (lifelines
        ``KaplanMeierFitter``; ``trace.meta == {"role": "km", "group": label}``) and censoring
        ticks (``role == "censor"``). Row 2 (shared x): the number at risk per group
        (``role == "at_risk"``, :func:`at_risk_table` definition), text coloured like the curve.
        When there are >= 2 groups the log-rank p (:func:`logrank`) is shown as an annotation.
        ``fig.layout.meta`` holds ``unit``, ``groups``, ``n``, ``n_dropped`` (rows dropped for
        missing group/time/event), ``logrank`` (dict or None), ``at_risk_times_days`` and
        ``highlight_group``; a note annotation reports ``n_dropped`` when > 0.

    Raises
    ------
    ValueError
        Unknown ``unit``, missing columns, or no rows left to plot.
    """
    per = _check_unit(unit)
    data, n_dropped = _clean(df, group_col)
    if data.empty:
        raise ValueError("No rows with time_days, event" + (f" and {group_col}" if group_col else "") + ".")
    groups = _groups(data, group_col)
    labels = [g for g, _ in groups]
    colors = group_colors(labels)
    if highlight_group is not None and str(highlight_group) not in labels:
        highlight_group = None
    highlight = str(highlight_group) if highlight_group is not None else None

    max_days = float(data["time_days"].max())
    times = (
        default_at_risk_times(max_days, unit)
        if at_risk_times is None
        else [float(t) for t in at_risk_times]
    )
    risk = at_risk_table(data, times, group_col)
    lr = logrank(data, group_col) if (group_col is not None and len(groups) >= 2) else None

    n_rows_table = len(groups)
    table_frac = min(0.12 + 0.05 * n_rows_table, 0.4)
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        row_heights=[1 - table_frac, table_frac],
        vertical_spacing=0.15,
    )
    unit_label = {"days": "days", "months": "months", "years": "years"}[unit]

    for label, sub in groups:
        color = colors[label]
        kmf = _fit_km(sub, label)
        sf = kmf.survival_function_.iloc[:, 0]
        ci = kmf.confidence_interval_survival_function_
        x = sf.index.to_numpy(dtype=float) / per
        is_hl = highlight is not None and label == highlight
        dim = highlight is not None and not is_hl
        width = 4.5 if is_hl else 2.0
        band_alpha = 0.08 if dim else 0.18
        # CI band: upper (invisible line) then lower filled to it.
        fig.add_trace(
            go.Scatter(
                x=x, y=ci.iloc[:, 1].to_numpy(), mode="lines", line=dict(width=0, shape="hv"),
                hoverinfo="skip", showlegend=False, legendgroup=label,
                meta={"role": "ci_upper", "group": label},
            ),
            row=1, col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=x, y=ci.iloc[:, 0].to_numpy(), mode="lines", line=dict(width=0, shape="hv"),
                fill="tonexty", fillcolor=_rgba(color, band_alpha), hoverinfo="skip",
                showlegend=False, legendgroup=label, meta={"role": "ci_lower", "group": label},
            ),
            row=1, col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=x, y=sf.to_numpy(), mode="lines", name=f"{label} (n={len(sub)})",
                line=dict(color=color, width=width, shape="hv"),
                opacity=0.55 if dim else 1.0, legendgroup=label,
                meta={"role": "km", "group": label},
                hovertemplate=f"{label}<br>%{{x:.1f}} {unit_label}: S(t) = %{{y:.3f}}<extra></extra>",
            ),
            row=1, col=1,
        )
        cens_t = np.sort(sub.loc[sub["event"] == 0, "time_days"].to_numpy(dtype=float))
        if cens_t.size:
            cens_s = kmf.survival_function_at_times(cens_t).to_numpy(dtype=float)
            fig.add_trace(
                go.Scatter(
                    x=cens_t / per, y=cens_s, mode="markers",
                    marker=dict(symbol="line-ns-open", size=8, color=color,
                                line=dict(width=1.5, color=color)),
                    opacity=0.55 if dim else 1.0, showlegend=False, legendgroup=label,
                    meta={"role": "censor", "group": label},
                    hovertemplate=f"{label}: censored at %{{x:.1f}} {unit_label}<extra></extra>",
                ),
                row=1, col=1,
            )
        rsub = risk[risk["group"] == label]
        fig.add_trace(
            go.Scatter(
                x=rsub["time_days"].to_numpy() / per, y=[label] * len(rsub),
                mode="text", text=[str(v) for v in rsub["at_risk"]],
                textfont=dict(color=color, size=13 if is_hl else 12),
                showlegend=False, hoverinfo="skip", cliponaxis=False,
                meta={"role": "at_risk", "group": label},
            ),
            row=2, col=1,
        )

    x_max = max(max_days, max(times)) / per
    pad = 0.03 * x_max if x_max > 0 else 1.0
    tickvals = [t / per for t in times]
    ticktext = [f"{v:g}" for v in np.round(tickvals, 2)]
    for r in (1, 2):
        fig.update_xaxes(
            range=[-pad, x_max + pad], tickmode="array", tickvals=tickvals, ticktext=ticktext,
            showticklabels=True, zeroline=False, row=r, col=1,
        )
    fig.update_xaxes(title_text=f"Time ({unit_label})", row=1, col=1)
    fig.update_xaxes(showticklabels=False, showgrid=False, row=2, col=1)
    fig.update_yaxes(title_text="Survival probability", range=[0, 1.03], row=1, col=1)
    fig.update_yaxes(
        title_text="Number at risk", type="category", categoryorder="array",
        categoryarray=labels[::-1], showgrid=False, row=2, col=1,
    )

    annotations = []
    if lr is not None:
        annotations.append(
            dict(
                text=f"Log-rank {_format_p(lr['p_value'])} (chi² = {lr['test_statistic']:.2f}, "
                f"df = {lr['degrees_of_freedom']})",
                xref="x domain", yref="y domain", x=0.99, y=0.98, xanchor="right",
                yanchor="top", showarrow=False, font=dict(size=12),
                bgcolor="rgba(255,255,255,0.7)",
            )
        )
    if n_dropped:
        what = f"missing {group_col} or follow-up" if group_col else "missing follow-up"
        annotations.append(
            dict(
                text=f"Note: {n_dropped} patient(s) excluded ({what}).",
                xref="paper", yref="paper", x=0.0, y=-0.08, xanchor="left", yanchor="top",
                showarrow=False, font=dict(size=11, color="#555555"),
            )
        )
    for a in annotations:
        fig.add_annotation(**a)

    fig.update_layout(
        title=dict(text=title or "Kaplan-Meier estimate"),
        template="plotly_white",
        height=420 + 30 * n_rows_table,
        margin=dict(l=70, r=20, t=70 + 22 * ((n_rows_table - 1) // 3), b=70 if n_dropped else 50),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0.0),
        hovermode="closest",
        meta={
            "unit": unit,
            "groups": labels,
            "n": int(len(data)),
            "n_dropped": int(n_dropped),
            "logrank": lr,
            "at_risk_times_days": times,
            "highlight_group": highlight,
        },
    )
    return fig


def risk_histogram(
    cohort_risk: pd.DataFrame,
    study_score: float | None = None,
    threshold: float | None = None,
    title: str | None = None,
) -> go.Figure:
    """Histogram of the image cohort's model risk scores, coloured by risk group.

    Parameters
    ----------
    cohort_risk:
        Output of :func:`load_cohort_risk` (``risk_score`` float, ``risk_group`` "high"/"low").
    study_score:
        The current study's risk score; drawn as a solid vertical line (skipped if None/NaN).
    threshold:
        High/low cut (default: :func:`risk_threshold` of the frame); drawn dashed.

    Returns
    -------
    plotly.graph_objects.Figure
        One histogram trace per risk group present (``trace.meta["role"] == "hist"``);
        ``layout.meta`` has ``threshold`` and ``study_score``.

    Raises
    ------
    ValueError
        ``risk_score`` column missing.
    """
    if "risk_score" not in cohort_risk.columns:
        raise ValueError("risk_histogram needs a 'risk_score' column.")
    if threshold is None and "split" in cohort_risk.columns:
        try:
            threshold = risk_threshold(cohort_risk)
        except ValueError:
            threshold = None
    scores = pd.to_numeric(cohort_risk["risk_score"], errors="coerce")
    fig = go.Figure()
    if "risk_group" in cohort_risk.columns:
        parts = [(g, scores[cohort_risk["risk_group"] == g]) for g in ("low", "high")]
    else:
        parts = [("cohort", scores)]
    lo, hi = float(np.nanmin(scores)), float(np.nanmax(scores))
    nbins = int(np.clip(np.sqrt(scores.notna().sum()) * 2, 10, 60))
    size = (hi - lo) / nbins if hi > lo else 1.0
    for g, s in parts:
        if s.notna().sum() == 0:
            continue
        fig.add_trace(
            go.Histogram(
                x=s.dropna(), name=f"{g} risk (n={int(s.notna().sum())})" if g != "cohort" else "cohort",
                marker_color=_FIXED_COLORS.get(g, "#777777"), opacity=0.75,
                xbins=dict(start=lo, end=hi + size, size=size), meta={"role": "hist", "group": g},
            )
        )
    if threshold is not None and np.isfinite(threshold):
        fig.add_vline(x=threshold, line=dict(color="#555555", dash="dash", width=1.5),
                      annotation_text="median (train)", annotation_position="top left")
    if study_score is not None and np.isfinite(study_score):
        fig.add_vline(x=float(study_score), line=dict(color="#000000", width=3),
                      annotation_text="this study", annotation_position="top right")
    fig.update_layout(
        barmode="overlay", template="plotly_white", height=320,
        title=dict(text=title or "Model risk scores of the image cohort"),
        xaxis_title="Risk score", yaxis_title="Patients",
        margin=dict(l=60, r=20, t=60, b=50),
        meta={"threshold": threshold, "study_score": study_score},
    )
    return fig
