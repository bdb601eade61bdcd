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
import time
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
from model.imaging.io.dicom_ref import reference_of, remember
from model.imaging.io.dicom_frames import (ENHANCED_MR, Frame, encapsulated,
                                           frames_of, image_type, num, private,
                                           transfer_syntax_name, value_of)
from model.imaging.io.deid import MODALITIES, PHOTOMETRIC, enumerated, fold, identifiers, scrub
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


def _holds(source: str) -> str:
    """ "hold" after a plural upload name ("2 DICOM files"), else "holds"."""
    return "hold" if re.fullmatch(r"\d+ DICOM files", source) else "holds"



@dataclass(frozen=True)
class _Series:
    """One DICOM series stacked into a volume (not yet reoriented).

    Attributes
    ----------
    data
        float32 (X, Y, Z) = (columns, rows, slices), after RescaleSlope/Intercept.
    affine
        float64 (4, 4) voxel -> RAS+ world (mm) matrix of ``data``.
    label
        de-identified display name, e.g. ``"study.zip › series 3 (AX T1 POST)"``, or
        the source name alone for a single-file upload.
    sequence_hint
        T1/T1ce/T2/FLAIR recognised from the description or contrast tags, or
        None (see :func:`sequence_from_description`).
    warnings
        non-fatal problems found in this series.
    details
        whitelisted technical fields (keys from :data:`DETAIL_FIELDS`).
    """

    data: np.ndarray
    affine: np.ndarray
    label: str
    sequence_hint: str | None
    warnings: tuple[str, ...] = ()
    details: dict = field(default_factory=dict)
    geometry_known: bool = True



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


# --------------------------------------------------------------------------- series

class _Drop(Exception):
    """A series skipped for an expected reason (localizer, derived) - minor."""

    def __init__(self, error: StudyError):
        super().__init__(str(error))
        self.error = error


def _series_label(ds0: Dataset, idents: set[str], k: int) -> tuple[str, str]:
    desc = scrub(" ".join(str(value_of(ds0, kw, "") or "") for kw in ("SeriesDescription",)).strip()
                 or str(value_of(ds0, "ProtocolName", "") or ""), idents)
    number = num(value_of(ds0, "SeriesNumber"))
    label = f"series {int(number)}" if number is not None and abs(number) < 1e9 else f"series #{k + 1}"
    return (f"{label} ({desc})" if desc else label), desc


def _check_series_kind(datasets: list[Dataset], frames: list[Frame], label: str) -> None:
    ds0 = datasets[0]
    raw_modality = str(value_of(ds0, "Modality", "") or "").strip()
    modality = enumerated(raw_modality, MODALITIES)
    sop = str(value_of(ds0, "SOPClassUID", ""))
    if modality == "CT" or sop in _CT_SOP:
        raise NotMRIError(f"{label} is CT (DICOM Modality CT), not MRI. TumorBoard reads MRI only.")
    if raw_modality and modality is None:
        raise NotMRIError(f"{label} has an unknown Modality value, not MR. TumorBoard reads MRI "
                          "only; export the MR series again.")
    if modality and modality != "MR":
        raise NotMRIError(f"{label} has DICOM Modality {modality} ({MODALITIES[modality]}), not MR. "
                          "TumorBoard reads MRI only.")
    itype = set()
    for ds in datasets:
        itype.update(image_type(ds))
    text = _low(f"{value_of(ds0, 'SeriesDescription', '')} {value_of(ds0, 'ProtocolName', '')}")
    if "MOSAIC" in itype or any(private(ds, (0x0019, 0x100A)) is not None for ds in datasets[:3]):
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
    spp = int(num(value_of(ds0, "SamplesPerPixel"), 1) or 1)
    raw_photo = str(value_of(ds0, "PhotometricInterpretation", "MONOCHROME2") or "MONOCHROME2")
    photo = enumerated(raw_photo, PHOTOMETRIC)
    if photo is None:
        raise UnreadableFileError(
            f"{label} has an unknown PhotometricInterpretation value, so its pixels cannot be "
            "interpreted. Export the original greyscale series again.")
    if spp != 1 or not photo.startswith("MONOCHROME"):
        kind = PHOTOMETRIC[photo] if not photo.startswith("MONOCHROME") else f"{spp} samples per pixel"
        raise WrongDimensionsError(
            f"{label} holds colour images ({kind}), not MRI intensities. Upload the "
            "original greyscale series.")
    comp = str(value_of(ds0, "ComplexImageComponent", "") or "").upper()
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
            ts_name = transfer_syntax_name(ts) or "an unknown encoding"
            if isinstance(exc, (NotImplementedError, RuntimeError)) and encapsulated(ts):
                raise UnsupportedDicomError(
                    f"{label} is compressed as {ts_name}, which this installation cannot decode. "
                    "Export the series uncompressed (Explicit VR Little Endian).") from None
            raise UnreadableFileError(
                f"{label}: the pixel data is truncated or corrupt ({type(exc).__name__}). "
                "Export the series again.") from None
        cache[key] = np.asarray(arr)
    return cache[key]


def _frame_pixels(fr: Frame, cache: dict, label: str, rows: int, cols: int) -> np.ndarray:
    arr = _pixels(fr.ds, cache, label)
    if fr.index is not None:
        if arr.ndim != 3 or fr.index >= arr.shape[0]:
            raise UnreadableFileError(f"{label}: the number of frames does not match the header.")
        arr = arr[fr.index]
    if arr.shape != (rows, cols):
        raise UnreadableFileError(f"{label}: an image does not have the size its header states.")
    with np.errstate(over="ignore", invalid="ignore"):  # a hostile RescaleSlope: inf, then refused
        return arr.astype(np.float32) * np.float32(fr.slope) + np.float32(fr.intercept)


def _stack_series(datasets: list[Dataset], frames: list[Frame], label: str
                  ) -> tuple[np.ndarray, np.ndarray, list[str], bool]:
    """Sort, check and stack the frames of one series.

    Returns
    -------
    data : numpy.ndarray
        float32 (columns, rows, slices), rescaled.
    affine : numpy.ndarray
        float64 (4, 4) voxel -> RAS+ mm.
    warns : list of str
    geometry_known : bool
        False when the pixel spacing (missing, zero, NaN), the orientation (missing,
        degenerate) or the slice spacing had to be assumed.
    """
    warns: list[str] = []
    known = True
    ds0 = datasets[0]
    rows, cols = int(ds0.Rows), int(ds0.Columns)
    if not (1 <= rows <= config.MAX_DICOM_MATRIX and 1 <= cols <= config.MAX_DICOM_MATRIX):
        raise UnreadableFileError(f"{label}: image size {rows}x{cols} is not plausible.")
    for ds in datasets:
        if (int(num(value_of(ds, "Rows"), -1)), int(num(value_of(ds, "Columns"), -1))) != (rows, cols):
            raise IncompleteSeriesError(
                f"{label} mixes images of different sizes; it is not one volume. Export the "
                "series again or upload each part separately.")
    if rows * cols * len(frames) > config.MAX_VOXELS:
        raise UploadTooLargeError(f"{label} has {rows}x{cols}x{len(frames)} voxels, above the "
                                  f"{config.MAX_VOXELS} limit.")
    # Same instance read twice (a file copied twice into the folder).
    seen: dict[str, Frame] = {}
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
        known = False
        warns.append(f"{label}: no usable pixel spacing in the header (missing, zero or not a "
                     "number); 1 mm pixels were assumed, so sizes in mm and mL are unknown.")
    if geometry:
        r0, c0 = frames[0].row_cos, frames[0].col_cos
        nr, nc = np.linalg.norm(r0), np.linalg.norm(c0)
        if nr >= 1e-6 and nc >= 1e-6 and abs(float((r0 / nr) @ (c0 / nc))) > 0.99:
            geometry = False
            warns.append(f"{label}: the image orientation in the header is degenerate (row and "
                         "column directions are parallel).")

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
            sbs = num(value_of(ds0, "SpacingBetweenSlices"))
            if sbs and sbs > 0 and step > 1.8 * sbs and abs(step / sbs - round(step / sbs)) < 0.1:
                warns.append(f"{label}: slices are {step:.2f} mm apart but the header says "
                             f"{sbs:.2f} mm: every other slice may be missing.")
        else:  # one slice: its thickness is its extent
            step = frames[0].thickness or num(value_of(ds0, "SpacingBetweenSlices")) or 1.0
            known = known and bool(frames[0].thickness or num(value_of(ds0, "SpacingBetweenSlices")))
        origin = frames[0].position
    else:
        frames.sort(key=lambda f: (f.instance, f.index or 0))
        r, c, n = np.array([1.0, 0, 0]), np.array([0, 1.0, 0]), np.array([0, 0, 1.0])
        step = num(value_of(ds0, "SpacingBetweenSlices")) or frames[0].thickness or 1.0
        known = False
        warns.append(f"{label}: no slice position/orientation in the header; slices were stacked "
                     f"in instance order {step:g} mm apart and the orientation is unknown "
                     "(left/right may be wrong).")
        origin = np.zeros(3)
        # One image per position is all we can assume: identical images are still duplicates.
    data = np.empty((cols, rows, len(frames)), dtype=np.float32)
    for k, fr in enumerate(frames):
        data[:, :, k] = _frame_pixels(fr, cache, label, rows, cols).T
    photo = str(value_of(ds0, "PhotometricInterpretation", "") or "").upper()
    if photo == "MONOCHROME1":
        with np.errstate(over="ignore", invalid="ignore"):
            data = (data.max() + data.min() - data).astype(np.float32)
        warns.append(f"{label}: MONOCHROME1 images (inverted grey scale) were inverted back.")
    lps = np.eye(4)
    lps[:3, 0] = r * ps[1]
    lps[:3, 1] = c * ps[0]
    lps[:3, 2] = n * step
    lps[:3, 3] = origin
    return data, _LPS_TO_RAS @ lps, warns, known


def _details(ds0: Dataset, desc: str, n_slices: int, idents: set[str]) -> dict:
    ts = getattr(getattr(ds0, "file_meta", None), "TransferSyntaxUID", None)
    out = {
        "format": "DICOM",
        "modality": enumerated(value_of(ds0, "Modality", ""), MODALITIES) or "",
        "series_number": int(num(value_of(ds0, "SeriesNumber"), 0) or 0),
        "description": desc,
        "manufacturer": scrub(str(value_of(ds0, "Manufacturer", "") or ""), idents, 32),
        "field_strength_t": num(value_of(ds0, "MagneticFieldStrength")),
        "transfer_syntax": transfer_syntax_name(ts) or ("unknown" if ts else ""),
        "enhanced": str(value_of(ds0, "SOPClassUID", "")) in ENHANCED_MR,
        "slices": n_slices,
        "repetition_time_ms": num(value_of(ds0, "RepetitionTime")),
        "echo_time_ms": num(value_of(ds0, "EchoTime")),
        "inversion_time_ms": num(value_of(ds0, "InversionTime")),
    }
    return {k: out[k] for k in DETAIL_FIELDS}


_PRIORITY = (IncompleteSeriesError, UnreadableFileError, TimeSeriesError, WrongDimensionsError,
             UploadTooLargeError, NotMRIError, UnsupportedDicomError)


def read_dicom_series(members: Sequence[tuple[str, bytes]], source: str) -> tuple[list[Volume], list[str]]:
    """Read every structural MR series found among DICOM members.

    Parameters
    ----------
    members
        ``(member_name, bytes)``; names are used to skip ``__MACOSX``, ``._*`` and
        DICOMDIR and are never shown.
    source
        display name of the upload (folder or zip name), used in messages.

    Returns
    -------
    tuple of (list of Volume, list of str)
        ``(volumes, notes)``: one RAS+ :class:`model.imaging.volume.Volume` per usable series
        (``details`` holds the fields of :data:`DETAIL_FIELDS`), ordered by series
        number, and notes on what was skipped (non-DICOM members, dropped series).

    Raises
    ------
    EmptyStudyError-like :class:`UnreadableFileError`
        no DICOM image at all.
    NotMRIError
        only CT (or other non-MR) series.
    UnsupportedDicomError
        only mosaic, diffusion, localizer/derived or undecodable series.
    IncompleteSeriesError
        the only candidate series has missing/duplicated/uneven slices.
    TimeSeriesError, WrongDimensionsError, UploadTooLargeError
        see their docs.
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
        details = dict(sv.details)
        reference = details.pop("_reference", None)
        out.append(make_volume(sv.data, sv.affine, sv.label, digest, "DICOM", list(sv.warnings),
                               details, hint=sv.sequence_hint, geometry_known=sv.geometry_known))
        remember(out[-1].content_hash, reference)  # model.imaging.io.dicom_ref (DICOM SEG export)
    return out, notes


def _read_dicom_series(members, source):
    notes: list[str] = []
    if len(members) > config.MAX_ARCHIVE_MEMBERS:
        raise UploadTooLargeError(f"{source} {_holds(source)} {len(members)} files; the limit is {config.MAX_ARCHIVE_MEMBERS}.")
    parsed: list[Dataset] = []
    skipped = 0
    deadline = time.monotonic() + config.MAX_LOAD_SECONDS
    for name, data in members:
        if time.monotonic() > deadline:
            raise UploadTooLargeError(f"{source}: reading the DICOM files took longer than "
                                      f"{config.MAX_LOAD_SECONDS:.0f} s; upload one series at a time.")
        if _skip_member(name):
            continue
        ds = _parse(data)
        if ds is None:
            skipped += 1
            continue
        parsed.append(ds)
    # Identifiers of every file: the upload's own name and every kept text are scrubbed of them.
    idents: set[str] = set()
    for ds in parsed:
        idents |= identifiers(ds)
    source = scrub(source, idents, 120) or "The upload"
    if skipped:
        notes.append(f"{source}: {skipped} file(s) that are not DICOM images were skipped.")
    if not parsed:
        raise UnreadableFileError(
            f"{source} {_holds(source)} no readable DICOM image. Upload the folder of a DICOM MR series "
            "(zipped), or NIfTI files.")
    # One study is one patient: an archive mixing patients is refused (identities compared,
    # never shown); several sessions of one patient are loaded with a warning.
    patients = {tuple(fold(str(value_of(ds, kw, "") or "")).strip() for kw in
                      ("PatientID", "PatientName", "PatientBirthDate")) for ds in parsed}
    patients.discard(("", "", ""))
    if len(patients) > 1:
        raise MixedPatientsError(
            f"{source} {_holds(source)} images of {len(patients)} different patients. Upload one patient's "
            "study at a time.")
    studies = {str(value_of(ds, "StudyInstanceUID", "") or "") for ds in parsed} - {""}
    if len(studies) > 1:
        notes.append(f"{source} {_holds(source)} series from {len(studies)} different studies (sessions) of "
                     "one patient: they may not be co-registered.")
    by_series: dict[str, list[Dataset]] = {}
    for ds in parsed:
        by_series.setdefault(str(value_of(ds, "SeriesInstanceUID", "") or "no-uid"), []).append(ds)
    ordered = sorted(by_series.values(),
                     key=lambda g: (num(value_of(g[0], "SeriesNumber"), 1e9), str(value_of(g[0], "SeriesInstanceUID", ""))))
    volumes: list[_Series] = []
    errors: list[tuple[bool, StudyError]] = []
    single = len(members) == 1 and len(ordered) == 1
    for k, datasets in enumerate(ordered):
        datasets.sort(key=lambda ds: num(value_of(ds, "InstanceNumber"), 0) or 0)
        ds0 = datasets[0]
        label, desc = _series_label(ds0, idents, k)
        label = source if single else f"{source} › {label}"
        try:
            frames = [f for ds in datasets for f in frames_of(ds, label)]
            _check_series_kind(datasets, frames, label)
            data, affine, warns, known = _stack_series(datasets, frames, label)
            if looks_like_ct(data):
                raise NotMRIError(f"{label} has intensities like CT Hounsfield units (air near "
                                  "-1000), not MRI. TumorBoard reads MRI only.")
        except _Drop as drop:
            errors.append((True, drop.error))
            continue
        except StudyError as exc:
            errors.append((False, exc))
            continue
        text = f"{value_of(ds0, 'SeriesDescription', '')} {value_of(ds0, 'ProtocolName', '')}"
        agent = bool(str(value_of(ds0, "ContrastBolusAgent", "") or "").strip())
        hint = sequence_from_description(text, agent, str(value_of(ds0, "AcquisitionContrast", "") or ""))
        details = _details(ds0, desc, data.shape[2], idents)
        # UIDs + geometry for a DICOM SEG export, no patient detail (popped before make_volume)
        details["_reference"] = reference_of(ds0, frames, data.shape[1], data.shape[0])
        volumes.append(_Series(data, affine, label, hint, tuple(warns), details, known))
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
        raise type(major[0])(f"{source} {_holds(source)} no usable MRI series. {msg}{more}")
    return volumes, notes

