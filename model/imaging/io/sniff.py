"""What bytes are, from their magic numbers and extension; never parses a whole file.

:func:`sniff` names the container (NIfTI-1/2, Analyze, PNG, JPEG, TIFF, DICOM, ZIP, PDF, gzip),
:func:`looks_like_dicom` also accepts a raw DICOM data set without the 128-byte preamble (the
usual extension-less export such as ``IM0001`` or ``4950``), and :func:`looks_like_ct` tells CT
Hounsfield intensities from MRI signal on decoded voxels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def sniff(raw: bytes) -> str | None:
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


#: What a sniffed kind is, in words, for refusals.
DESCRIBE = {
    "png": "a PNG picture", "jpeg": "a JPEG picture", "tiff": "a TIFF picture",
    "dicom": "a DICOM file", "zip": "a ZIP archive", "pdf": "a PDF document",
    "gzip": "a doubly compressed file", "analyze": "an Analyze/NIfTI header without image data",
}


def extension(name: str) -> str:
    """Lower-case extension without a trailing .gz: '.nii', '.mgz', '.hdr', '.dcm', '' ..."""
    low = Path(name).name.lower()
    if low.endswith(".gz") and not low.endswith(".mgz"):
        low = low[:-3]
    if low.endswith(".nii"):
        return ".nii"
    return Path(low).suffix


NIFTI_EXT, MGH_EXT, PAIR_EXT = {".nii"}, {".mgh", ".mgz"}, {".hdr", ".img"}
PICTURE_EXT = {".png", ".jpg", ".jpeg"}
DICOM_EXT = {".dcm", ".dicom", ".ima"}
SKIPPED_EXT = {".txt", ".md", ".pdf", ".html", ".htm", ".xml", ".json", ".csv", ".tsv", ".bval",
                ".bvec", ".log", ".ini", ".db", ".rtf", ".doc", ".docx", ".exe", ".bat", ".sh"}



def looks_like_ct(data: np.ndarray) -> bool:
    """True when intensities look like CT Hounsfield units rather than MRI signal.

    CT of the head has a large share of air voxels near -1000 HU; MRI magnitude images are
    non-negative (normalised MRI stays within a few units of zero). The test: the 2nd
    percentile of a voxel sample is at or below -500.
    """
    flat = np.asarray(data).reshape(-1)
    sample = flat[:: max(1, flat.size // 500_000)]
    sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        return False
    return float(np.percentile(sample, 2)) <= -500.0



def looks_like_dicom(data: bytes) -> bool:
    """True for a DICOM Part 10 file ("DICM" at byte 128) or a raw little-endian data set
    starting with a group 0002/0008 element."""
    if len(data) >= 132 and data[128:132] == b"DICM":
        return True
    return len(data) >= 8 and data[:2] in (b"\x02\x00", b"\x08\x00") and data[2:4] < b"\x30\x00"

