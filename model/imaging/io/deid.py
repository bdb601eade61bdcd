"""De-identification of DICOM text: which header values identify the patient, scrubbing, and
enumerated fields that are never echoed raw.

Only a whitelist of technical fields leaves the DICOM reader. The free-text fields that are
kept or shown (SeriesDescription, ProtocolName, Manufacturer, and the uploaded file name in
messages) go through :func:`scrub`, which removes every identifier of the same upload (names,
IDs, accession number, dates in common spellings, institution, physicians, station).
Matching is done on *folded* text (:func:`fold`: Unicode NFKC, accents removed, case-folded),
token by token, so a name is found whatever its order ("Jane Doe" for ``Doe^Jane``), its
Unicode normalisation form (NFC or NFD), its accents ("Muller" for "Müller") or its case, and
two-letter parts ("Li", "Wu") are removed as whole words.

Fields that should only hold a value from a DICOM enumeration (Modality,
PhotometricInterpretation, ...) are compared with the known values (:func:`enumerated`); an
unknown value is described as "an unknown Modality value", never quoted, because a name typed
into the wrong field would otherwise reach the screen.

Examples
--------
>>> scrub("Jane DOE axial t1", {"doe", "jane"})
'*** *** axial t1'
>>> fold("Müller") == fold("MU\\u0308LLER") == "muller"
True
"""

from __future__ import annotations

import re
import unicodedata

import pydicom
from pydicom.dataset import Dataset

_IDENTIFYING_KEYWORDS = (
    "PatientName", "PatientID", "OtherPatientIDs", "OtherPatientNames", "PatientBirthDate",
    "PatientBirthName", "PatientMotherBirthName", "ResponsiblePerson", "IssuerOfPatientID",
    "AccessionNumber", "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName",
    "ReferringPhysicianName", "PerformingPhysicianName", "NameOfPhysiciansReadingStudy",
    "PhysiciansOfRecord", "OperatorsName", "RequestingPhysician", "ScheduledPerformingPhysicianName",
    "StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate", "StudyID", "StationName",
    "PatientAddress", "PatientTelephoneNumbers", "MilitaryRank", "BranchOfService",
    "MedicalRecordLocator", "RequestedProcedureID", "ScheduledProcedureStepID",
    "PerformedProcedureStepID", "DeviceSerialNumber",
)

#: What a DICOM Modality value means (PS3.3 C.7.3.1.1.1 defined terms in use).
MODALITIES: dict[str, str] = {
    "MR": "MR", "CT": "CT", "PT": "PET", "NM": "nuclear medicine", "US": "ultrasound",
    "CR": "computed radiography", "DX": "digital X-ray", "MG": "mammography",
    "XA": "X-ray angiography", "RF": "radio fluoroscopy", "OT": "other", "SC": "secondary capture",
    "SEG": "segmentation", "RTSTRUCT": "RT structure set", "RTDOSE": "RT dose",
    "RTPLAN": "RT plan", "RTIMAGE": "RT image", "SR": "structured report", "PR": "presentation state",
    "KO": "key object selection", "DOC": "document", "OP": "ophthalmic photography",
    "OPT": "ophthalmic tomography", "XC": "external-camera photography", "ES": "endoscopy",
    "IO": "intra-oral radiography", "PX": "panoramic X-ray", "BI": "biomagnetic imaging",
    "MS": "magnetic source imaging", "IVUS": "intravascular ultrasound", "OCT": "optical coherence tomography",
    "SM": "slide microscopy", "REG": "registration", "ECG": "electrocardiography",
}
#: PhotometricInterpretation values of PS3.3 C.7.6.3.1.2 (retired ones included).
PHOTOMETRIC: dict[str, str] = {
    "MONOCHROME1": "MONOCHROME1", "MONOCHROME2": "MONOCHROME2", "PALETTE COLOR": "palette colour",
    "RGB": "RGB colour", "YBR_FULL": "YBR colour", "YBR_FULL_422": "YBR colour",
    "YBR_PARTIAL_422": "YBR colour", "YBR_PARTIAL_420": "YBR colour", "YBR_ICT": "YBR colour",
    "YBR_RCT": "YBR colour", "HSV": "HSV colour", "ARGB": "ARGB colour", "CMYK": "CMYK colour",
}


def fold(text: str) -> str:
    """Comparison form of ``text``: Unicode NFKC, accents (combining marks) removed,
    case-folded. ``fold("Ｍüller") == fold("MU\\u0308LLER") == "muller"``."""
    decomposed = unicodedata.normalize("NFD", unicodedata.normalize("NFKC", str(text)))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _folded_with_owner(text: str) -> tuple[str, list[int]]:
    """``fold`` of ``text`` char by char, with the index of the original char of each folded
    char (a combining mark folds to nothing, a ligature to several)."""
    out, owner = [], []
    for i, ch in enumerate(text):
        for c in fold(ch):
            out.append(c)
            owner.append(i)
    return "".join(out), owner


def _date_variants(s: str) -> list[str]:
    m = re.fullmatch(r"(\d{4})(\d{2})(\d{2})", s)
    if not m:
        return []
    y, mo, d = m.groups()
    return [f"{y}-{mo}-{d}", f"{y}.{mo}.{d}", f"{y}/{mo}/{d}", f"{d}.{mo}.{y}", f"{d}/{mo}/{y}",
            f"{mo}/{d}/{y}", f"{d}-{mo}-{y}"]


def identifier_strings(values) -> set[str]:
    """Folded identifier strings of raw header ``values``: each whole value, the value without
    separators, every part of two or more characters (split on anything not a letter or
    digit), and other spellings of DICOM dates (``19370412`` -> ``1937-04-12``,
    ``12.04.1937``...). Purely numeric parts shorter than 4 digits are left out (a StudyID of
    ``3`` is not identifying, and "series 3" must stay readable)."""
    out: set[str] = set()
    for v in values:
        s = fold(str(v)).strip()
        if not s:
            continue
        for whole in [s, *_date_variants(s)]:
            out.add(whole)
        glued = re.sub(r"[\W_]+", "", s)
        if len(glued) >= 3:
            out.add(glued)
        for part in re.split(r"[\W_]+", s):
            if len(part) >= 2 and not (part.isdigit() and len(part) < 4):
                out.add(part)
    return {x for x in out if len(x) >= 2 and not (x.isdigit() and len(x) < 4)}


def identifiers(ds: Dataset) -> set[str]:
    """Folded strings of ``ds`` that identify the patient (names split in parts, IDs, dates,
    institution, physicians...; see :func:`identifier_strings`).

    Used to scrub the free-text fields that are kept; never returned to the user.
    """
    raw = []
    for kw in _IDENTIFYING_KEYWORDS:
        try:
            val = ds.get(kw)
        except Exception:
            continue
        if val is None:
            continue
        values = val if isinstance(val, (list, tuple, pydicom.multival.MultiValue)) else [val]
        for v in values:
            try:
                raw.append(str(v))
            except Exception:
                continue
    return identifier_strings(raw)


def scrub(text: str, idents: set[str], max_len: int = 64) -> str:
    """``text`` with every identifier of ``idents`` replaced by ``***``, printable, at most
    ``max_len`` characters.

    Parameters
    ----------
    text : str
        Free text from a header or a file name.
    idents : set of str
        Folded identifiers (:func:`identifiers`); plain lower-case strings also work.
    max_len : int
        Length of the returned text.

    Notes
    -----
    Matching is on :func:`fold` ed text. Identifiers of three or more characters are removed
    wherever they occur (also inside a longer word: "DoeJane"); two-character ones only as a
    whole word (so "Li" is removed from "Li Wei t1" but not from "flair").
    """
    s = "".join(ch if ch.isprintable() else " " for ch in str(text))
    folded, owner = _folded_with_owner(s)
    spans: list[tuple[int, int]] = []
    for ident in {fold(i) for i in idents}:
        if len(ident) < 2:
            continue
        start = folded.find(ident)
        while start >= 0:
            end = start + len(ident)
            whole = ((start == 0 or not folded[start - 1].isalnum())
                     and (end == len(folded) or not folded[end].isalnum()))
            if len(ident) >= 3 or whole:
                spans.append((owner[start], owner[end - 1] + 1))
            start = folded.find(ident, start + 1)
    if spans:
        spans.sort()
        merged = [list(spans[0])]
        for a, b in spans[1:]:
            if a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        for a, b in reversed(merged):
            while b < len(s) and not fold(s[b]):  # a combining mark left after the match
                b += 1
            s = s[:a] + "***" + s[b:]
    s = re.sub(r"\s+", " ", s).strip()
    return s[:max_len]


def enumerated(value, known: dict[str, str]) -> str | None:
    """The canonical spelling of ``value`` when it is one of ``known`` (compared stripped and
    upper-case), else None: the caller then says "an unknown ... value" and never quotes it."""
    try:
        key = str(value if value is not None else "").strip().upper()
    except Exception:
        return None
    return key if key in known else None


__all__ = ["MODALITIES", "PHOTOMETRIC", "fold", "identifier_strings", "identifiers", "scrub",
           "enumerated"]
