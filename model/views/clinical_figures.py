"""Figures of the clinical prognosis (Plotly); they draw results and never fit.

* :func:`clinical_curve_figure` -- one patient's :class:`~model.survival.clinical.ClinicalPrognosisResult`
  (curve, 95 % band, 1/2/5-year markers);
* :func:`add_clinical_curve` -- the same curve over another figure (e.g. the cross-cohort
  risk-group Kaplan-Meier of :func:`model.views.survival_figures.km_figure`);
* :func:`clinical_calibration_figure` -- a calibration list of the prognosis card (predicted vs
  observed survival at 1, 2 and 5 years by risk fifth).

Kept beside :mod:`model.views.survival_figures` (same colours and conventions) because that
module is near the size limit. Times come in days and are drawn in ``unit``. No Streamlit here;
no template or background colour (the page's theme, or print style on export: :mod:`model.views.style`).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from model.core.units import DAYS_PER_YEAR
from model.survival.km import check_unit
from model.views.style import BAND, GUIDE, INK

__all__ = ["clinical_curve_figure", "add_clinical_curve", "clinical_calibration_figure"]

def _xy(result, per: float) -> tuple[np.ndarray, ...]:
    t = np.asarray(result.time_days, float) / per
    return t, np.asarray(result.survival, float), np.asarray(result.lower, float), np.asarray(result.upper, float)


def add_clinical_curve(fig: go.Figure, result, unit: str = "years", label: str = "This patient (predicted)",
                       color: str = INK) -> go.Figure:
    """Draw a clinical prognosis (step curve, pointwise 95 % band, 1/2/5-year markers) on ``fig``.

    Parameters
    ----------
    fig : plotly.graph_objects.Figure
        A :func:`~model.views.survival_figures.km_figure` (drawn on its row 1) or any
        single-axis figure.
    result : ClinicalPrognosisResult
    unit : str
        x-axis unit of ``fig`` (``days`` / ``months`` / ``years``).

    Returns
    -------
    plotly.graph_objects.Figure
        The same figure; new traces have ``meta["role"]`` ``"clinical"``, ``"clinical_upper"``,
        ``"clinical_lower"``, ``"clinical_horizon"``.

    Raises
    ------
    ValueError
        Unknown unit.
    """
    per = check_unit(unit)
    x, s, lo, hi = _xy(result, per)
    kw = dict(row=1, col=1) if fig._grid_ref is not None else {}
    fig.add_trace(go.Scatter(x=x, y=hi, mode="lines", line=dict(width=0, shape="hv"), hoverinfo="skip",
                             showlegend=False, meta={"role": "clinical_upper"}), **kw)
    fig.add_trace(go.Scatter(x=x, y=lo, mode="lines", line=dict(width=0, shape="hv"), fill="tonexty",
                             fillcolor=BAND, hoverinfo="skip", name="95% band", showlegend=False,
                             meta={"role": "clinical_lower"}), **kw)
    fig.add_trace(go.Scatter(x=x, y=s, mode="lines", name=label, line=dict(color=color, width=3, dash="dash", shape="hv"),
                             meta={"role": "clinical"},
                             hovertemplate=f"{label}<br>%{{x:.1f}} {unit}: S(t) = %{{y:.3f}}<extra></extra>"), **kw)
    pts = [a for a in result.survival_at if a.survival is not None]
    if pts:
        fig.add_trace(go.Scatter(
            x=[a.years * DAYS_PER_YEAR / per for a in pts], y=[a.survival for a in pts], mode="markers+text",
            marker=dict(color=color, size=9, symbol="diamond"),
            text=[f"{a.years:g}y: {a.survival:.0%}" for a in pts], textposition="top right",
            showlegend=False, hoverinfo="skip", meta={"role": "clinical_horizon"}), **kw)
    return fig


def clinical_curve_figure(result, unit: str = "years", title: str | None = None) -> go.Figure:
    """A figure of one patient's predicted survival (see :func:`add_clinical_curve`).

    ``layout.meta`` holds ``{"kind": "clinical_prognosis", "unit", "inputs"}``.
    """
    fig = go.Figure()
    add_clinical_curve(fig, result, unit=unit, label="Predicted survival")
    per = check_unit(unit)
    fig.update_layout(
        height=420, margin=dict(l=60, r=20, t=60, b=50),
        title=dict(text=title or "Predicted survival with 95% band"),
        xaxis=dict(title=f"Time since diagnosis ({unit})", range=[0, float(result.max_followup_days) / per]),
        yaxis=dict(title="Survival probability", range=[0, 1.02]),
        meta={"kind": "clinical_prognosis", "unit": unit, "inputs": list(result.input_set)},
    )
    return fig


def clinical_calibration_figure(calibration: list[dict], title: str | None = None) -> go.Figure:
    """Calibration at each horizon of a prognosis-card validation.

    Parameters
    ----------
    calibration : list of dict
        ``[{"years", "groups": [{"group", "n", "predicted", "observed", "observed_ci95"}],
        ...}]`` (:func:`model.survival.clinical_tables.calibration_of`).
    title : str, optional

    Returns
    -------
    plotly.graph_objects.Figure
        One panel per horizon: mean predicted S(t) (x) against the Kaplan-Meier S(t) with 95 %
        CI (y) per risk group of the test cohort; the diagonal is perfect calibration. Traces
        have ``meta == {"role": "calibration", "years": y}``.
    """
    n = max(len(calibration), 1)
    fig = make_subplots(rows=1, cols=n, shared_yaxes=True, horizontal_spacing=0.06,
                        subplot_titles=[f"{c['years']:g}-year survival" for c in calibration] or None)
    for k, c in enumerate(calibration):
        fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(color=GUIDE, dash="dot"),
                                 name="perfect calibration", hoverinfo="skip", showlegend=k == 0,
                                 legendgroup="diag"), row=1, col=k + 1)
        g = [x for x in c.get("groups", []) if x.get("observed") is not None]
        if not g:
            continue
        y = np.array([x["observed"] for x in g], float)
        ci = [x.get("observed_ci95") or [None, None] for x in g]
        lo = np.array([np.nan if a[0] is None else a[0] for a in ci], float)
        hi = np.array([np.nan if a[1] is None else a[1] for a in ci], float)
        fig.add_trace(go.Scatter(
            x=[x["predicted"] for x in g], y=y, mode="markers+lines", name="risk groups (observed, 95% CI)",
            legendgroup="obs", showlegend=k == 0, marker=dict(color="#0072B2", size=10),
            line=dict(color="#0072B2", width=1),
            error_y=dict(type="data", symmetric=False, array=hi - y, arrayminus=y - lo, thickness=1),
            text=[f"group {x['group']} (n={x['n']})" for x in g], meta={"role": "calibration", "years": c["years"]},
            hovertemplate="%{text}<br>predicted %{x:.2f}, observed %{y:.2f}<extra></extra>"), row=1, col=k + 1)
    fig.update_xaxes(range=[0, 1.02], title_text="Mean predicted survival")
    fig.update_yaxes(range=[0, 1.05])
    fig.update_yaxes(title_text="Observed (Kaplan-Meier, 95% CI)", row=1, col=1)
    fig.update_layout(height=420, margin=dict(l=60, r=20, t=80, b=50),
                      title=dict(text=title or "Calibration (groups by predicted risk)"))
    return fig
