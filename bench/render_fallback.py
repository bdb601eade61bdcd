"""Benchmark 3 fallback: server time per slice / overlay change, timed on ``model.render``.

Used only when ``bench/viewer.py`` (owned by the viewer work, which times the real page rerun)
is absent. A slice change re-renders the slice and encodes it as Streamlit does (JPEG for an
RGB array); an overlay change re-renders the slice with the attribution overlay at a new
opacity.
"""

from __future__ import annotations

import io

import numpy as np

from bench.common import median, timed


def _encode(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def bench_slice_change(study, overlay: np.ndarray | None = None, repeats: int = 30) -> dict:
    from model.render import IntensityStats, render

    seq = "FLAIR" if "FLAIR" in study.volumes else study.sequences[0]
    vol = study.volumes[seq]
    level, width = IntensityStats.of(vol.data).preset("Auto (0.5-99.5 %)")
    n = vol.shape[2]
    idx = iter(range(10**9))

    def slice_change():
        z = next(idx) % n
        return _encode(render(vol.data, vol.spacing_mm, "axial", z, level, width))

    t_slice, _ = timed(slice_change, repeats, 3)
    if overlay is None:
        overlay = np.clip(vol.data / max(float(vol.data.max()), 1e-6), 0, 1).astype(np.float32)
    ops = iter(np.linspace(0.1, 0.9, 7).tolist() * 1000)

    def overlay_change():
        return _encode(render(vol.data, vol.spacing_mm, "axial", n // 2, level, width,
                              overlay=overlay, opacity=next(ops)))

    t_overlay, _ = timed(overlay_change, repeats, 3)
    return {"slice_change_ms": 1000 * median(t_slice), "overlay_change_ms": 1000 * median(t_overlay),
            "source": "bench/render_fallback.py (model.render.render + JPEG encode)"}
