"""TCGA data: the TCGA-CDR LGG + GBM table and the image model's TCGA-LGG risk cohort.

No Streamlit, torch or Plotly here.

The TCGA-CDR frame
------------------
:func:`load_tcga_cdr` returns a frame with these columns (:data:`COHORT_COLUMNS`):

============== ========= ==============================================================
column         dtype     meaning
============== ========= ==============================================================
patient_id     str       TCGA patient barcode, e.g. ``TCGA-02-0001``
time_days      float     follow-up time of the chosen endpoint, in days (>= 0)
event          int       1 = event (death for OS, progression/death for PFI), 0 = censored
cancer_type    str       ``"LGG"`` or ``"GBM"`` (TCGA project)
grade          str/NaN   ``"WHO II"``, ``"WHO III"`` or ``"WHO IV"``. GBM rows are WHO IV by
                         definition (glioblastoma is grade IV; the CDR leaves their grade
                         ``[Not Available]``). LGG ``G2`` -> WHO II, ``G3`` -> WHO III;
                         ``[Discrepancy]`` / ``[Not Available]`` -> NaN.
histology      str/NaN   CDR ``histological_type`` (e.g. ``Astrocytoma``)
age_years      float     age at initial pathologic diagnosis, years (NaN if missing)
sex            str/NaN   ``"female"`` or ``"male"``
============== ========= ==============================================================

Source data: TCGA Pan-Cancer Clinical Data Resource (Liu J et al., *Cell* 2018;173:400-416),
LGG + GBM rows, committed as ``data/cohorts/tcga_cdr_lgg_gbm.csv`` (see the shared data README,
section 8).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from model.core.config import COHORT_DIR
from model.survival.cohorts.schema import check_time_event
from model.survival.risk import risk_groups, risk_threshold

__all__ = [
    "DEFAULT_CDR_PATH",
    "ENDPOINTS",
    "COHORT_COLUMNS",
    "RISK_COLUMNS",
    "IMAGE_COHORT_COLUMNS",
    "load_tcga_cdr",
    "load_cohort_risk",
    "normalize_grade",
    "join_image_covariates",
]

DEFAULT_CDR_PATH = COHORT_DIR / "tcga_cdr_lgg_gbm.csv"
#: endpoint name -> (event column, time column) in the TCGA-CDR table.
ENDPOINTS = {"OS": ("OS", "OS.time"), "PFI": ("PFI", "PFI.time")}

#: display unit -> days per unit.
COHORT_COLUMNS = [
    "patient_id",
    "time_days",
    "event",
    "cancer_type",
    "grade",
    "histology",
    "age_years",
    "sex",
]
RISK_COLUMNS = ["patient_id", "risk_score", "split", "time_days", "event", "grade"]

_CDR_REQUIRED = [
    "bcr_patient_barcode",
    "type",
    "age_at_initial_pathologic_diagnosis",
    "gender",
    "histological_type",
    "histological_grade",
]
_GRADE_MAP = {"G2": "WHO II", "G3": "WHO III", "G4": "WHO IV"}


def _blank_bracket_texts(s: pd.Series) -> pd.Series:
    """Turn TCGA placeholder texts such as ``[Not Available]`` / ``[Discrepancy]`` into NaN."""
    if s.dtype != object:
        return s
    def _is_placeholder(v: object) -> bool:
        if not isinstance(v, str):
            return False
        v = v.strip()
        return v == "" or (v.startswith("[") and v.endswith("]"))

    return s.mask(s.map(_is_placeholder).astype(bool))


def load_tcga_cdr(path: str | Path | None = None, endpoint: str = "OS") -> pd.DataFrame:
    """Load the TCGA-CDR LGG + GBM table as a survival cohort for one endpoint.

    Parameters
    ----------
    path : str or Path, optional
        CSV export of the TCGA-CDR sheet (columns ``bcr_patient_barcode, type,
        age_at_initial_pathologic_diagnosis, gender, histological_type, histological_grade`` and
        the endpoint's event/time columns). Default: :data:`DEFAULT_CDR_PATH` (``<repo>/data/cohorts/tcga_cdr_lgg_gbm.csv``).
    endpoint : {"OS", "PFI"}
        ``"OS"`` (overall survival: columns ``OS``, ``OS.time``) or ``"PFI"`` (progression-free
        interval: ``PFI``, ``PFI.time``), the two endpoints Liu et al. 2018 recommend for
        LGG/GBM.

    Returns
    -------
    pandas.DataFrame
        The TCGA-CDR frame (see the module docstring): ``patient_id`` str, ``time_days`` float
        (days), ``event`` int 0/1 (1 = event, 0 = censored), ``cancer_type`` "LGG"/"GBM",
        ``grade`` "WHO II"/"WHO III"/"WHO IV" or NaN (GBM = WHO IV by definition), ``histology``
        str, ``age_years`` float, ``sex`` "female"/"male". One row per patient, index 0..n-1.
        Rows whose time or event for ``endpoint`` is missing (NaN or a ``[...]`` text) are
        dropped; in the committed table this is one LGG patient (TCGA-CS-5390, no follow-up
        time), so OS gives 1067 rows (LGG 491 / 120 deaths, GBM 576 / 474 deaths).

    Raises
    ------
    ValueError
        Unknown ``endpoint``; required columns absent; event values other than 0/1; negative
        times.
    FileNotFoundError
        The CSV does not exist (the message names the path and what the file is).
    """
    if endpoint not in ENDPOINTS:
        raise ValueError(f"Unknown endpoint {endpoint!r}; use one of {sorted(ENDPOINTS)}.")
    path = Path(path) if path is not None else DEFAULT_CDR_PATH
    if not path.is_file():
        raise FileNotFoundError(
            f"TCGA-CDR cohort table not found at {path}. Expected the committed CSV export of the "
            "TCGA Pan-Cancer Clinical Data Resource (LGG + GBM rows), normally "
            "data/cohorts/tcga_cdr_lgg_gbm.csv in the repository."
        )
    raw = pd.read_csv(path, dtype={"bcr_patient_barcode": str}, low_memory=False)
    event_col, time_col = ENDPOINTS[endpoint]
    missing_cols = [c for c in [*_CDR_REQUIRED, event_col, time_col] if c not in raw.columns]
    if missing_cols:
        raise ValueError(f"{path.name} lacks the TCGA-CDR column(s) {missing_cols}.")

    raw = raw.apply(_blank_bracket_texts)
    time = pd.to_numeric(raw[time_col], errors="coerce")
    event = pd.to_numeric(raw[event_col], errors="coerce")
    keep = time.notna() & event.notna()
    raw, time, event = raw[keep], time[keep], event[keep]

    bad_events = sorted(set(event.unique()) - {0, 1})
    if bad_events:
        raise ValueError(f"{event_col} must be 0/1 (1 = event, 0 = censored); found {bad_events}.")
    if (time < 0).any():
        raise ValueError(f"{time_col} has negative times (days); the table is corrupt.")

    cancer_type = raw["type"].astype(str).str.strip().str.upper()
    grade = raw["histological_grade"].map(
        lambda g: _GRADE_MAP.get(str(g).strip().upper()) if isinstance(g, str) else np.nan
    )
    grade = grade.where(cancer_type != "GBM", "WHO IV")  # glioblastoma is WHO grade IV
    sex = raw["gender"].map(
        lambda g: str(g).strip().lower() if isinstance(g, str) else np.nan
    )
    sex = sex.where(sex.isin(["female", "male"]))

    out = pd.DataFrame(
        {
            "patient_id": raw["bcr_patient_barcode"].astype(str).str.strip(),
            "time_days": time.astype(float),
            "event": event.astype(int),
            "cancer_type": cancer_type,
            "grade": grade.astype(object),
            "histology": raw["histological_type"].astype(object),
            "age_years": pd.to_numeric(
                raw["age_at_initial_pathologic_diagnosis"], errors="coerce"
            ).astype(float),
            "sex": sex.astype(object),
        }
    )
    return out.reset_index(drop=True)



def load_cohort_risk(checkpoint_dir: str | Path | None) -> pd.DataFrame | None:
    """Read the image cohort's model risk scores written by training.

    Parameters
    ----------
    checkpoint_dir : str or Path or None
        Folder holding ``cohort_risk.csv`` with columns ``patient_id`` (str), ``risk_score``
        (float, higher = worse prognosis), ``split`` (str: "train"/"val"/"test"...),
        ``time_days`` (float, days), ``event`` (0/1; 1 = event, 0 = censored), ``grade``.
        ``None`` or an empty string is allowed (nothing loaded yet).

    Returns
    -------
    pandas.DataFrame or None
        ``None`` when ``checkpoint_dir`` is None/empty or the file does not exist (training has
        not written it yet). Otherwise the table with ``time_days`` float, ``event`` int and an
        added ``risk_group`` column: ``"high"`` when ``risk_score > risk_threshold(df)`` (median
        of the training split), else ``"low"`` (:mod:`model.survival.risk`). Rows without time/event/risk score are dropped.

    Raises
    ------
    ValueError
        The file exists but lacks required columns, has non-0/1 events, negative times, or no
        training rows (see :func:`risk_threshold`).
    """
    if checkpoint_dir is None or str(checkpoint_dir).strip() == "":
        return None
    path = Path(checkpoint_dir) / "cohort_risk.csv"
    if not path.is_file():
        return None
    df = pd.read_csv(path, dtype={"patient_id": str, "split": str})
    missing = [c for c in RISK_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path} lacks the column(s) {missing}.")
    df = df.apply(_blank_bracket_texts)
    df["risk_score"] = pd.to_numeric(df["risk_score"], errors="coerce")
    df["time_days"] = pd.to_numeric(df["time_days"], errors="coerce")
    df["event"] = pd.to_numeric(df["event"], errors="coerce")
    df = df[df["risk_score"].notna() & df["time_days"].notna() & df["event"].notna()].copy()
    df = check_time_event(df, path.name)
    df["split"] = df["split"].astype(str).str.strip().str.lower()
    df["risk_group"] = risk_groups(df["risk_score"], risk_threshold(df))
    return df.reset_index(drop=True)



_ROMAN = {"2": "WHO II", "II": "WHO II", "3": "WHO III", "III": "WHO III", "4": "WHO IV", "IV": "WHO IV"}


def normalize_grade(value: object) -> object:
    """Any grade spelling -> ``"WHO II"`` / ``"WHO III"`` / ``"WHO IV"``.

    Parameters
    ----------
    value : object
        ``"WHO grade III"``, ``"WHO III"``, ``"G3"``, ``"grade 3"``, ``"III"``, ``3``...

    Returns
    -------
    str or float
        The WHO grade text, NaN when unknown / missing.
    """
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        if not np.isfinite(value):
            return np.nan
        value = str(int(value))
    if not isinstance(value, str):
        return np.nan
    t = value.strip().upper().replace("WHO", "").replace("GRADE", "").replace(" ", "")
    if t.startswith("G") and len(t) > 1:
        t = t[1:]
    return _ROMAN.get(t, np.nan)


IMAGE_COHORT_COLUMNS = [
    "patient_id", "time_days", "event", "risk_score", "risk_group", "split",
    "grade", "histology", "age_years", "sex",
]


def join_image_covariates(cohort_risk: pd.DataFrame, cdr: pd.DataFrame | None) -> pd.DataFrame:
    """Join the image model's per-patient risk (``cohort_risk.csv``) to TCGA-CDR covariates.

    Parameters
    ----------
    cohort_risk : pandas.DataFrame
        Frame with ``patient_id`` (Kaggle form ``TCGA_CS_5393`` or barcode ``TCGA-CS-5393``),
        ``risk_score`` (float), ``split`` (str), ``time_days`` (float, days), ``event`` (0/1) and
        optionally ``grade`` (any spelling, see :func:`normalize_grade`) and ``risk_group``
        (added with :func:`model.survival.risk.risk_groups` at :func:`risk_threshold` when
        absent).
    cdr : pandas.DataFrame or None
        :func:`load_tcga_cdr` output (``patient_id`` barcode, ``age_years``, ``sex``,
        ``grade``, ``histology``) or None (covariates stay NaN).

    Returns
    -------
    pandas.DataFrame
        :data:`IMAGE_COHORT_COLUMNS`: ``patient_id`` (barcode, ``_`` -> ``-``), ``time_days``
        and ``event`` from ``cohort_risk`` (equal to CDR OS for the TCGA patients), ``risk_score``,
        ``risk_group`` ("low"/"high"), ``split`` (lower case), ``grade`` (CDR grade; where the CDR
        has none, the ``cohort_risk`` grade), ``histology``, ``age_years`` (years), ``sex``.
        Patients absent from ``cdr`` keep NaN covariates.

    Raises
    ------
    ValueError
        Required columns missing.
    """
    need = ["patient_id", "risk_score", "split", "time_days", "event"]
    missing = [c for c in need if c not in cohort_risk.columns]
    if missing:
        raise ValueError(f"cohort_risk lacks column(s) {missing}.")
    df = cohort_risk.reset_index(drop=True)
    if "risk_group" not in df.columns:
        risk_group = risk_groups(pd.to_numeric(df["risk_score"]), risk_threshold(df))
    else:
        risk_group = df["risk_group"].to_numpy()
    pid = df["patient_id"].astype(str).str.strip().str.replace("_", "-", regex=False)
    out = pd.DataFrame(
        {
            "patient_id": pid,
            "time_days": pd.to_numeric(df["time_days"], errors="coerce").astype(float),
            "event": pd.to_numeric(df["event"], errors="coerce"),
            "risk_score": pd.to_numeric(df["risk_score"], errors="coerce").astype(float),
            "risk_group": pd.Series(risk_group, dtype=object),
            "split": df["split"].astype(str).str.strip().str.lower(),
        }
    )
    own_grade = (
        df["grade"].map(normalize_grade) if "grade" in df.columns else pd.Series(np.nan, index=df.index)
    )
    for col in ("grade", "histology", "age_years", "sex"):
        out[col] = np.nan
    if cdr is not None and "patient_id" in cdr.columns:
        c = cdr.drop_duplicates("patient_id").set_index("patient_id")
        for col in ("grade", "histology", "age_years", "sex"):
            if col in c.columns:
                out[col] = pid.map(c[col]).to_numpy()
    out["grade"] = out["grade"].where(out["grade"].notna(), own_grade).astype(object)
    out["age_years"] = pd.to_numeric(out["age_years"], errors="coerce").astype(float)
    for col in ("histology", "sex"):
        out[col] = out[col].astype(object)
    return out[IMAGE_COHORT_COLUMNS]

