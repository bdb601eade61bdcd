"""Study loading: NIfTI files in, a :class:`Study` of RAS-oriented volumes out.

A study is up to four MRI sequences (T1, T1ce, T2, FLAIR) of one patient, one 3D NIfTI file
each. Files are read **in memory** (uploads are never written to disk); gzip is recognised by
its magic bytes, not by the extension, and decompressed with a size cap so a gzip bomb or a
truncated archive is refused instead of becoming a half-zero volume.

Every volume is reoriented to RAS+ with nibabel's ``orientations`` (the same operation as
``nibabel.as_closest_canonical``) and keeps its affine, so voxel ``(i, j, k)`` of
``Volume.data`` lies at ``Volume.affine @ (i, j, k, 1)`` in scanner millimetres.

Example::

    >>> from model.study import Study, DEMO_STUDY_DIR
    >>> study = Study.from_paths(sorted(DEMO_STUDY_DIR.glob("*.nii.gz")))
    >>> study.sequences
    ('T1', 'T1ce', 'T2', 'FLAIR')
    >>> study.volumes["T1ce"].orientation
    'RAS'
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import nibabel as nib
import numpy as np
from nibabel import orientations as nio

from model.errors import (
    DuplicateSequenceError,
    EmptyStudyError,
    UnknownSequenceError,
    UnreadableFileError,
    UploadTooLargeError,
    WrongDimensionsError,
)

#: Canonical sequence names, in display order.
SEQUENCES: tuple[str, ...] = ("T1", "T1ce", "T2", "FLAIR")

REPO_ROOT = Path(__file__).resolve().parent.parent
#: BraTS 2023 adult-glioma case BraTS-GLI-00001-000 (see data/demo_study/ATTRIBUTION.md).
DEMO_STUDY_DIR = REPO_ROOT / "data" / "demo_study"

#: Largest file accepted, compressed or not (bytes). Matches ``server.maxUploadSize`` (MB).
MAX_FILE_BYTES = 200 * 1024 * 1024
#: Largest decompressed NIfTI accepted (bytes): a 512x512x400 float32 volume is 400 MiB.
MAX_DECOMPRESSED_BYTES = 512 * 1024 * 1024
#: Largest number of voxels accepted for one volume.
MAX_VOXELS = 512 * 512 * 512

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
_NIFTI_SUFFIXES = (".nii.gz", ".nii", ".gz")


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
        f"'{name}' is not a known MRI sequence; use one of {', '.join(SEQUENCES)}."
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


@dataclass(frozen=True)
class Volume:
    """One MRI sequence of a study, reoriented to RAS+.

    Attributes:
        sequence: one of :data:`SEQUENCES`.
        data: float32 array of shape (X, Y, Z); axis 0 points to the patient's Right,
            axis 1 Anterior, axis 2 Superior. Intensities as stored, after scl_slope/scl_inter.
        affine: float64 (4, 4) voxel-to-world (scanner RAS, mm) matrix of ``data``.
        source_name: file name as uploaded (no directories; never header contents).
        source_orientation: orientation codes of the file before reorientation, e.g. "LPS".
        content_hash: sha256 of the file bytes as read (hex).
    """

    sequence: str
    data: np.ndarray
    affine: np.ndarray
    source_name: str
    source_orientation: str
    content_hash: str

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
        """Technical, de-identified description: shape, spacing (mm), orientation, source."""
        return {
            "shape": list(self.shape),
            "spacing_mm": [round(s, 4) for s in self.spacing_mm],
            "orientation": self.orientation,
            "source_orientation": self.source_orientation,
            "file": self.source_name,
        }


def _read_capped(data: bytes, name: str) -> bytes:
    """Decompress gzip data (recognised by magic bytes) with a size cap."""
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        decomp = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        out = decomp.decompress(data, MAX_DECOMPRESSED_BYTES + 1)
        if len(out) > MAX_DECOMPRESSED_BYTES or decomp.unconsumed_tail:
            raise UploadTooLargeError(
                f"{name}: decompresses to more than {MAX_DECOMPRESSED_BYTES // 2**20} MiB; "
                "this is not a single MRI volume."
            )
        if not decomp.eof:
            raise UnreadableFileError(
                f"{name}: the compressed file is truncated (incomplete download or copy). "
                "Upload the complete .nii.gz file."
            )
        # Multi-member gzip files are legal; read the rest through the gzip module.
        if decomp.unused_data:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as fh:
                out = fh.read(MAX_DECOMPRESSED_BYTES + 1)
            if len(out) > MAX_DECOMPRESSED_BYTES:
                raise UploadTooLargeError(f"{name}: decompresses past the size cap.")
        return out
    except (zlib.error, EOFError, OSError) as exc:
        raise UnreadableFileError(
            f"{name}: the compressed file is corrupt ({type(exc).__name__}). "
            "Upload the original .nii or .nii.gz file."
        ) from None


def _sniff_other_format(raw: bytes) -> str | None:
    if raw[:8] == b"\x89PNG\r\n\x1a\n":
        return "a PNG picture"
    if raw[:3] == b"\xff\xd8\xff":
        return "a JPEG picture"
    if raw[:4] in (b"II*\x00", b"MM\x00*"):
        return "a TIFF picture"
    if len(raw) >= 132 and raw[128:132] == b"DICM":
        return "a DICOM file"
    if raw[:2] == b"PK":
        return "a ZIP archive"
    if raw[:4] == b"%PDF":
        return "a PDF document"
    return None


def _parse_nifti(raw: bytes, name: str) -> nib.Nifti1Image | nib.Nifti2Image:
    other = _sniff_other_format(raw)
    if other is not None:
        hint = (
            " DICOM support is not in this version: convert the series to NIfTI (dcm2niix)."
            if "DICOM" in other
            else " Upload a 3D NIfTI file (.nii or .nii.gz) per MRI sequence."
        )
        raise UnreadableFileError(f"{name} is {other}, not a NIfTI MRI volume.{hint}")
    if len(raw) < 348:
        raise UnreadableFileError(f"{name} is too short to be a NIfTI file ({len(raw)} bytes).")
    sizeof_hdr_le = int.from_bytes(raw[:4], "little")
    sizeof_hdr_be = int.from_bytes(raw[:4], "big")
    if 540 in (sizeof_hdr_le, sizeof_hdr_be):
        klass = nib.Nifti2Image
        magic = raw[4:8]
    elif 348 in (sizeof_hdr_le, sizeof_hdr_be):
        klass = nib.Nifti1Image
        magic = raw[344:348]
    else:
        raise UnreadableFileError(
            f"{name} is not a NIfTI file (no NIfTI header). Upload a .nii or .nii.gz volume."
        )
    if magic not in (b"n+1\x00", b"n+2\x00"):
        raise UnreadableFileError(
            f"{name} has a header without image data (Analyze .hdr or NIfTI pair). "
            "Upload a single-file NIfTI (.nii or .nii.gz)."
        )
    try:
        return klass.from_bytes(raw)
    except Exception as exc:  # nibabel raises many types for broken headers
        raise UnreadableFileError(
            f"{name}: the NIfTI header is corrupt ({type(exc).__name__}). Re-export the volume."
        ) from None


def load_volume(data: bytes, name: str, sequence: str) -> tuple[Volume, list[str]]:
    """Read one NIfTI file held in memory into a RAS-oriented :class:`Volume`.

    Args:
        data: the file's bytes (.nii or .nii.gz; compression is detected from magic bytes).
        name: file name, used in messages and for display only.
        sequence: canonical sequence name (see :func:`canonical_sequence`).

    Returns:
        ``(volume, warnings)``; ``volume.data`` is float32 (X, Y, Z) in RAS+.

    Raises:
        UploadTooLargeError: the file or its decompressed content is above the caps.
        UnreadableFileError: not NIfTI, corrupt or truncated.
        WrongDimensionsError: not a single 3D volume (2D, several volumes, RGB, complex).
        EmptyStudyError: the volume holds no signal (all zero or not finite).
    """
    warnings: list[str] = []
    if len(data) > MAX_FILE_BYTES:
        raise UploadTooLargeError(
            f"{name} is {len(data) / 2**20:.0f} MiB; the limit is {MAX_FILE_BYTES // 2**20} MiB."
        )
    digest = hashlib.sha256(data).hexdigest()
    raw = _read_capped(data, name)
    img = _parse_nifti(raw, name)
    hdr = img.header
    dtype = hdr.get_data_dtype()
    if dtype.fields is not None or dtype.kind == "c":
        raise WrongDimensionsError(
            f"{name} holds {'RGB' if dtype.fields else 'complex'} data, not an MRI intensity "
            "volume. Upload the magnitude image of the sequence."
        )
    shape = tuple(int(s) for s in img.shape)
    squeezed = tuple(s for i, s in enumerate(shape) if i < 3 or s != 1)
    if len(squeezed) != 3 or min(squeezed) < 2:
        if len(squeezed) > 3:
            raise WrongDimensionsError(
                f"{name} holds {int(np.prod(squeezed[3:]))} volumes (shape {squeezed}); upload "
                "one 3D volume per sequence."
            )
        raise WrongDimensionsError(
            f"{name} is a {sum(s > 1 for s in shape)}D image (shape {shape}); upload a 3D volume."
        )
    if int(np.prod(squeezed)) > MAX_VOXELS:
        raise UploadTooLargeError(f"{name}: {squeezed} voxels is above the {MAX_VOXELS} limit.")
    try:
        arr = np.asarray(img.dataobj, dtype=np.float32).reshape(squeezed)
    except Exception as exc:  # short data, bad offsets, unsupported dtypes
        raise UnreadableFileError(
            f"{name}: the image data is truncated or unreadable ({type(exc).__name__}). "
            "Upload the complete file."
        ) from None
    finite = np.isfinite(arr)
    if not finite.all():
        if not finite.any():
            raise EmptyStudyError(f"{name} holds no finite values.")
        warnings.append(f"{name}: {int((~finite).sum())} non-finite voxels were set to 0.")
        arr = np.where(finite, arr, 0).astype(np.float32)
    if float(arr.max()) == float(arr.min()):
        raise EmptyStudyError(f"{name} is a constant image (no signal).")

    affine = img.affine
    if affine is None or not np.isfinite(affine).all() or abs(np.linalg.det(affine[:3, :3])) < 1e-9:
        warnings.append(f"{name}: no valid affine in the header; 1 mm voxels assumed.")
        affine = np.eye(4)
    src_ornt = nio.io_orientation(affine)
    source_orientation = "".join(nio.ornt2axcodes(src_ornt))
    transform = nio.ornt_transform(src_ornt, nio.axcodes2ornt("RAS"))
    ras = np.ascontiguousarray(nio.apply_orientation(arr, transform), dtype=np.float32)
    ras_affine = affine @ nio.inv_ornt_aff(transform, arr.shape)
    return (
        Volume(
            sequence=sequence,
            data=ras,
            affine=ras_affine,
            source_name=Path(name).name,
            source_orientation=source_orientation,
            content_hash=digest,
        ),
        warnings,
    )


def _world_bounds(vol: Volume) -> tuple[np.ndarray, np.ndarray]:
    corners = np.array(
        [[i, j, k, 1.0] for i in (0, vol.shape[0] - 1) for j in (0, vol.shape[1] - 1)
         for k in (0, vol.shape[2] - 1)]
    )
    world = (vol.affine @ corners.T)[:3].T
    return world.min(axis=0), world.max(axis=0)


@dataclass
class Study:
    """A loaded multi-sequence study.

    Attributes:
        volumes: sequence name -> :class:`Volume`, in :data:`SEQUENCES` order.
        warnings: messages for the user (non-fatal problems found while loading).
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

    @classmethod
    def from_bytes(cls, files: Sequence[tuple[str, bytes, str | None]]) -> "Study":
        """Load a study from in-memory files.

        Args:
            files: ``(file_name, data, sequence_or_None)``; a None sequence is recognised from
                the file name by :func:`recognise_sequence`.

        Raises:
            EmptyStudyError: no file given.
            UnknownSequenceError: a sequence cannot be recognised and none was given.
            DuplicateSequenceError: two files for one sequence.
            and every error of :func:`load_volume`.
        """
        if not files:
            raise EmptyStudyError("No file was given. Upload at least one MRI sequence.")
        volumes: dict[str, Volume] = {}
        warnings: list[str] = []
        for name, data, seq in files:
            display = Path(name).name
            if seq is None:
                tokens = set(re.split(r"[-_.\s]+", _stem(display).lower()))
                if tokens & _NOT_AN_IMAGE_TOKENS:
                    raise UnknownSequenceError(
                        f"{display} looks like a segmentation mask, not an MRI sequence. "
                        "Upload T1, T1ce, T2 or FLAIR volumes."
                    )
                seq = recognise_sequence(display)
                if seq is None:
                    raise UnknownSequenceError(
                        f"Cannot tell which sequence {display} is. Choose T1, T1ce, T2 or FLAIR "
                        "for it (or name it e.g. case_t1ce.nii.gz)."
                    )
            else:
                seq = canonical_sequence(seq)
            if seq in volumes:
                raise DuplicateSequenceError(
                    f"Two files were given for {seq} ({volumes[seq].source_name} and {display}). "
                    "Give one file per sequence."
                )
            vol, w = load_volume(data, display, seq)
            volumes[seq] = vol
            warnings.extend(w)
        ordered = {s: volumes[s] for s in SEQUENCES if s in volumes}
        study = cls(volumes=ordered, warnings=warnings)
        study.warnings.extend(study._geometry_warnings())
        return study

    @classmethod
    def from_paths(cls, paths: Iterable[str | Path], sequences: Sequence[str | None] | None = None) -> "Study":
        """Load a study from files on disk (command line, demo). See :meth:`from_bytes`.

        Raises:
            UnreadableFileError: a path does not exist or cannot be read.
        """
        paths = [Path(p) for p in paths]
        seqs = list(sequences) if sequences is not None else [None] * len(paths)
        files = []
        for p, s in zip(paths, seqs):
            try:
                files.append((p.name, p.read_bytes(), s))
            except OSError as exc:
                raise UnreadableFileError(f"Cannot read {p.name}: {exc.strerror or exc}.") from None
        return cls.from_bytes(files)

    @classmethod
    def demo(cls) -> "Study":
        """The committed demo study (BraTS-GLI-00001-000, four sequences, 240x240x155, 1 mm)."""
        return cls.from_paths(sorted(DEMO_STUDY_DIR.glob("*.nii.gz")))

    def _geometry_warnings(self) -> list[str]:
        out = []
        vols = list(self.volumes.values())
        if len(vols) < 2:
            return out
        lo0, hi0 = _world_bounds(vols[0])
        for v in vols[1:]:
            lo, hi = _world_bounds(v)
            overlap = np.minimum(hi, hi0) - np.maximum(lo, lo0)
            if (overlap <= 0).any():
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

    def summary(self) -> dict:
        """De-identified technical summary per sequence (see :meth:`Volume.summary`)."""
        return {s: v.summary() for s, v in self.volumes.items()}
