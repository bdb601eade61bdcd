"""Tumour size from a label map: volume, extent, RANO-style bidimensional product, centroid, side.

Pure functions on a :class:`~model.imaging.labelmap.LabelMap` (no model, no page logic).

Conventions
-----------
* Every non-zero label counts as tumour.
* ``extent_mm``: size of the labelled region along the world R, A, S axes, edge to edge (the
  spread of voxel centres plus one voxel's footprint on that axis), so a box of ``n`` voxels
  of ``s`` mm is ``n * s`` mm long.
* Axial cross-sections are the planes of voxel axis 2 (after RAS reorientation the voxel axis
  closest to Superior). The largest is the one with the most labelled voxels (first on ties).
  On it, following RANO (Wen et al., J Clin Oncol 2010), the **longest diameter** and the
  **longest diameter perpendicular to it** are measured on the convex hull of the labelled
  voxels' corners (edge to edge, in mm in the plane); the bidimensional product is their
  product (mm²). For a non-convex lesion this is the diameter of its convex outline.
* ``centroid_mm``: world (scanner RAS, mm) position of the mean labelled voxel centre.
* ``side``: from the centroid's world x against a midline x. The midline is ``midline_x_mm``
  when given (e.g. :func:`head_midline_x_mm` of the FLAIR volume: the centre of the head's /
  brain's bounding box along x), otherwise the world x of the
  centre of the label map's grid (the volume centre; BraTS-style and most clinical studies are
  roughly centred on the head, but an off-centre field of view shifts it). x > midline + 5 mm
  is ``"right"`` (RAS: +x points to the patient's right), x < midline - 5 mm ``"left"``,
  otherwise ``"midline"``.
* ``geometry_known`` False (placeholder or unknown voxel size / orientation): every mm / mL
  field and ``side`` are None and :attr:`TumourSize.message` says sizes are unknown; voxel
  counts are still given.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from model.imaging.labelmap import LabelMap

#: Half-width of the "midline" band (mm) for :attr:`TumourSize.side`.
MIDLINE_BAND_MM = 5.0

__all__ = ["TumourSize", "tumour_size", "bidimensional", "head_midline_x_mm", "MIDLINE_BAND_MM"]


@dataclass(frozen=True)
class TumourSize:
    """Size of a labelled tumour (see the module docstring for every convention).

    Attributes:
        n_voxels: labelled voxels.
        geometry_known: False -> every mm / mL field below is None.
        volume_ml: n_voxels x voxel volume (mL = cm³).
        extent_mm: (R-L, A-P, S-I) edge-to-edge extent in mm.
        longest_diameter_mm, perpendicular_diameter_mm: RANO diameters on the largest axial
            cross-section.
        bidimensional_mm2: their product.
        axial_slice: voxel index (axis 2) of the largest axial cross-section; None when empty.
        centroid_mm: world RAS (mm) of the labelled voxels' mean centre.
        side: "left", "right" or "midline" (patient's side), None when empty or unknown.
        midline_x_mm: the world x the side was judged against.
        midline_source: "given" or "volume centre".
    """

    n_voxels: int
    geometry_known: bool
    volume_ml: float | None = None
    extent_mm: tuple[float, float, float] | None = None
    longest_diameter_mm: float | None = None
    perpendicular_diameter_mm: float | None = None
    bidimensional_mm2: float | None = None
    axial_slice: int | None = None
    centroid_mm: tuple[float, float, float] | None = None
    side: str | None = None
    midline_x_mm: float | None = None
    midline_source: str | None = None

    @property
    def empty(self) -> bool:
        return self.n_voxels == 0

    @property
    def message(self) -> str:
        """One line for the user."""
        if self.empty:
            return "No abnormality found."
        if not self.geometry_known:
            return (f"{self.n_voxels} voxels labelled; sizes are unknown because the study's "
                    "voxel size / orientation is a placeholder or unknown.")
        return (f"{self.volume_ml:.1f} mL; {self.longest_diameter_mm:.0f} x "
                f"{self.perpendicular_diameter_mm:.0f} mm on the largest axial cross-section "
                f"({self.bidimensional_mm2:.0f} mm²); {self.side}.")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["message"] = self.message
        return d


def _hull_points(pts: np.ndarray) -> np.ndarray:
    """Convex hull vertices (counter-clockwise) of 2D points, monotone chain."""
    pts = np.unique(np.round(pts, 9), axis=0)
    if len(pts) <= 2:
        return pts
    pts = pts[np.lexsort((pts[:, 1], pts[:, 0]))]

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower, upper = [], []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(tuple(p))
    for p in pts[::-1]:
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(tuple(p))
    return np.array(lower[:-1] + upper[:-1], dtype=float)


def bidimensional(plane: np.ndarray, spacing_xy: tuple[float, float]) -> tuple[float, float]:
    """Longest diameter and longest diameter perpendicular to it (mm) of a 2D mask.

    Measured on the convex hull of the labelled pixels' corners (edge to edge); the
    perpendicular diameter is the longest chord of that hull perpendicular to the longest one.

    Args:
        plane: 2D boolean mask (axis 0 = x, axis 1 = y).
        spacing_xy: pixel size in mm along the two axes.
    Returns:
        ``(longest_mm, perpendicular_mm)``; ``(0.0, 0.0)`` when the plane is empty.
    """
    ii, jj = np.nonzero(plane)
    if ii.size == 0:
        return 0.0, 0.0
    sx, sy = float(spacing_xy[0]), float(spacing_xy[1])
    corners = np.concatenate([np.stack([(ii + dx) * sx, (jj + dy) * sy], 1)
                              for dx in (0, 1) for dy in (0, 1)])
    hull = _hull_points(corners)
    d = np.linalg.norm(hull[:, None, :] - hull[None, :, :], axis=-1)
    a, b = np.unravel_index(int(np.argmax(d)), d.shape)
    longest = float(d[a, b])
    if longest == 0:
        return 0.0, 0.0
    axis = (hull[b] - hull[a]) / longest
    normal = np.array([-axis[1], axis[0]])
    t = hull @ axis            # position along the longest diameter
    w = hull @ normal          # position across it
    n = len(hull)
    best = 0.0
    for t0 in t:               # the chord length is piecewise linear in t: max at a vertex
        ws = []
        for k in range(n):
            t1, t2, w1, w2 = t[k], t[(k + 1) % n], w[k], w[(k + 1) % n]
            if (t1 - t0) * (t2 - t0) <= 0:
                if abs(t2 - t1) < 1e-12:
                    ws += [w1, w2]
                else:
                    ws.append(w1 + (t0 - t1) / (t2 - t1) * (w2 - w1))
        if ws:
            best = max(best, max(ws) - min(ws))
    return longest, float(best)


def head_midline_x_mm(volume) -> float:
    """World x (mm) of the centre of a volume's head (or brain) bounding box along voxel axis 0:
    voxels above 5 % of the range between the minimum and the 99th percentile. A midline for
    :func:`tumour_size` that does not depend on where the field of view is centred.

    Args:
        volume: anything with ``data`` (X, Y, Z) and ``affine`` (a
            :class:`model.imaging.volume.Volume`).
    """
    data = np.asarray(volume.data)
    sample = data[::2, ::2, ::2]
    lo, hi = float(sample.min()), float(np.percentile(sample, 99))
    fg = np.flatnonzero((data > lo + 0.05 * (hi - lo)).any(axis=(1, 2)))
    centre_i = (fg[0] + fg[-1]) / 2.0 if fg.size else (data.shape[0] - 1) / 2.0
    centre = np.array([centre_i, (data.shape[1] - 1) / 2.0, (data.shape[2] - 1) / 2.0])
    aff = np.asarray(volume.affine, dtype=float)
    return float((aff[:3, :3] @ centre + aff[:3, 3])[0])


def tumour_size(labelmap: LabelMap, midline_x_mm: float | None = None) -> TumourSize:
    """Size of the labelled region of ``labelmap`` (conventions in the module docstring)."""
    arr = np.asarray(labelmap.array) > 0
    n = int(arr.sum())
    known = bool(labelmap.geometry_known)
    if n == 0 or not known:
        axial = int(np.argmax(arr.sum(axis=(0, 1)))) if n else None
        return TumourSize(n_voxels=n, geometry_known=known, axial_slice=axial,
                          volume_ml=0.0 if known else None)
    aff = labelmap.affine
    idx = np.argwhere(arr).astype(np.float64)                      # (n, 3) voxel indices
    world = idx @ aff[:3, :3].T + aff[:3, 3]
    footprint = np.abs(aff[:3, :3]).sum(axis=1)                      # one voxel along R, A, S
    extent = tuple(float(v) for v in world.max(0) - world.min(0) + footprint)
    centroid = tuple(float(v) for v in world.mean(0))
    axial = int(np.argmax(arr.sum(axis=(0, 1))))
    sp = labelmap.spacing_mm
    longest, perp = bidimensional(arr[:, :, axial], (sp[0], sp[1]))
    if midline_x_mm is None:
        centre = (np.array(arr.shape, dtype=float) - 1) / 2.0
        midline_x_mm, source = float((aff[:3, :3] @ centre + aff[:3, 3])[0]), "volume centre"
    else:
        midline_x_mm, source = float(midline_x_mm), "given"
    dx = centroid[0] - midline_x_mm
    side = "right" if dx > MIDLINE_BAND_MM else "left" if dx < -MIDLINE_BAND_MM else "midline"
    return TumourSize(
        n_voxels=n, geometry_known=True, volume_ml=n * labelmap.voxel_volume_ml, extent_mm=extent,
        longest_diameter_mm=longest, perpendicular_diameter_mm=perp,
        bidimensional_mm2=longest * perp, axial_slice=axial, centroid_mm=centroid, side=side,
        midline_x_mm=midline_x_mm, midline_source=source)
