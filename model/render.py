"""Slice rendering for the viewer: RAS volume -> displayable RGB image (numpy only).

Views follow the radiological convention (patient's right on the image's left) with anterior
(axial) or superior (coronal, sagittal) at the top; sagittal images have anterior on the left.
Pixels are resampled to square millimetres so anisotropic volumes (e.g. 5.5 mm slices) keep
their true aspect. Window/level maps [level - width/2, level + width/2] to black..white.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

VIEWS = ("axial", "coronal", "sagittal")
#: Edge letters (top, bottom, left, right) of each view in the radiological convention.
EDGE_LETTERS = {
    "axial": ("A", "P", "R", "L"),
    "coronal": ("S", "I", "R", "L"),
    "sagittal": ("S", "I", "A", "P"),
}


def view_axis(view: str) -> int:
    """RAS array axis that a view slices through (axial 2, coronal 1, sagittal 0)."""
    return {"axial": 2, "coronal": 1, "sagittal": 0}[view]


def extract_slice(data: np.ndarray, view: str, index: int) -> np.ndarray:
    """2D display array (rows, cols) of a RAS volume (X, Y, Z) for ``view`` at ``index``.

    axial: rows = -Y (anterior top), cols = -X (right on the left);
    coronal: rows = -Z (superior top), cols = -X; sagittal: rows = -Z, cols = -Y (anterior left).
    """
    if view == "axial":
        img = data[:, :, index].T
    elif view == "coronal":
        img = data[:, index, :].T
    elif view == "sagittal":
        img = data[index, :, :].T
    else:
        raise ValueError(f"Unknown view {view!r}; use one of {VIEWS}.")
    return img[::-1, ::-1]


def pixel_spacing(spacing_mm: tuple[float, float, float], view: str) -> tuple[float, float]:
    """(row, col) spacing in mm of :func:`extract_slice` images."""
    sx, sy, sz = spacing_mm
    return {"axial": (sy, sx), "coronal": (sz, sx), "sagittal": (sz, sy)}[view]


def auto_window(data: np.ndarray, low: float = 0.5, high: float = 99.5) -> tuple[float, float]:
    """(level, width) from percentiles of the non-background voxels."""
    flat = data.reshape(-1)[:: max(1, data.size // 1_000_000)]
    fg = flat[flat > flat.min()]
    if fg.size < 10:
        fg = flat
    lo, hi = np.percentile(fg, [low, high])
    width = max(float(hi - lo), 1e-6)
    return float(lo + width / 2), width


def _colormap(values: np.ndarray) -> np.ndarray:
    """'hot'-like colormap of values in [0, 1] -> (..., 3) float in [0, 1]."""
    v = np.clip(values, 0, 1)[..., None]
    return np.concatenate([np.clip(3 * v, 0, 1), np.clip(3 * v - 1, 0, 1), np.clip(3 * v - 2, 0, 1)], -1)


def render(data: np.ndarray, spacing_mm, view: str, index: int, level: float, width: float,
           overlay: np.ndarray | None = None, opacity: float = 0.5, threshold: float = 0.2,
           out_px: int = 320) -> np.ndarray:
    """Render one slice with an optional overlay.

    Args:
        data: float32 RAS volume (X, Y, Z).
        spacing_mm: voxel size (mm) along X, Y, Z.
        view, index: see :func:`extract_slice`.
        level, width: window centre and width in image units.
        overlay: optional float RAS volume of the same shape with values in [0, 1]; values
            below ``threshold`` are transparent.
        opacity: overlay opacity in [0, 1].
        out_px: length in pixels of the longer side of the output.
    Returns:
        uint8 RGB image (rows, cols, 3) with square pixels.
    """
    img = extract_slice(data, view, index).astype(np.float32)
    g = np.clip((img - (level - width / 2)) / width, 0, 1)
    rgb = np.repeat(g[..., None], 3, axis=-1)
    if overlay is not None:
        ov = extract_slice(overlay, view, index)
        alpha = (opacity * (ov >= threshold))[..., None]
        rgb = (1 - alpha) * rgb + alpha * _colormap(ov)
    rs, cs = pixel_spacing(spacing_mm, view)
    h_mm, w_mm = img.shape[0] * rs, img.shape[1] * cs
    scale = out_px / max(h_mm, w_mm)
    size = (max(1, round(w_mm * scale)), max(1, round(h_mm * scale)))
    pil = Image.fromarray((rgb * 255).astype(np.uint8)).resize(size, Image.BILINEAR)
    return np.asarray(pil)
