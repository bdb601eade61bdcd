"""Figures of the longitudinal model: a patient's risk after each visit (Plotly).

Draws results of :func:`model.inference.longitudinal.predict_timeline`; computes nothing.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from model.views.style import GUIDE, INK

__all__ = ["RATING_COLOURS", "timeline_figure"]

RATING_COLOURS = {"CR": "#1a9850", "PR": "#91cf60", "SD": "#fdae61", "PD": "#d73027",
                  "Pre-Op": INK, "Post-Op": "#4575b4", "Post-Op/PD": "#7b3294",
                  "missing": "rgba(128,128,128,0.25)"}
_RATING_ORDER = ["missing", "Pre-Op", "Post-Op", "Post-Op/PD", "CR", "PR", "SD", "PD"]


def timeline_figure(timeline: pd.DataFrame, outcome: dict | None = None, title: str = ""):
    """Plotly figure of one patient's timeline from :func:`model.inference.longitudinal.predict_timeline`.

    Top: hazard ratio (log axis, 1 = average training visit) of death and of progression after
    each visit, held until the next visit (step line). Bottom: the RANO rating of each visit as
    coloured markers. Optional dashed lines at the observed death and first PD (``outcome`` of
    :func:`model.inference.longitudinal.observed_outcome`). x axis: weeks since the first visit.
    No template or background colour: the page's theme (print style on export, :mod:`model.views.style`).
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    tl = timeline.sort_values("visit_index")
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.72, 0.28],
                        vertical_spacing=0.06)
    hover = [f"{tp}<br>week {w}<br>RANO {r if isinstance(r, str) else 'missing'}"
             for tp, w, r in zip(tl["Timepoint"], tl["week"], tl["rating"])]
    fig.add_trace(go.Scatter(x=tl["week"], y=tl["os_hr"], mode="lines+markers", line_shape="hv",
                             name="death (OS) hazard ratio", line=dict(color=INK, width=2.5),
                             text=hover, hovertemplate="%{text}<br>OS HR %{y:.2f}<extra></extra>"),
                  row=1, col=1)
    if "ttp_hr" in tl:
        ttp = tl["ttp_hr"].where(~tl["progressed"])  # no meaning once progressed
        fig.add_trace(go.Scatter(x=tl["week"], y=ttp, mode="lines+markers", line_shape="hv",
                                 name="progression hazard ratio (until first PD)",
                                 line=dict(color="#d73027", dash="dot"), text=hover,
                                 hovertemplate="%{text}<br>progression HR %{y:.2f}<extra></extra>"),
                      row=1, col=1)
    fig.add_hline(y=1.0, line=dict(color=GUIDE, width=1), row=1, col=1)
    ratings = [r if isinstance(r, str) else "missing" for r in tl["rating"]]
    for r in _RATING_ORDER:
        sel = [i for i, x in enumerate(ratings) if x == r]
        if not sel:
            continue
        fig.add_trace(go.Scatter(
            x=tl["week"].to_numpy()[sel], y=[r] * len(sel), mode="markers", name=f"RANO {r}",
            marker=dict(color=RATING_COLOURS[r], size=13, line=dict(color=GUIDE, width=1)),
            text=[hover[i] for i in sel], hovertemplate="%{text}<extra></extra>"), row=2, col=1)
    for key, label, colour in (("death_week", "death (observed)", INK),
                               ("first_pd_week", "first PD (observed)", "#d73027")):
        w = (outcome or {}).get(key)
        if w is not None:
            fig.add_vline(x=w, line=dict(color=colour, dash="dash", width=1))
            fig.add_annotation(x=w, y=1.0, yref="paper", text=label, showarrow=False,
                               font=dict(color=colour, size=11), xanchor="left", yanchor="bottom")
    hr = pd.concat([tl["os_hr"], tl.get("ttp_hr", tl["os_hr"])]).to_numpy(dtype=float)
    hr = hr[np.isfinite(hr) & (hr > 0)]
    lo, hi = (math.floor(math.log2(min(hr.min(), 1.0))), math.ceil(math.log2(max(hr.max(), 1.0))))
    ticks = [2.0 ** k for k in range(lo, hi + 1)]
    fig.update_yaxes(type="log", title_text="hazard ratio vs. average<br>training visit",
                     tickvals=ticks, ticktext=[f"{t:g}" for t in ticks], row=1, col=1)
    present = [r for r in _RATING_ORDER if r in ratings]
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=present,
                     tickmode="array", tickvals=present, title_text="RANO", row=2, col=1)
    fig.update_xaxes(title_text="weeks since first visit", row=2, col=1)
    fig.update_layout(title=title, height=560, margin=dict(l=60, r=20, t=60, b=50),
                      legend=dict(orientation="h", y=-0.18))
    return fig
