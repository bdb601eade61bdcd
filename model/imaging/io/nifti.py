"""NIfTI-1/2 (single file or pair), Analyze 7.5 and FreeSurfer MGH/MGZ readers, in memory.

Each reader takes bytes already decompressed (:func:`model.imaging.io.archive.read_capped`)
and returns one :class:`model.imaging.volume.Volume` per 3D volume (a 4D file holding 2-4
sequences as channels, BraTS style, gives one per channel). The affine is the sform when its
code is set, else the qform (warning when both are set and disagree, or when neither is);
voxels are scaled by scl_slope/scl_inter.
"""

from __future__ import annotations

import hashlib
import io
import warnings as _warnings
from pathlib import Path

import nibabel as nib
import numpy as np

from model.core import config
from model.core.errors import (TimeSeriesError, UnreadableFileError, UploadTooLargeError,
                               WrongDimensionsError)
from model.imaging.io.archive import read_capped
from model.imaging.sequences import recognise_sequence
from model.imaging.volume import Volume, make_volume

def _nifti_affine(img, name: str, warns: list[str]) -> tuple[np.ndarray | None, bool]:
    """``(affine, voxel size known)`` of a NIfTI (1, 2 or pair) image: sform when its code > 0,
    else qform; warns when both are set and disagree, or when neither is. An identity affine
    is a placeholder: its 1 mm voxels are not believed (flag False)."""
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
            return chosen, False
        return chosen, True
    warns.append(f"{name}: the header has no orientation (qform and sform codes are 0); the "
                 "voxel sizes were used with a default orientation, so left/right may be wrong.")
    try:
        return hdr.get_base_affine(), True
    except Exception:
        return None, True


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


def _raw_pixdim_ok(raw: bytes, header_class) -> bool:
    """False when the header *as stored* has a zero or non-finite voxel size (pixdim[1..3]
    within its dims). nibabel silently "fixes" such values to 1 when it loads the image, so
    they are read here, unchecked, first."""
    try:
        hdr = header_class.from_fileobj(io.BytesIO(raw), check=False)
        ndim = max(1, min(3, int(hdr["dim"][0])))
        pix = np.asarray(hdr["pixdim"][1:1 + ndim], dtype=np.float64)
    except Exception:  # the loader refuses an unreadable header anyway
        return True
    return bool(np.isfinite(pix).all() and (pix != 0).all())


def _image_volumes(img, name: str, digest: str, fmt: str, warns: list[str],
                   pixdim_ok: bool = True) -> list[Volume]:
    """Volumes of a nibabel image: one, or one per channel of a 4D multi-sequence file.

    ``pixdim_ok`` False (see :func:`_raw_pixdim_ok`) marks the voxel size unknown unless the
    sform, which does not use pixdim, gives the geometry."""
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
    if len(extra) > 1 or n_vol > config.MAX_CHANNELS:
        raise TimeSeriesError(
            f"{name} holds {n_vol} volumes (shape {shape}): a time series (fMRI, perfusion, "
            "diffusion), not structural sequences. Upload one 3D volume per sequence.")
    if int(np.prod(spatial)) * n_vol > config.MAX_VOXELS:
        raise UploadTooLargeError(f"{name}: {shape} voxels is above the {config.MAX_VOXELS} limit.")
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
        affine, known = _nifti_affine(img, name, warns)
        try:
            uses_pixdim = not int(img.header["sform_code"]) > 0
        except Exception:
            uses_pixdim = True
        if not pixdim_ok and uses_pixdim:
            known = False
            warns.append(f"{name}: the header's voxel sizes (pixdim) are zero or not a number; "
                         "1 mm was assumed, so sizes in mm and mL are unknown.")
    elif not pixdim_ok:
        known = False
        warns.append(f"{name}: the header's voxel sizes are zero or not a number; 1 mm was "
                     "assumed, so sizes in mm and mL are unknown.")
    else:
        known = True
        try:
            affine = img.affine
        except Exception:
            affine = None
    if n_vol == 1:
        return [make_volume(arr[..., 0], affine, name, digest, fmt, warns,
                            hint=recognise_sequence(name), geometry_known=known)]
    out = []
    for c in range(n_vol):
        label = f"{name} › channel {c + 1}/{n_vol}"
        cdigest = hashlib.sha256(f"{digest}:{c}".encode()).hexdigest()
        out.append(make_volume(arr[..., c], affine, label, cdigest, fmt,
                               [w.replace(name, label, 1) for w in warns], geometry_known=known))
    return out


def _check_data_size(img, available: int, name: str) -> None:
    """Refuse a header that describes more voxel bytes than the file holds, before anything is
    read or allocated (a truncated download, or dims claiming a huge image in a small file).

    Raises
    ------
    UnreadableFileError
        ``data offset + prod(dims) * itemsize`` exceeds ``available`` bytes.
    """
    try:
        offset = int(img.header.get_data_offset())
        needed = offset + int(np.prod([int(d) for d in img.shape], dtype=object)) * \
            img.header.get_data_dtype().itemsize
    except Exception:  # an unreadable header field: the guarded read below refuses it
        return
    if needed > available:
        raise UnreadableFileError(
            f"{name} is truncated: its header describes {needed:,} bytes of image data but the "
            f"file holds {available:,}. Upload the complete file.")


def read_nifti(raw: bytes, name: str, kind: str, digest: str) -> list[Volume]:
    klass = nib.Nifti2Image if kind == "nifti2" else nib.Nifti1Image
    try:
        with _warnings.catch_warnings():
            _warnings.simplefilter("ignore")
            img = klass.from_bytes(raw)
    except Exception as exc:  # nibabel raises many types for broken headers
        raise UnreadableFileError(
            f"{name}: the NIfTI header is corrupt ({type(exc).__name__}). Re-export the volume."
        ) from None
    _check_data_size(img, len(raw), name)
    pixdim_ok = _raw_pixdim_ok(raw, nib.Nifti2Header if kind == "nifti2" else nib.Nifti1Header)
    return _image_volumes(img, name, digest, "NIfTI-2" if kind == "nifti2" else "NIfTI-1", [],
                          pixdim_ok)


def read_mgh(raw: bytes, name: str, digest: str) -> list[Volume]:
    if len(raw) < 284 or raw[:4] != b"\x00\x00\x00\x01":
        raise UnreadableFileError(f"{name} is not a FreeSurfer MGH/MGZ volume (bad header).")
    try:
        with _warnings.catch_warnings():
            _warnings.simplefilter("ignore")
            img = nib.MGHImage.from_bytes(raw)
    except Exception as exc:
        raise UnreadableFileError(
            f"{name}: the MGH header is corrupt ({type(exc).__name__}). Re-export the volume.") from None
    _check_data_size(img, len(raw), name)
    return _image_volumes(img, name, digest, "MGH", [])


def read_pair(hdr_name: str, hdr: bytes, img_name: str, img: bytes) -> list[Volume]:
    from nibabel.fileholders import FileHolder

    name = Path(hdr_name).name
    hraw = read_capped(hdr, hdr_name)
    iraw = read_capped(img, img_name)
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
    pixdim_ok = _raw_pixdim_ok(hraw, nib.Nifti1Header if is_nifti else nib.AnalyzeHeader)
    return _image_volumes(image, name, digest, "NIfTI-1 pair" if is_nifti else "Analyze", warns,
                          pixdim_ok)

