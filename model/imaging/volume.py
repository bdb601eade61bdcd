"""One MRI sequence on its voxel grid: :class:`Volume`, and the checks that make one.

:func:`make_volume` is where every reader ends: it validates intensities (finite, not
constant, not CT-like) and geometry (a usable affine, shear within
:data:`MAX_SHEAR_DEG`, resampled onto an orthogonal grid with MONAI otherwise) and reorients
the array to RAS+ with nibabel's ``orientations`` (the operation of
``nibabel.as_closest_canonical``), keeping the affine, so voxel ``(i, j, k)`` of
``Volume.data`` lies at ``Volume.affine @ (i, j, k, 1)`` in scanner millimetres.
"""

from __future__ import annotations

import warnings as _warnings
from dataclasses import dataclass, field
from typing import Sequence

import nibabel as nib
import numpy as np
from nibabel import orientations as nio

from model.core import config
from model.core.errors import EmptyStudyError, GeometryError, NotMRIError, WrongDimensionsError
from model.core.warnings import GeometryWarning
from model.imaging.io.sniff import looks_like_ct


@dataclass(frozen=True)
class Volume:
    """One MRI sequence of a study, reoriented to RAS+.

    Attributes
    ----------
    sequence
        one of :data:`model.imaging.sequences.SEQUENCES` (``""`` while not yet assigned, see
        :func:`model.imaging.io.uploads.read_uploads`).
    data
        float32 array of shape (X, Y, Z); axis 0 points to the patient's Right,
        axis 1 Anterior, axis 2 Superior. Intensities as stored, after scl_slope/scl_inter
        (NIfTI) or RescaleSlope/RescaleIntercept (DICOM). Z is 1 for a one-slice study.
    affine
        float64 (4, 4) voxel-to-world (scanner RAS, mm) matrix of ``data``.
    source_name
        de-identified display name: the file name as uploaded (no directories),
        plus ``" › series N (description)"`` or ``" › channel i/n"`` when one upload holds
        several volumes. Never header contents other than a scrubbed series description.
    source_orientation
        orientation codes of the file before reorientation, e.g. "LPS".
    content_hash
        sha256 (hex) of the bytes the volume was read from (of the voxel data
        and affine for DICOM series).
    warnings
        non-fatal problems found while loading this volume.
    details
        whitelisted technical fields: ``format`` (e.g. "NIfTI-1", "DICOM", "MGH",
        "Analyze", "PNG") and, for DICOM, the fields of
        :data:`model.imaging.io.dicom.DETAIL_FIELDS`.
    geometry_known
        False when the voxel size is unknown or was assumed (no valid affine,
        an identity placeholder affine, zero/NaN DICOM pixel spacing, degenerate DICOM
        orientation, a 2D picture): sizes in mm or mL derived from this volume must then
        say "unknown".
    """

    sequence: str
    data: np.ndarray
    affine: np.ndarray
    source_name: str
    source_orientation: str
    content_hash: str
    warnings: tuple[str, ...] = ()
    details: dict = field(default_factory=dict)
    geometry_known: bool = True

    @property
    def shape(self) -> tuple[int, int, int]:
        """Voxel grid shape (X, Y, Z)."""
        return tuple(int(s) for s in self.data.shape)  # type: ignore[return-value]

    @property
    def spacing_mm(self) -> tuple[float, float, float]:
        """Voxel size in mm along (X, Y, Z), from the affine's column norms."""
        return tuple(float(v) for v in np.linalg.norm(self.affine[:3, :3], axis=0))  # type: ignore[return-value]

    @property
    def orientation(self) -> str:
        """Orientation codes of ``data`` (always "RAS" after loading)."""
        return "".join(nib.aff2axcodes(self.affine))

    def summary(self) -> dict:
        """Technical, de-identified description: shape, spacing (mm), orientation, source
        orientation, file (display name), format and warnings."""
        return {
            "shape": list(self.shape),
            "spacing_mm": [round(s, 4) for s in self.spacing_mm],
            "orientation": self.orientation,
            "source_orientation": self.source_orientation,
            "file": self.source_name,
            "format": str(self.details.get("format", "")),
            "warnings": list(self.warnings),
            "geometry_known": bool(self.geometry_known),
        }


# ============================================================================ geometry helpers

def _safe_affine(affine, name: str, warns: list[str]) -> np.ndarray:
    a = None if affine is None else np.asarray(affine, dtype=np.float64)
    if (a is None or a.shape != (4, 4) or not np.isfinite(a).all()
            or abs(np.linalg.det(a[:3, :3])) < 1e-9 or np.linalg.norm(a[:3, :3], axis=0).max() > 1e4):
        warns.append(f"{name}: no valid affine in the header; 1 mm voxels assumed and the "
                     "orientation is unknown (left/right may be wrong).")
        return np.eye(4)
    a = a.copy()
    a[3] = [0, 0, 0, 1]
    return a


def resample_array(data: np.ndarray, src_affine: np.ndarray, dst_affine: np.ndarray,
                   dst_shape: Sequence[int], mode: str = "bilinear") -> np.ndarray:
    """Resample a 3D array from one voxel grid to another with MONAI's ``SpatialResample``.

    Parameters
    ----------
    data
        (X, Y, Z) array on the grid of ``src_affine``.
    src_affine, dst_affine
        float (4, 4) voxel-to-world matrices (mm); voxel centres map
        through them (nibabel convention).
    dst_shape
        (X', Y', Z') of the output grid.
    mode
        "bilinear" (trilinear) or "nearest".

    Returns
    -------
    numpy.ndarray
        float32 array of shape ``dst_shape``; points outside the source are 0.
    """
    import torch
    from monai.data import MetaTensor
    from monai.transforms import SpatialResample

    img = MetaTensor(torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32)[None]),
                     affine=torch.as_tensor(np.asarray(src_affine, dtype=np.float64)))
    out = SpatialResample(mode=mode, padding_mode="zeros", dtype=torch.float32)(
        img, dst_affine=torch.as_tensor(np.asarray(dst_affine, dtype=np.float64)),
        spatial_size=tuple(int(s) for s in dst_shape))
    return np.ascontiguousarray(np.asarray(out[0]), dtype=np.float32)


#: Largest deviation from perpendicular (degrees) of voxel axes that is still resampled.
MAX_SHEAR_DEG = 45.0


def _deshear(arr: np.ndarray, affine: np.ndarray, name: str,
             warns: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Resample a volume whose affine has non-perpendicular axes onto an orthogonal grid."""
    m = affine[:3, :3]
    spacing = np.linalg.norm(m, axis=0)
    u = m / spacing
    gram = u.T @ u
    off = np.abs(gram - np.diag(np.diag(gram))).max()
    if off <= 1e-3:
        return arr, affine
    deviation = float(np.degrees(np.arcsin(min(1.0, off))))
    if deviation > MAX_SHEAR_DEG:
        raise GeometryError(
            f"{name}: the voxel axes are {90 - deviation:.0f}° apart instead of 90° (an extremely "
            "sheared affine); the geometry cannot be trusted. Re-export the volume.")
    uu, _, vt = np.linalg.svd(u)
    rot = uu @ vt
    lin = rot * spacing
    corners = np.array([[i, j, k] for i in (0, arr.shape[0] - 1) for j in (0, arr.shape[1] - 1)
                        for k in (0, arr.shape[2] - 1)], dtype=np.float64)
    world = corners @ m.T + affine[:3, 3]
    vox = np.linalg.solve(lin, world.T).T
    vmin, vmax = np.floor(vox.min(0) + 1e-6), np.ceil(vox.max(0) - 1e-6)
    shape = tuple(int(s) for s in (vmax - vmin + 1))
    if int(np.prod(shape)) > config.MAX_VOXELS:
        raise GeometryError(f"{name}: the sheared volume would need {shape} voxels on a regular "
                            "grid, above the limit. Re-export the volume.")
    dst = np.eye(4)
    dst[:3, :3] = lin
    dst[:3, 3] = lin @ vmin
    out = resample_array(arr, affine, dst, shape)
    warns.append(f"{name}: the voxel grid is sheared (axes {deviation:.1f}° from perpendicular); "
                 f"it was resampled (trilinear, MONAI) onto a regular grid of {shape} voxels.")
    return out, dst


def make_volume(arr: np.ndarray, affine, name: str, digest: str, fmt: str,
                warns: list[str], details: dict | None = None, hint: str | None = None,
                geometry_known: bool = True) -> Volume:
    """Validate intensities and geometry of a 3D array and reorient it to RAS+.

    Parameters
    ----------
    arr : numpy.ndarray
        (X, Y, Z) voxels in the file's own axis order, any real dtype (cast to float32).
    affine : array-like or None
        (4, 4) voxel -> world (mm) matrix of ``arr``; None or an unusable one is replaced by
        the identity, with a warning, and the geometry flagged unknown.
    name : str
        Display name used in messages (file name, never header contents).
    digest : str
        sha256 (hex) identifying the source bytes (``Volume.content_hash``).
    fmt : str
        Format for ``details["format"]``, e.g. "NIfTI-1", "DICOM".
    warns : list of str
        Warnings so far; appended to (non-finite voxels, shear, one slice...).
    details : dict, optional
        Whitelisted technical fields.
    hint : str, optional
        Recognised sequence, or None.
    geometry_known : bool
        False when the reader already knows the voxel size was assumed. The returned volume's
        flag is also False when the affine is unusable; a :class:`GeometryWarning` is then
        issued (in addition to the text in ``Volume.warnings``).

    Returns
    -------
    Volume
        float32 data in RAS+ with its affine.

    Raises
    ------
    WrongDimensionsError
        Not a 3D array.
    EmptyStudyError
        No finite value, or a constant image.
    NotMRIError
        CT-like intensities (air near -1000 HU).
    GeometryError
        An extremely sheared affine, or one whose orthogonal grid would be too large.
    """
    arr = np.asarray(arr, dtype=np.float32)
    if arr.ndim != 3 or min(arr.shape) < 1:
        raise WrongDimensionsError(f"{name} is not a 3D volume (shape {arr.shape}).")
    finite = np.isfinite(arr)
    if not finite.all():
        if not finite.any():
            raise EmptyStudyError(f"{name} holds no finite values.")
        warns.append(f"{name}: {int((~finite).sum())} non-finite voxels were set to 0.")
        arr = np.where(finite, arr, 0).astype(np.float32)
    if arr.size == 0 or float(arr.max()) == float(arr.min()):
        raise EmptyStudyError(f"{name} is a constant image (no signal). Upload the MRI volume.")
    if looks_like_ct(arr):
        raise NotMRIError(
            f"{name} has intensities like CT Hounsfield units (air near -1000), not MRI. "
            "TumorBoard reads MRI only.")
    n_warn = len(warns)
    affine = _safe_affine(affine, name, warns)
    geometry_known = geometry_known and len(warns) == n_warn
    if not geometry_known:
        _warnings.warn(f"{name}: the voxel size is unknown (assumed 1 mm); sizes in mm and mL "
                       "derived from it are not reliable.", GeometryWarning, stacklevel=2)
    arr, affine = _deshear(arr, affine, name, warns)
    src_ornt = nio.io_orientation(affine)
    source_orientation = "".join(nio.ornt2axcodes(src_ornt))
    transform = nio.ornt_transform(src_ornt, nio.axcodes2ornt("RAS"))
    ras = np.ascontiguousarray(nio.apply_orientation(arr, transform), dtype=np.float32)
    ras_affine = affine @ nio.inv_ornt_aff(transform, arr.shape)
    if 1 in ras.shape[:3]:
        if not any("one-slice" in w for w in warns):
            warns.append(f"{name}: a single 2D slice, loaded as a one-slice study. The model sees "
                         "this one slice only, and the other two views are not meaningful. Upload "
                         "the 3D volume if you have it.")
        if ras.shape[2] != 1:
            plane = "sagittal" if ras.shape[0] == 1 else "coronal"
            warns.append(f"{name}: this slice is {plane}; the model reads axial slices, so its "
                         "prediction for it is not meaningful.")
    return Volume(sequence=hint or "", data=ras, affine=ras_affine, source_name=name,
                  source_orientation=source_orientation, content_hash=digest,
                  warnings=tuple(dict.fromkeys(warns)), details={"format": fmt, **(details or {})},
                  geometry_known=geometry_known)


def _world_bounds(vol: Volume) -> tuple[np.ndarray, np.ndarray]:
    corners = np.array(
        [[i, j, k, 1.0] for i in (-0.5, vol.shape[0] - 0.5) for j in (-0.5, vol.shape[1] - 0.5)
         for k in (-0.5, vol.shape[2] - 0.5)]
    )
    world = (vol.affine @ corners.T)[:3].T
    return world.min(axis=0), world.max(axis=0)


def fov_overlap(a: Volume, b: Volume) -> float:
    """Fraction (0-1) of the smaller field of view (world bounding box, mm³) that lies inside
    the other one. 0 means the two volumes do not overlap at all (not co-registered)."""
    lo_a, hi_a = _world_bounds(a)
    lo_b, hi_b = _world_bounds(b)
    inter = np.clip(np.minimum(hi_a, hi_b) - np.maximum(lo_a, lo_b), 0, None).prod()
    smaller = min((hi_a - lo_a).prod(), (hi_b - lo_b).prod())
    return float(inter / smaller) if smaller > 0 else 0.0


def same_grid(a: Volume, b: Volume) -> bool:
    """True when two volumes share shape and affine (within 1e-3): voxel (i, j, k) is the same
    place in both."""
    return a.shape == b.shape and np.allclose(a.affine, b.affine, atol=1e-3)


