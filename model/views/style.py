"""The two looks of a Plotly figure: on a page (Streamlit's theme, dark or light) and in print
(a static PNG, always light).

Figures of :mod:`model.views` are built for the page: no template, no paper, plot or text
colour of their own, so ``st.plotly_chart(fig, theme="streamlit")`` (Streamlit's default)
gives them the app's background, fonts and grid in the dark and in the light theme alike.
Lines that must stand out from any background use :data:`INK`, a mid grey with about the same
contrast on white and on Streamlit's dark background, and :data:`GUIDE` for reference lines;
bands use :data:`BAND`. Only a static export (:func:`model.views.export.figure_png`) turns a
figure into print: :func:`print_style` puts it on Plotly's light ``plotly_white`` template
with black ink, whatever template the figure carried (in the app's process every new figure
carries Streamlit's template, whose colours are placeholders only the browser fills in).
"""

from __future__ import annotations

import plotly.graph_objects as go
import plotly.io as pio

__all__ = ["INK", "GUIDE", "BAND", "STYLES", "print_style", "styled"]

#: Foreground lines and markers (the whole cohort, "this patient", observed events): #808080
#: has a WCAG contrast of 3.9 on white and 4.9 on Streamlit's dark background (#0e1117).
INK = "#808080"
#: Reference lines (chance, HR = 1, perfect calibration): lighter than INK on both.
GUIDE = "rgba(128,128,128,0.7)"
#: Confidence bands of INK curves.
BAND = "rgba(128,128,128,0.22)"
#: The looks a figure can be given: "screen" (as built, for Streamlit's theme) or "print".
STYLES = ("screen", "print")
_PRINT_INK = "#000000"


def print_style(fig: go.Figure) -> go.Figure:
    """A copy of ``fig`` in print style: Plotly's ``plotly_white`` template (white paper, dark
    text and grid), and :data:`INK` lines, markers and text drawn black. ``fig`` is unchanged.

    Parameters
    ----------
    fig : plotly.graph_objects.Figure

    Returns
    -------
    plotly.graph_objects.Figure
    """
    out = go.Figure(fig)
    out.layout.template = pio.templates["plotly_white"]
    # Colours are compared as written by this package's figure functions.
    js = out.to_plotly_json()
    text = _swap(js, INK, _PRINT_INK)
    return go.Figure(text)


def _swap(obj, old: str, new: str):
    if isinstance(obj, dict):
        return {k: _swap(v, old, new) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_swap(v, old, new) for v in obj]
    return new if isinstance(obj, str) and obj.lower() == old else obj


def styled(fig: go.Figure, style: str = "screen") -> go.Figure:
    """``fig`` as built (``"screen"``) or its :func:`print_style` copy (``"print"``).

    Raises
    ------
    ValueError
        ``style`` is not one of :data:`STYLES`.
    """
    if style not in STYLES:
        raise ValueError(f"Unknown figure style {style!r}; use one of {STYLES}.")
    return fig if style == "screen" else print_style(fig)
