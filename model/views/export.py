"""Static export of figures (kaleido): :func:`figure_png`.

No Streamlit here; the page shows a message when :class:`FigureExportError` is raised.
"""

from __future__ import annotations

import plotly.graph_objects as go

__all__ = ["FigureExportError", "figure_png"]


class FigureExportError(RuntimeError):
    """Static export of a figure failed (kaleido missing, no Chrome/Chromium, timeout...)."""


def figure_png(fig: go.Figure, width: int = 1000, height: int | None = None, scale: float = 2.0) -> bytes:
    """PNG bytes of a Plotly figure via kaleido (needs a Chrome; finds ``/usr/bin/chromium``).

    Parameters
    ----------
    fig : plotly.graph_objects.Figure
    width : int
        Width in CSS pixels.
    height : int, optional
        Height in CSS pixels; default the figure's own height (or 600).
    scale : float
        Pixel density (2 = retina).

    Returns
    -------
    bytes
        A PNG file (``width * scale`` x ``height * scale`` pixels).

    Raises
    ------
    FigureExportError
        The export failed; the message gives the underlying reason, so callers can show it
        instead of a download button.
    """
    h = int(height or fig.layout.height or 600)
    try:
        png = fig.to_image(format="png", width=int(width), height=h, scale=scale)
    except Exception as exc:  # noqa: BLE001 - kaleido raises many types (no Chrome, timeouts...)
        raise FigureExportError(f"PNG export failed ({type(exc).__name__}: {exc})") from exc
    if not png.startswith(b"\x89PNG"):
        raise FigureExportError("PNG export returned no PNG data.")
    return png
