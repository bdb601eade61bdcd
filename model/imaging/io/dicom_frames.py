"""Reading DICOM header fields safely, and the frames a file claims, checked against its bytes.

Every accessor here tolerates malformed values (a header pydicom accepted with validation off):
:func:`num`, :func:`nums` and :func:`field` return a default instead of raising.
:func:`claimed_frames` compares NumberOfFrames x Rows x Columns x BitsAllocated x
SamplesPerPixel with the pixel bytes present *before* one record per frame is built
(:func:`frames_of`), so a 2 kB file claiming a billion frames is refused at once instead of
filling memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset

from model.core import config
from model.core.errors import UnreadableFileError, UploadTooLargeError

#: SOP classes of Enhanced MR (multi-frame, functional groups).
ENHANCED_MR = {"1.2.840.10008.5.1.4.1.1.4.1", "1.2.840.10008.5.1.4.1.1.4.4"}


def count_text(n: int) -> str:
    """A claimed count for a message, without printing a 300-digit number."""
    return f"{n:,}" if n < 10**9 else "over a billion"


def transfer_syntax_name(ts) -> str | None:
    """pydicom's name of a *known* transfer syntax UID, else None (never the raw value)."""
    try:
        from pydicom.uid import UID_dictionary

        return UID_dictionary[str(ts)][0] if str(ts) in UID_dictionary else None
    except Exception:
        return None


def encapsulated(ts) -> bool:
    try:
        return ts is not None and bool(ts.is_encapsulated)
    except Exception:  # not a transfer syntax pydicom knows: decoding will say so
        return False


def claimed_frames(ds: Dataset, label: str) -> int:
    """NumberOfFrames of ``ds``, checked (with Rows, Columns, BitsAllocated, SamplesPerPixel)
    against the pixel bytes the file really holds, before anything is allocated per frame.

    Raises
    ------
    UnreadableFileError
        Implausible image size, unsupported BitsAllocated, or fewer pixel bytes than the
        header describes (a truncated file, or a header claiming frames that are not there).
    UploadTooLargeError
        The claimed frames exceed ``config.MAX_VOXELS``.
    """
    rows, cols = int(num(value_of(ds, "Rows"), 0) or 0), int(num(value_of(ds, "Columns"), 0) or 0)
    if not (1 <= rows <= config.MAX_DICOM_MATRIX and 1 <= cols <= config.MAX_DICOM_MATRIX):
        raise UnreadableFileError(f"{label}: the image size in the header ({count_text(rows)}x"
                                  f"{count_text(cols)}) is not plausible.")
    claimed = num(value_of(ds, "NumberOfFrames"), 1.0)
    n = int(claimed) if claimed is not None and 1 <= claimed < 1e18 else (1 if not claimed or claimed < 1 else 10**18)
    if rows * cols * n > config.MAX_VOXELS:
        raise UploadTooLargeError(f"{label}: the header claims {count_text(n)} frames of {rows}x{cols} "
                                  f"pixels, above the {config.MAX_VOXELS:,} voxel limit.")
    for kw, bits in (("PixelData", None), ("FloatPixelData", 32), ("DoubleFloatPixelData", 64)):
        if kw in ds:
            try:
                length = len(ds[kw].value or b"")
            except Exception:
                raise UnreadableFileError(f"{label}: the pixel data cannot be read.") from None
            break
    else:
        raise UnreadableFileError(f"{label}: the file holds no pixel data.")
    ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if kw == "PixelData" and encapsulated(ts):
        # Each compressed frame is at least one fragment, and each fragment has an 8-byte header.
        if n > length // 8:
            raise UnreadableFileError(f"{label}: the header claims {count_text(n)} frames but the "
                                      "compressed pixel data cannot hold that many. Export the "
                                      "series again.")
        return n
    if bits is None:
        bits = int(num(value_of(ds, "BitsAllocated"), 0) or 0)
    spp = int(num(value_of(ds, "SamplesPerPixel"), 1) or 1)
    if bits not in (1, 8, 16, 32, 64) or not 1 <= spp <= 4:
        raise UnreadableFileError(f"{label}: the header's pixel format (bits allocated, samples "
                                  "per pixel) is not one DICOM allows.")
    expected = (rows * cols * spp * n * bits + 7) // 8
    if length < expected:
        raise UnreadableFileError(
            f"{label}: the pixel data is truncated: the header describes {count_text(n)} frame(s) of "
            f"{rows}x{cols} pixels ({count_text(expected)} bytes) but the file holds {length:,}. "
            "Export the series again.")
    return n


def num(v, default=None):
    try:
        f = float(v)
    except Exception:
        return default
    return f if np.isfinite(f) else default


def nums(v, n):
    try:
        out = [float(x) for x in v]
    except Exception:
        return None
    if len(out) != n or not all(np.isfinite(out)):
        return None
    return out


def value_of(ds, kw, default=None):
    try:
        v = ds.get(kw, default)
    except Exception:
        return default
    return default if v is None else v


def private(ds, tag):
    try:
        elem = ds.get(tag)
        return None if elem is None else elem.value
    except Exception:
        return None


def image_type(ds) -> list[str]:
    v = value_of(ds, "ImageType", [])
    if isinstance(v, str):
        v = v.split("\\")
    try:
        return [str(x).upper().strip() for x in v]
    except Exception:
        return []



@dataclass
class Frame:
    ds: Dataset
    index: int | None
    position: np.ndarray | None
    row_cos: np.ndarray | None
    col_cos: np.ndarray | None
    spacing: tuple[float, float] | None
    slope: float
    intercept: float
    uid: str
    instance: int
    b_value: float | None = None
    thickness: float | None = None


def _fg(item, shared, seq_kw, attr):
    """Attribute ``attr`` of functional group ``seq_kw``: per-frame item first, then shared."""
    for src in (item, shared):
        if src is None:
            continue
        seq = value_of(src, seq_kw)
        if seq:
            try:
                v = value_of(seq[0], attr)
            except Exception:
                v = None
            if v is not None:
                return v
    return None


def frames_of(ds: Dataset, label: str) -> list[Frame]:
    n_frames = claimed_frames(ds, label)
    uid = str(value_of(ds, "SOPInstanceUID", ""))
    inst = int(num(value_of(ds, "InstanceNumber"), 0) or 0)
    sop = str(value_of(ds, "SOPClassUID", ""))
    if sop in ENHANCED_MR or "PerFrameFunctionalGroupsSequence" in ds:
        shared_seq = value_of(ds, "SharedFunctionalGroupsSequence")
        shared = shared_seq[0] if shared_seq else None
        per = value_of(ds, "PerFrameFunctionalGroupsSequence") or []
        frames = []
        for k in range(n_frames):
            item = per[k] if k < len(per) else None
            pos = nums(_fg(item, shared, "PlanePositionSequence", "ImagePositionPatient") or [], 3)
            iop = nums(_fg(item, shared, "PlaneOrientationSequence", "ImageOrientationPatient") or [], 6)
            ps = nums(_fg(item, shared, "PixelMeasuresSequence", "PixelSpacing") or [], 2)
            th = num(_fg(item, shared, "PixelMeasuresSequence", "SliceThickness"))
            slope = num(_fg(item, shared, "PixelValueTransformationSequence", "RescaleSlope"), 1.0)
            inter = num(_fg(item, shared, "PixelValueTransformationSequence", "RescaleIntercept"), 0.0)
            b = num(_fg(item, shared, "MRDiffusionSequence", "DiffusionBValue"))
            frames.append(Frame(
                ds, k, np.array(pos) if pos else None,
                np.array(iop[:3]) if iop else None, np.array(iop[3:]) if iop else None,
                (ps[0], ps[1]) if ps else None, slope or 1.0, inter or 0.0, f"{uid}#{k}", k, b, th,
            ))
        return frames
    pos = nums(value_of(ds, "ImagePositionPatient", []), 3)
    iop = nums(value_of(ds, "ImageOrientationPatient", []), 6)
    ps = nums(value_of(ds, "PixelSpacing", []), 2) or nums(value_of(ds, "ImagerPixelSpacing", []), 2)
    slope = num(value_of(ds, "RescaleSlope"), 1.0)
    inter = num(value_of(ds, "RescaleIntercept"), 0.0)
    b = num(value_of(ds, "DiffusionBValue"))
    if b is None:
        b = num(private(ds, (0x0019, 0x100C)))  # Siemens B_value
    th = num(value_of(ds, "SliceThickness"))
    return [
        Frame(ds, k if n_frames > 1 else None, np.array(pos) if pos else None,
               np.array(iop[:3]) if iop else None, np.array(iop[3:]) if iop else None,
               (ps[0], ps[1]) if ps else None, slope or 1.0, inter or 0.0, f"{uid}#{k}", inst, b, th)
        for k in range(max(1, n_frames))
    ]
