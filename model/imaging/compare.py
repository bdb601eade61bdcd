"""Label maps across grids: nearest-neighbour resampling, and one mask compared with another.

* :func:`labels_on_grid` moves a :class:`~model.imaging.labelmap.LabelMap` onto any voxel grid
  (shape + affine) through the two affines, nearest neighbour (labels are categories): target
  voxel ``t`` takes the label of the source voxel nearest to world point ``A_t @ t``; outside
  the source's field of view it is 0.
* :func:`compare_masks` compares an uploaded mask with the model's: Dice of the labelled
  regions (every non-zero label counts) and the volume difference in mL, on the reference
  mask's grid (the other mask is resampled onto it when the grids differ).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from model.imaging.labelmap import LabelMap

__all__ = ["labels_on_grid", "labelmap_on_grid", "MaskComparison", "compare_masks", "dice"]


def labels_on_grid(labelmap: LabelMap, shape, affine) -> np.ndarray:
    """uint8 labels of ``labelmap`` on the grid ``(shape, affine)``, nearest neighbour.

    Parameters
    ----------
    labelmap : LabelMap
        The labels and their grid.
    shape : tuple of int
        (X, Y, Z) of the target grid.
    affine : numpy.ndarray
        (4, 4) voxel -> world (mm) of the target grid.

    Returns
    -------
    numpy.ndarray
        uint8 (X, Y, Z); the same array (no copy) when the grids are equal.
    """
    shape = tuple(int(s) for s in shape)
    affine = np.asarray(affine, dtype=np.float64)
    if labelmap.shape == shape and np.allclose(labelmap.affine, affine, atol=1e-3):
        return labelmap.array
    m = np.linalg.inv(labelmap.affine) @ affine  # target voxel -> source voxel
    # order=0 picks the nearest source voxel; points outside the source are 0.
    return ndimage.affine_transform(labelmap.array, m[:3, :3], offset=m[:3, 3], output_shape=shape,
                                    order=0, mode="constant", cval=0, prefilter=False).astype(np.uint8)


def labelmap_on_grid(labelmap: LabelMap, volume, name: str | None = None) -> LabelMap:
    """``labelmap`` as a :class:`LabelMap` on ``volume``'s grid (see :func:`labels_on_grid`)."""
    arr = labels_on_grid(labelmap, volume.shape, volume.affine)
    return LabelMap(arr, np.array(volume.affine, dtype=np.float64, copy=True), name or labelmap.name,
                    labelmap.geometry_known and bool(getattr(volume, "geometry_known", True)))


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice coefficient ``2|A∩B| / (|A| + |B|)`` of two masks (non-zero = inside); 1.0 when
    both are empty (they agree that there is nothing)."""
    a, b = np.asarray(a) > 0, np.asarray(b) > 0
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int(np.logical_and(a, b).sum()) / total


@dataclass(frozen=True)
class MaskComparison:
    """One mask compared with a reference mask, on the reference's grid.

    Attributes:
        reference, other: display names of the two masks.
        dice: Dice coefficient of the labelled regions (every non-zero label), in [0, 1].
        reference_ml, other_ml: labelled volumes in mL on the reference grid (None when the
            geometry is unknown).
        difference_ml: ``other_ml - reference_ml`` (None when unknown).
        resampled: True when ``other`` was moved onto the reference grid (nearest neighbour).
    """

    reference: str
    other: str
    dice: float
    reference_ml: float | None
    other_ml: float | None
    difference_ml: float | None
    resampled: bool

    @property
    def message(self) -> str:
        """One line for the user."""
        text = f"Dice {self.dice:.2f} between {self.other} and {self.reference}"
        if self.difference_ml is None:
            text += "; volumes unknown (placeholder geometry)"
        else:
            text += (f"; volume {self.other_ml:.1f} mL vs {self.reference_ml:.1f} mL "
                     f"(difference {self.difference_ml:+.1f} mL)")
        if self.resampled:
            text += f"; {self.other} was resampled onto the grid of {self.reference}"
        return text + "."

    def to_dict(self) -> dict:
        d = asdict(self)
        d["message"] = self.message
        return d


def compare_masks(reference: LabelMap, other: LabelMap) -> MaskComparison:
    """Dice and volume difference of ``other`` against ``reference`` (e.g. an uploaded mask
    against the model's), on ``reference``'s grid."""
    same = reference.same_grid(other)
    arr = other.array if same else labels_on_grid(other, reference.shape, reference.affine)
    known = reference.geometry_known and other.geometry_known
    vox = reference.voxel_volume_ml
    ref_ml = reference.n_voxels * vox if known else None
    oth_ml = int(np.count_nonzero(arr)) * vox if known else None
    return MaskComparison(reference.name, other.name, dice(reference.array, arr), ref_ml, oth_ml,
                          None if not known else oth_ml - ref_ml, not same)
