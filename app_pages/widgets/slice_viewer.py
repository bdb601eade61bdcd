"""The Viewer page's browser viewer: a Streamlit custom component (``st.components.v2``) whose
frontend is ``app_pages/widgets/slice_viewer/viewer.js`` + ``viewer.css`` (plain ES module, no build
step, no CDN). The study goes to the browser once as :mod:`model.views.viewer_payload`'s
container; slices, windows, crosshair, zoom, pan and measurements are then painted there.

What comes back to Python (component state, each a rerun of the caller's fragment):
``crosshair`` = ``{"mm": [x, y, z], "seq", "convention"}`` after the user pauses, and
``measurements`` = the list of distances and RANO measurements (``window.tbViewer.measurements()``
in the page) whenever one is completed or deleted.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

NAME = "tumorboard.slice_viewer"
_DIR = Path(__file__).with_name("slice_viewer")
_SOURCES: dict = {}


def _source(name: str) -> str:
    """A frontend file's text, read again only when it changes on disk."""
    p = _DIR / name
    mtime = p.stat().st_mtime_ns
    hit = _SOURCES.get(name)
    if hit is None or hit[0] != mtime:
        hit = _SOURCES[name] = (mtime, p.read_text(encoding="utf-8"))
    return hit[1]


def slice_viewer(payload: bytes, key: str = "viewer_client"):
    """Mount the viewer with a payload (:func:`model.views.viewer_payload.build_payload`).

    Registering is per server runtime and idempotent for an unchanged definition, so it happens
    on every call (a module-level registration would miss a restarted runtime, e.g. in tests).

    Returns
    -------
    streamlit ComponentResult
        dict-like; ``.get("crosshair")`` and ``.get("measurements")`` as in the module docstring
        (None until the browser reports).
    """
    mount = st.components.v2.component(NAME, css=_source("viewer.css"), js=_source("viewer.js"))
    return mount(data=payload, key=key, on_crosshair_change=_noop, on_measurements_change=_noop)


def _noop() -> None:
    """State names exist only with a callback; the caller reads the values after the call."""
