"""Masks in: an uploaded label volume (a BraTS ``seg.nii.gz``, any label NIfTI) is recognised as
a tumour mask, not a sequence, and attached to the study on its sequence's grid.

Recognition (:func:`is_label_volume`): a NIfTI / Analyze / MGH volume (never DICOM or a
picture) whose voxels are all integers in 0-255, with 0 present and at most
:data:`MAX_LABELS` distinct values, and whose name either says so (a ``seg`` / ``mask`` /
``label`` / ``gt`` token, :func:`model.imaging.sequences.is_mask_name`) or names no sequence.
A real MR image has hundreds of distinct intensities, so this never takes a sequence for a
mask; a file named ``*_t1.nii.gz`` or given a sequence explicitly stays a sequence.

Attachment (:func:`attach_masks`): each mask goes onto the first sequence (in
:data:`~model.imaging.sequences.SEQUENCES` order) whose grid it shares (same shape and affine
within 1e-3 mm after RAS reorientation, :func:`model.imaging.volume.same_grid`); a mask on
no sequence's grid is refused with one line (:class:`~model.core.errors.GeometryError`), so
the previous study stays loaded.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from model.core.errors import GeometryError
from model.imaging.labelmap import LabelMap
from model.imaging.sequences import is_mask_name
from model.imaging.volume import Volume, same_grid

#: Most distinct values (background 0 included) a label volume may hold (BraTS: 0, 1, 2, 4).
MAX_LABELS = 16
_IMAGE_FORMATS = ("DICOM", "PNG", "JPEG", "picture")

__all__ = ["MAX_LABELS", "is_label_volume", "split_masks", "attach_masks"]


def is_label_volume(vol: Volume) -> bool:
    """Whether ``vol`` holds labels (see the module docstring), not an MR image."""
    fmt = str(vol.details.get("format", ""))
    if any(f.lower() in fmt.lower() for f in _IMAGE_FORMATS):
        return False
    if vol.sequence and not is_mask_name(vol.source_name):
        return False
    d = vol.data
    if d.size == 0 or not np.isfinite(d).all() or d.min() != 0 or d.max() > 255:
        return False
    if not np.array_equal(d, np.rint(d)):
        return False
    counts = np.bincount(d.astype(np.uint8).ravel(), minlength=256)
    return int(np.count_nonzero(counts)) <= MAX_LABELS


def split_masks(vols: Iterable[Volume]) -> tuple[list[Volume], list[Volume]]:
    """``(images, masks)`` of volumes found in an upload (:func:`is_label_volume`)."""
    images, masks = [], []
    for v in vols:
        (masks if is_label_volume(v) else images).append(v)
    return images, masks


def _grid_text(v) -> str:
    return f"{'x'.join(str(n) for n in v.shape)} at {'x'.join(f'{s:.3g}' for s in v.spacing_mm)} mm"


def attach_masks(study, masks: Iterable[Volume]):
    """``study`` with each mask volume as a :class:`LabelMap` on its sequence's grid, named by
    its file name.

    Raises
    ------
    GeometryError
        A mask lies on no sequence's grid (one line naming the mask's grid and the sequences').
    """
    for m in masks:
        match = next((s for s, v in study.volumes.items() if same_grid(v, m)), None)
        if match is None:
            grids = "; ".join(f"{s} {_grid_text(v)}" for s, v in study.volumes.items())
            raise GeometryError(
                f"The mask {m.source_name} ({_grid_text(m)}) is not on the voxel grid of any "
                f"sequence ({grids}); upload the mask drawn on one of these sequences.")
        labels = LabelMap.on_grid_of(study.volumes[match], np.rint(m.data).astype(np.uint8), m.source_name)
        study = study.with_mask(m.source_name, labels)
    return study
