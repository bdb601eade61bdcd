"""Figures of one prediction (Plotly): class probabilities, sequence weights, slice attention.

Each function draws a :class:`model.inference.classify.Prediction` as it is; nothing is
computed but the layout.
"""

from __future__ import annotations

import plotly.graph_objects as go

__all__ = ["probability_figure", "sequence_weight_figure", "slice_attention_figure"]

_MARGIN = dict(l=10, r=10, t=40, b=10)


def probability_figure(prediction) -> go.Figure:
    """Horizontal bars of the class probabilities.

    Parameters
    ----------
    prediction : Prediction
        Its ``probabilities`` (class -> probability in [0, 1]) are drawn.

    Returns
    -------
    plotly.graph_objects.Figure
        x axis 0-1, one bar per class labelled with its probability.
    """
    probs = prediction.probabilities
    fig = go.Figure(go.Bar(x=list(probs.values()), y=list(probs), orientation="h",
                           text=[f"{v:.2f}" for v in probs.values()]))
    fig.update_layout(title="Class probabilities", xaxis_range=[0, 1], height=250, margin=_MARGIN)
    return fig


def sequence_weight_figure(prediction) -> go.Figure:
    """Bars of the attention-fusion weight of each sequence used (weights sum to 1).

    Parameters
    ----------
    prediction : Prediction
        Its ``sequence_weights`` (sequence -> weight in [0, 1]) are drawn.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    w = prediction.sequence_weights
    fig = go.Figure(go.Bar(x=list(w), y=list(w.values()), text=[f"{v:.2f}" for v in w.values()]))
    fig.update_layout(title="Sequence weights (attention fusion, this case)", yaxis_range=[0, 1],
                      height=250, margin=_MARGIN)
    return fig


def slice_attention_figure(prediction) -> go.Figure:
    """Slice-attention weight against the axial slice index, one line per sequence, with the
    most attended slice annotated and the uniform weight 1/K dotted.

    Parameters
    ----------
    prediction : Prediction
        Its ``slice_weights`` (sequence -> list of ``(z, weight)``, z the axial voxel index of
        the RAS volume) are drawn.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    fig = go.Figure()
    for s, pairs in prediction.slice_weights.items():
        fig.add_trace(go.Scatter(x=[z for z, _ in pairs], y=[w for _, w in pairs],
                                 mode="lines+markers", name=s))
        z_top, w_top = max(pairs, key=lambda zw: zw[1])
        fig.add_annotation(x=z_top, y=w_top, text=f"{s} max z={z_top}", showarrow=True, arrowhead=2)
    k = max(len(p) for p in prediction.slice_weights.values())
    fig.add_hline(y=1 / k, line_dash="dot", annotation_text="uniform 1/K")
    fig.update_layout(xaxis_title="axial slice index (RAS volume, z)", yaxis_title="attention weight",
                      height=300, margin=dict(l=10, r=10, t=30, b=10))
    return fig
