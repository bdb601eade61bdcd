"""What a DICOM Segmentation needs to reference its source series, and nothing else.

When a study comes as DICOM, a mask can be exported as a DICOM SEG object that points at the
source images (:mod:`model.views.export_seg`). For that the reader keeps, per series, a
:class:`DicomReference`: the Study / Series / Frame-of-Reference instance UIDs, and per slice
(in stacking order) its SOP Class / SOP Instance UID and plane geometry (position, orientation,
pixel spacing, thickness). **No patient detail is kept** (no name, ID, birth date, sex, dates,
accession number, institution or physicians); UIDs are kept only when they are well-formed
DICOM UIDs (digits and dots, at most 64 characters), so no free text can ride along.

References are held outside :class:`~model.imaging.volume.Volume` (whose ``details`` are
shown), in a small bounded registry keyed by the volume's ``content_hash``
(:func:`remember`, :func:`reference_for`).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
#: Most series whose references are kept at once (oldest dropped first).
MAX_REFERENCES = 64
_REGISTRY: "OrderedDict[str, DicomReference]" = OrderedDict()

__all__ = ["SourceSlice", "DicomReference", "reference_of", "remember", "reference_for",
           "valid_uid", "MAX_REFERENCES"]


def valid_uid(value) -> bool:
    """True for a well-formed DICOM UID (digits and dots, 1-64 characters)."""
    s = str(value or "")
    return 0 < len(s) <= 64 and bool(_UID.match(s))


@dataclass(frozen=True)
class SourceSlice:
    """One source image: its UIDs and plane geometry (DICOM LPS patient coordinates, mm)."""

    sop_class_uid: str
    sop_instance_uid: str
    position: tuple[float, float, float]
    orientation: tuple[float, float, float, float, float, float]   # row cosines, column cosines
    pixel_spacing: tuple[float, float]                               # (row spacing, column spacing)
    thickness: float | None


@dataclass(frozen=True)
class DicomReference:
    """The UIDs and geometry of one source MR series (no patient detail)."""

    study_instance_uid: str
    series_instance_uid: str
    frame_of_reference_uid: str
    rows: int
    columns: int
    series_number: int
    slices: tuple[SourceSlice, ...]


def reference_of(ds0, frames, rows: int, columns: int) -> DicomReference | None:
    """The :class:`DicomReference` of a stacked series (``frames`` in stacking order, each with
    ``ds``, ``position``, ``row_cos``, ``col_cos``, ``spacing``, ``thickness``), or None when
    a UID is missing or malformed, a slice has no geometry, or the series is multi-frame."""
    try:
        study = str(ds0.get("StudyInstanceUID", "") or "")
        series = str(ds0.get("SeriesInstanceUID", "") or "")
        frame_ref = str(ds0.get("FrameOfReferenceUID", "") or "")
        if not all(valid_uid(u) for u in (study, series, frame_ref)):
            return None
        slices = []
        for f in frames:
            if f.index is not None or f.position is None or f.row_cos is None or f.spacing is None:
                return None  # enhanced multi-frame or no geometry: not referenced
            sop_class = str(f.ds.get("SOPClassUID", "") or "")
            sop_uid = str(f.ds.get("SOPInstanceUID", "") or "")
            if not (valid_uid(sop_class) and valid_uid(sop_uid)):
                return None
            slices.append(SourceSlice(
                sop_class, sop_uid, tuple(float(v) for v in f.position),
                tuple(float(v) for v in (*f.row_cos, *f.col_cos)),
                (float(f.spacing[0]), float(f.spacing[1])),
                float(f.thickness) if f.thickness else None))
        number = int(float(ds0.get("SeriesNumber", 0) or 0))
        return DicomReference(study, series, frame_ref, int(rows), int(columns), number, tuple(slices))
    except Exception:  # anything odd in a hostile header: no reference, never a failure
        return None


def remember(content_hash: str, reference: DicomReference | None) -> None:
    """Keep ``reference`` for the volume with ``content_hash`` (bounded, oldest dropped)."""
    if reference is None:
        return
    _REGISTRY[content_hash] = reference
    _REGISTRY.move_to_end(content_hash)
    while len(_REGISTRY) > MAX_REFERENCES:
        _REGISTRY.popitem(last=False)


def reference_for(volume) -> DicomReference | None:
    """The :class:`DicomReference` of a volume read from DICOM, or None."""
    return _REGISTRY.get(getattr(volume, "content_hash", ""))


def pixel_world_ras(sl: SourceSlice, rows: int, columns: int) -> np.ndarray:
    """(rows, columns, 3) RAS world position (mm) of each pixel centre of a source slice."""
    r_cos = np.array(sl.orientation[:3])
    c_cos = np.array(sl.orientation[3:])
    rr, cc = np.meshgrid(np.arange(rows), np.arange(columns), indexing="ij")
    lps = (np.array(sl.position)[None, None, :] + cc[..., None] * sl.pixel_spacing[1] * r_cos
           + rr[..., None] * sl.pixel_spacing[0] * c_cos)
    return lps * np.array([-1.0, -1.0, 1.0])
