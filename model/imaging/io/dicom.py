"""DICOM MR series in memory -> RAS+ volumes, with de-identification built in.

Input is a list of ``(member_name, bytes)`` (files of a folder, members of a zip, or uploaded
.dcm files). :func:`read_dicom_series` then

1. parses each member with pydicom (in memory, no temp files); non-DICOM members, DICOMDIR,
   ``__MACOSX`` resource forks and non-image objects (reports, presentation states) are skipped;
2. groups images by SeriesInstanceUID;
3. drops series that are not a structural MR volume, with a reason: localizers and scouts,
   derived/secondary images (reformats, projections, screenshots), Siemens mosaics, diffusion
   series (b > 0, ADC/trace/FA maps), colour images, and non-MR modalities (CT, PET...);
4. sorts the slices of each remaining series along the slice normal (ImageOrientationPatient
   cross product) by ImagePositionPatient; removes byte-identical duplicated slices (warning);
   refuses series with missing, conflicting or unevenly spaced slices when the stacked volume
   would have the wrong geometry, and warns on small irregularities;
5. decodes pixels (compressed transfer syntaxes through pydicom's pixel-data plugins, e.g.
   pylibjpeg + openjpeg for JPEG 2000), applies RescaleSlope/RescaleIntercept per slice and
   builds the voxel-to-world affine.

Enhanced (multi-frame) MR is read from its functional groups (per-frame position, orientation,
spacing and rescale). Geometry is DICOM LPS patient space converted to RAS+ millimetres.

**De-identification** (:mod:`model.imaging.io.deid`). Only a whitelist of technical fields leaves this module
(:data:`DETAIL_FIELDS`). Free-text fields that are kept (SeriesDescription, ProtocolName) have
every patient identifier of the same header (names, IDs, accession number, dates, institution,
physicians) removed. Error messages and warnings name series by number and description only,
never by member path, and never include pydicom's own exception text (which can quote header
values). pydicom's read-time validation is switched off so that it never logs header values.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import warnings as _warnings
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Sequence

import numpy as np

import pydicom
from pydicom.dataset import Dataset

from model.core import config
from model.core.errors import (
    IncompleteSeriesError,
    MixedPatientsError,
    NotMRIError,
    StudyError,
    TimeSeriesError,
    UnreadableFileError,
    UnsupportedDicomError,
    UploadTooLargeError,
    WrongDimensionsError,
)
from model.imaging.io.deid import identifiers, scrub
from model.imaging.io.sniff import looks_like_ct, looks_like_dicom
from model.imaging.sequences import sequence_from_description
from model.imaging.volume import Volume, make_volume

# Header values must never be logged: no read-time validation messages (they quote values).
pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE
logging.getLogger("pydicom").setLevel(logging.ERROR)

#: Technical fields that may leave this module (in ``Volume.details``).
DETAIL_FIELDS = (
    "format", "modality", "series_number", "description", "manufacturer", "field_strength_t",
    "transfer_syntax", "enhanced", "slices", "repetition_time_ms", "echo_time_ms",
    "inversion_time_ms",
)

_ENHANCED_MR = {"1.2.840.10008.5.1.4.1.1.4.1", "1.2.840.10008.5.1.4.1.1.4.4"}
_CT_SOP = {"1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.2.1", "1.2.840.10008.5.1.4.1.1.2.2"}
_DICOMDIR_SOP = "1.2.840.10008.1.3.10"
_LOCALIZER_RE = re.compile(
    r"locali[sz]er|scout|survey|\bpilot\b|3[\s_-]*plane|tri[\s_-]*pilot|aahead|aascout|\bloc\b"
)
_DIFFUSION_RE = re.compile(
    r"\bdwi\b|\bdti\b|diffusion|\bdiff\b|ep2d[\s_-]*diff|\badc\b|\btrace\b|\bresolve\b|tensor"
    r"|\bfa\b|colfa|dwi_|_dwi|dti_|_dti"
)
_PERFUSION_RE = re.compile(r"\bperf|\bdsc\b|\bdce\b|\bbold\b|fmri|\basl\b|pcasl|resting")
_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def _low(text: str | None) -> str:
    return (text or "").lower()


@dataclass(frozen=True)
class _Series:
    """One DICOM series stacked into a volume (not yet reoriented).

    Attributes:
        data: float32 (X, Y, Z) = (columns, rows, slices), after RescaleSlope/Intercept.
        affine: float64 (4, 4) voxel -> RAS+ world (mm) matrix of ``data``.
        label: de-identified display name, e.g. ``"study.zip › series 3 (AX T1 POST)"``, or
            the source name alone for a single-file upload.
        sequence_hint: T1/T1ce/T2/FLAIR recognised from the description or contrast tags, or
            None (see :func:`sequence_from_description`).
        warnings: non-fatal problems found in this series.
        details: whitelisted technical fields (keys from :data:`DETAIL_FIELDS`).
    """

    data: np.ndarray
    affine: np.ndarray
    label: str
    sequence_hint: str | None
    warnings: tuple[str, ...] = ()
    details: dict = field(default_factory=dict)



# --------------------------------------------------------------------------- parsing

def _skip_member(name: str) -> bool:
    parts = PurePosixPath(name.replace("\\", "/")).parts
    base = parts[-1] if parts else ""
    low = base.lower()
    return (
        any(p == "__MACOSX" for p in parts) or low.startswith("._") or low == "dicomdir"
        or low in {".ds_store", "thumbs.db", "desktop.ini"}
    )



def _parse(data: bytes) -> Dataset | None:
    if not looks_like_dicom(data):
        return None
    preamble = len(data) >= 132 and data[128:132] == b"DICM"
    try:
        with _warnings.catch_warnings():
            _warnings.simplefilter("ignore")
            ds = pydicom.dcmread(io.BytesIO(data), force=not preamble)
            sop = str(ds.get("SOPClassUID", "") or ds.file_meta.get("MediaStorageSOPClassUID", ""))
            if sop == _DICOMDIR_SOP or "DirectoryRecordSequence" in ds:
                return None
            if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
                return None
            int(ds.Rows), int(ds.Columns)
    except Exception:
        return None
    return ds


def _float(v, default=None):
    try:
        f = float(v)
    except Exception:
        return default
    return f if np.isfinite(f) else default


def _floats(v, n):
    try:
        out = [float(x) for x in v]
    except Exception:
        return None
    if len(out) != n or not all(np.isfinite(out)):
        return None
    return out


def _get(ds, kw, default=None):
    try:
        v = ds.get(kw, default)
    except Exception:
        return default
    return default if v is None else v


def _private(ds, tag):
    try:
        elem = ds.get(tag)
        return None if elem is None else elem.value
    except Exception:
        return None


def _image_type(ds) -> list[str]:
    v = _get(ds, "ImageType", [])
    if isinstance(v, str):
        v = v.split("\\")
    try:
        return [str(x).upper().strip() for x in v]
    except Exception:
        return []


# --------------------------------------------------------------------------- frames

@dataclass
class _Frame:
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
        seq = _get(src, seq_kw)
        if seq:
            try:
                v = _get(seq[0], attr)
            except Exception:
                v = None
            if v is not None:
                return v
    return None


def _frames_of(ds: Dataset) -> list[_Frame]:
    uid = str(_get(ds, "SOPInstanceUID", ""))
    inst = int(_float(_get(ds, "InstanceNumber"), 0) or 0)
    sop = str(_get(ds, "SOPClassUID", ""))
    n_frames = int(_float(_get(ds, "NumberOfFrames"), 1) or 1)
    if sop in _ENHANCED_MR or "PerFrameFunctionalGroupsSequence" in ds:
        shared_seq = _get(ds, "SharedFunctionalGroupsSequence")
        shared = shared_seq[0] if shared_seq else None
        per = _get(ds, "PerFrameFunctionalGroupsSequence") or []
        frames = []
        for k in range(n_frames):
            item = per[k] if k < len(per) else None
            pos = _floats(_fg(item, shared, "PlanePositionSequence", "ImagePositionPatient") or [], 3)
            iop = _floats(_fg(item, shared, "PlaneOrientationSequence", "ImageOrientationPatient") or [], 6)
            ps = _floats(_fg(item, shared, "PixelMeasuresSequence", "PixelSpacing") or [], 2)
            th = _float(_fg(item, shared, "PixelMeasuresSequence", "SliceThickness"))
            slope = _float(_fg(item, shared, "PixelValueTransformationSequence", "RescaleSlope"), 1.0)
            inter = _float(_fg(item, shared, "PixelValueTransformationSequence", "RescaleIntercept"), 0.0)
            b = _float(_fg(item, shared, "MRDiffusionSequence", "DiffusionBValue"))
            frames.append(_Frame(
                ds, k, np.array(pos) if pos else None,
                np.array(iop[:3]) if iop else None, np.array(iop[3:]) if iop else None,
                (ps[0], ps[1]) if ps else None, slope or 1.0, inter or 0.0, f"{uid}#{k}", k, b, th,
            ))
        return frames
    pos = _floats(_get(ds, "ImagePositionPatient", []), 3)
    iop = _floats(_get(ds, "ImageOrientationPatient", []), 6)
    ps = _floats(_get(ds, "PixelSpacing", []), 2) or _floats(_get(ds, "ImagerPixelSpacing", []), 2)
    slope = _float(_get(ds, "RescaleSlope"), 1.0)
    inter = _float(_get(ds, "RescaleIntercept"), 0.0)
    b = _float(_get(ds, "DiffusionBValue"))
    if b is None:
        b = _float(_private(ds, (0x0019, 0x100C)))  # Siemens B_value
    th = _float(_get(ds, "SliceThickness"))
    return [
        _Frame(ds, k if n_frames > 1 else None, np.array(pos) if pos else None,
               np.array(iop[:3]) if iop else None, np.array(iop[3:]) if iop else None,
               (ps[0], ps[1]) if ps else None, slope or 1.0, inter or 0.0, f"{uid}#{k}", inst, b, th)
        for k in range(max(1, n_frames))
    ]


# --------------------------------------------------------------------------- series

class _Drop(Exception):
    """A series skipped for an expected reason (localizer, derived) - minor."""

    def __init__(self, error: StudyError):
        super().__init__(str(error))
        self.error = error


def _series_label(ds0: Dataset, idents: set[str], k: int) -> tuple[str, str]:
    desc = scrub(" ".join(str(_get(ds0, kw, "") or "") for kw in ("SeriesDescription",)).strip()
                 or str(_get(ds0, "ProtocolName", "") or ""), idents)
    num = _float(_get(ds0, "SeriesNumber"))
    label = f"series {int(num)}" if num is not None else f"series #{k + 1}"
    return (f"{label} ({desc})" if desc else label), desc


def _check_series_kind(datasets: list[Dataset], frames: list[_Frame], label: str) -> None:
    ds0 = datasets[0]
    modality = str(_get(ds0, "Modality", "") or "").upper()
    sop = str(_get(ds0, "SOPClassUID", ""))
    if modality == "CT" or sop in _CT_SOP:
        raise NotMRIError(f"{label} is CT (DICOM Modality CT), not MRI. TumorBoard reads MRI only.")
    if modality and modality != "MR":
        raise NotMRIError(f"{label} has DICOM Modality {modality[:8]}, not MR. TumorBoard reads MRI only.")
    itype = set()
    for ds in datasets:
        itype.update(_image_type(ds))
    text = _low(f"{_get(ds0, 'SeriesDescription', '')} {_get(ds0, 'ProtocolName', '')}")
    if "MOSAIC" in itype or any(_private(ds, (0x0019, 0x100A)) is not None for ds in datasets[:3]):
        raise UnsupportedDicomError(
            f"{label} is a Siemens mosaic (many slices tiled in one image, used for fMRI and "
            "diffusion). It cannot be read as a structural volume; upload an anatomical series.")
    b_pos = any((f.b_value or 0) > 0 for f in frames)
    if b_pos or itype & {"DIFFUSION", "ADC", "TRACEW", "FA", "EADC", "TENSOR"} or _DIFFUSION_RE.search(text):
        raise UnsupportedDicomError(
            f"{label} is a diffusion series (DWI/ADC). TumorBoard uses T1, T1ce, T2 and FLAIR; "
            "upload those series instead.")
    if "LOCALIZER" in itype or "SCOUT" in itype or _LOCALIZER_RE.search(text):
        raise _Drop(UnsupportedDicomError(
            f"{label} is a localizer/scout image, not a diagnostic series."))
    if ("DERIVED" in itype) or ("SECONDARY" in itype):
        raise _Drop(UnsupportedDicomError(
            f"{label} holds derived/secondary images (reformats, projections, maps or screen "
            "captures), not an acquired series. Export the original series."))
    if _PERFUSION_RE.search(text):
        raise TimeSeriesError(
            f"{label} is a perfusion/functional time series, not a structural sequence.")
    spp = int(_float(_get(ds0, "SamplesPerPixel"), 1) or 1)
    photo = str(_get(ds0, "PhotometricInterpretation", "MONOCHROME2") or "MONOCHROME2").upper()
    if spp != 1 or not photo.startswith("MONOCHROME"):
        raise WrongDimensionsError(
            f"{label} holds colour images ({photo[:16]}), not MRI intensities. Upload the "
            "original greyscale series.")
    comp = str(_get(ds0, "ComplexImageComponent", "") or "").upper()
    if comp in {"PHASE", "REAL", "IMAGINARY", "COMPLEX"} or "P" in itype or "PHASE" in itype:
        raise WrongDimensionsError(
            f"{label} holds phase or complex images, not magnitude images. Upload the "
            "magnitude series.")


def _pixels(ds: Dataset, cache: dict, label: str) -> np.ndarray:
    key = id(ds)
    if key not in cache:
        ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        try:
            with _warnings.catch_warnings():
                _warnings.simplefilter("ignore")
                arr = ds.pixel_array
        except Exception as exc:
            ts_name = getattr(ts, "name", None) or "an unknown encoding"
            if isinstance(exc, (NotImplementedError, RuntimeError)) and ts is not None and ts.is_compressed:
                raise UnsupportedDicomError(
                    f"{label} is compressed as {ts_name}, which this installation cannot decode. "
                    "Export the series uncompressed (Explicit VR Little Endian).") from None
            raise UnreadableFileError(
                f"{label}: the pixel data is truncated or corrupt ({type(exc).__name__}). "
                "Export the series again.") from None
        cache[key] = np.asarray(arr)
    return cache[key]


def _frame_pixels(fr: _Frame, cache: dict, label: str, rows: int, cols: int) -> np.ndarray:
    arr = _pixels(fr.ds, cache, label)
    if fr.index is not None:
        if arr.ndim != 3 or fr.index >= arr.shape[0]:
            raise UnreadableFileError(f"{label}: the number of frames does not match the header.")
        arr = arr[fr.index]
    if arr.shape != (rows, cols):
        raise UnreadableFileError(f"{label}: an image does not have the size its header states.")
    return arr.astype(np.float32) * np.float32(fr.slope) + np.float32(fr.intercept)


def _stack_series(datasets: list[Dataset], frames: list[_Frame], label: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    warns: list[str] = []
    ds0 = datasets[0]
    rows, cols = int(ds0.Rows), int(ds0.Columns)
    if not (1 <= rows <= config.MAX_DICOM_MATRIX and 1 <= cols <= config.MAX_DICOM_MATRIX):
        raise UnreadableFileError(f"{label}: image size {rows}x{cols} is not plausible.")
    for ds in datasets:
        if (int(_float(_get(ds, "Rows"), -1)), int(_float(_get(ds, "Columns"), -1))) != (rows, cols):
            raise IncompleteSeriesError(
                f"{label} mixes images of different sizes; it is not one volume. Export the "
                "series again or upload each part separately.")
    if rows * cols * len(frames) > config.MAX_VOXELS:
        raise UploadTooLargeError(f"{label} has {rows}x{cols}x{len(frames)} voxels, above the "
                                  f"{config.MAX_VOXELS} limit.")
    # Same instance read twice (a file copied twice into the folder).
    seen: dict[str, _Frame] = {}
    for fr in frames:
        seen.setdefault(fr.uid, fr)
    if len(seen) < len(frames):
        warns.append(f"{label}: {len(frames) - len(seen)} image(s) appeared twice (same instance "
                     "UID); the copies were ignored.")
    frames = list(seen.values())
    cache: dict = {}
    geometry = all(f.position is not None and f.row_cos is not None for f in frames)
    spacing_ok = all(f.spacing is not None and min(f.spacing) > 0 for f in frames)
    if spacing_ok:
        ps = frames[0].spacing
        if any(not np.allclose(f.spacing, ps, rtol=1e-3) for f in frames):
            raise IncompleteSeriesError(f"{label} mixes images with different pixel sizes; it is not "
                                        "one volume.")
    else:
        ps = (1.0, 1.0)
        warns.append(f"{label}: no pixel spacing in the header; 1 mm pixels assumed.")

    if geometry:
        r = frames[0].row_cos
        c = frames[0].col_cos
        for f in frames:
            if not (np.allclose(f.row_cos, r, atol=1e-3) and np.allclose(f.col_cos, c, atol=1e-3)):
                raise IncompleteSeriesError(
                    f"{label} mixes slices of different orientations (e.g. a 3-plane series); it "
                    "is not one volume.")
        nr, nc = np.linalg.norm(r), np.linalg.norm(c)
        if nr < 1e-6 or nc < 1e-6:
            raise IncompleteSeriesError(f"{label}: the image orientation in the header is invalid.")
        r, c = r / nr, c / nc
        if abs(float(r @ c)) > 1e-2:
            warns.append(f"{label}: row and column directions in the header are not perpendicular; "
                         "the column direction was corrected.")
            c = c - (r @ c) * r
            c = c / np.linalg.norm(c)
        n = np.cross(r, c)
        d = np.array([float(n @ f.position) for f in frames])
        order = np.argsort(d, kind="stable")
        frames = [frames[i] for i in order]
        d = d[order]
        # Group slices at the same position.
        groups: list[list[int]] = [[0]]
        for i in range(1, len(frames)):
            (groups[-1].append(i) if d[i] - d[groups[-1][0]] < 0.01 else groups.append([i]))
        keep: list[int] = []
        n_dupes = 0
        multi = [g for g in groups if len(g) > 1]
        if multi:
            counts = {len(g) for g in groups}
            for g in groups:
                first = _frame_pixels(frames[g[0]], cache, label, rows, cols)
                same = all(np.array_equal(first, _frame_pixels(frames[j], cache, label, rows, cols))
                           for j in g[1:])
                if not same:
                    if len(counts) == 1 and len(groups) > 1:
                        raise TimeSeriesError(
                            f"{label} has {len(g)} different images at each of its {len(groups)} "
                            "slice positions (a time series, several echoes or b-values). Upload a "
                            "series with one image per slice.")
                    raise IncompleteSeriesError(
                        f"{label} has different images at the same slice position (slice "
                        f"{len(keep) + 1} of {len(groups)}); the volume would be wrong. Export the "
                        "series again.")
                n_dupes += len(g) - 1
                keep.append(g[0])
            warns.append(f"{label}: {n_dupes} duplicated slice(s) (same position, same pixels) were "
                         "removed.")
        else:
            keep = [g[0] for g in groups]
        frames = [frames[i] for i in keep]
        d = np.array([float(n @ f.position) for f in frames])
        if len(frames) >= 2:
            diffs = np.diff(d)
            step = float(np.median(diffs))
            dev = np.abs(diffs - step)
            if dev.max() > max(0.01 * step, 0.005):
                ratio = diffs / step
                if ratio.max() >= 1.5:
                    i = int(np.argmax(ratio))
                    missing = int(sum(max(0, round(x) - 1) for x in ratio if x >= 1.5))
                    raise IncompleteSeriesError(
                        f"{label}: {max(missing, 1)} slice(s) missing (a gap of {diffs[i]:.2f} mm "
                        f"after slice {i + 1} of {len(frames)}, where slices are {step:.2f} mm "
                        "apart). Stacking the rest would distort the volume; export the complete "
                        "series.")
                if dev.max() <= 0.1 * step:
                    step = float((d[-1] - d[0]) / (len(d) - 1))
                    warns.append(f"{label}: slightly uneven slice spacing ({diffs.min():.3f} to "
                                 f"{diffs.max():.3f} mm); the mean spacing {step:.3f} mm was used.")
                else:
                    raise IncompleteSeriesError(
                        f"{label}: unevenly spaced slices ({diffs.min():.2f} to {diffs.max():.2f} mm "
                        "apart); a regular volume cannot be built from them. Export a series with "
                        "regular slice spacing.")
            sbs = _float(_get(ds0, "SpacingBetweenSlices"))
            if sbs and sbs > 0 and step > 1.8 * sbs and abs(step / sbs - round(step / sbs)) < 0.1:
                warns.append(f"{label}: slices are {step:.2f} mm apart but the header says "
                             f"{sbs:.2f} mm: every other slice may be missing.")
        else:  # one slice: its thickness is its extent
            step = frames[0].thickness or _float(_get(ds0, "SpacingBetweenSlices")) or 1.0
        origin = frames[0].position
    else:
        frames.sort(key=lambda f: (f.instance, f.index or 0))
        r, c, n = np.array([1.0, 0, 0]), np.array([0, 1.0, 0]), np.array([0, 0, 1.0])
        step = _float(_get(ds0, "SpacingBetweenSlices")) or frames[0].thickness or 1.0
        warns.append(f"{label}: no slice position/orientation in the header; slices were stacked "
                     f"in instance order {step:g} mm apart and the orientation is unknown "
                     "(left/right may be wrong).")
        origin = np.zeros(3)
        # One image per position is all we can assume: identical images are still duplicates.
    data = np.empty((cols, rows, len(frames)), dtype=np.float32)
    for k, fr in enumerate(frames):
        data[:, :, k] = _frame_pixels(fr, cache, label, rows, cols).T
    photo = str(_get(ds0, "PhotometricInterpretation", "") or "").upper()
    if photo == "MONOCHROME1":
        data = (data.max() + data.min() - data).astype(np.float32)
        warns.append(f"{label}: MONOCHROME1 images (inverted grey scale) were inverted back.")
    lps = np.eye(4)
    lps[:3, 0] = r * ps[1]
    lps[:3, 1] = c * ps[0]
    lps[:3, 2] = n * step
    lps[:3, 3] = origin
    return data, _LPS_TO_RAS @ lps, warns


def _details(ds0: Dataset, desc: str, n_slices: int) -> dict:
    ts = getattr(getattr(ds0, "file_meta", None), "TransferSyntaxUID", None)
    out = {
        "format": "DICOM",
        "modality": str(_get(ds0, "Modality", "") or "")[:8],
        "series_number": int(_float(_get(ds0, "SeriesNumber"), 0) or 0),
        "description": desc,
        "manufacturer": scrub(str(_get(ds0, "Manufacturer", "") or ""), set(), 32),
        "field_strength_t": _float(_get(ds0, "MagneticFieldStrength")),
        "transfer_syntax": getattr(ts, "name", "") or "",
        "enhanced": str(_get(ds0, "SOPClassUID", "")) in _ENHANCED_MR,
        "slices": n_slices,
        "repetition_time_ms": _float(_get(ds0, "RepetitionTime")),
        "echo_time_ms": _float(_get(ds0, "EchoTime")),
        "inversion_time_ms": _float(_get(ds0, "InversionTime")),
    }
    return {k: out[k] for k in DETAIL_FIELDS}


_PRIORITY = (IncompleteSeriesError, UnreadableFileError, TimeSeriesError, WrongDimensionsError,
             UploadTooLargeError, NotMRIError, UnsupportedDicomError)


def read_dicom_series(members: Sequence[tuple[str, bytes]], source: str) -> tuple[list[Volume], list[str]]:
    """Read every structural MR series found among DICOM members.

    Args:
        members: ``(member_name, bytes)``; names are used to skip ``__MACOSX``, ``._*`` and
            DICOMDIR and are never shown.
        source: display name of the upload (folder or zip name), used in messages.

    Returns:
        ``(volumes, notes)``: one RAS+ :class:`model.imaging.volume.Volume` per usable series
        (``details`` holds the fields of :data:`DETAIL_FIELDS`), ordered by series
        number, and notes on what was skipped (non-DICOM members, dropped series).

    Raises:
        EmptyStudyError-like :class:`UnreadableFileError`: no DICOM image at all.
        NotMRIError: only CT (or other non-MR) series.
        UnsupportedDicomError: only mosaic, diffusion, localizer/derived or undecodable series.
        IncompleteSeriesError: the only candidate series has missing/duplicated/uneven slices.
        TimeSeriesError, WrongDimensionsError, UploadTooLargeError: see their docs.
    """
    try:
        series, notes = _read_dicom_series(members, source)
    except StudyError:
        raise
    except MemoryError:
        raise UploadTooLargeError(f"{source}: the images do not fit in memory.") from None
    except Exception as exc:  # a malformed header pydicom accepted but we cannot use
        raise UnreadableFileError(
            f"{source}: a DICOM header is malformed ({type(exc).__name__}). Export the series again."
        ) from None
    out = []
    for sv in series:
        digest = hashlib.sha256(sv.data.tobytes() + sv.affine.tobytes()).hexdigest()
        out.append(make_volume(sv.data, sv.affine, sv.label, digest, "DICOM", list(sv.warnings),
                               sv.details, hint=sv.sequence_hint))
    return out, notes


def _read_dicom_series(members, source):
    notes: list[str] = []
    if len(members) > config.MAX_ARCHIVE_MEMBERS:
        raise UploadTooLargeError(f"{source} holds {len(members)} files; the limit is {config.MAX_ARCHIVE_MEMBERS}.")
    parsed: list[Dataset] = []
    skipped = 0
    for name, data in members:
        if _skip_member(name):
            continue
        ds = _parse(data)
        if ds is None:
            skipped += 1
            continue
        parsed.append(ds)
    if skipped:
        notes.append(f"{source}: {skipped} file(s) that are not DICOM images were skipped.")
    if not parsed:
        raise UnreadableFileError(
            f"{source} holds no readable DICOM image. Upload the folder of a DICOM MR series "
            "(zipped), or NIfTI files.")
    # One study is one patient: an archive mixing patients is refused (identities compared,
    # never shown); several sessions of one patient are loaded with a warning.
    patients = {tuple(str(_get(ds, kw, "") or "").strip() for kw in
                      ("PatientID", "PatientName", "PatientBirthDate")) for ds in parsed}
    patients.discard(("", "", ""))
    if len(patients) > 1:
        raise MixedPatientsError(
            f"{source} holds images of {len(patients)} different patients. Upload one patient's "
            "study at a time.")
    studies = {str(_get(ds, "StudyInstanceUID", "") or "") for ds in parsed} - {""}
    if len(studies) > 1:
        notes.append(f"{source} holds series from {len(studies)} different studies (sessions) of "
                     "one patient: they may not be co-registered.")
    by_series: dict[str, list[Dataset]] = {}
    for ds in parsed:
        by_series.setdefault(str(_get(ds, "SeriesInstanceUID", "") or "no-uid"), []).append(ds)
    ordered = sorted(by_series.values(),
                     key=lambda g: (_float(_get(g[0], "SeriesNumber"), 1e9), str(_get(g[0], "SeriesInstanceUID", ""))))
    volumes: list[_Series] = []
    errors: list[tuple[bool, StudyError]] = []
    single = len(members) == 1 and len(ordered) == 1
    for k, datasets in enumerate(ordered):
        datasets.sort(key=lambda ds: _float(_get(ds, "InstanceNumber"), 0) or 0)
        ds0 = datasets[0]
        idents = set()
        for ds in datasets[:1]:
            idents |= identifiers(ds)
        label, desc = _series_label(ds0, idents, k)
        label = source if single else f"{source} › {label}"
        try:
            frames = [f for ds in datasets for f in _frames_of(ds)]
            _check_series_kind(datasets, frames, label)
            data, affine, warns = _stack_series(datasets, frames, label)
            if looks_like_ct(data):
                raise NotMRIError(f"{label} has intensities like CT Hounsfield units (air near "
                                  "-1000), not MRI. TumorBoard reads MRI only.")
        except _Drop as drop:
            errors.append((True, drop.error))
            continue
        except StudyError as exc:
            errors.append((False, exc))
            continue
        text = f"{_get(ds0, 'SeriesDescription', '')} {_get(ds0, 'ProtocolName', '')}"
        agent = bool(str(_get(ds0, "ContrastBolusAgent", "") or "").strip())
        hint = sequence_from_description(text, agent, str(_get(ds0, "AcquisitionContrast", "") or ""))
        volumes.append(_Series(data, affine, label, hint, tuple(warns),
                                   _details(ds0, desc, data.shape[2])))
    if volumes:
        notes.extend(dict.fromkeys(f"Skipped: {exc}" for _, exc in errors))
    if not volumes:
        if len(errors) == 1:
            raise errors[0][1]
        major = [e for m, e in errors if not m] or [e for _, e in errors]
        major.sort(key=lambda e: next((i for i, t in enumerate(_PRIORITY) if isinstance(e, t)), 99))
        texts = list(dict.fromkeys(str(e) for e in major))
        msg = " ".join(texts[:4])
        more = f" (and {len(texts) - 4} more)" if len(texts) > 4 else ""
        raise type(major[0])(f"{source} holds no usable MRI series. {msg}{more}")
    return volumes, notes

