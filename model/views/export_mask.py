"""Masks out: a :class:`~model.imaging.labelmap.LabelMap` as a NIfTI file or a DICOM
Segmentation object.

* :func:`labelmap_to_nifti_bytes`: gzipped NIfTI-1, uint8 labels in RAS+ voxel order on the
  label map's own grid (the reference sequence's, e.g. FLAIR for the model's mask), qform =
  sform = the affine (code 1, scanner), units mm; so ``count of non-zero voxels x |det(affine)|
  / 1000`` is the labelled volume in mL. The header holds no patient detail (description
  ``"TumorBoard mask"``, no extensions).
* :func:`labelmap_to_dicom_seg`: a binary DICOM Segmentation (``highdicom``) referencing the
  source MR series (its Study/Series/SOP Instance UIDs, frame of reference and geometry), see
  :mod:`model.views.export_seg`.
"""

from __future__ import annotations

import gzip

import nibabel as nib
import numpy as np

from model.imaging.labelmap import LabelMap

__all__ = ["labelmap_to_nifti_bytes", "labelmap_to_dicom_seg", "study_reference", "MASK_DESCRIPTION"]

MASK_DESCRIPTION = "TumorBoard mask"


def labelmap_to_nifti_bytes(labelmap: LabelMap) -> bytes:
    """Gzipped NIfTI-1 bytes of ``labelmap`` (uint8, RAS+, its grid; see the module docstring).

    Parameters
    ----------
    labelmap : LabelMap
        The mask (e.g. ``SegmentationResult.labelmap``, on FLAIR's grid).

    Returns
    -------
    bytes
        A ``.nii.gz`` file's content (gzip magic first), readable by nibabel, 3D Slicer, ITK-SNAP.
    """
    img = nib.Nifti1Image(np.asarray(labelmap.array, dtype=np.uint8), labelmap.affine)
    img.set_qform(labelmap.affine, code=1)
    img.set_sform(labelmap.affine, code=1)
    hdr = img.header
    hdr.set_data_dtype(np.uint8)
    hdr.set_xyzt_units("mm")
    hdr["descrip"] = MASK_DESCRIPTION.encode()
    hdr["scl_slope"], hdr["scl_inter"] = 1.0, 0.0
    hdr["cal_min"], hdr["cal_max"] = 0.0, float(labelmap.array.max()) if labelmap.array.size else 0.0
    raw = img.to_bytes()
    return gzip.compress(raw, compresslevel=6, mtime=0)


def labelmap_to_dicom_seg(labelmap: LabelMap, source) -> bytes:
    """DICOM Segmentation bytes of ``labelmap`` referencing its source series: ``source`` is
    the reference kept by the DICOM reader (:func:`model.views.export_seg.study_reference`
    (study, labelmap)) or a Volume read from DICOM. See
    :func:`model.views.export_seg.labelmap_to_dicom_seg` (raises StudyError without one)."""
    from model.views.export_seg import labelmap_to_dicom_seg as _seg

    return _seg(labelmap, source)


def study_reference(study, labelmap: LabelMap | None = None):
    """The DICOM reference a SEG of ``labelmap`` points at, or None when the study is not DICOM
    (:func:`model.views.export_seg.study_reference`)."""
    from model.views.export_seg import study_reference as _ref

    return _ref(study, labelmap)
