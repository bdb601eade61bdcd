"""Figures of the Model page (Plotly), drawn from the reports training writes next to a
checkpoint: ``cv.json`` (``training.cv``) and ``attribution_eval.json``
(``training.attribution_eval``)."""

from __future__ import annotations

import plotly.graph_objects as go

__all__ = ["cv_fold_auc_figure", "attribution_curve_figure", "segment_dice_figure"]

_MARGIN = dict(l=10, r=10, t=40, b=10)


def cv_fold_auc_figure(cv: dict) -> go.Figure:
    """Box plot (every fold shown) of each design's held-out ROC AUC per fold, chance dashed.

    Parameters
    ----------
    cv : dict
        Parsed ``cv.json``; ``cv["variants"][name]["per_fold"]`` lists dicts with ``roc_auc``.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    fig = go.Figure()
    for name, v in cv["variants"].items():
        fig.add_trace(go.Box(y=[f["roc_auc"] for f in v.get("per_fold", [])], name=v.get("name", name),
                             boxpoints="all", jitter=0.3, pointpos=0))
    fig.add_hline(y=0.5, line_dash="dash", line_color="gray", annotation_text="chance")
    fig.update_layout(title="ROC AUC of each fold's held-out patients", yaxis_title="ROC AUC",
                      yaxis_range=[0, 1], height=320, showlegend=False, margin=_MARGIN)
    return fig


def attribution_curve_figure(ev: dict, kind: str) -> go.Figure:
    """Deletion or insertion curve of every attribution method and of random blocks.

    Parameters
    ----------
    ev : dict
        Parsed ``attribution_eval.json``: ``fractions`` (x), ``methods[m][f"{kind}_curve"]``
        and ``random[f"{kind}_curve"]`` (mean probability of the predicted class).
    kind : {"deletion", "insertion"}

    Returns
    -------
    plotly.graph_objects.Figure

    Raises
    ------
    KeyError
        ``ev`` has no curve of that kind.
    """
    fr = ev["fractions"]
    fig = go.Figure()
    for m, r in ev["methods"].items():
        fig.add_trace(go.Scatter(x=fr, y=r[f"{kind}_curve"], mode="lines+markers", name=m))
    fig.add_trace(go.Scatter(x=fr, y=ev["random"][f"{kind}_curve"], mode="lines", name="random",
                             line=dict(dash="dash", color="gray")))
    fig.update_layout(title=f"{kind.capitalize()} curve (mean of {ev['n_patients']} held-out patients)",
                      xaxis_title=f"fraction of foreground pixels {'removed' if kind == 'deletion' else 'restored'}",
                      yaxis_title="probability of the predicted class", height=320, margin=_MARGIN)
    return fig


def segment_dice_figure(groups: dict[str, dict[str, float]],
                        anchors: dict[str, float] | None = None) -> go.Figure:
    """Per-patient Dice of the segmentation model: one box per group with every patient shown
    (hover: patient id), dotted lines at the ``anchors`` (e.g. Buda et al. 2019's mean 0.836,
    the goal 0.85). No template: the page draws it with Streamlit's theme.

    Parameters
    ----------
    groups : dict
        Group label (e.g. "held-out test (18)") -> {patient id: Dice}.
    anchors : dict, optional
        Line label -> Dice.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    fig = go.Figure()
    for label, per_patient in groups.items():
        ids = list(per_patient)
        fig.add_trace(go.Box(y=[per_patient[i] for i in ids], name=label, text=ids,
                             boxpoints="all", jitter=0.4, pointpos=0, boxmean=True,
                             hovertemplate="%{text}: Dice %{y:.3f}<extra></extra>"))
    for i, (label, value) in enumerate((anchors or {}).items()):
        fig.add_hline(y=value, line_dash="dot", line_color="gray", annotation_text=f"{label} {value:.3f}",
                      annotation_position="bottom right" if i % 2 else "top right")
    fig.update_layout(title="Dice per patient (box: quartiles, dashed: mean)", yaxis_title="Dice",
                      yaxis_range=[0, 1.02], height=380, showlegend=False, margin=_MARGIN)
    return fig
