"""Tumour masks drawn on viewer slices: filled overlay, outline, legend colours, "go to tumour".

A :class:`MaskLayer` is one label volume already on the shown sequence's grid (move a
:class:`~model.imaging.labelmap.LabelMap` there with
:func:`model.imaging.compare.labels_on_grid`), drawn by :func:`model.views.render.render_base`
in one colour: the fill blends that colour with ``opacity`` over every labelled pixel; the
outline paints the boundary pixels (labelled pixels with a 4-neighbour outside the mask or
on the image edge) at full opacity, after the image is resized, so it stays one crisp line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable

import numpy as np
from PIL import Image

#: Legend colours (RGB 0-255), chosen to match Streamlit's named text colours so a page can
#: write the legend as ``:orange[■] model`` / ``:blue[■] uploaded``.
MODEL_RGB = (255, 164, 33)      # Streamlit orange
UPLOADED_RGB = (28, 200, 255)   # light blue (Streamlit's :blue[] text is close)
EXTRA_RGB = ((33, 195, 84), (128, 61, 245), (255, 75, 75))  # green, violet, red
LEGEND_NAMES = {MODEL_RGB: "orange", UPLOADED_RGB: "blue", EXTRA_RGB[0]: "green",
                EXTRA_RGB[1]: "violet", EXTRA_RGB[2]: "red"}

__all__ = ["MaskLayer", "boundary", "blend_fill", "paint_outline", "focus_voxel", "MODEL_RGB",
           "UPLOADED_RGB", "EXTRA_RGB", "LEGEND_NAMES"]


@dataclass(frozen=True, eq=False)
class MaskLayer:
    """One mask to draw on a volume's slices.

    Attributes:
        array: integer labels (X, Y, Z) on the volume's grid (0 = background; every non-zero
            label is drawn in ``rgb``).
        rgb: colour (0-255).
        opacity: fill opacity in [0, 1] (0: no fill).
        outline: draw the boundary at full opacity.
        key: hashable identity for the slice cache (e.g. ``("model", "T2")``).
    """

    array: np.ndarray
    rgb: tuple[int, int, int] = MODEL_RGB
    opacity: float = 0.3
    outline: bool = True
    key: Hashable = None

    def cache_key(self) -> tuple:
        return (self.key if self.key is not None else id(self.array), tuple(self.rgb),
                float(self.opacity), bool(self.outline))


def boundary(lab: np.ndarray) -> np.ndarray:
    """Boundary pixels of a 2D mask: labelled pixels with at least one 4-neighbour that is
    unlabelled or outside the image."""
    m = np.asarray(lab) > 0
    p = np.pad(m, 1, constant_values=False)
    inner = p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
    return m & ~inner


def blend_fill(rgb: np.ndarray, lab: np.ndarray, color, opacity: float) -> np.ndarray:
    """``rgb`` (rows, cols, 3 floats in [0, 1]) with ``color`` blended at ``opacity`` over the
    labelled pixels of ``lab``; unchanged (same object) when opacity is 0 or nothing is
    labelled."""
    sel = np.asarray(lab) > 0
    if opacity <= 0 or not sel.any():
        return rgb
    out = rgb.copy()
    c = np.asarray(color, np.float32) / 255.0
    out[sel] = (1 - opacity) * out[sel] + opacity * c
    return out


def paint_outline(img: np.ndarray, lab: np.ndarray, color) -> np.ndarray:
    """uint8 RGB ``img`` with the boundary of the 2D mask ``lab`` (on the slice's pixel grid)
    painted in ``color``, scaled to the image size with nearest neighbour. Same object when
    the mask is empty."""
    edge = boundary(lab)
    if not edge.any():
        return img
    h, w = img.shape[:2]
    if edge.shape != (h, w):
        edge = np.asarray(Image.fromarray(edge.astype(np.uint8) * 255).resize((w, h), Image.NEAREST)) > 0
    out = img.copy()
    out[edge] = np.asarray(color, np.uint8)
    return out


def focus_voxel(array: np.ndarray) -> tuple[int, int, int] | None:
    """Where "Go to tumour" puts the crosshair: on the largest axial cross-section (voxel
    axis 2 plane with the most labelled voxels; among equal ones the nearest to the mask's
    centroid), at the labelled voxel nearest to that cross-section's centroid (so the
    crosshair is always inside the mask, also for a ring-shaped lesion). None when nothing is
    labelled."""
    m = np.asarray(array) > 0
    if not m.any():
        return None
    counts = m.sum(axis=(0, 1))
    ties = np.flatnonzero(counts == counts.max())
    centre_k = float((counts * np.arange(len(counts))).sum() / counts.sum())
    k = int(ties[np.argmin(np.abs(ties - centre_k))])   # among equal slices, the most central
    ii, jj = np.nonzero(m[:, :, k])
    ci, cj = ii.mean(), jj.mean()
    n = int(np.argmin((ii - ci) ** 2 + (jj - cj) ** 2))
    return int(ii[n]), int(jj[n]), k
