"""Study loading: MRI files in, a :class:`Study` of RAS-oriented volumes out.

A study is up to four MRI sequences (T1, T1ce, T2, FLAIR) of one patient. Accepted inputs:

* NIfTI-1 and NIfTI-2 (``.nii``, ``.nii.gz``; gzip is recognised by its magic bytes, not the
  extension); a 4D file with one volume is squeezed; a 4D file holding 2-4 sequences as
  channels (BraTS style) is split, one volume per channel, whose sequence must then be given;
* a 2D NIfTI, or a single 2D picture (PNG, JPEG) or DICOM image: a one-slice study, with a
  warning;
* Analyze 7.5 ``.hdr`` + ``.img`` pairs (and NIfTI pairs), with a left/right warning;
* FreeSurfer MGH/MGZ;
* DICOM: loose ``.dcm`` files, a folder, or a ``.zip`` holding one series or a whole study
  (see :mod:`model.dicom`); a zip may also hold NIfTI/MGH/Analyze files.

Everything is read **in memory** (nothing is written to disk); decompression (gzip, zip) is
capped so a bomb or a truncated archive is refused instead of becoming a half-zero volume.

Every volume is reoriented to RAS+ with nibabel's ``orientations`` (the same operation as
``nibabel.as_closest_canonical``) and keeps its affine, so voxel ``(i, j, k)`` of
``Volume.data`` lies at ``Volume.affine @ (i, j, k, 1)`` in scanner millimetres. A sheared
affine is resampled onto the nearest orthogonal grid with MONAI (warning). Each volume stays on
its own grid; :meth:`Study.resampled_to` puts all of them on a reference sequence's grid.

Refusals are :class:`model.errors.StudyError` subclasses whose messages say what is wrong and
what to upload instead. Patient details never leave the loaders: volumes keep a whitelist of
technical fields (``Volume.details``), and messages name files and series, never header values.

Example::

    >>> from model.study import Study, DEMO_STUDY_DIR
    >>> study = Study.from_paths(sorted(DEMO_STUDY_DIR.glob("*.nii.gz")))
    >>> study.sequences
    ('T1', 'T1ce', 'T2', 'FLAIR')
    >>> study.volumes["T1ce"].orientation
    'RAS'
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import re
import warnings as _warnings
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterable, Sequence

import nibabel as nib
import numpy as np
from nibabel import orientations as nio

from model.core.errors import (
    AmbiguousChannelsError,
    DuplicateSequenceError,
    EmptyStudyError,
    GeometryError,
    NotMRIError,
    StudyError,
    TimeSeriesError,
    UnknownSequenceError,
    UnreadableFileError,
    UploadTooLargeError,
    WrongDimensionsError,
)

#: Canonical sequence names, in display order.
SEQUENCES: tuple[str, ...] = ("T1", "T1ce", "T2", "FLAIR")
#: Order in which a reference grid is chosen by :meth:`Study.resampled_to`.
REFERENCE_ORDER: tuple[str, ...] = ("T1ce", "T1", "T2", "FLAIR")

REPO_ROOT = Path(__file__).resolve().parent.parent
#: BraTS 2023 adult-glioma case BraTS-GLI-00001-000 (see data/demo_study/ATTRIBUTION.md).
DEMO_STUDY_DIR = REPO_ROOT / "data" / "demo_study"


def _configured_upload_mb(default: int = 200) -> int:
    """``server.maxUploadSize`` (MB) of ``.streamlit/config.toml``, or ``default``."""
    try:
        import tomllib

        cfg = tomllib.loads((REPO_ROOT / ".streamlit" / "config.toml").read_text())
        return max(1, int(cfg["server"]["maxUploadSize"]))
    except Exception:
        return default


#: Largest file accepted, compressed or not (bytes): ``server.maxUploadSize`` MB.
MAX_FILE_BYTES = _configured_upload_mb() * 1024 * 1024
#: Largest decompressed single file accepted (bytes): a 512x512x400 float32 volume is 400 MiB.
MAX_DECOMPRESSED_BYTES = 512 * 1024 * 1024
#: Largest total content of a zip or folder (bytes, after decompression).
MAX_ARCHIVE_BYTES = 1024 * 1024 * 1024
#: Largest number of files in a zip or folder.
MAX_ARCHIVE_MEMBERS = 20_000
#: Largest number of voxels accepted for one volume.
MAX_VOXELS = 512 * 512 * 512
#: Most sequences one 4D file may hold as channels; more volumes is a time series.
MAX_CHANNELS = 4
#: Largest side of a 2D picture (pixels).
MAX_PICTURE_SIDE = 8192

# Name tokens -> sequence. Covers BraTS 2018-2021 (_t1 _t1ce _t2 _flair), BraTS 2023
# (-t1n -t1c -t2w -t2f), TCGA/TCIA exports (_t1 _t1c _t2 _fla) and common research names.
_TOKENS: dict[str, str] = {
    "t1": "T1", "t1n": "T1", "t1w": "T1", "t1pre": "T1", "t1native": "T1", "mprage": "T1",
    "t1ce": "T1ce", "t1c": "T1ce", "t1gd": "T1ce", "t1post": "T1ce", "t1contrast": "T1ce",
    "t1wce": "T1ce", "t1cegd": "T1ce", "ce": "T1ce", "gd": "T1ce",
    "t2": "T2", "t2w": "T2",
    "flair": "FLAIR", "t2f": "FLAIR", "fla": "FLAIR", "t2flair": "FLAIR",
}
_NOT_AN_IMAGE_TOKENS = {"seg", "mask", "label", "labels", "gt"}
_NIFTI_SUFFIXES = (".nii.gz", ".nii", ".img.gz", ".hdr.gz", ".mgz", ".gz")
_SKIP = "-"


def canonical_sequence(name: str) -> str:
    """Return the canonical spelling of a sequence name given by a user.

    Accepts any case and the aliases of :func:`recognise_sequence` (``t1c``, ``flair``...).

    Raises:
        UnknownSequenceError: ``name`` is none of T1, T1ce, T2, FLAIR or their aliases.
    """
    key = re.sub(r"[^a-z0-9]", "", name.lower())
    for seq in SEQUENCES:
        if key == seq.lower():
            return seq
    if key in _TOKENS:
        return _TOKENS[key]
    raise UnknownSequenceError(
        f"'{name[:40]}' is not a known MRI sequence; use one of {', '.join(SEQUENCES)}."
    )


def _stem(filename: str) -> str:
    base = Path(filename).name
    low = base.lower()
    for suf in _NIFTI_SUFFIXES:
        if low.endswith(suf):
            return base[: -len(suf)]
    return Path(base).stem


def recognise_sequence(filename: str) -> str | None:
    """Guess the MRI sequence from a file name, or return None when it cannot tell.

    The last name tokens (split on ``-``, ``_``, ``.``, spaces) are matched, the pair of the
    last two first, so ``t1_post`` is T1ce and ``t1_pre`` is T1. Examples::

        >>> recognise_sequence("BraTS-GLI-00001-000-t2f.nii.gz")
        'FLAIR'
        >>> recognise_sequence("Brats18_TCIA02_471_1_t1ce.nii.gz")
        'T1ce'
        >>> recognise_sequence("TCGA-FG-6692_fla.nii.gz")
        'FLAIR'
        >>> recognise_sequence("scan.nii") is None
        True
    """
    tokens = [t for t in re.split(r"[-_.\s]+", _stem(filename).lower()) if t]
    if not tokens:
        return None
    if len(tokens) >= 2 and tokens[-2] + tokens[-1] in _TOKENS:
        return _TOKENS[tokens[-2] + tokens[-1]]
    for tok in reversed(tokens):
        if tok in _TOKENS:
            return _TOKENS[tok]
    return None


def _is_mask_name(name: str) -> bool:
    return bool(set(re.split(r"[-_.\s]+", _stem(Path(name).name).lower())) & _NOT_AN_IMAGE_TOKENS)


@dataclass(frozen=True)
class Volume:
    """One MRI sequence of a study, reoriented to RAS+.

    Attributes:
        sequence: one of :data:`SEQUENCES` (``""`` while not yet assigned, see
            :func:`read_uploads`).
        data: float32 array of shape (X, Y, Z); axis 0 points to the patient's Right,
            axis 1 Anterior, axis 2 Superior. Intensities as stored, after scl_slope/scl_inter
            (NIfTI) or RescaleSlope/RescaleIntercept (DICOM). Z is 1 for a one-slice study.
        affine: float64 (4, 4) voxel-to-world (scanner RAS, mm) matrix of ``data``.
        source_name: de-identified display name: the file name as uploaded (no directories),
            plus ``" › series N (description)"`` or ``" › channel i/n"`` when one upload holds
            several volumes. Never header contents other than a scrubbed series description.
        source_orientation: orientation codes of the file before reorientation, e.g. "LPS".
        content_hash: sha256 (hex) of the bytes the volume was read from (of the voxel data
            and affine for DICOM series).
        warnings: non-fatal problems found while loading this volume.
        details: whitelisted technical fields: ``format`` (e.g. "NIfTI-1", "DICOM", "MGH",
            "Analyze", "PNG") and, for DICOM, the fields of :data:`model.dicom.DETAIL_FIELDS`.
    """

    sequence: str
    data: np.ndarray
    affine: np.ndarray
    source_name: str
    source_orientation: str
    content_hash: str
    warnings: tuple[str, ...] = ()
    details: dict = field(default_factory=dict)

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
        }


# ============================================================================ byte-level helpers

def _read_capped(data: bytes, name: str, cap: int | None = None) -> bytes:
    """Decompress gzip data (recognised by magic bytes) with a size cap; other data as is.

    Raises:
        UploadTooLargeError: decompresses past ``cap`` (gzip bomb).
        UnreadableFileError: truncated or corrupt gzip stream.
    """
    if data[:2] != b"\x1f\x8b":
        return data
    cap = MAX_DECOMPRESSED_BYTES if cap is None else cap
    try:
        decomp = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        out = decomp.decompress(data, cap + 1)
        if len(out) > cap or decomp.unconsumed_tail:
            raise UploadTooLargeError(
                f"{name}: decompresses to more than {cap // 2**20} MiB; "
                "this is not a single MRI volume."
            )
        if not decomp.eof:
            raise UnreadableFileError(
                f"{name}: the compressed file is truncated (incomplete download or copy). "
                "Upload the complete file."
            )
        # Multi-member gzip files are legal; read the rest through the gzip module.
        if decomp.unused_data.strip(b"\x00"):
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as fh:
                out = fh.read(cap + 1)
            if len(out) > cap:
                raise UploadTooLargeError(f"{name}: decompresses past the size cap.")
        return out
    except (zlib.error, EOFError, OSError, gzip.BadGzipFile) as exc:
        raise UnreadableFileError(
            f"{name}: the compressed file is corrupt ({type(exc).__name__}). "
            "Upload the original file."
        ) from None


def _sniff(raw: bytes) -> str | None:
    """Content type from magic bytes: nifti1, nifti2, analyze, png, jpeg, tiff, dicom, zip,
    pdf, gzip, or None."""
    if raw[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if raw[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if raw[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if len(raw) >= 132 and raw[128:132] == b"DICM":
        return "dicom"
    if raw[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if raw[:4] == b"%PDF":
        return "pdf"
    if raw[:2] == b"\x1f\x8b":
        return "gzip"
    if len(raw) >= 348:
        le, be = int.from_bytes(raw[:4], "little"), int.from_bytes(raw[:4], "big")
        if 540 in (le, be) and raw[4:8] in (b"n+2\x00", b"ni2\x00"):
            return "nifti2"
        if 348 in (le, be):
            return "nifti1" if raw[344:348] == b"n+1\x00" else "analyze"
    return None


_DESCRIBE = {
    "png": "a PNG picture", "jpeg": "a JPEG picture", "tiff": "a TIFF picture",
    "dicom": "a DICOM file", "zip": "a ZIP archive", "pdf": "a PDF document",
    "gzip": "a doubly compressed file", "analyze": "an Analyze/NIfTI header without image data",
}


def _ext(name: str) -> str:
    """Lower-case extension without a trailing .gz: '.nii', '.mgz', '.hdr', '.dcm', '' ..."""
    low = Path(name).name.lower()
    if low.endswith(".gz") and not low.endswith(".mgz"):
        low = low[:-3]
    if low.endswith(".nii"):
        return ".nii"
    return Path(low).suffix


_NIFTI_EXT, _MGH_EXT, _PAIR_EXT = {".nii"}, {".mgh", ".mgz"}, {".hdr", ".img"}
_PICTURE_EXT = {".png", ".jpg", ".jpeg"}
_DICOM_EXT = {".dcm", ".dicom", ".ima"}
_SKIPPED_EXT = {".txt", ".md", ".pdf", ".html", ".htm", ".xml", ".json", ".csv", ".tsv", ".bval",
                ".bvec", ".log", ".ini", ".db", ".rtf", ".doc", ".docx", ".exe", ".bat", ".sh"}


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

    Args:
        data: (X, Y, Z) array on the grid of ``src_affine``.
        src_affine, dst_affine: float (4, 4) voxel-to-world matrices (mm); voxel centres map
            through them (nibabel convention).
        dst_shape: (X', Y', Z') of the output grid.
        mode: "bilinear" (trilinear) or "nearest".

    Returns:
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
    if int(np.prod(shape)) > MAX_VOXELS:
        raise GeometryError(f"{name}: the sheared volume would need {shape} voxels on a regular "
                            "grid, above the limit. Re-export the volume.")
    dst = np.eye(4)
    dst[:3, :3] = lin
    dst[:3, 3] = lin @ vmin
    out = resample_array(arr, affine, dst, shape)
    warns.append(f"{name}: the voxel grid is sheared (axes {deviation:.1f}° from perpendicular); "
                 f"it was resampled (trilinear, MONAI) onto a regular grid of {shape} voxels.")
    return out, dst


def _finish(arr: np.ndarray, affine, name: str, digest: str, fmt: str,
            warns: list[str], details: dict | None = None, hint: str | None = None) -> Volume:
    """Validate intensities and geometry of a 3D array and reorient it to RAS+."""
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
    from model.dicom import looks_like_ct

    if looks_like_ct(arr):
        raise NotMRIError(
            f"{name} has intensities like CT Hounsfield units (air near -1000), not MRI. "
            "TumorBoard reads MRI only.")
    affine = _safe_affine(affine, name, warns)
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
                  warnings=tuple(dict.fromkeys(warns)), details={"format": fmt, **(details or {})})


# ============================================================================ NIfTI / Analyze / MGH

def _nifti_affine(img, name: str, warns: list[str]):
    """Affine of a NIfTI (1, 2 or pair) image: sform when its code > 0, else qform; warns
    when both are set and disagree, or when neither is."""
    hdr = img.header
    try:
        scode, qcode = int(hdr["sform_code"]), int(hdr["qform_code"])
    except Exception:
        scode = qcode = 0
    sform = qform = None
    try:
        sform = hdr.get_sform()
    except Exception:
        scode = 0
    try:
        qform = hdr.get_qform()
    except Exception:
        qcode = 0
    if scode > 0 and qcode > 0 and sform is not None and qform is not None:
        shape = np.array([max(int(s), 1) for s in img.shape[:3]] + [1] * (3 - len(img.shape[:3])))
        corners = np.array([[i, j, k, 1.0] for i in (0, shape[0] - 1) for j in (0, shape[1] - 1)
                            for k in (0, shape[2] - 1)])
        with np.errstate(all="ignore"):
            dist = np.linalg.norm(((sform - qform) @ corners.T)[:3], axis=0).max()
        if not np.isfinite(dist) or dist > 0.1:
            warns.append(f"{name}: the two orientations in the header (qform and sform) disagree "
                         f"by up to {dist:.1f} mm; the sform was used (as most tools do). Check "
                         "the orientation.")
    chosen = sform if scode > 0 and sform is not None else qform if qcode > 0 else None
    if chosen is not None:
        if np.allclose(chosen, np.eye(4)):
            # Exports that lost the scanner geometry write the identity; believing it would
            # show the head flipped or squashed without a word.
            warns.append(f"{name}: the header's orientation is the identity (1 mm voxels, no "
                         "rotation), usually a placeholder written by a conversion tool; "
                         "orientation and voxel size may be wrong. Use the scanner's original "
                         "NIfTI or DICOM if you can.")
        return chosen
    warns.append(f"{name}: the header has no orientation (qform and sform codes are 0); the "
                 "voxel sizes were used with a default orientation, so left/right may be wrong.")
    try:
        return hdr.get_base_affine()
    except Exception:
        return None


def _float32_c(dataobj) -> np.ndarray:
    """``np.asarray(dataobj, dtype=np.float32)``, C-ordered when the data are unscaled.

    Performance only, same values: NIfTI stores voxels in Fortran order, and the checks and
    RAS flips after this want C order. Transposing once here, in the stored type (often
    2-byte integers) before nibabel's own conversion chain (stored type -> promoted type ->
    float32), replaces two float32 transpositions later. Scaled data (scl_slope/scl_inter
    not 1/0) and non-proxy arrays take nibabel's path unchanged.
    """
    from nibabel.arrayproxy import ArrayProxy

    try:
        unscaled = (isinstance(dataobj, ArrayProxy) and float(dataobj.slope) == 1.0
                    and float(dataobj.inter) == 0.0)
    except (TypeError, ValueError):
        unscaled = False
    if not unscaled:
        return np.asarray(dataobj, dtype=np.float32)
    raw = np.ascontiguousarray(dataobj.get_unscaled())
    return raw.astype(np.promote_types(raw.dtype, np.float32), copy=False).astype(np.float32, copy=False)


def _image_volumes(img, name: str, digest: str, fmt: str, warns: list[str]) -> list[Volume]:
    """Volumes of a nibabel image: one, or one per channel of a 4D multi-sequence file."""
    hdr = img.header
    try:
        dtype = hdr.get_data_dtype()
    except Exception:
        raise UnreadableFileError(f"{name}: the header's data type is invalid. Re-export the volume.") from None
    if dtype.fields is not None or dtype.kind == "c":
        raise WrongDimensionsError(
            f"{name} holds {'RGB' if dtype.fields else 'complex'} data, not an MRI intensity "
            "volume. Upload the magnitude image of the sequence."
        )
    if dtype.kind not in "biuf":
        raise UnreadableFileError(f"{name}: unsupported voxel type {dtype.str}.")
    shape = tuple(int(s) for s in img.shape)
    if not shape or min(shape) < 1:
        raise WrongDimensionsError(f"{name} holds no voxels (shape {shape}).")
    spatial = list(shape[:3]) + [1] * (3 - len(shape[:3]))
    extra = [s for s in shape[3:] if s != 1]
    if sum(s > 1 for s in spatial) < 2:
        raise WrongDimensionsError(
            f"{name} is a {sum(s > 1 for s in spatial)}D image (shape {shape}); upload a 3D volume.")
    n_vol = int(np.prod(extra)) if extra else 1
    if len(extra) > 1 or n_vol > MAX_CHANNELS:
        raise TimeSeriesError(
            f"{name} holds {n_vol} volumes (shape {shape}): a time series (fMRI, perfusion, "
            "diffusion), not structural sequences. Upload one 3D volume per sequence.")
    if int(np.prod(spatial)) * n_vol > MAX_VOXELS:
        raise UploadTooLargeError(f"{name}: {shape} voxels is above the {MAX_VOXELS} limit.")
    try:
        with _warnings.catch_warnings(), np.errstate(all="ignore"):
            _warnings.simplefilter("ignore")
            arr = _float32_c(img.dataobj).reshape(*spatial, n_vol)
    except Exception as exc:  # short data, bad offsets, unsupported dtypes
        raise UnreadableFileError(
            f"{name}: the image data is truncated or unreadable ({type(exc).__name__}). "
            "Upload the complete file."
        ) from None
    if isinstance(img, (nib.Nifti1Image, nib.Nifti2Image, nib.Nifti1Pair)):
        affine = _nifti_affine(img, name, warns)
    else:
        try:
            affine = img.affine
        except Exception:
            affine = None
    if n_vol == 1:
        return [_finish(arr[..., 0], affine, name, digest, fmt, warns, hint=recognise_sequence(name))]
    out = []
    for c in range(n_vol):
        label = f"{name} › channel {c + 1}/{n_vol}"
        cdigest = hashlib.sha256(f"{digest}:{c}".encode()).hexdigest()
        out.append(_finish(arr[..., c], affine, label, cdigest, fmt,
                           [w.replace(name, label, 1) for w in warns]))
    return out


def _read_nifti(raw: bytes, name: str, kind: str, digest: str) -> list[Volume]:
    klass = nib.Nifti2Image if kind == "nifti2" else nib.Nifti1Image
    try:
        with _warnings.catch_warnings():
            _warnings.simplefilter("ignore")
            img = klass.from_bytes(raw)
    except Exception as exc:  # nibabel raises many types for broken headers
        raise UnreadableFileError(
            f"{name}: the NIfTI header is corrupt ({type(exc).__name__}). Re-export the volume."
        ) from None
    return _image_volumes(img, name, digest, "NIfTI-2" if kind == "nifti2" else "NIfTI-1", [])


def _read_mgh(raw: bytes, name: str, digest: str) -> list[Volume]:
    if len(raw) < 284 or raw[:4] != b"\x00\x00\x00\x01":
        raise UnreadableFileError(f"{name} is not a FreeSurfer MGH/MGZ volume (bad header).")
    try:
        with _warnings.catch_warnings():
            _warnings.simplefilter("ignore")
            img = nib.MGHImage.from_bytes(raw)
    except Exception as exc:
        raise UnreadableFileError(
            f"{name}: the MGH header is corrupt ({type(exc).__name__}). Re-export the volume.") from None
    return _image_volumes(img, name, digest, "MGH", [])


def _read_pair(hdr_name: str, hdr: bytes, img_name: str, img: bytes) -> list[Volume]:
    from nibabel.fileholders import FileHolder

    name = Path(hdr_name).name
    hraw = _read_capped(hdr, hdr_name)
    iraw = _read_capped(img, img_name)
    digest = hashlib.sha256(hashlib.sha256(hdr).digest() + hashlib.sha256(img).digest()).hexdigest()
    if len(hraw) < 348 or 348 not in (int.from_bytes(hraw[:4], "little"), int.from_bytes(hraw[:4], "big")):
        raise UnreadableFileError(f"{name} is not an Analyze/NIfTI header. Upload the .hdr and .img "
                                  "pair exported together.")
    is_nifti = hraw[344:348] == b"ni1\x00"
    klass = nib.Nifti1Pair if is_nifti else nib.AnalyzeImage
    try:
        with _warnings.catch_warnings():
            _warnings.simplefilter("ignore")
            image = klass.from_file_map({"header": FileHolder(fileobj=io.BytesIO(hraw)),
                                         "image": FileHolder(fileobj=io.BytesIO(iraw))})
    except Exception as exc:
        raise UnreadableFileError(f"{name}: the Analyze header is corrupt ({type(exc).__name__}). "
                                  "Re-export the volume.") from None
    try:
        needed = int(np.prod(image.shape)) * image.header.get_data_dtype().itemsize
        offset = int(image.header.get_data_offset())
    except Exception:
        needed, offset = 0, 0
    if len(iraw) < offset + needed:
        raise UnreadableFileError(f"{Path(img_name).name} is truncated: it holds {len(iraw)} bytes "
                                  f"where its header describes {offset + needed}. Upload the complete file.")
    warns: list[str] = []
    if not is_nifti:
        warns.append(f"{name}: Analyze 7.5 files store no reliable left/right orientation; the "
                     "default (radiological, left and right swapped on disk) was assumed. Check "
                     "left and right against a known landmark, or upload NIfTI.")
    return _image_volumes(image, name, digest, "NIfTI-1 pair" if is_nifti else "Analyze", warns)


# ============================================================================ pictures

def _read_picture(raw: bytes, name: str, digest: str) -> list[Volume]:
    from PIL import Image

    try:
        with _warnings.catch_warnings():
            _warnings.simplefilter("ignore")
            im = Image.open(io.BytesIO(raw))
            w, h = im.size
            if not (1 <= w <= MAX_PICTURE_SIDE and 1 <= h <= MAX_PICTURE_SIDE):
                raise UploadTooLargeError(f"{name} is {w}x{h} pixels, above the "
                                          f"{MAX_PICTURE_SIDE} pixel limit.")
            im.load()
            if im.mode in ("L", "I", "F", "I;16", "I;16B", "I;16L", "1"):
                pix = np.asarray(im, dtype=np.float32)
            else:
                rgb = np.asarray(im.convert("RGB"), dtype=np.float32)
                if np.abs(rgb - rgb[..., :1]).max() > 3:
                    raise WrongDimensionsError(
                        f"{name} is a colour picture, not a greyscale MRI slice. Upload the MRI "
                        "volume (NIfTI or DICOM).")
                pix = rgb[..., 0]
    except StudyError:
        raise
    except Exception as exc:
        raise UnreadableFileError(f"{name}: the picture is truncated or corrupt "
                                  f"({type(exc).__name__}). Upload the complete file.") from None
    if pix.ndim != 2:
        raise WrongDimensionsError(f"{name}: unexpected picture layout.")
    # Picture in the radiological display convention: row 0 anterior, column 0 patient right.
    data = np.ascontiguousarray(pix[::-1, ::-1].T)[..., None]
    warns = [f"{name}: a single 2D picture, loaded as a one-slice study. Its pixel size is unknown "
             "(1 mm assumed) and it is assumed to be an axial slice shown in the radiological "
             "convention (patient's right on the left, anterior at the top). Upload the 3D "
             "volume if you have it."]
    return [_finish(data, np.eye(4), name, digest, "PNG" if raw[:4] == b"\x89PNG" else "JPEG",
                    warns, hint=recognise_sequence(name))]


# ============================================================================ DICOM, zip, folders

def _from_dicom(members: Sequence[tuple[str, bytes]], source: str) -> tuple[list[Volume], list[str]]:
    from model.dicom import read_dicom_series

    dvols, notes = read_dicom_series(members, source)
    out = []
    for dv in dvols:
        digest = hashlib.sha256(dv.data.tobytes() + dv.affine.tobytes()).hexdigest()
        out.append(_finish(dv.data, dv.affine, dv.label, digest, "DICOM", list(dv.warnings),
                           dv.details, hint=dv.sequence_hint))
    return out, notes


def _unzip(data: bytes, name: str) -> list[tuple[str, bytes]]:
    """Members of a zip held in memory, with caps on count and decompressed size."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = [i for i in zf.infolist() if not i.is_dir()]
    except Exception:
        raise UnreadableFileError(f"{name} is a corrupt or truncated ZIP archive. Zip the folder "
                                  "again and upload it.") from None
    if len(infos) > MAX_ARCHIVE_MEMBERS:
        raise UploadTooLargeError(f"{name} holds {len(infos)} files; the limit is "
                                  f"{MAX_ARCHIVE_MEMBERS}.")
    total = 0
    out = []
    for info in infos:
        if info.flag_bits & 0x1:
            raise UnreadableFileError(f"{name} is password-protected. Upload an unencrypted ZIP.")
        member = info.filename
        parts = PurePosixPath(member.replace("\\", "/")).parts
        if any(p == "__MACOSX" for p in parts) or (parts and parts[-1].startswith("._")):
            continue
        try:
            with zf.open(info) as fh:
                content = fh.read(MAX_ARCHIVE_BYTES - total + 1)
        except Exception as exc:
            raise UnreadableFileError(f"{name}: a member of the archive is corrupt "
                                      f"({type(exc).__name__}). Zip the folder again.") from None
        total += len(content)
        if total > MAX_ARCHIVE_BYTES:
            raise UploadTooLargeError(f"{name} decompresses to more than "
                                      f"{MAX_ARCHIVE_BYTES // 2**20} MiB; upload the MRI series only.")
        out.append((member, content))
    return out


def _read_dir(path: Path) -> list[tuple[str, bytes]]:
    """Files under a folder (recursively, symlinks not followed) with caps."""
    out, total = [], 0
    try:
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    except OSError as exc:
        raise UnreadableFileError(f"Cannot read the folder {path.name}: {exc.strerror or exc}.") from None
    if len(files) > MAX_ARCHIVE_MEMBERS:
        raise UploadTooLargeError(f"{path.name} holds {len(files)} files; the limit is "
                                  f"{MAX_ARCHIVE_MEMBERS}.")
    for p in files:
        try:
            size = p.stat().st_size
            total += size
            if total > MAX_ARCHIVE_BYTES:
                raise UploadTooLargeError(f"{path.name} holds more than {MAX_ARCHIVE_BYTES // 2**20} "
                                          "MiB; give the MRI series folders only.")
            out.append((p.relative_to(path).as_posix(), p.read_bytes()))
        except OSError as exc:
            raise UnreadableFileError(f"Cannot read a file in {path.name}: {exc.strerror or exc}.") from None
    return out


def _read_members(container: str, members: Sequence[tuple[str, bytes]]) -> tuple[list[Volume], list[str]]:
    """Volumes in the files of a zip or folder: DICOM members pooled, image files one by one."""
    from model.dicom import looks_like_dicom

    dicom, others, pairs = [], [], {}
    skipped = 0
    for member, content in members:
        base = PurePosixPath(member.replace("\\", "/")).name
        ext = _ext(base)
        low = base.lower()
        if low.startswith("._") or low in {".ds_store", "thumbs.db", "desktop.ini"} or low == "dicomdir":
            continue
        if ext in _SKIPPED_EXT or low.startswith("readme") or ext == ".zip":
            skipped += 1
            continue
        if ext in _PAIR_EXT:
            pairs.setdefault(_stem(base).lower(), {})[ext] = (base, content)
        elif ext in _NIFTI_EXT | _MGH_EXT | _PICTURE_EXT:
            if _is_mask_name(base):
                skipped += 1
                continue
            others.append((base, content))
        elif ext in _DICOM_EXT or looks_like_dicom(content) or _sniff(content) is None:
            dicom.append((member, content))
        else:
            skipped += 1
    notes = [f"{container}: {skipped} file(s) that are not MRI images were skipped."] if skipped else []
    vols: list[Volume] = []
    for base, content in others:
        for v in _read_file(base, content):
            vols.append(dataclasses.replace(v, source_name=f"{container} › {v.source_name}"))
    for stem, pair in pairs.items():
        if ".hdr" not in pair or ".img" not in pair:
            only = next(iter(pair.values()))[0]
            raise UnreadableFileError(f"{container}: {only} is half of an Analyze pair; the "
                                      f"{'.img' if '.hdr' in pair else '.hdr'} file is missing.")
        for v in _read_pair(pair[".hdr"][0], pair[".hdr"][1], pair[".img"][0], pair[".img"][1]):
            vols.append(dataclasses.replace(v, source_name=f"{container} › {v.source_name}"))
    if dicom:
        try:
            dv, dnotes = _from_dicom(dicom, container)
            vols.extend(dv)
            notes.extend(dnotes)
        except UnreadableFileError:
            if vols:  # non-DICOM leftovers next to NIfTI files
                notes.append(f"{container}: {len(dicom)} unrecognised file(s) were skipped.")
            else:
                raise
    if not vols:
        raise EmptyStudyError(f"{container} holds no MRI volume (NIfTI, DICOM, MGH or Analyze).")
    return vols, notes


def _read_file(name: str, data: bytes) -> list[Volume]:
    """Volumes of one single-file upload (not zip, not pair, not DICOM pool)."""
    display = Path(name).name
    if len(data) > MAX_FILE_BYTES:
        raise UploadTooLargeError(
            f"{display} is {len(data) / 2**20:.0f} MiB; the limit is {MAX_FILE_BYTES // 2**20} MiB."
        )
    if len(data) == 0:
        raise EmptyStudyError(f"{display} is empty (0 bytes). Upload the complete file.")
    digest = hashlib.sha256(data).hexdigest()
    raw = _read_capped(data, display)
    kind = _sniff(raw)
    ext = _ext(display)
    if ext in _NIFTI_EXT | _MGH_EXT | _PAIR_EXT and kind in _DESCRIBE and kind != "analyze":
        raise UnreadableFileError(
            f"{display} is {_DESCRIBE[kind]} renamed to {ext}, not an MRI volume. Upload the "
            "original file with its real extension (3D NIfTI, DICOM series, MGH).")
    if ext in _MGH_EXT:
        return _read_mgh(raw, display, digest)
    if kind in ("nifti1", "nifti2"):
        return _read_nifti(raw, display, kind, digest)
    if kind == "analyze":
        raise UnreadableFileError(
            f"{display} has a header without image data (Analyze .hdr or NIfTI pair). Upload "
            "the .hdr together with its .img file, or a single-file NIfTI (.nii or .nii.gz).")
    if ext in _PICTURE_EXT or kind in ("png", "jpeg"):
        if kind not in ("png", "jpeg"):
            raise UnreadableFileError(f"{display} is not a PNG or JPEG picture.")
        return _read_picture(raw, display, digest)
    if kind == "zip":
        raise UnreadableFileError(f"{display} is a ZIP archive inside another; upload it directly.")
    if kind == "dicom" or ext in _DICOM_EXT:
        vols, _ = _from_dicom([(display, raw)], display)
        return vols
    if kind in _DESCRIBE:
        raise UnreadableFileError(f"{display} is {_DESCRIBE[kind]}, not an MRI volume. Upload NIfTI, "
                                  "DICOM (a folder zipped), MGH/MGZ, Analyze .hdr+.img, PNG or JPEG.")
    raise UnreadableFileError(
        f"{display} is not a NIfTI file (no NIfTI header) nor another format TumorBoard reads. "
        "Upload NIfTI (.nii/.nii.gz), DICOM (a folder zipped), MGH/MGZ, Analyze .hdr+.img, PNG "
        "or JPEG.")


# ============================================================================ upload groups

@dataclass
class _Group:
    name: str
    kind: str  # "file", "pair", "dicom", "zip", "dir"
    spec: list[str] | None
    items: list[tuple[str, bytes]]


def _parse_spec(seq: str | None) -> list[str] | None:
    if seq is None or not str(seq).strip():
        return None
    out = []
    for part in str(seq).split(","):
        part = part.strip()
        out.append(_SKIP if part in (_SKIP, "skip", "none") else canonical_sequence(part))
    return out


def _group(files: Sequence[tuple[str, bytes | Path, str | None]]) -> list[_Group]:
    from model.dicom import looks_like_dicom

    groups: list[_Group] = []
    pairs: dict[str, _Group] = {}
    pools: dict[tuple, _Group] = {}
    for name, data, seq in files:
        spec = _parse_spec(seq)
        display = Path(str(name)).name
        if isinstance(data, Path):
            groups.append(_Group(display, "dir", spec, _read_dir(data)))
            continue
        ext = _ext(display)
        if ext in _PAIR_EXT:
            key = _stem(display).lower()
            g = pairs.get(key)
            if g is None:
                g = pairs[key] = _Group(_stem(display), "pair", spec, [])
                groups.append(g)
            g.spec = g.spec or spec
            g.items.append((display, data))
        elif ext == ".zip" or (ext not in _NIFTI_EXT | _MGH_EXT | _PICTURE_EXT
                               and data[:4] in (b"PK\x03\x04", b"PK\x05\x06")):
            groups.append(_Group(display, "zip", spec, [(display, data)]))
        elif ext in _DICOM_EXT or (ext not in _NIFTI_EXT | _MGH_EXT | _PICTURE_EXT and looks_like_dicom(data)):
            key = tuple(spec) if spec else None
            g = pools.get(key)
            if g is None:
                g = pools[key] = _Group(display, "dicom", spec, [])
                groups.append(g)
            g.items.append((display, data))
        else:
            groups.append(_Group(display, "file", spec, [(display, data)]))
    for g in pools.values():
        if len(g.items) > 1:
            g.name = f"{len(g.items)} DICOM files"
    return groups


def _read_group(g: _Group) -> tuple[list[Volume], list[str]]:
    if g.kind == "file":
        return _read_file(*g.items[0]), []
    if g.kind == "pair":
        by_ext = {_ext(n): (n, d) for n, d in g.items}
        if ".hdr" not in by_ext or ".img" not in by_ext:
            have = next(iter(by_ext.values()))[0]
            missing = ".img" if ".hdr" in by_ext else ".hdr"
            raise UnreadableFileError(
                f"{have} is half of an Analyze pair: upload its {missing} file together with it.")
        return _read_pair(*by_ext[".hdr"], *by_ext[".img"]), []
    if g.kind == "dicom":
        return _from_dicom(g.items, g.name)
    if g.kind == "zip":
        name, data = g.items[0]
        if len(data) > MAX_FILE_BYTES:
            raise UploadTooLargeError(f"{name} is {len(data) / 2**20:.0f} MiB; the limit is "
                                      f"{MAX_FILE_BYTES // 2**20} MiB.")
        return _read_members(name, _unzip(data, name))
    return _read_members(g.name, g.items)


def _guard(display: str, fn, *args):
    """Run a loader; any non-StudyError (a library bug on hostile input) becomes a refusal."""
    try:
        return fn(*args)
    except StudyError:
        raise
    except MemoryError:
        raise UploadTooLargeError(f"{display} does not fit in memory.") from None
    except Exception as exc:
        raise UnreadableFileError(
            f"{display} could not be read ({type(exc).__name__}). Re-export it as NIfTI or DICOM."
        ) from None


@dataclass
class Found:
    """What uploads hold before sequences are confirmed (see :func:`read_uploads`).

    Attributes:
        volumes: every volume found, each with ``sequence`` set to the recognised sequence or
            ``""`` when unknown (4D channels, undescribed series, unnamed files).
        warnings: notes on what was skipped (non-image files, localizers, diffusion series...).
    """

    volumes: list[Volume]
    warnings: list[str] = field(default_factory=list)


def read_uploads(files: Sequence[tuple[str, bytes]]) -> Found:
    """Read uploaded files into volumes whose sequences the user then confirms.

    ``.hdr``/``.img`` files are paired by name, loose DICOM files are pooled and grouped by
    series, zips are opened; every 4D channel and every DICOM series becomes its own volume.

    Args:
        files: ``(file_name, bytes)`` as uploaded.

    Raises:
        EmptyStudyError: nothing given, or nothing usable in it.
        and every refusal of the loaders (see :mod:`model.errors`).
    """
    if not files:
        raise EmptyStudyError("No file was given. Upload at least one MRI sequence.")
    found = Found([])
    for g in _guard("The upload", _group, [(n, d, None) for n, d in files]):
        vols, notes = _guard(g.name, _read_group, g)
        found.volumes.extend(vols)
        found.warnings.extend(notes)
    return found


def load_volume(data: bytes, name: str, sequence: str) -> tuple[Volume, list[str]]:
    """Read one single-file volume held in memory into a RAS-oriented :class:`Volume`.

    Args:
        data: the file's bytes: NIfTI-1/2 (.nii, .nii.gz; compression detected from magic
            bytes), MGH/MGZ, a PNG/JPEG picture or a single DICOM file.
        name: file name, used in messages and for display only.
        sequence: canonical sequence name (see :func:`canonical_sequence`).

    Returns:
        ``(volume, warnings)``; ``volume.data`` is float32 (X, Y, Z) in RAS+.

    Raises:
        UploadTooLargeError: the file or its decompressed content is above the caps.
        UnreadableFileError: not a readable volume, corrupt or truncated.
        WrongDimensionsError: several volumes in one file (use :func:`read_uploads`), RGB,
            complex, or fewer than 2 dimensions.
        TimeSeriesError: a 4D time series.
        NotMRIError: CT-like intensities.
        EmptyStudyError: the volume holds no signal (constant or not finite).
    """
    display = Path(name).name
    vols = _guard(display, _read_file, name, data)
    if len(vols) != 1:
        raise WrongDimensionsError(
            f"{display} holds {len(vols)} volumes; upload one 3D volume per sequence (or load it "
            "on the Study page and say which volume is which).")
    vol = dataclasses.replace(vols[0], sequence=canonical_sequence(sequence))
    return vol, list(vol.warnings)


# ============================================================================ study

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



def _choose(chosen: dict[str, Volume], seq: str, vol: Volume) -> None:
    """Assign ``vol`` to ``seq`` in ``chosen``.

    Raises:
        DuplicateSequenceError: ``seq`` already has a volume.
    """
    if seq in chosen:
        raise DuplicateSequenceError(
            f"Two files were given for {seq} ({chosen[seq].source_name} and "
            f"{vol.source_name}). Give one file per sequence.")
    chosen[seq] = dataclasses.replace(vol, sequence=seq)

@dataclass
class Study:
    """A loaded multi-sequence study.

    Attributes:
        volumes: sequence name -> :class:`Volume`, in :data:`SEQUENCES` order.
        warnings: messages for the user (non-fatal problems found while loading); those of one
            volume start with its sequence, e.g. ``"T1ce: ..."``.
    """

    volumes: dict[str, Volume]
    warnings: list[str] = field(default_factory=list)

    @property
    def sequences(self) -> tuple[str, ...]:
        """Sequences present, in :data:`SEQUENCES` order."""
        return tuple(s for s in SEQUENCES if s in self.volumes)

    @property
    def key(self) -> str:
        """Content hash of the study: equal for the same files assigned to the same sequences."""
        h = hashlib.sha256()
        for seq in self.sequences:
            h.update(seq.encode())
            h.update(self.volumes[seq].content_hash.encode())
        return h.hexdigest()[:16]

    # ---------------------------------------------------------------- constructors

    @classmethod
    def from_volumes(cls, volumes: Sequence[Volume], sequences: Sequence[str | None] | None = None,
                     warnings: Sequence[str] = ()) -> "Study":
        """Build a study from volumes found by :func:`read_uploads`.

        Args:
            volumes: the found volumes.
            sequences: one entry per volume: a sequence name (any alias), or None / ``"-"`` to
                leave that volume out. Default: each volume's recognised ``sequence``.
            warnings: notes to carry over (e.g. ``Found.warnings``).

        Raises:
            EmptyStudyError: no volume was kept.
            UnknownSequenceError: a kept volume has no sequence.
            DuplicateSequenceError: two volumes for one sequence.
        """
        seqs = list(sequences) if sequences is not None else [v.sequence or None for v in volumes]
        if len(seqs) != len(volumes):
            raise UnknownSequenceError("Give one sequence (or none) per volume.")
        chosen: dict[str, Volume] = {}
        for vol, seq in zip(volumes, seqs):
            if seq is None or seq in (_SKIP, ""):
                continue
            _choose(chosen, canonical_sequence(seq), vol)
        if not chosen:
            raise EmptyStudyError("No volume was assigned a sequence. Choose T1, T1ce, T2 or "
                                  "FLAIR for at least one.")
        return cls._assemble(chosen, list(warnings))

    @classmethod
    def _assemble(cls, chosen: dict[str, Volume], notes: list[str]) -> "Study":
        ordered = {s: chosen[s] for s in SEQUENCES if s in chosen}
        warns = list(notes)
        for s, v in ordered.items():
            warns.extend(f"{s}: {w}" for w in v.warnings)
        study = cls(volumes=ordered, warnings=warns)
        study.warnings.extend(study._geometry_warnings())
        return study

    @classmethod
    def from_bytes(cls, files: Sequence[tuple[str, bytes, str | None]]) -> "Study":
        """Load a study from in-memory files.

        Args:
            files: ``(file_name, data, sequence_or_None)``. ``data`` may also be a
                :class:`pathlib.Path` to a folder (DICOM or image files). A None sequence is
                recognised from the file name (:func:`recognise_sequence`) or, for DICOM,
                from the series description. For an upload holding several volumes (4D
                channels, a zip or folder of several series) the sequence may be a comma list
                in volume order (``"FLAIR,T1,T1ce,T2"``, ``"-"`` skips one), or one name
                picking the volume recognised as that sequence.

        Raises:
            EmptyStudyError: no file given, or nothing usable.
            UnknownSequenceError: a sequence cannot be recognised and none was given.
            AmbiguousChannelsError: several volumes in one upload and which is which is unknown.
            DuplicateSequenceError: two files for one sequence.
            and every error of :func:`load_volume`, :func:`model.dicom.read_dicom_series`.
        """
        if not files:
            raise EmptyStudyError("No file was given. Upload at least one MRI sequence.")
        chosen: dict[str, Volume] = {}
        notes: list[str] = []
        for g in _guard("The upload", _group, files):
            if g.spec is None and g.kind in ("file", "pair") and _is_mask_name(g.name):
                raise UnknownSequenceError(
                    f"{g.name} looks like a segmentation mask, not an MRI sequence. "
                    "Upload T1, T1ce, T2 or FLAIR volumes.")
            vols, gnotes = _guard(g.name, _read_group, g)
            notes.extend(gnotes)
            for seq, vol in cls._assign(g, vols, notes):
                _choose(chosen, seq, vol)
        if not chosen:
            raise EmptyStudyError("No MRI sequence was found in the upload.")
        return cls._assemble(chosen, notes)

    @staticmethod
    def _assign(g: _Group, vols: list[Volume], notes: list[str]) -> list[tuple[str, Volume]]:
        names = "; ".join(v.source_name for v in vols[:6]) + (" ..." if len(vols) > 6 else "")
        spec = g.spec
        if spec is not None and len(spec) > 1:
            if len(spec) != len(vols):
                raise AmbiguousChannelsError(
                    f"{g.name} holds {len(vols)} volume(s) ({names}) but {len(spec)} sequences "
                    "were given; give one per volume, in order ('-' skips one).")
            return [(s, v) for s, v in zip(spec, vols) if s != _SKIP]
        if spec is not None:
            seq = spec[0]
            if seq == _SKIP:
                return []
            if len(vols) == 1:
                return [(seq, vols[0])]
            match = [v for v in vols if v.sequence == seq]
            if len(match) == 1:
                notes.append(f"{g.name}: {match[0].source_name} used as {seq}; the other "
                             f"{len(vols) - 1} volume(s) were ignored.")
                return [(seq, match[0])]
            raise AmbiguousChannelsError(
                f"{g.name} holds {len(vols)} volumes ({names}); say which is which with one "
                "sequence per volume in order, e.g. T1,T1ce,T2,FLAIR ('-' skips one).")
        if len(vols) == 1:
            v = vols[0]
            if not v.sequence:
                raise UnknownSequenceError(
                    f"Cannot tell which sequence {v.source_name} is. Choose T1, T1ce, T2 or FLAIR "
                    "for it (or name it e.g. case_t1ce.nii.gz).")
            return [(v.sequence, v)]
        known = [v for v in vols if v.sequence]
        if g.kind in ("file", "pair") or not known:
            raise AmbiguousChannelsError(
                f"{g.name} holds {len(vols)} volumes ({names}) and which sequence each is cannot "
                "be told. Say which is which, in order (e.g. FLAIR,T1,T1ce,T2=file on the command "
                "line, or choose per volume on the Study page).")
        out: dict[str, Volume] = {}
        for v in vols:
            if not v.sequence:
                notes.append(f"{v.source_name} skipped: not recognised as T1, T1ce, T2 or FLAIR.")
                continue
            prev = out.get(v.sequence)
            if prev is not None:
                keep, drop = (v, prev) if v.data.size > prev.data.size else (prev, v)
                notes.append(f"{v.sequence}: {keep.source_name} used; {drop.source_name} (fewer "
                             "voxels) ignored.")
                out[v.sequence] = keep
            else:
                out[v.sequence] = v
        return list(out.items())

    @classmethod
    def from_paths(cls, paths: Iterable[str | Path], sequences: Sequence[str | None] | None = None) -> "Study":
        """Load a study from files or folders on disk (command line, demo). See :meth:`from_bytes`.

        A folder is read as one upload (a DICOM series or study, or image files).

        Raises:
            UnreadableFileError: a path does not exist or cannot be read.
        """
        paths = [Path(p) for p in paths]
        seqs = list(sequences) if sequences is not None else [None] * len(paths)
        files: list[tuple[str, bytes | Path, str | None]] = []
        for p, s in zip(paths, seqs):
            if p.is_dir():
                files.append((p.name or str(p), p, s))
                continue
            try:
                size = p.stat().st_size
                if size > MAX_FILE_BYTES:
                    raise UploadTooLargeError(f"{p.name} is {size / 2**20:.0f} MiB; the limit is "
                                              f"{MAX_FILE_BYTES // 2**20} MiB.")
                files.append((p.name, p.read_bytes(), s))
            except OSError as exc:
                raise UnreadableFileError(f"Cannot read {p.name}: {exc.strerror or exc}.") from None
        return cls.from_bytes(files)

    @classmethod
    def demo(cls) -> "Study":
        """The committed demo study (BraTS-GLI-00001-000, four sequences, 240x240x155, 1 mm)."""
        return cls.from_paths(sorted(DEMO_STUDY_DIR.glob("*.nii.gz")))

    # ---------------------------------------------------------------- geometry

    def _geometry_warnings(self) -> list[str]:
        out = []
        vols = list(self.volumes.values())
        if len(vols) < 2:
            return out
        for v in vols[1:]:
            if fov_overlap(v, vols[0]) <= 0:
                out.append(
                    f"{v.sequence} and {vols[0].sequence} do not overlap in space: the sequences "
                    "are probably not co-registered (not from the same session)."
                )
        grids = {(v.shape, tuple(np.round(v.affine, 3).ravel())) for v in vols}
        if len(grids) > 1:
            out.append(
                "The sequences are on different voxel grids; each is shown and analysed on its "
                "own grid."
            )
        return out

    def reference_sequence(self) -> str:
        """The sequence whose grid :meth:`resampled_to` uses by default (T1ce, T1, T2, FLAIR)."""
        for s in REFERENCE_ORDER:
            if s in self.volumes:
                return s
        raise EmptyStudyError("The study has no sequence.")

    def resampled_to(self, reference: str | None = None) -> "Study":
        """A copy of the study with every sequence on the reference sequence's voxel grid.

        Resampling is trilinear (MONAI ``SpatialResample``) in world coordinates, zero outside
        a volume's field of view. Sequences already on the grid are kept as they are.

        Args:
            reference: sequence name; default :meth:`reference_sequence` (T1ce first).

        Returns:
            A new :class:`Study` whose volumes share the reference ``shape`` and ``affine``,
            with a warning per resampled sequence and, when fields of view do not overlap
            (sequences not co-registered) or overlap by less than half, a warning saying so.

        Raises:
            UnknownSequenceError: ``reference`` is not in the study.
        """
        ref_seq = canonical_sequence(reference) if reference else self.reference_sequence()
        if ref_seq not in self.volumes:
            raise UnknownSequenceError(f"{ref_seq} is not in the study ({', '.join(self.sequences)}).")
        ref = self.volumes[ref_seq]
        vols: dict[str, Volume] = {}
        warns = list(self.warnings)
        for s, v in self.volumes.items():
            if s == ref_seq or same_grid(v, ref):
                vols[s] = v
                continue
            overlap = fov_overlap(v, ref)
            if overlap <= 0:
                warns.append(f"{s} and {ref_seq} do not overlap in space (not co-registered): "
                             f"{s} resampled to the {ref_seq} grid is empty.")
            elif overlap < 0.5:
                warns.append(f"{s} and {ref_seq} overlap by only {overlap:.0%} of the smaller field "
                             "of view: they may not be co-registered.")
            data = resample_array(v.data, v.affine, ref.affine, ref.shape)
            note = (f"resampled (trilinear, MONAI) from {tuple(v.shape)} at "
                    f"{tuple(round(x, 2) for x in v.spacing_mm)} mm to the {ref_seq} grid.")
            warns.append(f"{s}: {note}")
            vols[s] = dataclasses.replace(
                v, data=data, affine=ref.affine.copy(), warnings=v.warnings + (note,),
                content_hash=hashlib.sha256(f"{v.content_hash}>{ref.content_hash}".encode()).hexdigest())
        return Study(volumes=vols, warnings=list(dict.fromkeys(warns)))

    # ---------------------------------------------------------------- output

    def save(self, directory: str | Path) -> list[Path]:
        """Write each sequence as ``directory/<SEQ>.nii.gz`` (RAS, float32, NIfTI-1, qform and
        sform = the volume's affine, code 1 "scanner"). The header holds no patient detail:
        description "TumorBoard RAS <SEQ>", no extensions. Returns the written paths."""
        out_dir = Path(directory)
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for s, v in self.volumes.items():
            img = nib.Nifti1Image(v.data.astype(np.float32), v.affine)
            img.set_qform(v.affine, code=1)
            img.set_sform(v.affine, code=1)
            img.header["descrip"] = f"TumorBoard RAS {s}".encode()
            img.header.set_xyzt_units("mm")
            path = out_dir / f"{s}.nii.gz"
            nib.save(img, path)
            written.append(path)
        return written

    def summary(self) -> dict:
        """De-identified technical summary per sequence (see :meth:`Volume.summary`)."""
        return {s: v.summary() for s, v in self.volumes.items()}
