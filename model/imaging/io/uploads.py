"""Uploads in, volumes out: what the Study page and the command line hand to the readers.

:func:`read_uploads` takes the files as uploaded; ``.hdr``/``.img`` files are paired by name,
loose DICOM files (with or without an extension: they are sniffed) are pooled and grouped by
series, zips and folders are opened (:mod:`model.imaging.io.archive`), and each group goes to
the reader of its format. Every 4D channel and every DICOM series becomes its own
:class:`model.imaging.volume.Volume`; which sequence each one is, is confirmed afterwards by
:class:`model.imaging.study.Study`.

Any exception a library raises on hostile input becomes a one-line
:class:`model.core.errors.StudyError` (:func:`guard`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Sequence

from model.core import config
from model.core.memory import release_freed_memory
from model.core.errors import (
    EmptyStudyError,
    StudyError,
    UnknownSequenceError,
    UnreadableFileError,
    UploadTooLargeError,
    WrongDimensionsError,
)
from model.imaging.io.archive import read_capped, read_dir, unzip
from model.imaging.io.dicom import read_dicom_series
from model.imaging.io.masks import is_label_volume, split_masks
from model.imaging.io.nifti import read_mgh, read_nifti, read_pair
from model.imaging.io.picture import read_picture
from model.imaging.io.quiet import quiet_loading
from model.imaging.io.sniff import (DESCRIBE, DICOM_EXT, MGH_EXT, NIFTI_EXT, PAIR_EXT, PICTURE_EXT,
                                    SKIPPED_EXT, extension, looks_like_dicom, sniff)
from model.imaging.sequences import SKIP, canonical_sequence, is_mask_name, stem
from model.imaging.volume import Volume


def _read_members(container: str, members: Sequence[tuple[str, bytes]]) -> tuple[list[Volume], list[str]]:
    """Volumes in the files of a zip or folder: DICOM members pooled, image files one by one."""
    dicom, others, pairs = [], [], {}
    skipped = 0
    for member, content in members:
        base = PurePosixPath(member.replace("\\", "/")).name
        ext = extension(base)
        low = base.lower()
        if low.startswith("._") or low in {".ds_store", "thumbs.db", "desktop.ini"} or low == "dicomdir":
            continue
        if ext in SKIPPED_EXT or low.startswith("readme") or ext == ".zip":
            skipped += 1
            continue
        if ext in PAIR_EXT:
            pairs.setdefault(stem(base).lower(), {})[ext] = (base, content)
        elif ext in NIFTI_EXT | MGH_EXT | PICTURE_EXT:
            others.append((base, content))  # a mask-named file is kept only if it holds labels
        elif ext in DICOM_EXT or looks_like_dicom(content) or sniff(content) is None:
            dicom.append((member, content))
        else:
            skipped += 1
    vols: list[Volume] = []
    for base, content in others:
        try:
            found = _read_file(base, content)
        except StudyError:
            if not is_mask_name(base):
                raise
            found = []
        if is_mask_name(base) and not (found and all(is_label_volume(v) for v in found)):
            skipped += 1
            continue
        for v in found:
            vols.append(dataclasses.replace(v, source_name=f"{container} › {v.source_name}"))
    notes = [f"{container}: {skipped} file(s) that are not MRI images were skipped."] if skipped else []
    for stem, pair in pairs.items():
        if ".hdr" not in pair or ".img" not in pair:
            only = next(iter(pair.values()))[0]
            raise UnreadableFileError(f"{container}: {only} is half of an Analyze pair; the "
                                      f"{'.img' if '.hdr' in pair else '.hdr'} file is missing.")
        for v in read_pair(pair[".hdr"][0], pair[".hdr"][1], pair[".img"][0], pair[".img"][1]):
            vols.append(dataclasses.replace(v, source_name=f"{container} › {v.source_name}"))
    if dicom:
        try:
            dv, dnotes = read_dicom_series(dicom, container)
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
    if len(data) > config.MAX_FILE_BYTES:
        raise UploadTooLargeError(
            f"{display} is {len(data) / 2**20:.0f} MiB; the limit is {config.MAX_FILE_BYTES // 2**20} MiB."
        )
    if len(data) == 0:
        raise EmptyStudyError(f"{display} is empty (0 bytes). Upload the complete file.")
    digest = hashlib.sha256(data).hexdigest()
    raw = read_capped(data, display)
    kind = sniff(raw)
    ext = extension(display)
    if ext in NIFTI_EXT | MGH_EXT | PAIR_EXT and kind in DESCRIBE and kind != "analyze":
        raise UnreadableFileError(
            f"{display} is {DESCRIBE[kind]} renamed to {ext}, not an MRI volume. Upload the "
            "original file with its real extension (3D NIfTI, DICOM series, MGH).")
    if ext in MGH_EXT:
        return read_mgh(raw, display, digest)
    if kind in ("nifti1", "nifti2"):
        return read_nifti(raw, display, kind, digest)
    if kind == "analyze":
        raise UnreadableFileError(
            f"{display} has a header without image data (Analyze .hdr or NIfTI pair). Upload "
            "the .hdr together with its .img file, or a single-file NIfTI (.nii or .nii.gz).")
    if ext in PICTURE_EXT or kind in ("png", "jpeg"):
        if kind not in ("png", "jpeg"):
            raise UnreadableFileError(f"{display} is not a PNG or JPEG picture.")
        return read_picture(raw, display, digest)
    if kind == "zip":
        raise UnreadableFileError(f"{display} is a ZIP archive inside another; upload it directly.")
    if kind == "dicom" or ext in DICOM_EXT:
        vols, _ = read_dicom_series([(display, raw)], display)
        return vols
    if kind in DESCRIBE:
        raise UnreadableFileError(f"{display} is {DESCRIBE[kind]}, not an MRI volume. Upload NIfTI, "
                                  "DICOM (a folder zipped), MGH/MGZ, Analyze .hdr+.img, PNG or JPEG.")
    raise UnreadableFileError(
        f"{display} is not a NIfTI file (no NIfTI header) nor another format TumorBoard reads. "
        "Upload NIfTI (.nii/.nii.gz), DICOM (a folder zipped), MGH/MGZ, Analyze .hdr+.img, PNG "
        "or JPEG.")


@dataclass
class Group:
    """Uploaded files read together: one file, an Analyze pair, a pool of loose DICOM files,
    a zip or a folder. ``spec`` is the sequence list given for it (see :func:`parse_spec`)."""

    name: str
    kind: str  # "file", "pair", "dicom", "zip", "dir"
    spec: list[str] | None
    items: list[tuple[str, bytes]]


def parse_spec(seq: str | None) -> list[str] | None:
    """A given sequence (``"T1ce"``, ``"FLAIR,T1,-"``) as canonical names, None when not given.

    Raises
    ------
    UnknownSequenceError
        A part is not a sequence name nor ``-``/``skip``/``none``.
    """
    if seq is None or not str(seq).strip():
        return None
    out = []
    for part in str(seq).split(","):
        part = part.strip()
        out.append(SKIP if part in (SKIP, "skip", "none") else canonical_sequence(part))
    return out


def group_uploads(files: Sequence[tuple[str, bytes | Path, str | None]]) -> list[Group]:
    """Group ``(name, bytes or folder Path, sequence or None)`` into :class:`Group` s: pairs by
    name stem, loose DICOM files by the sequence given (one pool when none), others alone."""
    groups: list[Group] = []
    pairs: dict[str, Group] = {}
    pools: dict[tuple, Group] = {}
    for name, data, seq in files:
        spec = parse_spec(seq)
        display = Path(str(name)).name
        if isinstance(data, Path):
            groups.append(Group(display, "dir", spec, read_dir(data)))
            continue
        ext = extension(display)
        if ext in PAIR_EXT:
            key = stem(display).lower()
            g = pairs.get(key)
            if g is None:
                g = pairs[key] = Group(stem(display), "pair", spec, [])
                groups.append(g)
            g.spec = g.spec or spec
            g.items.append((display, data))
        elif ext == ".zip" or (ext not in NIFTI_EXT | MGH_EXT | PICTURE_EXT
                               and data[:4] in (b"PK\x03\x04", b"PK\x05\x06")):
            groups.append(Group(display, "zip", spec, [(display, data)]))
        elif ext in DICOM_EXT or (ext not in NIFTI_EXT | MGH_EXT | PICTURE_EXT and looks_like_dicom(data)):
            key = tuple(spec) if spec else None
            g = pools.get(key)
            if g is None:
                g = pools[key] = Group(display, "dicom", spec, [])
                groups.append(g)
            g.items.append((display, data))
        else:
            groups.append(Group(display, "file", spec, [(display, data)]))
    for g in pools.values():
        if len(g.items) > 1:
            g.name = f"{len(g.items)} DICOM files"
    return groups


def read_group(g: Group) -> tuple[list[Volume], list[str]]:
    """``(volumes, notes)`` of one :class:`Group`, read by the reader of its format."""
    if g.kind == "file":
        return _read_file(*g.items[0]), []
    if g.kind == "pair":
        by_ext = {extension(n): (n, d) for n, d in g.items}
        if ".hdr" not in by_ext or ".img" not in by_ext:
            have = next(iter(by_ext.values()))[0]
            missing = ".img" if ".hdr" in by_ext else ".hdr"
            raise UnreadableFileError(
                f"{have} is half of an Analyze pair: upload its {missing} file together with it.")
        return read_pair(*by_ext[".hdr"], *by_ext[".img"]), []
    if g.kind == "dicom":
        return read_dicom_series(g.items, g.name)
    if g.kind == "zip":
        name, data = g.items[0]
        if len(data) > config.MAX_FILE_BYTES:
            raise UploadTooLargeError(f"{name} is {len(data) / 2**20:.0f} MiB; the limit is "
                                      f"{config.MAX_FILE_BYTES // 2**20} MiB.")
        return _read_members(name, unzip(data, name))
    return _read_members(g.name, g.items)


def guard(display: str, fn, *args):
    """Run a loader; any non-StudyError (a library bug on hostile input) becomes a refusal.

    Library warnings and log records are captured meanwhile (:func:`quiet_loading`), so a
    refusal is one line and nothing a library prints can quote a header value.
    """
    try:
        with quiet_loading():
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

    Attributes
    ----------
    volumes
        every volume found, each with ``sequence`` set to the recognised sequence or
        ``""`` when unknown (4D channels, undescribed series, unnamed files).
    warnings
        notes on what was skipped (non-image files, localizers, diffusion series...).
    masks
        label volumes (tumour masks, e.g. a BraTS ``seg.nii.gz``) recognised by
        :func:`model.imaging.io.masks.is_label_volume`; not offered as sequences.
    """

    volumes: list[Volume]
    warnings: list[str] = field(default_factory=list)
    masks: list[Volume] = field(default_factory=list)


def read_uploads(files: Sequence[tuple[str, bytes]]) -> Found:
    """Read uploaded files into volumes whose sequences the user then confirms.

    ``.hdr``/``.img`` files are paired by name, loose DICOM files are pooled and grouped by
    series, zips are opened; every 4D channel and every DICOM series becomes its own volume.

    Parameters
    ----------
    files
        ``(file_name, bytes)`` as uploaded.

    Raises
    ------
    EmptyStudyError
        nothing given, or nothing usable in it.
    StudyError
        and every other refusal of the loaders (see :mod:`model.core.errors`).
    """
    if not files:
        raise EmptyStudyError("No file was given. Upload at least one MRI sequence.")
    found = Found([])
    try:
        for g in guard("The upload", group_uploads, [(n, d, None) for n, d in files]):
            vols, notes = guard(g.name, read_group, g)
            vols, masks = split_masks(vols)
            found.masks.extend(masks)
            found.volumes.extend(vols)
            found.warnings.extend(notes)
    finally:
        release_freed_memory()  # the load's temporary buffers go back to the OS
    return found


def load_volume(data: bytes, name: str, sequence: str) -> tuple[Volume, list[str]]:
    """Read one single-file volume held in memory into a RAS-oriented :class:`Volume`.

    Parameters
    ----------
    data
        the file's bytes: NIfTI-1/2 (.nii, .nii.gz; compression detected from magic
        bytes), MGH/MGZ, a PNG/JPEG picture or a single DICOM file.
    name
        file name, used in messages and for display only.
    sequence
        canonical sequence name (see :func:`canonical_sequence`).

    Returns
    -------
    tuple of (Volume, list of str)
        ``(volume, warnings)``; ``volume.data`` is float32 (X, Y, Z) in RAS+.

    Raises
    ------
    UploadTooLargeError
        the file or its decompressed content is above the caps.
    UnreadableFileError
        not a readable volume, corrupt or truncated.
    WrongDimensionsError
        several volumes in one file (use :func:`read_uploads`), RGB,
        complex, or fewer than 2 dimensions.
    TimeSeriesError
        a 4D time series.
    NotMRIError
        CT-like intensities.
    EmptyStudyError
        the volume holds no signal (constant or not finite).
    """
    display = Path(name).name
    vols = guard(display, _read_file, name, data)
    if len(vols) != 1:
        raise WrongDimensionsError(
            f"{display} holds {len(vols)} volumes; upload one 3D volume per sequence (or load it "
            "on the Study page and say which volume is which).")
    vol = dataclasses.replace(vols[0], sequence=canonical_sequence(sequence))
    return vol, list(vol.warnings)


def _regular_file_size(p: Path) -> int:
    """Size of a regular file; anything else (named pipe, device, socket) is refused before a
    byte is read, because reading it could block forever or never end.

    Raises
    ------
    UnreadableFileError
        Missing, unreadable, or not a regular file.
    """
    try:
        st = os.stat(p)  # follows symlinks: a link to a FIFO is a FIFO
    except OSError as exc:
        raise UnreadableFileError(f"Cannot read {p.name}: {exc.strerror or exc}.") from None
    if not stat.S_ISREG(st.st_mode):
        kind = ("a named pipe (FIFO)" if stat.S_ISFIFO(st.st_mode) else
                "a socket" if stat.S_ISSOCK(st.st_mode) else
                "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else
                "not a regular file")
        raise UnreadableFileError(f"{p.name} is {kind}, not a file; give the image file itself.")
    return st.st_size


def _analyze_partner(p: Path) -> Path | None:
    """The other half of an Analyze / NIfTI pair beside ``p`` (``x.hdr`` <-> ``x.img``, also
    gzipped and upper-case spellings), or None."""
    low = p.name.lower()
    base = low[:-3] if low.endswith(".gz") else low
    if not base.endswith((".hdr", ".img")):
        return None
    stem_ = p.name[:len(base) - 4]
    want = ".img" if base.endswith(".hdr") else ".hdr"
    for cand in (stem_ + e + z for e in (want, want.upper()) for z in ("", ".gz", ".GZ")):
        if (p.parent / cand).is_file():
            return p.parent / cand
    return None


def files_from_paths(paths: Sequence[Path], sequences: Sequence[str | None]
                     ) -> list[tuple[str, bytes | Path, str | None]]:
    """Read files on disk into ``(name, bytes, sequence)``; a folder stays a :class:`Path` (read
    by :func:`model.imaging.io.archive.read_dir` when grouped). An Analyze ``.hdr`` (or
    ``.img``) given alone brings the other half of its pair from beside it.

    Raises
    ------
    UploadTooLargeError
        A file is above ``config.MAX_FILE_BYTES``.
    UnreadableFileError
        A path does not exist, cannot be read, or is not a regular file (FIFO, device, socket).
    """
    paths, sequences = list(paths), list(sequences)
    given = {Path(p).resolve() for p in paths if Path(p).exists()}
    for p, s in list(zip(paths, sequences)):
        partner = _analyze_partner(Path(p))
        if partner is not None and partner.resolve() not in given:
            paths.append(partner)
            sequences.append(s)
            given.add(partner.resolve())
    files: list[tuple[str, bytes | Path, str | None]] = []
    for p, s in zip(paths, sequences):
        p = Path(p)
        if p.is_dir():
            files.append((p.name or str(p), p, s))
            continue
        size = _regular_file_size(p)
        if size > config.MAX_FILE_BYTES:
            raise UploadTooLargeError(f"{p.name} is {size / 2**20:.0f} MiB; the limit is "
                                      f"{config.MAX_FILE_BYTES // 2**20} MiB.")
        try:
            with open(p, "rb") as fh:
                data = fh.read(config.MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise UnreadableFileError(f"Cannot read {p.name}: {exc.strerror or exc}.") from None
        if len(data) > config.MAX_FILE_BYTES:
            raise UploadTooLargeError(f"{p.name} is larger than the {config.MAX_FILE_BYTES // 2**20} "
                                      "MiB limit.")
        files.append((p.name, data, s))
    return files
