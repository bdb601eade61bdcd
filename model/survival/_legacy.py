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
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from lifelines import KaplanMeierFitter
from lifelines.statistics import logrank_test, multivariate_logrank_test
from lifelines.utils import median_survival_times
from plotly.subplots import make_subplots

from model.survival.cohorts.tcga import (
    COHORT_COLUMNS,
    DEFAULT_CDR_PATH,
    ENDPOINTS,
    IMAGE_COHORT_COLUMNS,
    RISK_COLUMNS,
    join_image_covariates,
    load_cohort_risk,
    load_tcga_cdr,
    normalize_grade,
)
from model.survival.risk import risk_threshold

__all__ = [
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
    "normalize_grade",
    "IMAGE_COHORT_COLUMNS",
    "join_image_covariates",
    "CORRECTIONS",
    "adjust_pvalues",
    "pairwise_logrank",
    "DEFAULT_SCALES",
    "CoxModel",
    "fit_cox_model",
    "hazard_ratio_table",
    "cox_hazard_ratios",
    "forest_figure",
    "FigureExportError",
    "figure_png",
    "PROGNOSTIC_INPUTS",
    "HORIZONS_DAYS",
    "fit_prognostic_model",
    "IndividualPrognosis",
    "individual_survival",
    "add_individual_curve",
    "VALIDATION_MODELS",
    "harrell_c",
    "ipcw_weights",
    "uno_c",
    "time_auc",
    "validate_risk",
    "validation_table",
    "calibration_figure",
]



#: display unit -> days per unit.
UNITS = {"days": 1.0, "months": 30.4375, "years": 365.25}

_ALL_LABEL = "All patients"
# table row name -> y-axis title of that row under the KM axis
_TABLE_TITLES = {"at_risk": "Number at risk", "events": "Cumulative events", "censored": "Censored"}

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
    table_rows: Sequence[str] = ("at_risk",),
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
    table_rows:
        Tables drawn under the axis, in order, each its own subplot row sharing the x-axis:
        ``"at_risk"`` (number at risk), ``"events"`` (cumulative events), ``"censored"``
        (cumulative censored), all from :func:`at_risk_table` at ``at_risk_times``.

    Returns
    -------
    plotly.graph_objects.Figure
        Row 1: per group a shaded CI band (two traces), the KM step curve (lifelines
        ``KaplanMeierFitter``; ``trace.meta == {"role": "km", "group": label}``) and censoring
        ticks (``role == "censor"``). Rows 2.. (shared x): one table per entry of
        ``table_rows`` (``role`` = "at_risk", "events" or "censored"; :func:`at_risk_table`
        definition), text coloured like the curve; with the default, the number at risk is
        row 2 (``yaxis2``).
        When there are >= 2 groups the log-rank p (:func:`logrank`) is shown as an annotation.
        ``fig.layout.meta`` holds ``unit``, ``groups``, ``n``, ``n_dropped`` (rows dropped for
        missing group/time/event), ``logrank`` (dict or None), ``at_risk_times_days`` and
        ``highlight_group``; a note annotation reports ``n_dropped`` when > 0.

    Raises
    ------
    ValueError
        Unknown ``unit`` or table row, missing columns, or no rows left to plot.
    """
    per = _check_unit(unit)
    table_rows = list(table_rows)
    bad_rows = [r for r in table_rows if r not in _TABLE_TITLES]
    if bad_rows:
        raise ValueError(f"Unknown table row(s) {bad_rows}; use {list(_TABLE_TITLES)}.")
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
    n_tables = len(table_rows)
    if n_tables <= 1:  # the original single-table layout
        table_frac = min(0.12 + 0.05 * n_rows_table, 0.4) if n_tables else 0.0
        heights = [1 - table_frac] + [table_frac] * n_tables
        spacing = 0.15
        fig_height = 420 + 30 * n_rows_table
    else:  # pixel budget: 360 px of curves, 20 px per group and table, gaps for titles
        km_px, tab_px, gap1_px, gap_px = 360, 20 * n_rows_table + 10, 80, 34
        plot_px = km_px + n_tables * tab_px + gap1_px + (n_tables - 1) * gap_px
        fig_height = plot_px + 70 + 22 * ((n_rows_table - 1) // 3) + (70 if n_dropped else 50)
        heights = [km_px / plot_px] + [tab_px / plot_px] * n_tables
        spacing = 0.0  # domains are set below, in pixels
    fig = make_subplots(
        rows=1 + n_tables,
        cols=1,
        shared_xaxes=True,
        row_heights=heights,
        vertical_spacing=spacing,
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
        for r_i, what in enumerate(table_rows):
            fig.add_trace(
                go.Scatter(
                    x=rsub["time_days"].to_numpy() / per, y=[label] * len(rsub),
                    mode="text", text=[str(v) for v in rsub[what]],
                    textfont=dict(color=color, size=13 if is_hl else 12),
                    showlegend=False, hoverinfo="skip", cliponaxis=False,
                    meta={"role": what, "group": label},
                ),
                row=2 + r_i, col=1,
            )

    x_max = max(max_days, max(times)) / per
    pad = 0.03 * x_max if x_max > 0 else 1.0
    tickvals = [t / per for t in times]
    ticktext = [f"{v:g}" for v in np.round(tickvals, 2)]
    for r in range(1, 2 + n_tables):
        fig.update_xaxes(
            range=[-pad, x_max + pad], tickmode="array", tickvals=tickvals, ticktext=ticktext,
            showticklabels=True, zeroline=False, row=r, col=1,
        )
    fig.update_xaxes(title_text=f"Time ({unit_label})", row=1, col=1)
    for r_i, what in enumerate(table_rows):
        fig.update_xaxes(showticklabels=False, showgrid=False, row=2 + r_i, col=1)
        fig.update_yaxes(
            title_text=_TABLE_TITLES[what] if n_tables == 1 else None, type="category",
            categoryorder="array", categoryarray=labels[::-1], showgrid=False, row=2 + r_i, col=1,
            tickmode="array", tickvals=labels,
            ticktext=[lb if len(lb) <= 24 else lb[:22] + "…" for lb in labels],
        )
    fig.update_yaxes(title_text="Survival probability", range=[0, 1.03], row=1, col=1)
    if n_tables > 1:
        # survminer-style: each table's title above it, left-aligned; domains in pixels so the
        # x-axis title of the curves and the table titles never overlap.
        top = plot_px
        bounds = [(top - km_px, top)]
        top -= km_px + gap1_px
        for _ in range(n_tables):
            bounds.append((top - tab_px, top))
            top -= tab_px + gap_px
        for r_i, (lo_px, hi_px) in enumerate(bounds):
            name = "yaxis" if r_i == 0 else f"yaxis{r_i + 1}"
            fig.layout[name].domain = [max(lo_px, 0) / plot_px, hi_px / plot_px]
        for r_i, what in enumerate(table_rows):
            fig.add_annotation(
                text=f"<b>{_TABLE_TITLES[what]}</b>", xref="paper", x=0.0, xanchor="left",
                yref=f"y{r_i + 2} domain", y=1.0, yanchor="bottom", showarrow=False,
                font=dict(size=12), name=f"table_title_{what}", yshift=4,
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
        title=dict(text=title or "Kaplan-Meier estimate", y=1 - 10 / fig_height, yanchor="top"),
        template="plotly_white",
        height=fig_height,
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
            "table_rows": table_rows,
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



# --------------------------------------------------------------------------------------------
# Pairwise tests with a multiple-comparison correction
# --------------------------------------------------------------------------------------------
#: correction key -> description shown in the app.
CORRECTIONS = {
    "holm": "Holm step-down (Holm 1979), controls the family-wise error rate",
    "bh": "Benjamini-Hochberg (1995), controls the false discovery rate",
}


def adjust_pvalues(p_values: Sequence[float], method: str = "holm") -> np.ndarray:
    """Multiple-comparison adjusted p-values, in the input order.

    * ``"holm"``: sort ascending p_(1) <= ... <= p_(m); adjusted p_(i) =
      max_{j <= i} min(1, (m - j + 1) p_(j)) (Holm, Scand J Stat 1979;6:65-70).
    * ``"bh"``: adjusted p_(i) = min_{j >= i} min(1, m / j x p_(j)) (Benjamini & Hochberg,
      J R Stat Soc B 1995;57:289-300).

    Same values as R ``p.adjust(p, "holm" / "BH")``. Raises ValueError for an unknown method
    or a p-value outside [0, 1] / NaN.
    """
    if method not in CORRECTIONS:
        raise ValueError(f"Unknown correction {method!r}; use one of {list(CORRECTIONS)}.")
    p = np.asarray(list(p_values), dtype=float)
    if p.size == 0:
        return p
    if np.any(~np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError("p-values must be finite and in [0, 1].")
    m = p.size
    order = np.argsort(p, kind="mergesort")
    ps = p[order]
    if method == "holm":
        adj = np.maximum.accumulate((m - np.arange(m)) * ps)
    else:
        adj = np.minimum.accumulate((m / np.arange(1, m + 1) * ps)[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out


def pairwise_logrank(df: pd.DataFrame, group_col: str, correction: str = "holm") -> pd.DataFrame:
    """Log-rank test for every pair of groups, with adjusted p-values.

    Parameters
    ----------
    df:
        Cohort frame (``time_days`` days, ``event`` 0/1, ``group_col``); rows with a missing
        group/time/event are ignored.
    group_col:
        Grouping column.
    correction:
        ``"holm"`` or ``"bh"`` (:func:`adjust_pvalues`), over the k(k-1)/2 pairs.

    Returns
    -------
    pandas.DataFrame
        One row per pair (groups in sorted order): ``group_a``, ``group_b`` (str), ``n_a``,
        ``n_b``, ``events_a``, ``events_b`` (int), ``test_statistic`` (chi-square, 1 df),
        ``p_value`` (unadjusted, :func:`lifelines.statistics.logrank_test`), ``p_adjusted``,
        ``correction`` (str).

    Raises
    ------
    ValueError
        Fewer than 2 groups, unknown correction, missing columns.
    """
    if correction not in CORRECTIONS:
        raise ValueError(f"Unknown correction {correction!r}; use one of {list(CORRECTIONS)}.")
    data, _ = _clean(df, group_col)
    groups = _groups(data, group_col)
    if len(groups) < 2:
        raise ValueError(f"Pairwise tests need at least 2 groups in {group_col!r}.")
    rows = []
    for i in range(len(groups)):
        for j in range(i + 1, len(groups)):
            (la, a), (lb, b) = groups[i], groups[j]
            res = logrank_test(a["time_days"], b["time_days"], a["event"], b["event"])
            rows.append(
                {
                    "group_a": la, "group_b": lb, "n_a": len(a), "n_b": len(b),
                    "events_a": int(a["event"].sum()), "events_b": int(b["event"].sum()),
                    "test_statistic": float(res.test_statistic), "p_value": float(res.p_value),
                }
            )
    out = pd.DataFrame(rows)
    out["p_adjusted"] = adjust_pvalues(out["p_value"], correction)
    out["correction"] = correction
    return out


# --------------------------------------------------------------------------------------------
# Cox proportional hazards (lifelines CoxPHFitter)
# --------------------------------------------------------------------------------------------
#: numeric covariate -> (divisor, label): the HR is reported per this many units.
DEFAULT_SCALES = {"age_years": (10.0, "per 10 years"), "karnofsky": (10.0, "per 10 points"),
                  "tumor_volume_cm3": (10.0, "per 10 cm³")}


@dataclass
class CoxModel:
    """A fitted Cox model with the encoding needed to apply it to new rows.

    Attributes:
        inputs: covariate columns of the cohort frame used (in order).
        encoding: input -> ``("z", mean, sd)`` (standardised, HR per SD), ``("scale", divisor,
            label)`` (HR per ``divisor`` units) or ``("dummies", reference, [levels])``
            (indicator per non-reference level, HR vs ``reference``).
        cph: the fitted :class:`lifelines.CoxPHFitter` (Efron ties, Breslow baseline).
        data: design matrix of the fitting rows plus ``time_days`` and ``event``.
        penalizer: ridge penalty used (0 unless the unpenalised fit did not converge).
        n, events: fitting rows and events.
        dropped: inputs left out because they were constant in the fitting rows.
        n_missing: rows dropped for a missing input.
    """

    inputs: list[str]
    encoding: dict
    cph: object
    data: pd.DataFrame
    penalizer: float
    n: int
    events: int
    dropped: list[str] = field(default_factory=list)
    n_missing: int = 0

    @property
    def terms(self) -> list[str]:
        """Design column names, in the fitted order."""
        return [c for c in self.data.columns if c not in ("time_days", "event")]

    def design(self, frame: pd.DataFrame | dict) -> pd.DataFrame:
        """Encode rows (a frame or one dict of input values) into the design matrix.

        Raises ValueError when an input is missing / NaN or a categorical value is a level the
        model has not seen (other than its reference)."""
        if isinstance(frame, dict):
            frame = pd.DataFrame([frame])
        return _encode(frame, self.encoding, strict=True)[self.terms]

    def linear_predictor(self, frame: pd.DataFrame | dict) -> np.ndarray:
        """beta'x (not centred) per row."""
        X = self.design(frame)
        return X.to_numpy(dtype=float) @ self.beta

    @property
    def beta(self) -> np.ndarray:
        """Fitted coefficients (lifelines ``params_``) in :attr:`terms` order."""
        return self.cph.params_.reindex(self.terms).to_numpy(dtype=float)

    def survival_at(self, frame: pd.DataFrame | dict, times_days: Sequence[float]) -> np.ndarray:
        """Predicted S(t | x) per row (rows) at ``times_days`` (columns): the lifelines
        coefficients with the Breslow step baseline of the fitting rows (:func:`_cox_survival`)."""
        X = self.design(frame).to_numpy(dtype=float)
        d = self.data
        return _cox_survival(d[self.terms].to_numpy(float), d["time_days"].to_numpy(float),
                             d["event"].to_numpy(int), self.beta, X, np.asarray(times_days, float))


def _encode(frame: pd.DataFrame, encoding: dict, strict: bool) -> pd.DataFrame:
    cols = {}
    for name, enc in encoding.items():
        if name not in frame.columns:
            raise ValueError(f"Missing covariate {name!r}.")
        v = frame[name]
        if enc[0] in ("z", "scale"):
            x = pd.to_numeric(v, errors="coerce").astype(float)
            if strict and x.isna().any():
                raise ValueError(f"Covariate {name!r} is missing (NaN).")
            cols[_term_name(name, enc)] = (x - enc[1]) / enc[2] if enc[0] == "z" else x / enc[1]
        else:
            ref, levels = enc[1], enc[2]
            s = v.astype(object)
            if strict:
                bad = sorted({str(x) for x in s.dropna()} - set(levels) - {ref})
                if s.isna().any() or bad:
                    raise ValueError(
                        f"Covariate {name!r} must be one of {[ref, *levels]}; got {bad or 'missing'}."
                    )
            for lv in levels:
                cols[f"{name}={lv}"] = (s.astype(str) == lv).astype(float).where(s.notna())
    return pd.DataFrame(cols, index=frame.index)


def _term_name(name: str, enc: tuple) -> str:
    return f"{name} (per SD)" if enc[0] == "z" else (f"{name} ({enc[2]})" if enc[2] else name)


def _fit_cph(data: pd.DataFrame, penalizer: float, alpha: float = 0.05):
    import warnings

    from lifelines import CoxPHFitter

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CoxPHFitter(penalizer=penalizer, alpha=alpha).fit(
            data, duration_col="time_days", event_col="event"
        )


def fit_cox_model(
    df: pd.DataFrame,
    inputs: Sequence[str],
    references: dict[str, str] | None = None,
    scales: dict[str, tuple[float, str]] | None = None,
    standardize: Sequence[str] = ("risk_score",),
    penalizer: float = 0.0,
    min_events: int = 3,
) -> CoxModel:
    """Fit a Cox proportional-hazards model (lifelines ``CoxPHFitter``) on cohort rows.

    Parameters
    ----------
    df:
        Cohort frame: ``time_days`` (days), ``event`` (0/1) and the ``inputs`` columns.
        Categorical inputs (object dtype) become indicators vs a reference level; numeric
        ones enter linearly.
    inputs:
        Covariate columns, in order.
    references:
        Reference level per categorical input; default the sorted-first level (e.g.
        ``female``, ``WHO II``, ``high`` < ``low`` -> pass ``{"risk_group": "low"}``).
    scales:
        Numeric input -> (divisor, label); default :data:`DEFAULT_SCALES` (age per 10 years...).
    standardize:
        Numeric inputs entered as z-scores of the fitting rows (HR per SD), e.g. the image
        risk score whose raw spread is arbitrary.
    penalizer:
        Ridge penalty. When the fit fails to converge (e.g. a level without events) it is
        retried once with 0.1 and the model records that penalty.
    min_events:
        Fewer events than this -> ValueError.

    Returns
    -------
    CoxModel
        Efron ties; Wald 95% CIs (lifelines ``summary``). Rows with a missing input are dropped
        (``n_missing``); inputs constant in the fitting rows are left out (``dropped``).

    Raises
    ------
    ValueError
        No usable input, too few rows / events, or the fit failed even with the penalty.
    """
    from lifelines.exceptions import ConvergenceError

    references = dict(references or {})
    scales = {**DEFAULT_SCALES, **(scales or {})}
    inputs = list(dict.fromkeys(inputs))
    data, _ = _clean(df, None)
    missing_cols = [c for c in inputs if c not in data.columns]
    if missing_cols:
        raise ValueError(f"Cohort has no column(s) {missing_cols}.")
    ok = data[inputs].notna().all(axis=1)
    n_missing = int((~ok).sum())
    data = data.loc[ok].reset_index(drop=True)
    encoding: dict = {}
    dropped: list[str] = []
    for name in inputs:
        v = data[name]
        numeric = v.dtype.kind in "fiu" and v.dtype != object
        if numeric:
            x = v.astype(float)
            if x.nunique() < 2:
                dropped.append(name)
                continue
            if name in standardize:
                sd = float(x.std(ddof=1))
                encoding[name] = ("z", float(x.mean()), sd if sd > 0 else 1.0)
            else:
                div, label = scales.get(name, (1.0, ""))
                encoding[name] = ("scale", float(div), label)
        else:
            levels = sorted({str(x) for x in v})
            if len(levels) < 2:
                dropped.append(name)
                continue
            ref = references.get(name, levels[0])
            if ref not in levels:
                ref = levels[0]
            data[name] = v.astype(str)
            encoding[name] = ("dummies", ref, [lv for lv in levels if lv != ref])
    if not encoding:
        raise ValueError(f"No covariate with >= 2 distinct values among {inputs}.")
    n_events = int(data["event"].sum())
    if len(data) < 5 or n_events < min_events:
        raise ValueError(
            f"Too little data for a Cox model: {len(data)} patients, {n_events} events "
            f"(need >= 5 and >= {min_events})."
        )
    X = _encode(data, encoding, strict=False)
    fit_df = pd.concat([X, data[["time_days", "event"]]], axis=1)
    used_pen = penalizer
    try:
        cph = _fit_cph(fit_df, penalizer)
        if not np.all(np.isfinite(cph.params_.to_numpy())) or np.any(np.abs(cph.params_.to_numpy()) > 15):
            raise ConvergenceError("diverging coefficients")
    except (ConvergenceError, np.linalg.LinAlgError, ValueError, ZeroDivisionError):
        used_pen = max(penalizer, 0.1)
        try:
            cph = _fit_cph(fit_df, used_pen)
        except Exception as exc:  # noqa: BLE001 - report any lifelines failure as ValueError
            raise ValueError(f"The Cox model could not be fitted: {exc}") from exc
    return CoxModel(
        inputs=[n for n in inputs if n in encoding], encoding=encoding, cph=cph, data=fit_df,
        penalizer=float(used_pen), n=int(len(fit_df)), events=n_events, dropped=dropped,
        n_missing=n_missing,
    )


def hazard_ratio_table(model: CoxModel, labels: dict[str, str] | None = None) -> pd.DataFrame:
    """Hazard ratios of a :class:`CoxModel` as a table (one row per design term).

    Returns columns ``term`` (display text), ``covariate`` (input name), ``level`` (the level,
    or the scale text for numeric inputs), ``reference`` (reference level or ""), ``hr``,
    ``ci_lower``, ``ci_upper`` (Wald 95%, exp of lifelines' coef CI), ``p_value`` (Wald),
    ``n`` and ``events`` (patients / events in that level; whole model for numeric inputs).
    ``labels`` maps input names to display names.
    """
    labels = labels or {}
    s = model.cph.summary
    rows = []
    for name, enc in model.encoding.items():
        lab = labels.get(name, name)
        if enc[0] == "dummies":
            for lv in enc[2]:
                term = f"{name}={lv}"
                mask = model.data[term] == 1
                rows.append((f"{lab}: {lv} vs {enc[1]}", name, lv, enc[1], term,
                             int(mask.sum()), int(model.data.loc[mask, "event"].sum())))
        else:
            term = _term_name(name, enc)
            level = "per SD" if enc[0] == "z" else (enc[2] or "per unit")
            rows.append((f"{lab} ({level})", name, level, "", term, model.n, model.events))
    out = []
    for disp, name, level, ref, term, n, ev in rows:
        r = s.loc[term]
        out.append(
            {
                "term": disp, "covariate": name, "level": level, "reference": ref,
                "hr": float(r["exp(coef)"]),
                "ci_lower": float(r["exp(coef) lower 95%"]), "ci_upper": float(r["exp(coef) upper 95%"]),
                "p_value": float(r["p"]), "n": n, "events": ev,
            }
        )
    return pd.DataFrame(out)


def cox_hazard_ratios(
    df: pd.DataFrame,
    covariates: Sequence[str],
    references: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Cox hazard ratios with 95% CIs of a cohort's covariates (for the forest plot).

    Fits :func:`fit_cox_model` (lifelines ``CoxPHFitter``, Efron ties, Wald CIs) with the
    given ``covariates`` jointly (the first is usually the stratification variable, the rest
    adjusters) and returns ``(table, info)``: ``table`` from :func:`hazard_ratio_table`;
    ``info`` with ``n``, ``events``, ``n_missing`` (rows dropped for a missing covariate),
    ``dropped`` (constant covariates), ``penalizer``, ``concordance`` (Harrell's C on the
    fitting rows) and ``lr_p`` (likelihood-ratio test p of the whole model).

    Raises ValueError as :func:`fit_cox_model`.
    """
    model = fit_cox_model(df, covariates, references=references)
    lr = model.cph.log_likelihood_ratio_test()
    info = {
        "n": model.n, "events": model.events, "n_missing": model.n_missing,
        "dropped": model.dropped, "penalizer": model.penalizer,
        "concordance": float(model.cph.concordance_index_), "lr_p": float(lr.p_value),
        "method": "Cox proportional hazards (lifelines CoxPHFitter), Efron ties, Wald 95% CI",
    }
    return hazard_ratio_table(model, labels), info


def forest_figure(table: pd.DataFrame, title: str | None = None) -> go.Figure:
    """Forest plot of a :func:`hazard_ratio_table`: HR (log axis) with 95% CI per term.

    Left panel: a marker per term (``trace.meta["role"] == "hr"``) with asymmetric error bars
    to ``ci_lower`` / ``ci_upper`` and a dashed line at HR = 1. Right panel: the text
    "HR (95% CI), p" (``role == "hr_text"``). Terms top to bottom in table order.
    Raises ValueError for an empty table.
    """
    if table.empty:
        raise ValueError("No hazard ratios to plot.")
    t = table.reset_index(drop=True)
    ys = list(t["term"])
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, column_widths=[0.68, 0.32],
                        horizontal_spacing=0.02)
    hr, lo, hi = t["hr"].to_numpy(float), t["ci_lower"].to_numpy(float), t["ci_upper"].to_numpy(float)
    fig.add_trace(
        go.Scatter(
            x=hr, y=ys, mode="markers", marker=dict(symbol="square", size=10, color="#0072B2"),
            error_x=dict(type="data", symmetric=False, array=hi - hr, arrayminus=hr - lo,
                         color="#0072B2", thickness=2, width=6),
            showlegend=False, meta={"role": "hr"},
            hovertemplate="%{y}<br>HR %{x:.2f}<extra></extra>",
        ),
        row=1, col=1,
    )
    txt = [f"{a:.2f} ({b:.2f}-{c:.2f}), {_format_p(p)}" for a, b, c, p in zip(hr, lo, hi, t["p_value"])]
    fig.add_trace(
        go.Scatter(x=[0.0] * len(ys), y=ys, mode="text", text=txt, textposition="middle right",
                   showlegend=False, hoverinfo="skip", meta={"role": "hr_text"}, cliponaxis=False),
        row=1, col=2,
    )
    finite = np.concatenate([lo[np.isfinite(lo) & (lo > 0)], hi[np.isfinite(hi) & (hi > 0)], [1.0]])
    lo_x, hi_x = float(finite.min()), float(finite.max())
    fig.add_vline(x=1.0, line=dict(color="#555555", dash="dash", width=1), row=1, col=1)
    nice = [v for v in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100)
            if lo_x / 1.5 <= v <= hi_x * 1.5]
    fig.update_xaxes(type="log", title_text="Hazard ratio (95% CI, log scale)",
                     range=[math.log10(lo_x) - 0.15, math.log10(hi_x) + 0.15], row=1, col=1,
                     tickmode="array", tickvals=nice, ticktext=[f"{v:g}" for v in nice])
    fig.update_xaxes(visible=False, range=[0, 1], row=1, col=2)
    fig.update_yaxes(autorange="reversed", type="category", row=1, col=1)
    fig.update_layout(
        title=dict(text=title or "Cox hazard ratios"), template="plotly_white",
        height=160 + 40 * len(ys), margin=dict(l=20, r=20, t=60, b=50),
        annotations=list(fig.layout.annotations) + [
            dict(text="HR (95% CI), p", xref="x2 domain", yref="paper", x=0.0, y=1.0,
                 xanchor="left", yanchor="bottom", showarrow=False, font=dict(size=12))
        ],
    )
    return fig


# --------------------------------------------------------------------------------------------
# Figure export
# --------------------------------------------------------------------------------------------
class FigureExportError(RuntimeError):
    """Static export of a figure failed (kaleido missing, no Chrome/Chromium, timeout...)."""


def figure_png(fig: go.Figure, width: int = 1000, height: int | None = None, scale: float = 2.0) -> bytes:
    """PNG bytes of a Plotly figure via kaleido (needs a Chrome; finds ``/usr/bin/chromium``).

    ``height`` defaults to the figure's own height (or 600). Raises :class:`FigureExportError`
    with the underlying reason when the export fails, so callers can show a message instead of
    a download button.
    """
    h = int(height or fig.layout.height or 600)
    try:
        png = fig.to_image(format="png", width=int(width), height=h, scale=scale)
    except Exception as exc:  # noqa: BLE001 - kaleido raises many types (no Chrome, timeouts...)
        raise FigureExportError(f"PNG export failed ({type(exc).__name__}: {exc})") from exc
    if not png.startswith(b"\x89PNG"):
        raise FigureExportError("PNG export returned no PNG data.")
    return png


# --------------------------------------------------------------------------------------------
# Individual prognosis
# --------------------------------------------------------------------------------------------
#: covariates of the individual prognosis model (fitted on the image cohort).
PROGNOSTIC_INPUTS = ("risk_score", "age_years", "sex")
#: 1-, 2- and 5-year horizons in days.
HORIZONS_DAYS = (365.25, 730.5, 1826.25)


def fit_prognostic_model(
    image_cohort: pd.DataFrame,
    inputs: Sequence[str] = PROGNOSTIC_INPUTS,
    splits: Sequence[str] | None = ("train",),
) -> CoxModel:
    """Cox model for the individual prognosis, fitted on the image cohort.

    Parameters
    ----------
    image_cohort:
        :func:`join_image_covariates` output (``risk_score``, ``age_years``, ``sex``, ``split``,
        ``time_days``, ``event``).
    inputs:
        Default ``risk_score`` (z-scored on the fitting rows: HR per SD), ``age_years`` (per 10
        years), ``sex`` (male vs female) - the covariates the image cohort records. Karnofsky,
        resection, IDH and MGMT are not recorded for these TCGA patients and cannot be used.
    splits:
        Rows used for fitting (default the training split, so that :func:`validate_risk`
        measures exactly this model on patients it has not seen); None = all rows.

    Raises ValueError as :func:`fit_cox_model` (e.g. no covariates joined for the patients).
    """
    df = image_cohort
    if splits is not None:
        df = df[df["split"].astype(str).isin(list(splits))]
    return fit_cox_model(df, inputs, references={"sex": "female"}, min_events=5)


def _cox_efron_fit(
    X: np.ndarray, t: np.ndarray, e: np.ndarray, penalizer: float = 0.0, max_iter: int = 50
) -> np.ndarray:
    """Cox coefficients by Newton-Raphson on the Efron partial likelihood (numpy).

    The same estimator as lifelines ``CoxPHFitter`` (Efron ties; its ridge penalty
    ``0.5 x penalizer x n x sum((beta_j sd_j)^2)``, i.e. lifelines' penalty on the standardised
    scale with the log-likelihood averaged over n) without lifelines' per-fit bookkeeping, so a bootstrap of a few hundred refits takes < 1 s. Checked against
    lifelines in ``tests/test_survival.py``. Raises ``np.linalg.LinAlgError`` / ValueError when
    it does not converge.
    """
    X = np.asarray(X, float)
    t = np.asarray(t, float)
    e = np.asarray(e, int) == 1
    n, p = X.shape
    sd = X.std(axis=0, ddof=1) if n > 1 else np.ones(p)
    pen = penalizer * n * sd**2
    ev_times = np.unique(t[e])
    risk_sets = [t >= tk for tk in ev_times]
    death_sets = [(t == tk) & e for tk in ev_times]

    def terms(beta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        eta = X @ beta
        shift = eta.max()
        w = np.exp(eta - shift)
        ll, g, H = 0.0, np.zeros(p), np.zeros((p, p))
        for R, D in zip(risk_sets, death_sets):
            d = int(D.sum())
            wR, XR = w[R], X[R]
            s0R, s1R, s2R = wR.sum(), wR @ XR, (XR * wR[:, None]).T @ XR
            wD, XD = w[D], X[D]
            s0D, s1D, s2D = wD.sum(), wD @ XD, (XD * wD[:, None]).T @ XD
            ll += eta[D].sum()
            g += XD.sum(axis=0)
            for k in range(d):
                f = k / d
                s0, s1, s2 = s0R - f * s0D, s1R - f * s1D, s2R - f * s2D
                ll -= np.log(s0) + shift
                g -= s1 / s0
                H -= s2 / s0 - np.outer(s1, s1) / s0**2
        ll -= 0.5 * float(np.sum(pen * beta**2))
        g -= pen * beta
        H -= np.diag(pen)
        return ll, g, H

    beta = np.zeros(p)
    ll, g, H = terms(beta)
    for _ in range(max_iter):
        delta = np.linalg.solve(-H, g)
        step = 1.0
        while True:
            cand = beta + step * delta
            ll_c, g_c, H_c = terms(cand)
            if np.isfinite(ll_c) and ll_c >= ll - 1e-12:
                break
            step /= 2
            if step < 1e-6:
                raise ValueError("Cox Newton-Raphson failed to improve the likelihood.")
        converged = np.max(np.abs(cand - beta)) < 1e-9 or abs(ll_c - ll) < 1e-12
        beta, ll, g, H = cand, ll_c, g_c, H_c
        if converged:
            break
    if not np.all(np.isfinite(beta)) or np.any(np.abs(beta * sd) > 30):
        raise ValueError("Cox coefficients diverge (separation).")
    return beta


def _cox_survival(
    X: np.ndarray, t: np.ndarray, e: np.ndarray, beta: np.ndarray, x_new: np.ndarray, grid: np.ndarray
) -> np.ndarray:
    """S(grid | x_new) = exp(-H0(t) exp(beta'x_new)) with H0 the Breslow step function
    sum over event times t_k <= t of d_k / sum_{j: t_j >= t_k} exp(beta'x_j) (lifelines'
    baseline hazard, read as a step function instead of lifelines' linear interpolation between
    observed times). ``x_new`` one row (returns shape (len(grid),)) or a 2-D array of rows
    (returns (rows, len(grid)))."""
    t = np.asarray(t, float)
    e = np.asarray(e, int) == 1
    r = np.exp(X @ beta)
    ev = np.unique(t[e])
    d = np.array([np.sum(e & (t == tk)) for tk in ev], float)
    at_risk = np.array([r[t >= tk].sum() for tk in ev])
    H = np.cumsum(d / at_risk)
    idx = np.searchsorted(ev, grid, side="right") - 1
    H_grid = np.where(idx >= 0, H[np.clip(idx, 0, None)], 0.0) if ev.size else np.zeros(len(grid))
    rel = np.exp(np.asarray(x_new, float) @ beta)
    return np.exp(-np.multiply.outer(rel, H_grid))


@dataclass
class IndividualPrognosis:
    """Result of :func:`individual_survival`.

    Attributes:
        curve: ``time_days`` (float, days), ``survival``, ``lower``, ``upper`` (95% CI).
        horizons: one row per horizon: ``years``, ``time_days``, ``survival``, ``lower``,
            ``upper``, ``at_risk`` (fitting patients still followed at that time) and
            ``beyond_follow_up`` (True when later than the last fitting event: S is carried
            flat and should not be trusted).
        linear_predictor: beta'x of the patient.
        percentile: percentile (0-100) of the patient's linear predictor among the fitting rows.
        group: "high" / "low" vs the median linear predictor of the fitting rows.
        n_boot, n_boot_ok: requested and successful bootstrap refits.
        ci_method: text.
    """

    curve: pd.DataFrame
    horizons: pd.DataFrame
    linear_predictor: float
    percentile: float
    group: str
    n_boot: int
    n_boot_ok: int
    ci_method: str


def individual_survival(
    model: CoxModel,
    values: dict,
    n_boot: int = 200,
    seed: int = 0,
    horizons_days: Sequence[float] = HORIZONS_DAYS,
    alpha: float = 0.05,
) -> IndividualPrognosis:
    """Predicted survival curve S(t | x) of one patient with a bootstrap 95% band.

    The point estimate: lifelines' coefficients with the Breslow step baseline
    (:meth:`CoxModel.survival_at`). The band: ``n_boot`` nonparametric bootstrap resamples of the fitting patients
    (seeded), the Cox model refitted on each (same design and penalty; Efron Newton-Raphson in
    numpy, :func:`_cox_efron_fit`, the estimator lifelines uses, ~1 ms per refit) and the
    patient's curve predicted with the Breslow baseline; pointwise 2.5th/97.5th percentiles
    (so the band is also non-increasing). lifelines has no CI for an individual curve.
    Resamples whose fit fails are skipped (``n_boot_ok``).

    Parameters
    ----------
    model:
        From :func:`fit_prognostic_model` / :func:`fit_cox_model`.
    values:
        Input name -> value (e.g. ``{"risk_score": -0.12, "age_years": 45, "sex": "male"}``).
    horizons_days:
        Times reported in ``horizons`` (default 1, 2, 5 years = 365.25, 730.5, 1826.25 days).

    Raises ValueError for a missing / unknown input value.
    """
    x = model.design(values)
    data = model.data
    times_fit = data["time_days"].to_numpy(float)
    max_t = float(times_fit.max())
    ev_times = np.unique(times_fit[data["event"].to_numpy() == 1])
    last_event = float(ev_times.max()) if ev_times.size else 0.0
    grid = np.unique(np.concatenate([[0.0], ev_times, np.linspace(0, max_t, 120), np.asarray(horizons_days, float)]))
    point = model.survival_at(values, grid)[0]
    rng = np.random.default_rng(seed)
    boots = []
    n = len(data)
    Xf = data[model.terms].to_numpy(float)
    tf, ef = data["time_days"].to_numpy(float), data["event"].to_numpy(int)
    xv = x.to_numpy(float)[0]
    for _ in range(int(n_boot)):
        idx = rng.integers(0, n, n)
        Xb, tb, eb = Xf[idx], tf[idx], ef[idx]
        if eb.sum() < 2 or np.any(Xb.std(axis=0) == 0):
            continue
        try:
            beta = _cox_efron_fit(Xb, tb, eb, model.penalizer)
            sb = _cox_survival(Xb, tb, eb, beta, xv, grid)
        except (ValueError, np.linalg.LinAlgError, FloatingPointError):
            continue  # a failed resample is skipped and counted
        if np.all(np.isfinite(sb)):
            boots.append(sb)
    if boots:
        B = np.vstack(boots)
        lower = np.quantile(B, alpha / 2, axis=0)
        upper = np.quantile(B, 1 - alpha / 2, axis=0)
    else:
        lower = upper = np.full_like(point, np.nan)
    curve = pd.DataFrame({"time_days": grid, "survival": point, "lower": lower, "upper": upper})
    hz = []
    for h in horizons_days:
        i = int(np.searchsorted(grid, h))
        hz.append(
            {
                "years": h / UNITS["years"], "time_days": float(h), "survival": float(point[i]),
                "lower": float(lower[i]), "upper": float(upper[i]),
                "at_risk": int((times_fit >= h).sum()), "beyond_follow_up": bool(h > last_event),
            }
        )
    lp = float(model.linear_predictor(values)[0])
    lp_fit = model.linear_predictor(_decode_design(model))
    pct = float(100.0 * np.mean(lp_fit <= lp))
    return IndividualPrognosis(
        curve=curve, horizons=pd.DataFrame(hz), linear_predictor=lp, percentile=pct,
        group="high" if lp > float(np.median(lp_fit)) else "low", n_boot=int(n_boot),
        n_boot_ok=len(boots),
        ci_method=f"nonparametric bootstrap of the {model.n} fitting patients "
        f"({len(boots)} Cox refits, pointwise percentile 95% band)",
    )


def _decode_design(model: CoxModel) -> pd.DataFrame:
    """The fitting rows back as input values (so ``linear_predictor`` can re-encode them)."""
    out = {}
    for name, enc in model.encoding.items():
        if enc[0] == "z":
            out[name] = model.data[_term_name(name, enc)] * enc[2] + enc[1]
        elif enc[0] == "scale":
            out[name] = model.data[_term_name(name, enc)] * enc[1]
        else:
            lv = pd.Series(enc[1], index=model.data.index, dtype=object)
            for level in enc[2]:
                lv = lv.where(model.data[f"{name}={level}"] != 1, level)
            out[name] = lv
    return pd.DataFrame(out)


def add_individual_curve(
    fig: go.Figure, prognosis: IndividualPrognosis, unit: str = "days", label: str = "This patient",
    color: str = "#000000",
) -> go.Figure:
    """Draw an :class:`IndividualPrognosis` (curve + 95% band + horizon markers) on row 1 of a
    :func:`km_figure`. Traces have ``meta["role"]`` "individual", "individual_ci_upper",
    "individual_ci_lower" and "individual_horizon". Returns the same figure."""
    per = _check_unit(unit)
    c = prognosis.curve
    x = c["time_days"].to_numpy(float) / per
    kw = dict(row=1, col=1) if fig._grid_ref is not None else {}
    fig.add_trace(go.Scatter(x=x, y=c["upper"], mode="lines", line=dict(width=0, shape="hv"),
                             hoverinfo="skip", showlegend=False, meta={"role": "individual_ci_upper"}), **kw)
    fig.add_trace(go.Scatter(x=x, y=c["lower"], mode="lines", line=dict(width=0, shape="hv"),
                             fill="tonexty", fillcolor=_rgba(color, 0.12), hoverinfo="skip",
                             showlegend=False, meta={"role": "individual_ci_lower"}), **kw)
    fig.add_trace(go.Scatter(x=x, y=c["survival"], mode="lines", name=label,
                             line=dict(color=color, width=3, dash="dash", shape="hv"),
                             meta={"role": "individual"},
                             hovertemplate=f"{label}<br>%{{x:.1f}} {unit}: S(t) = %{{y:.3f}}<extra></extra>"), **kw)
    h = prognosis.horizons
    fig.add_trace(go.Scatter(
        x=h["time_days"].to_numpy(float) / per, y=h["survival"], mode="markers+text",
        marker=dict(color=color, size=9, symbol="diamond"),
        text=[f"{y:g}y: {s:.0%}" for y, s in zip(h["years"].round(2), h["survival"])],
        textposition="top right", showlegend=False, meta={"role": "individual_horizon"},
        hoverinfo="skip"), **kw)
    return fig


# --------------------------------------------------------------------------------------------
# Validation on held-out patients
# --------------------------------------------------------------------------------------------
#: validation models: name -> (inputs, description).
VALIDATION_MODELS = {
    "image": (("risk_score",), "image model risk score alone"),
    "age": (("age_years",), "Cox: age only"),
    "clinical": (("age_years", "sex", "grade"), "Cox: age + sex + WHO grade"),
    "prognostic": (PROGNOSTIC_INPUTS, "Cox: image risk score + age + sex (the individual-prognosis model)"),
}


def _ci(samples: list[float], alpha: float = 0.05) -> tuple[float, float]:
    a = np.asarray([s for s in samples if s is not None and np.isfinite(s)], dtype=float)
    if a.size < 10:
        return float("nan"), float("nan")
    return float(np.quantile(a, alpha / 2)), float(np.quantile(a, 1 - alpha / 2))


def harrell_c(time_days: np.ndarray, event: np.ndarray, risk: np.ndarray) -> float:
    """Harrell's C (lifelines ``concordance_index``; higher ``risk`` = shorter survival, so the
    risk is negated for lifelines). NaN when there is no comparable pair."""
    from lifelines.utils import concordance_index

    try:
        return float(concordance_index(np.asarray(time_days, float), -np.asarray(risk, float),
                                       np.asarray(event, int)))
    except (ZeroDivisionError, ValueError, AssertionError):
        return float("nan")


def ipcw_weights(train_time: np.ndarray, train_event: np.ndarray, times_days: np.ndarray) -> np.ndarray:
    """Inverse-probability-of-censoring weights 1 / G(t) at ``times_days``, G the Kaplan-Meier
    estimate of the censoring distribution of the *training* patients (torchsurv 0.2.0
    ``get_ipcw(train_event, train_time, new_time)``; 0 where G(t) = 0)."""
    import warnings

    import torch
    from torchsurv.stats.ipcw import get_ipcw

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = get_ipcw(torch.as_tensor(np.asarray(train_event, int) == 1),
                     torch.as_tensor(np.asarray(train_time, float), dtype=torch.float64),
                     new_time=torch.as_tensor(np.asarray(times_days, float), dtype=torch.float64))
    return w.to(torch.float64).numpy()


def _uno_c_w(t: np.ndarray, e: np.ndarray, risk: np.ndarray, w: np.ndarray, tau: float | None) -> float:
    import warnings

    import torch
    from torchsurv.metrics.cindex import ConcordanceIndex

    tmax = None if tau is None else torch.tensor(float(tau), dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return float(ConcordanceIndex()(
                torch.as_tensor(np.asarray(risk, float), dtype=torch.float64),
                torch.as_tensor(np.asarray(e, int) == 1),
                torch.as_tensor(np.asarray(t, float), dtype=torch.float64),
                weight=torch.as_tensor(np.asarray(w, float), dtype=torch.float64),
                tmax=tmax, instate=False,
            ))
        except (ValueError, RuntimeError, ZeroDivisionError, AssertionError):
            return float("nan")


def uno_c(
    time_days: np.ndarray, event: np.ndarray, risk: np.ndarray,
    train_time: np.ndarray, train_event: np.ndarray, tau_days: float | None = None,
) -> float:
    """Uno's C (IPCW concordance, Uno et al. Stat Med 2011) via torchsurv 0.2.0
    ``ConcordanceIndex`` with ``weight = get_ipcw(train_event, train_time, new_time=time_days)``
    (:func:`ipcw_weights`): the censoring distribution is the Kaplan-Meier estimate of the
    *training* patients, as torchsurv's docs recommend for a train/test split, evaluated at the
    held-out times; pairs are truncated at ``tau_days`` (torchsurv ``tmax``: weights only for
    times < tmax). Higher ``risk`` = shorter survival. With no censoring every weight is 1 and
    Uno's C equals Harrell's C (for untied times). NaN when there is no comparable pair.

    Note: torchsurv's own ``confidence_interval(method="bootstrap")`` does not resample the
    weights with the patients (0.2.0), so :func:`validate_risk` bootstraps by hand."""
    w = ipcw_weights(train_time, train_event, time_days)
    return _uno_c_w(time_days, event, risk, w, tau_days)


def _auc_w(
    t: np.ndarray, e: np.ndarray, risk: np.ndarray, w: np.ndarray,
    horizons: Sequence[float], w_h: np.ndarray,
) -> list[float]:
    import warnings

    import torch
    from torchsurv.metrics.auc import Auc

    t = np.asarray(t, float)
    ev = np.asarray(e, int) == 1
    out = [float("nan")] * len(horizons)
    ok = [k for k, h in enumerate(horizons) if np.any(ev & (t <= h)) and np.any(t > h)]
    if not ok:
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            res = Auc()(
                torch.as_tensor(np.asarray(risk, float), dtype=torch.float64),
                torch.as_tensor(ev), torch.as_tensor(t, dtype=torch.float64), auc_type="cumulative",
                weight=torch.as_tensor(np.asarray(w, float), dtype=torch.float64),
                new_time=torch.as_tensor([float(horizons[k]) for k in ok], dtype=torch.float64),
                weight_new_time=torch.as_tensor([float(w_h[k]) for k in ok], dtype=torch.float64),
                instate=False,
            )
        except (ValueError, RuntimeError, ZeroDivisionError, IndexError, AssertionError):
            return out
    for j, k in enumerate(ok):
        out[k] = float(res[j])
    return out


def time_auc(
    time_days: np.ndarray, event: np.ndarray, risk: np.ndarray,
    train_time: np.ndarray, train_event: np.ndarray, horizons_days: Sequence[float],
) -> list[float]:
    """Cumulative/dynamic time-dependent AUC at each horizon (Uno et al. JASA 2007 IPCW
    estimator) via torchsurv 0.2.0 ``Auc(auc_type="cumulative")``: cases = event by t,
    controls = still followed after t; IPCW from the training censoring distribution
    (:func:`ipcw_weights`). NaN at a horizon without cases or controls."""
    w = ipcw_weights(train_time, train_event, time_days)
    w_h = ipcw_weights(train_time, train_event, np.asarray(horizons_days, float))
    return _auc_w(time_days, event, risk, w, list(horizons_days), w_h)


def _km_at(time_days: np.ndarray, event: np.ndarray, t: float) -> tuple[float, float, float]:
    kmf = KaplanMeierFitter(alpha=0.05).fit(np.asarray(time_days, float), np.asarray(event, int))
    s = float(kmf.survival_function_at_times([t]).iloc[0])
    ci = kmf.confidence_interval_survival_function_
    idx = ci.index.searchsorted(t, side="right") - 1
    lo, hi = (float(ci.iloc[idx, 0]), float(ci.iloc[idx, 1])) if idx >= 0 else (1.0, 1.0)
    return s, lo, hi


def validate_risk(
    cohort_risk_df: pd.DataFrame,
    cdr_df: pd.DataFrame | None,
    n_boot: int = 200,
    seed: int = 0,
    horizons_days: Sequence[float] = (365.25, 730.5),
    tau_days: float = 1826.25,
    heldout_splits: Sequence[str] = ("val", "test"),
) -> dict:
    """Validate the image model's risk score on held-out patients, next to clinical baselines.

    Parameters
    ----------
    cohort_risk_df:
        ``cohort_risk.csv`` rows (``patient_id``, ``risk_score``, ``split``, ``time_days`` days,
        ``event`` 0/1, ``grade``), e.g. :func:`load_cohort_risk` output or the raw CSV.
    cdr_df:
        :func:`load_tcga_cdr` (OS) output for age / sex / grade; None -> only the image model
        can be evaluated (the others need age) and a ValueError is raised.
    n_boot, seed:
        Percentile bootstrap over held-out patients (models kept fixed), seeded; the same
        resamples for every model, so differences are paired.
    horizons_days:
        Times for the time-dependent AUC and calibration (default 1 and 2 years).
    tau_days:
        Truncation time of Uno's C (default 5 years), capped at the last training time so the
        training censoring distribution is estimable.
    heldout_splits:
        Splits evaluated (default val + test; the training split fits the Cox models).

    Method
    ------
    Models (:data:`VALIDATION_MODELS`), all fitted on the training split with lifelines
    ``CoxPHFitter``: ``image`` (risk score alone; its discrimination uses the raw score, its
    calibration a Cox recalibration of the score), ``age``, ``clinical`` (age + sex + grade),
    ``prognostic`` (risk + age + sex, the page's individual model). Every metric is computed
    on the same held-out patients (complete age / sex / grade). Harrell's C: lifelines;
    Uno's C and the cumulative/dynamic AUC: torchsurv 0.2.0 with IPCW from the training
    censoring KM (:func:`uno_c`, :func:`time_auc`). Calibration at each horizon: mean predicted
    S(t) vs the Kaplan-Meier estimate (95% CI) of the held-out patients, overall and in the
    halves below / above the median prediction. Proportional hazards: lifelines
    ``proportional_hazard_test`` (scaled Schoenfeld residuals vs rank of time) on each training
    fit.

    Returns
    -------
    dict
        JSON-safe (NaN -> None): ``n_train``, ``events_train``, ``n_heldout``,
        ``events_heldout``, ``heldout_splits``, ``n_excluded`` (rows without covariates),
        ``horizons_days``, ``tau_days``, ``n_boot``, ``seed``, ``ci_method``, ``models``: name
        -> {``inputs``, ``description``, ``harrell_c``/``uno_c``: {estimate, ci_lower,
        ci_upper}, ``auc``: list per horizon {time_days, estimate, ci_lower, ci_upper},
        ``calibration``: list per horizon {time_days, predicted_mean, observed, observed_lower,
        observed_upper, groups: [...]}, ``hazard_ratios`` (training fit), ``ph_test``: list
        {term, test_statistic, p_value}, ``penalizer``}, ``differences``: "<a>_minus_<b>" ->
        {harrell_c, uno_c: {estimate, ci_lower, ci_upper}}, ``notes``.

    Raises
    ------
    ValueError
        No training or held-out rows, no held-out event, or no CDR covariates.
    """
    from lifelines.statistics import proportional_hazard_test

    if cdr_df is None:
        raise ValueError("validate_risk needs the TCGA-CDR table for age, sex and grade.")
    df = join_image_covariates(cohort_risk_df, cdr_df)
    df = df[df["time_days"].notna() & df["event"].notna() & df["risk_score"].notna()].copy()
    df["event"] = df["event"].astype(int)
    inputs_all = sorted({c for ins, _ in VALIDATION_MODELS.values() for c in ins})
    complete = df[inputs_all].notna().all(axis=1)
    n_excluded = int((~complete).sum())
    df = df[complete]
    train = df[df["split"] == "train"].reset_index(drop=True)
    held = df[df["split"].isin([s.lower() for s in heldout_splits])].reset_index(drop=True)
    if train.empty or held.empty:
        raise ValueError(f"Need training and held-out ({list(heldout_splits)}) rows with covariates.")
    if held["event"].sum() < 1:
        raise ValueError("No event among the held-out patients: discrimination is undefined.")
    tr_t, tr_e = train["time_days"].to_numpy(float), train["event"].to_numpy(int)
    ho_t, ho_e = held["time_days"].to_numpy(float), held["event"].to_numpy(int)
    tau = float(min(tau_days, tr_t.max()))
    horizons = [float(h) for h in horizons_days]

    models: dict = {}
    scores: dict = {}
    surv: dict = {}
    notes = []
    for name, (inputs, desc) in VALIDATION_MODELS.items():
        refs = {"sex": "female", "grade": "WHO II"}
        m = fit_cox_model(train, inputs, references=refs, min_events=3)
        lp = m.linear_predictor(held)
        scores[name] = held["risk_score"].to_numpy(float) if name == "image" else lp
        surv[name] = m.survival_at(held, horizons)
        try:
            ph = proportional_hazard_test(m.cph, m.data, time_transform="rank").summary
            ph_rows = [{"term": str(k), "test_statistic": float(r["test_statistic"]), "p_value": float(r["p"])}
                       for k, r in ph.iterrows()]
        except Exception as exc:  # noqa: BLE001 - reported, not fatal
            ph_rows = []
            notes.append(f"PH test of {name} failed: {exc}")
        hr = hazard_ratio_table(m)
        models[name] = {
            "inputs": list(m.inputs), "description": desc, "penalizer": m.penalizer,
            "hazard_ratios": hr.drop(columns=["n", "events"]).to_dict("records"),
            "ph_test": ph_rows,
        }
        if name == "image" and m.cph.params_.iloc[0] < 0:
            notes.append("On the training split a higher image risk score went with LONGER survival "
                         "(negative Cox coefficient); discrimination uses the raw score as served.")

    w_ho = ipcw_weights(tr_t, tr_e, ho_t)  # a function of the time only: resampled with it
    w_h = ipcw_weights(tr_t, tr_e, np.asarray(horizons, float))

    def metrics(idx: np.ndarray) -> dict:
        t, e, w = ho_t[idx], ho_e[idx], w_ho[idx]
        res = {}
        for name in models:
            s = scores[name][idx]
            res[name] = {
                "harrell_c": harrell_c(t, e, s),
                "uno_c": _uno_c_w(t, e, s, w, tau),
                "auc": _auc_w(t, e, s, w, horizons, w_h),
            }
        return res

    full = metrics(np.arange(len(held)))
    rng = np.random.default_rng(seed)
    boots = [metrics(rng.integers(0, len(held), len(held))) for _ in range(int(n_boot))]

    for name in models:
        f = full[name]
        entry = models[name]
        for key in ("harrell_c", "uno_c"):
            lo, hi = _ci([b[name][key] for b in boots])
            entry[key] = {"estimate": f[key], "ci_lower": lo, "ci_upper": hi}
        entry["auc"] = []
        for k, h in enumerate(horizons):
            lo, hi = _ci([b[name]["auc"][k] for b in boots])
            entry["auc"].append({"time_days": h, "estimate": f["auc"][k], "ci_lower": lo, "ci_upper": hi,
                                 "cases": int(np.sum((ho_e == 1) & (ho_t <= h))),
                                 "controls": int(np.sum(ho_t > h))})
        entry["calibration"] = []
        for k, h in enumerate(horizons):
            pred = surv[name][:, k]
            obs, olo, ohi = _km_at(ho_t, ho_e, h)
            groups = []
            med = float(np.median(pred))
            for gname, mask in (("lower predicted survival", pred <= med), ("higher predicted survival", pred > med)):
                if mask.sum() == 0:
                    continue
                go_, glo, ghi = _km_at(ho_t[mask], ho_e[mask], h)
                groups.append({"group": gname, "n": int(mask.sum()), "predicted_mean": float(pred[mask].mean()),
                               "observed": go_, "observed_lower": glo, "observed_upper": ghi})
            entry["calibration"].append({
                "time_days": h, "predicted_mean": float(pred.mean()), "observed": obs,
                "observed_lower": olo, "observed_upper": ohi, "at_risk": int(np.sum(ho_t >= h)),
                "groups": groups,
            })
    differences = {}
    for a, b in (("image", "age"), ("image", "clinical"), ("prognostic", "age"), ("prognostic", "clinical")):
        d = {}
        for key in ("harrell_c", "uno_c"):
            est = full[a][key] - full[b][key]
            lo, hi = _ci([bt[a][key] - bt[b][key] for bt in boots])
            d[key] = {"estimate": est, "ci_lower": lo, "ci_upper": hi}
        differences[f"{a}_minus_{b}"] = d
    if len(held) < 50 or held["event"].sum() < 20:
        notes.append(f"Only {len(held)} held-out patients with {int(held['event'].sum())} events: "
                     "confidence intervals are wide; treat the estimates as indicative.")
    from model.core.jsonio import json_safe

    return json_safe({
        "n_train": int(len(train)), "events_train": int(tr_e.sum()),
        "n_heldout": int(len(held)), "events_heldout": int(ho_e.sum()),
        "heldout_splits": sorted(held["split"].unique().tolist()), "n_excluded": n_excluded,
        "horizons_days": horizons, "tau_days": tau, "n_boot": int(n_boot), "seed": int(seed),
        "ci_method": f"percentile bootstrap over held-out patients ({int(n_boot)} resamples; "
                     "models fixed at their training fit; paired across models)",
        "models": models, "differences": differences, "notes": notes,
    })


def validation_table(result: dict, unit: str = "years") -> pd.DataFrame:
    """Flatten :func:`validate_risk` output to one row per model for display: ``model``,
    ``description``, ``Harrell C``, ``Uno C``, ``AUC(t)`` per horizon (each "0.71 (0.55-0.85)")
    and calibration "predicted / observed" per horizon."""
    per = _check_unit(unit)

    def tl(t: float) -> str:
        v = t / per
        return f"{v:g} {unit[:-1] if abs(v - 1) < 1e-9 else unit}"

    def fmt(d: dict) -> str:
        if d.get("estimate") is None:
            return "n/a"
        lo, hi = d.get("ci_lower"), d.get("ci_upper")
        return f"{d['estimate']:.2f}" + (f" ({lo:.2f}-{hi:.2f})" if lo is not None and hi is not None else "")

    rows = []
    for name, m in result["models"].items():
        row = {"model": name, "description": m["description"],
               "Harrell C (95% CI)": fmt(m["harrell_c"]), "Uno C (95% CI)": fmt(m["uno_c"])}
        for a in m["auc"]:
            row[f"AUC at {tl(a['time_days'])}"] = fmt(a)
        for c in m["calibration"]:
            obs = "n/a" if c["observed"] is None else f"{c['observed']:.2f}"
            row[f"S({tl(c['time_days'])}) predicted / observed"] = f"{c['predicted_mean']:.2f} / {obs}"
        rows.append(row)
    return pd.DataFrame(rows)


def km_analysis(data: pd.DataFrame, group_col: str | None, unit: str, at_risk_times,
                title: str, correction: str = "holm") -> dict:
    """Everything shown for one Kaplan-Meier selection, computed once (the Survival page
    caches the result, so widget changes elsewhere on the page cost nothing).

    Returns a dict: ``figure`` (:func:`km_figure`, or None with ``figure_error``), ``median``
    (:func:`median_survival`), ``at_risk`` (:func:`at_risk_table` at ``at_risk_times``, in
    ``unit``), ``logrank`` (:func:`logrank`, or None with ``logrank_error``; None without
    ``group_col``) and ``pairwise`` (:func:`pairwise_logrank` with ``correction`` when there
    are 3+ groups, else None). Errors of inapplicable tests are kept as text for the user.
    """
    out: dict = {"figure": None, "figure_error": None, "logrank": None, "logrank_error": None,
                 "pairwise": None}
    try:
        out["figure"] = km_figure(data, group_col=group_col, unit=unit, at_risk_times=at_risk_times,
                                  title=title, table_rows=("at_risk", "events", "censored"))
    except ValueError as exc:
        out["figure_error"] = str(exc)
    out["median"] = median_survival(data, group_col)
    out["at_risk"] = at_risk_table(data, at_risk_times, group_col)
    if group_col is not None:
        try:
            out["logrank"] = logrank(data, group_col)
        except ValueError as exc:
            out["logrank_error"] = str(exc)
        else:
            if out["logrank"]["n_groups"] >= 3:
                out["pairwise"] = pairwise_logrank(data, group_col, correction)
    return out


def differences_table(result: dict) -> pd.DataFrame:
    """Paired C-index differences of :func:`validate_risk` output for display: one row per
    comparison, Harrell and Uno C difference as "+0.05 (-0.10 to +0.20)" (95% CI)."""
    names = {"harrell_c": "Harrell C", "uno_c": "Uno C"}

    def fmt(d: dict) -> str:
        if d["estimate"] is None:
            return "n/a"
        if d["ci_lower"] is None:
            return f"{d['estimate']:+.2f}"
        return f"{d['estimate']:+.2f} ({d['ci_lower']:+.2f} to {d['ci_upper']:+.2f})"

    return pd.DataFrame([
        {"comparison": k.replace("_minus_", " - "),
         **{f"{names[m]} difference (95% CI)": fmt(d[m]) for m in names}}
        for k, d in result["differences"].items()
    ])


def ph_table(result: dict) -> pd.DataFrame:
    """Proportional-hazards tests of :func:`validate_risk` output, one row per model and
    covariate (lifelines ``proportional_hazard_test`` on the training fits); empty if none."""
    return pd.DataFrame([{"model": name, **r} for name, m in result["models"].items()
                         for r in m["ph_test"]])


def calibration_figure(result: dict, unit: str = "years") -> go.Figure:
    """Calibration plot of :func:`validate_risk` output, one panel per horizon: per model,
    mean predicted S(t) (x) vs the Kaplan-Meier S(t) with 95% CI (y) in the lower / higher
    predicted-survival halves of the held-out patients; the diagonal is perfect calibration.
    Traces have ``meta == {"role": "calibration", "model": name, "time_days": t}``."""
    per = _check_unit(unit)
    horizons = list(result.get("horizons_days") or [])
    n_h = max(len(horizons), 1)

    def hlabel(t: float) -> str:
        v = t / per
        return f"{v:g} {unit[:-1] if abs(v - 1) < 1e-9 else unit}"

    fig = make_subplots(rows=1, cols=n_h, shared_yaxes=True, horizontal_spacing=0.06,
                        subplot_titles=[f"S({hlabel(t)})" for t in horizons] or None)
    colors = dict(zip(result["models"], _PALETTE))
    symbols = ["circle", "square", "diamond", "triangle-up", "x"]
    for k in range(n_h):
        fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(color="#999999", dash="dot"),
                                 name="perfect calibration", hoverinfo="skip", showlegend=k == 0,
                                 legendgroup="diag"), row=1, col=k + 1)
    for j, (name, m) in enumerate(result["models"].items()):
        for k, c in enumerate(m["calibration"]):
            g = [x for x in c["groups"] if x["observed"] is not None]
            if not g:
                continue
            y = np.array([x["observed"] for x in g], float)
            lo = np.array([np.nan if x["observed_lower"] is None else x["observed_lower"] for x in g], float)
            hi = np.array([np.nan if x["observed_upper"] is None else x["observed_upper"] for x in g], float)
            fig.add_trace(go.Scatter(
                x=[x["predicted_mean"] for x in g], y=y, mode="markers+lines", name=name,
                legendgroup=name, showlegend=k == 0,
                marker=dict(color=colors[name], symbol=symbols[j % len(symbols)], size=10),
                line=dict(color=colors[name], width=1),
                error_y=dict(type="data", symmetric=False, array=hi - y, arrayminus=y - lo, thickness=1),
                meta={"role": "calibration", "model": name, "time_days": c["time_days"]},
                text=[f"{name}: {x['group']} (n={x['n']})" for x in g],
                hovertemplate="%{text}<br>predicted %{x:.2f}, observed %{y:.2f}<extra></extra>",
            ), row=1, col=k + 1)
    fig.update_xaxes(range=[0, 1.02], title_text="Mean predicted survival")
    fig.update_yaxes(range=[0, 1.05])
    fig.update_yaxes(title_text="Observed (Kaplan-Meier, 95% CI)", row=1, col=1)
    fig.update_layout(
        template="plotly_white", height=440, title=dict(text="Calibration on held-out patients "
                                                        "(halves by predicted survival)"),
        margin=dict(l=60, r=20, t=80, b=50),
    )
    return fig
