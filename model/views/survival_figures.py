"""Survival figures (Plotly): they draw typed results and never fit.

* :func:`km_figure` draws a :class:`model.survival.km.KMAnalysis` (curves, bands, censoring
  ticks, at-risk tables, log-rank p);
* :func:`add_individual_curve` adds a :class:`model.survival.prognosis.IndividualPrognosis`;
* :func:`risk_histogram` -- the image cohort's risk scores by group;
* :func:`forest_figure` -- a :func:`model.survival.cox.hazard_ratio_table`;
* :func:`calibration_figure` -- :func:`model.survival.validation.validate_risk` output.

Colours: Okabe-Ito (colour-blind safe), fixed per known group (:func:`group_colors`). Times
come in days and are drawn in ``unit``. No Streamlit here. No template or background colour:
the page draws them in Streamlit's theme, a PNG export in print style (:mod:`model.views.style`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from model.survival.km import ALL_LABEL, KMAnalysis, check_unit
from model.survival.risk import risk_threshold
from model.views.style import GUIDE, INK

if TYPE_CHECKING:
    from model.survival.prognosis import IndividualPrognosis

__all__ = [
    "group_colors",
    "km_figure",
    "add_individual_curve",
    "risk_histogram",
    "forest_figure",
    "calibration_figure",
]

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
    INK,  # Okabe-Ito black, as a grey that reads on dark and light pages
]
# Fixed colours for the groups the dashboard knows, so a group keeps its colour in every figure.
_FIXED_COLORS = {
    ALL_LABEL: INK,
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




def group_colors(groups: Sequence[str]) -> dict[str, str]:
    """Colour per group label.

    Fixed colours for known labels (LGG/GBM, WHO grades, high/low, sex, TCGA histologies) so a
    group looks the same in every figure; others get the Okabe-Ito palette in the given order,
    skipping colours already used.

    Parameters
    ----------
    groups : sequence of str
        Group labels.

    Returns
    -------
    dict
        Label -> ``"#rrggbb"``.
    """
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
    km: KMAnalysis,
    unit: str = "days",
    highlight_group: str | None = None,
    title: str | None = None,
    table_rows: Sequence[str] = ("at_risk",),
) -> go.Figure:
    """Kaplan-Meier curves with 95% bands, censoring ticks and number-at-risk tables.

    Draws a :class:`model.survival.km.KMAnalysis` (:func:`model.survival.km.km_analysis`);
    nothing is estimated here.

    Parameters
    ----------
    km : KMAnalysis
        Curves, at-risk table (at ``km.at_risk_times_days``, also the x ticks) and log-rank.
    unit : str
        x-axis unit: ``"days"``, ``"months"`` (30.4375 days) or ``"years"`` (365.25 days).
    highlight_group : str, optional
        Group label whose curve is drawn thicker (others fainter); ignored if not present.
    title : str, optional
        Figure title; default "Kaplan-Meier estimate".
    table_rows : sequence of str
        Tables drawn under the axis, in order, each its own subplot row sharing the x-axis:
        ``"at_risk"`` (number at risk), ``"events"`` (cumulative events), ``"censored"``
        (cumulative censored), from ``km.at_risk``.

    Returns
    -------
    plotly.graph_objects.Figure
        Row 1: per group a shaded CI band (two traces, ``role`` "ci_upper" / "ci_lower"), the
        KM step curve (``trace.meta == {"role": "km", "group": label}``) and censoring ticks
        (``role == "censor"``). Rows 2.. (shared x): one table per entry of ``table_rows``
        (``role`` = "at_risk", "events" or "censored"), text coloured like the curve; with the
        default, the number at risk is row 2 (``yaxis2``). With >= 2 groups the log-rank p is
        an annotation. ``fig.layout.meta`` holds ``unit``, ``groups``, ``n``, ``n_dropped``
        (rows dropped for missing group/time/event), ``logrank`` (dict or None),
        ``at_risk_times_days``, ``highlight_group`` and ``table_rows``; a note annotation
        reports ``n_dropped`` when > 0.

    Raises
    ------
    ValueError
        Unknown ``unit`` or table row, or no curve.
    """
    per = check_unit(unit)
    table_rows = list(table_rows)
    bad_rows = [r for r in table_rows if r not in _TABLE_TITLES]
    if bad_rows:
        raise ValueError(f"Unknown table row(s) {bad_rows}; use {list(_TABLE_TITLES)}.")
    if not km.curves:
        raise ValueError("No Kaplan-Meier curve to draw.")
    groups = km.curves
    group_col, n_dropped = km.group_col, km.n_dropped
    labels = km.groups
    colors = group_colors(labels)
    if highlight_group is not None and str(highlight_group) not in labels:
        highlight_group = None
    highlight = str(highlight_group) if highlight_group is not None else None

    max_days = km.max_days
    times = list(km.at_risk_times_days)
    risk = km.at_risk
    lr = km.logrank if (group_col is not None and len(groups) >= 2) else None

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

    for curve in groups:
        label = curve.group
        color = colors[label]
        x = curve.time_days / per
        is_hl = highlight is not None and label == highlight
        dim = highlight is not None and not is_hl
        width = 4.5 if is_hl else 2.0
        band_alpha = 0.08 if dim else 0.18
        # CI band: upper (invisible line) then lower filled to it.
        fig.add_trace(
            go.Scatter(
                x=x, y=curve.ci_upper, mode="lines", line=dict(width=0, shape="hv"),
                hoverinfo="skip", showlegend=False, legendgroup=label,
                meta={"role": "ci_upper", "group": label},
            ),
            row=1, col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=x, y=curve.ci_lower, mode="lines", line=dict(width=0, shape="hv"),
                fill="tonexty", fillcolor=_rgba(color, band_alpha), hoverinfo="skip",
                showlegend=False, legendgroup=label, meta={"role": "ci_lower", "group": label},
            ),
            row=1, col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=x, y=curve.survival, mode="lines", name=f"{label} (n={curve.n})",
                line=dict(color=color, width=width, shape="hv"),
                opacity=0.55 if dim else 1.0, legendgroup=label,
                meta={"role": "km", "group": label},
                hovertemplate=f"{label}<br>%{{x:.1f}} {unit_label}: S(t) = %{{y:.3f}}<extra></extra>",
            ),
            row=1, col=1,
        )
        cens_t, cens_s = curve.censor_days, curve.censor_survival
        if cens_t.size:
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
                text=f"Log-rank {_format_p(lr.p_value)} (chi² = {lr.test_statistic:.2f}, "
                f"df = {lr.degrees_of_freedom})",
                xref="x domain", yref="y domain", x=0.99, y=0.98, xanchor="right",
                yanchor="top", showarrow=False, font=dict(size=12),
                bgcolor="rgba(128,128,128,0.15)",
            )
        )
    if n_dropped:
        what = f"missing {group_col} or follow-up" if group_col else "missing follow-up"
        annotations.append(
            dict(
                text=f"Note: {n_dropped} patient(s) excluded ({what}).",
                xref="paper", yref="paper", x=0.0, y=-0.08, xanchor="left", yanchor="top",
                showarrow=False, font=dict(size=11),
            )
        )
    for a in annotations:
        fig.add_annotation(**a)

    fig.update_layout(
        title=dict(text=title or "Kaplan-Meier estimate", y=1 - 10 / fig_height, yanchor="top"),
        height=fig_height,
        margin=dict(l=70, r=20, t=70 + 22 * ((n_rows_table - 1) // 3), b=70 if n_dropped else 50),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0.0),
        hovermode="closest",
        meta={
            "unit": unit,
            "groups": labels,
            "n": int(km.n),
            "n_dropped": int(n_dropped),
            "logrank": lr.to_dict() if lr is not None else None,
            "at_risk_times_days": times,
            "highlight_group": highlight,
            "table_rows": table_rows,
        },
    )
    return fig


def add_individual_curve(
    fig: go.Figure, prognosis: "IndividualPrognosis", unit: str = "days", label: str = "This patient",
    color: str = INK,
) -> go.Figure:
    """Draw an individual prognosis (curve + 95% band + horizon markers) on a figure.

    Parameters
    ----------
    fig : plotly.graph_objects.Figure
        A :func:`km_figure` (drawn on row 1) or any single-axis figure.
    prognosis : IndividualPrognosis
        :func:`model.survival.prognosis.individual_survival` output.
    unit : str
        x-axis unit of ``fig``.
    label, color : str
        Legend text and line colour.

    Returns
    -------
    plotly.graph_objects.Figure
        The same figure; new traces have ``meta["role"]`` "individual", "individual_ci_upper",
        "individual_ci_lower" and "individual_horizon".

    Raises
    ------
    ValueError
        Unknown unit.
    """
    per = check_unit(unit)
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


def risk_histogram(
    cohort_risk: pd.DataFrame,
    study_score: float | None = None,
    threshold: float | None = None,
    title: str | None = None,
) -> go.Figure:
    """Histogram of the image cohort's model risk scores, coloured by risk group.

    Parameters
    ----------
    cohort_risk : pandas.DataFrame
        :func:`model.survival.cohorts.load_cohort_risk` output (``risk_score`` float,
        ``risk_group`` "high"/"low", ``split``).
    study_score : float, optional
        The current study's risk score; drawn as a solid vertical line (skipped if None/NaN).
    threshold : float, optional
        High/low cut (default: :func:`model.survival.risk.risk_threshold` of the frame); drawn
        dashed.
    title : str, optional

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
        fig.add_vline(x=threshold, line=dict(color=GUIDE, dash="dash", width=1.5),
                      annotation_text="median (train)", annotation_position="top left")
    if study_score is not None and np.isfinite(study_score):
        fig.add_vline(x=float(study_score), line=dict(color=INK, width=3),
                      annotation_text="this study", annotation_position="top right")
    fig.update_layout(
        barmode="overlay", height=320,
        title=dict(text=title or "Model risk scores of the image cohort"),
        xaxis_title="Risk score", yaxis_title="Patients",
        margin=dict(l=60, r=20, t=60, b=50),
        meta={"threshold": threshold, "study_score": study_score},
    )
    return fig


def forest_figure(table: pd.DataFrame, title: str | None = None) -> go.Figure:
    """Forest plot of a hazard-ratio table: HR (log axis) with 95% CI per term.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`model.survival.cox.hazard_ratio_table` output (``term``, ``hr``, ``ci_lower``,
        ``ci_upper``, ``p_value``).
    title : str, optional

    Returns
    -------
    plotly.graph_objects.Figure
        Left panel: a marker per term (``trace.meta["role"] == "hr"``) with asymmetric error
        bars to ``ci_lower`` / ``ci_upper`` and a dashed line at HR = 1. Right panel: the text
        "HR (95% CI), p" (``role == "hr_text"``). Terms top to bottom in table order.

    Raises
    ------
    ValueError
        Empty table.
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
    fig.add_vline(x=1.0, line=dict(color=GUIDE, dash="dash", width=1), row=1, col=1)
    nice = [v for v in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100)
            if lo_x / 1.5 <= v <= hi_x * 1.5]
    fig.update_xaxes(type="log", title_text="Hazard ratio (95% CI, log scale)",
                     range=[math.log10(lo_x) - 0.15, math.log10(hi_x) + 0.15], row=1, col=1,
                     tickmode="array", tickvals=nice, ticktext=[f"{v:g}" for v in nice])
    fig.update_xaxes(visible=False, range=[0, 1], row=1, col=2)
    fig.update_yaxes(autorange="reversed", type="category", row=1, col=1)
    fig.update_layout(
        title=dict(text=title or "Cox hazard ratios"),
        height=160 + 40 * len(ys), margin=dict(l=20, r=20, t=60, b=50),
        annotations=list(fig.layout.annotations) + [
            dict(text="HR (95% CI), p", xref="x2 domain", yref="paper", x=0.0, y=1.0,
                 xanchor="left", yanchor="bottom", showarrow=False, font=dict(size=12))
        ],
    )
    return fig


def calibration_figure(result: dict, unit: str = "years") -> go.Figure:
    """Calibration plot of :func:`model.survival.validation.validate_risk` output.

    One panel per horizon: per model, mean predicted S(t) (x) vs the Kaplan-Meier S(t) with 95%
    CI (y) in the lower / higher predicted-survival halves of the held-out patients; the
    diagonal is perfect calibration.

    Parameters
    ----------
    result : dict
        ``validate_risk`` output.
    unit : str
        Unit of the panel titles.

    Returns
    -------
    plotly.graph_objects.Figure
        Traces have ``meta == {"role": "calibration", "model": name, "time_days": t}``.

    Raises
    ------
    ValueError
        Unknown unit.
    """
    per = check_unit(unit)
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
        fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(color=GUIDE, dash="dot"),
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
        height=440, title=dict(text="Calibration on held-out patients "
                                                        "(halves by predicted survival)"),
        margin=dict(l=60, r=20, t=80, b=50),
    )
    return fig
