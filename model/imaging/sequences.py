"""MRI sequence names: the four the model reads, and how they are recognised.

* from a file name (:func:`recognise_sequence`: BraTS, TCGA/TCIA and common research names);
* from a DICOM SeriesDescription / ProtocolName (:func:`sequence_from_description`);
* from what a user typed (:func:`canonical_sequence`, any case and the aliases).
"""

from __future__ import annotations

import re
from pathlib import Path

from model.core.errors import UnknownSequenceError

#: Canonical sequence names, in display order.
SEQUENCES: tuple[str, ...] = ("T1", "T1ce", "T2", "FLAIR")
#: Order in which a reference grid is chosen by :meth:`Study.resampled_to`.
REFERENCE_ORDER: tuple[str, ...] = ("T1ce", "T1", "T2", "FLAIR")


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
#: A sequence "given" as this (or "skip"/"none") leaves a volume out of the study.
SKIP = "-"


def canonical_sequence(name: str) -> str:
    """Return the canonical spelling of a sequence name given by a user.

    Accepts any case and the aliases of :func:`recognise_sequence` (``t1c``, ``flair``...).

    Raises
    ------
    UnknownSequenceError
        ``name`` is none of T1, T1ce, T2, FLAIR or their aliases.
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


def stem(filename: str) -> str:
    """File name without folders and without its image extension (``.nii.gz``, ``.mgz``...)."""
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
    tokens = [t for t in re.split(r"[-_.\s]+", stem(filename).lower()) if t]
    if not tokens:
        return None
    if len(tokens) >= 2 and tokens[-2] + tokens[-1] in _TOKENS:
        return _TOKENS[tokens[-2] + tokens[-1]]
    for tok in reversed(tokens):
        if tok in _TOKENS:
            return _TOKENS[tok]
    return None


def is_mask_name(name: str) -> bool:
    """True when a name token says segmentation/mask/label (``case_seg.nii.gz``)."""
    return bool(set(re.split(r"[-_.\s]+", stem(Path(name).name).lower())) & _NOT_AN_IMAGE_TOKENS)



def _low(text: str | None) -> str:
    return (text or "").lower()


def sequence_from_description(text: str, contrast_agent: bool = False,
                              acquisition_contrast: str | None = None) -> str | None:
    """Recognise T1, T1ce, T2 or FLAIR from a SeriesDescription/ProtocolName text.

    Parameters
    ----------
    text
        SeriesDescription and ProtocolName joined (any case).
    contrast_agent
        ContrastBolusAgent is filled in (T1 becomes T1ce).
    acquisition_contrast
        Enhanced MR AcquisitionContrast (0008,9209), e.g. "T1",
        "FLUID_ATTENUATED".

    Returns
    -------
    str or None
        The canonical sequence or None when the text does not say (SWI, T2*, DWI, PD...).

    Examples::

        >>> sequence_from_description("AX T1 POST GD")
        'T1ce'
        >>> sequence_from_description("t2_tirm_tra_dark-fluid")
        'FLAIR'
        >>> sequence_from_description("Ax T1 FLAIR")
        'T1'
        >>> sequence_from_description("SWI_Images") is None
        True
    """
    t = _low(text)
    acq = (acquisition_contrast or "").upper()
    t1 = re.search(r"t1|mprage|mp[\s_-]?rage|spgr|bravo|\btfl\b|\btfe\b|vibe|flash|\bt1w", t) or acq == "T1"
    post = (re.search(r"post|\+\s*c\b|\bc\s*\+|\+\s*gd|\bgd\b|gado|\bgad\b|contrast|\bce\b|t1ce|t1c\b|"
                      r"t1gd|\bkm\b|\+km|enhanc|mdc", t) is not None) or contrast_agent
    if t1:
        if re.search(r"\bpre\b|precontrast|pre[\s_-]contrast|native|nativ", t):
            return "T1"
        return "T1ce" if post else "T1"
    if re.search(r"flair|dark[\s_-]*fluid|tirm|\bt2f\b|t2[\s_-]*flair", t) or acq == "FLUID_ATTENUATED":
        return "FLAIR"
    if re.search(r"t2\s*\*|t2[\s_-]*star|\bswi\b|swan|\bgre\b|hemo|\bpd\b|proton|t2[\s_-]*map|\bffe\b", t):
        return None
    if re.search(r"\bt2|t2w|t2_|t2[\s_-]*tse|\bfrfse\b|\bfse\b", t) or acq == "T2":
        return "T2"
    return None

