"""De-identification of DICOM text: which header values identify the patient, and scrubbing.

Only a whitelist of technical fields leaves the DICOM reader; the free-text fields that are
kept (SeriesDescription, ProtocolName, Manufacturer) go through :func:`scrub`, which removes
every identifier of the same header (names, IDs, accession number, dates, institution,
physicians).
"""

from __future__ import annotations

import re

import pydicom
from pydicom.dataset import Dataset

_IDENTIFYING_KEYWORDS = (
    "PatientName", "PatientID", "OtherPatientIDs", "OtherPatientNames", "PatientBirthDate",
    "AccessionNumber", "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName",
    "ReferringPhysicianName", "PerformingPhysicianName", "NameOfPhysiciansReadingStudy",
    "OperatorsName", "RequestingPhysician", "StudyDate", "SeriesDate", "AcquisitionDate",
    "ContentDate", "StudyID", "StationName", "PatientAddress", "PatientTelephoneNumbers",
)


def identifiers(ds: Dataset) -> set[str]:
    """Strings of ``ds`` that identify the patient (names split in parts, IDs, dates...).

    Used to scrub the free-text fields that are kept; never returned to the user.
    """
    out: set[str] = set()
    for kw in _IDENTIFYING_KEYWORDS:
        try:
            val = ds.get(kw)
        except Exception:
            continue
        if val is None:
            continue
        values = val if isinstance(val, (list, tuple, pydicom.multival.MultiValue)) else [val]
        for v in values:
            s = str(v).strip()
            if not s:
                continue
            out.add(s)
            for part in re.split(r"[\^\s,=]+", s):
                if len(part) >= 3:
                    out.add(part)
    return out


def scrub(text: str, idents: set[str], max_len: int = 64) -> str:
    """``text`` without any of ``idents`` (case-insensitive), printable, at most ``max_len``."""
    s = "".join(ch if ch.isprintable() else " " for ch in str(text))
    for ident in sorted(idents, key=len, reverse=True):
        s = re.sub(re.escape(ident), "***", s, flags=re.IGNORECASE)
    s = re.sub(r"\s+", " ", s).strip()
    return s[:max_len]

