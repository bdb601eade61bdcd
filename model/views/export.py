"""Static export of figures (kaleido): :func:`figure_png`.

No Streamlit here; the page shows a message when :class:`FigureExportError` is raised.
"""

from __future__ import annotations

import plotly.graph_objects as go

from model.views.style import styled

__all__ = ["FigureExportError", "figure_png"]


class FigureExportError(RuntimeError):
    """Static export of a figure failed (kaleido missing, no Chrome/Chromium, timeout...)."""


def figure_png(fig: go.Figure, width: int = 1000, height: int | None = None, scale: float = 2.0,
               style: str = "print") -> bytes:
    """PNG bytes of a Plotly figure via kaleido (needs a Chrome; finds ``/usr/bin/chromium``).

    A PNG leaves the app's theme behind (it is printed, mailed, put on slides), so by default
    it is drawn in print style (:func:`model.views.style.print_style`: white paper, dark text),
    whatever the theme the page showed the figure in.

    Parameters
    ----------
    fig : plotly.graph_objects.Figure
    width : int
        Width in CSS pixels.
    height : int, optional
        Height in CSS pixels; default the figure's own height (or 600).
    scale : float
        Pixel density (2 = retina).
    style : {"print", "screen"}
        ``"print"`` (default) or the figure as built (``"screen"``).

    Returns
    -------
    bytes
        A PNG file (``width * scale`` x ``height * scale`` pixels).

    Raises
    ------
    FigureExportError
        The export failed; the message gives the underlying reason, so callers can show it
        instead of a download button.
    ValueError
        Unknown ``style``.
    """
    fig = styled(fig, style)
    h = int(height or fig.layout.height or 600)
    try:
        png = fig.to_image(format="png", width=int(width), height=h, scale=scale)
    except Exception as exc:  # noqa: BLE001 - kaleido raises many types (no Chrome, timeouts...)
        raise FigureExportError(f"PNG export failed ({type(exc).__name__}: {exc})") from exc
    if not png.startswith(b"\x89PNG"):
        raise FigureExportError("PNG export returned no PNG data.")
    return png
