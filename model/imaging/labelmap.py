"""Label maps (segmentation masks) on a volume's voxel grid.

A :class:`LabelMap` is an integer label per voxel on exactly the grid of one
:class:`model.imaging.volume.Volume` (same shape, same affine), so voxel ``(i, j, k)`` of the
mask and of the image are the same place. Label maps are resampled with nearest-neighbour
interpolation only (labels are categories, not intensities).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.core.errors import StudyError


@dataclass(frozen=True, eq=False)
class LabelMap:
    """An integer label per voxel (0 = background) on a volume's grid.

    Parameters
    ----------
    array : numpy.ndarray
        uint8, shape (X, Y, Z), in RAS+ voxel order like ``Volume.data`` (axis 0 towards the
        patient's Right, 1 Anterior, 2 Superior). Other integer or boolean arrays whose values
        fit in 0-255 are converted.
    affine : numpy.ndarray
        float64, shape (4, 4): voxel -> world (scanner RAS, mm), the affine of the volume the
        labels were drawn or predicted on.
    name : str
        Display name (e.g. ``"predicted tumour (FLAIR)"``); never header contents.
    geometry_known : bool
        False when the voxel size or orientation is unknown (copied from the volume); every
        size in mm or mL derived from this map is then unreliable and must say so.

    Raises
    ------
    StudyError
        ``array`` is not 3D, not integer/boolean, or holds values outside 0-255; ``affine``
        is not a finite (4, 4) matrix.
    """

    array: np.ndarray
    affine: np.ndarray
    name: str
    geometry_known: bool = True

    def __post_init__(self):
        arr = np.asarray(self.array)
        if arr.ndim != 3:
            raise StudyError(f"The label map {self.name} is not 3D (shape {arr.shape}).")
        if arr.dtype != np.uint8:
            if arr.dtype.kind not in "biu":
                raise StudyError(f"The label map {self.name} does not hold integer labels "
                                 f"(dtype {arr.dtype}).")
            if arr.size and (int(arr.min()) < 0 or int(arr.max()) > 255):
                raise StudyError(f"The label map {self.name} holds labels outside 0-255.")
            arr = arr.astype(np.uint8)
        aff = np.asarray(self.affine, dtype=np.float64)
        if aff.shape != (4, 4) or not np.isfinite(aff).all():
            raise StudyError(f"The label map {self.name} has no valid (4, 4) affine.")
        object.__setattr__(self, "array", np.ascontiguousarray(arr))
        object.__setattr__(self, "affine", aff)
        object.__setattr__(self, "geometry_known", bool(self.geometry_known))

    # ------------------------------------------------------------------ geometry

    @property
    def shape(self) -> tuple[int, int, int]:
        """Voxel grid shape (X, Y, Z)."""
        return tuple(int(s) for s in self.array.shape)  # type: ignore[return-value]

    @property
    def spacing_mm(self) -> tuple[float, float, float]:
        """Voxel size in mm along (X, Y, Z): the column norms of the affine's 3x3 part."""
        return tuple(float(v) for v in np.linalg.norm(self.affine[:3, :3], axis=0))  # type: ignore[return-value]

    @property
    def voxel_volume_ml(self) -> float:
        """Volume of one voxel in mL (= cm³): ``|det(affine[:3, :3])| / 1000``. Meaningful only
        when :attr:`geometry_known`."""
        return float(abs(np.linalg.det(self.affine[:3, :3]))) / 1000.0

    @property
    def n_voxels(self) -> int:
        """Number of labelled (non-zero) voxels."""
        return int(np.count_nonzero(self.array))

    @property
    def volume_ml(self) -> float | None:
        """Labelled volume in mL (``n_voxels * voxel_volume_ml``), or None when the geometry is
        unknown (a size must then not be shown as a number)."""
        return self.n_voxels * self.voxel_volume_ml if self.geometry_known else None

    def labels(self) -> dict[int, int]:
        """Non-zero label value -> number of voxels, in increasing label order."""
        values, counts = np.unique(self.array[self.array > 0], return_counts=True)
        return {int(v): int(c) for v, c in zip(values, counts)}

    # ------------------------------------------------------------------ constructors

    @classmethod
    def on_grid_of(cls, volume, array: np.ndarray, name: str) -> "LabelMap":
        """A label map on ``volume``'s grid: its affine and geometry flag are copied.

        Parameters
        ----------
        volume : model.imaging.volume.Volume
            The volume the labels belong to (anything with ``shape``, ``affine`` and
            ``geometry_known``).
        array : numpy.ndarray
            Integer or boolean labels, shape ``volume.shape`` (X, Y, Z), RAS+ voxel order.
        name : str
            Display name.

        Raises
        ------
        StudyError
            ``array``'s shape differs from the volume's (one line, both shapes named).
        """
        arr = np.asarray(array)
        vshape = tuple(int(s) for s in volume.shape)
        if tuple(arr.shape) != vshape:
            raise StudyError(f"The label map {name} has shape {tuple(arr.shape)}, not the "
                             f"shape {vshape} of the volume it belongs to.")
        return cls(array=arr, affine=np.array(volume.affine, dtype=np.float64, copy=True),
                   name=name, geometry_known=bool(getattr(volume, "geometry_known", True)))

    def same_grid(self, volume) -> bool:
        """True when this map lies on ``volume``'s grid (shape equal, affine within 1e-3 mm)."""
        return self.shape == tuple(volume.shape) and np.allclose(self.affine, volume.affine, atol=1e-3)


__all__ = ["LabelMap"]
