"""THE cohort schema: the columns every cohort loader returns, and the covariate catalogue.

No Streamlit, no torch, no Plotly. Every loader of :mod:`model.survival.cohorts` returns a
:class:`pandas.DataFrame` in this schema.

Always present, in this order:

============== ======= ===================================================================
column         dtype   meaning
============== ======= ===================================================================
patient_id     str     the source's patient identifier (generated ``ISLP-001``... for ISLP)
time_days      float   follow-up time in **days** (>= 0): time to death, or to the last
                       contact when censored
event          int     1 = death observed, 0 = censored (alive at ``time_days``)
cohort         str     registry key of the cohort (``"ucsf_pdgm"``, ...)
============== ======= ===================================================================

Then the cohort's covariates, a subset of :data:`COVARIATES` (name, dtype, unit and levels are
the same in every cohort; a value the source does not give is NaN). Categorical covariates are
``object`` columns of str or NaN; numeric ones are float.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import pandas as pd

__all__ = [
    "SCHEMA_COLUMNS",
    "Covariate",
    "COVARIATES",
    "CohortSpec",
    "check_time_event",
    "finish_cohort",
    "validate_cohort",
]

#: the four columns every cohort frame starts with, in this order.
SCHEMA_COLUMNS = ["patient_id", "time_days", "event", "cohort"]


@dataclass(frozen=True)
class Covariate:
    """One covariate of the schema.

    Attributes
    ----------
    label : str
        Human-readable name shown in the app.
    kind : str
        ``"categorical"`` (str levels) or ``"numeric"`` (float).
    unit : str
        Unit of a numeric covariate (``""`` for categorical / unitless).
    description : str
        How it is coded.
    levels : tuple of str
        Display / reference order of a categorical covariate (first = Cox reference); empty =
        the most frequent level is the reference.
    """

    label: str
    kind: str
    unit: str = ""
    description: str = ""
    levels: tuple[str, ...] = ()


#: Every covariate any cohort may carry (name -> :class:`Covariate`).
COVARIATES: dict[str, Covariate] = {
    "cancer_type": Covariate("TCGA project", "categorical", "", "LGG or GBM", ("LGG", "GBM")),
    "grade": Covariate(
        "grade", "categorical", "", "WHO CNS grade (II / III / IV)", ("WHO II", "WHO III", "WHO IV")
    ),
    "brats_grade": Covariate("BraTS grade", "categorical", "", "BraTS label HGG / LGG", ("LGG", "HGG")),
    "histology": Covariate("histology", "categorical", "", "TCGA histological type"),
    "diagnosis": Covariate("diagnosis", "categorical", "", "final pathologic diagnosis as given"),
    "idh": Covariate("IDH", "categorical", "", "IDH1/2 status: mutant or wildtype", ("wildtype", "mutant")),
    "mgmt": Covariate(
        "MGMT", "categorical", "", "MGMT promoter methylation", ("unmethylated", "methylated")
    ),
    "codeletion_1p19q": Covariate(
        "1p/19q", "categorical", "", "1p/19q status", ("intact", "co-deleted", "relative co-deletion")
    ),
    "resection": Covariate(
        "resection", "categorical", "", "extent of resection: GTR (gross total), STR (subtotal), biopsy",
        ("GTR", "STR", "biopsy"),
    ),
    "karnofsky": Covariate("Karnofsky", "numeric", "points (0-100)", "Karnofsky performance status"),
    "karnofsky_group": Covariate(
        "Karnofsky group", "categorical", "", "Karnofsky < 80 or >= 80", ("KPS >= 80", "KPS < 80")
    ),
    "tumor_volume_cm3": Covariate("tumour volume", "numeric", "cm³", "gross tumour volume"),
    "location": Covariate("location", "categorical", "", "supratentorial / infratentorial"),
    "stereotactic": Covariate("stereotactic method", "categorical", "", "SRS (radiosurgery) / SRT (radiotherapy)"),
    "age_years": Covariate("age", "numeric", "years", "age at diagnosis / surgery / MRI (see cohort)"),
    "age_group": Covariate("age group", "categorical", "", "< 40, 40-59, >= 60 years", ("< 40", "40-59", ">= 60")),
    "sex": Covariate("sex", "categorical", "", "female / male", ("female", "male")),
    "any_progression": Covariate(
        "any PD rating", "categorical", "", "at least one visit rated progressive disease (RANO)", ("no", "yes")
    ),
    "n_visits": Covariate("visits", "numeric", "count", "number of imaging visits"),
    "risk_score": Covariate("image risk score", "numeric", "Cox log-risk (unitless)", "image model output"),
    "risk_group": Covariate(
        "predicted risk group", "categorical", "", "image model: above (high) / at or below (low) the training median",
        ("low", "high"),
    ),
    "split": Covariate("split", "categorical", "", "training split of the image model", ("train", "val", "test")),
}


@dataclass(frozen=True)
class CohortSpec:
    """One entry of the cohort registry (:data:`model.survival.cohorts.COHORTS`).

    Attributes
    ----------
    key : str
        Registry key (also the ``cohort`` column).
    title : str
        Name shown in the app.
    description : str
        One line on the population.
    source_unit : str
        Time unit of the source file (converted to days by the loader).
    citation : str
        Short citation (full one in ``data/cohorts/ATTRIBUTION.md``).
    licence : str
        Licence of the data.
    loader : callable
        ``loader(endpoint=..., checkpoint_dir=...) -> DataFrame`` in the schema.
    strata : tuple of str
        Categorical covariates offered for stratification (the page shows those with >= 2
        levels in the loaded data).
    numeric : tuple of str
        Numeric covariates offered as Cox adjusters.
    endpoints : tuple of str
        Endpoints the cohort has (``("OS",)`` or ``("OS", "PFI")``).
    note : str
        Caveat shown under the figure (``""`` if none).
    needs_checkpoint : bool
        The loader reads the served checkpoint's ``cohort_risk.csv`` (image cohort).
    """

    key: str
    title: str
    description: str
    source_unit: str
    citation: str
    licence: str
    loader: Callable[..., pd.DataFrame] = field(repr=False, compare=False)
    strata: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()
    endpoints: tuple[str, ...] = ("OS",)
    note: str = ""
    needs_checkpoint: bool = False


def check_time_event(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """Validate and cast ``time_days`` and ``event`` in place.

    Parameters
    ----------
    df : pandas.DataFrame
        Frame with ``time_days`` (numeric, days) and ``event`` (numeric 0/1), no NaN.
    name : str
        Source name used in error messages.

    Returns
    -------
    pandas.DataFrame
        ``df`` itself, ``time_days`` cast to float64 (days), ``event`` to int64.

    Raises
    ------
    ValueError
        An event outside {0, 1} or a negative time (``name`` in the message).
    """
    bad = sorted(set(df["event"].unique()) - {0, 1})
    if bad:
        raise ValueError(f"{name}: event must be 0/1 (1 = death, 0 = censored); found {bad}.")
    if (df["time_days"] < 0).any():
        raise ValueError(f"{name}: negative follow-up times.")
    df["time_days"] = df["time_days"].astype(float)
    df["event"] = df["event"].astype(int)
    return df


def finish_cohort(df: pd.DataFrame, key: str, name: str) -> pd.DataFrame:
    """Bring a loader's frame into the schema.

    Drops rows without time/event, checks values (:func:`check_time_event`), casts
    ``patient_id`` to str and each known covariate to its kind (float / object), adds
    ``cohort = key`` and puts :data:`SCHEMA_COLUMNS` first.

    Parameters
    ----------
    df : pandas.DataFrame
        ``patient_id``, ``time_days`` (days), ``event`` (0/1) and covariate columns.
    key : str
        Registry key written into the ``cohort`` column.
    name : str
        Source name used in error messages.

    Returns
    -------
    pandas.DataFrame
        A new frame in the schema, index 0..n-1.

    Raises
    ------
    ValueError
        As :func:`check_time_event`.
    """
    df = check_time_event(df[df["time_days"].notna() & df["event"].notna()].copy(), name)
    df["patient_id"] = df["patient_id"].astype(str)
    df["cohort"] = key
    for c in df.columns:
        spec = COVARIATES.get(c)
        if spec is None:
            continue
        if spec.kind == "numeric":
            df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
        else:
            df[c] = df[c].astype(object).where(df[c].notna())
    rest = [c for c in df.columns if c not in SCHEMA_COLUMNS]
    return df[SCHEMA_COLUMNS + rest].reset_index(drop=True)


def validate_cohort(df: pd.DataFrame) -> None:
    """Check a frame against the schema.

    Checks: the 4 schema columns first and in order, ``time_days`` float >= 0 without NaN,
    ``event`` int in {0, 1}, every other column a known covariate of :data:`COVARIATES` with a
    float dtype for numeric covariates.

    Parameters
    ----------
    df : pandas.DataFrame
        A loaded cohort.

    Raises
    ------
    ValueError
        Naming the first problem found.
    """
    if list(df.columns[:4]) != SCHEMA_COLUMNS:
        raise ValueError(f"First columns must be {SCHEMA_COLUMNS}; got {list(df.columns[:4])}.")
    if df["time_days"].dtype != float or df["time_days"].isna().any() or (df["time_days"] < 0).any():
        raise ValueError("time_days must be float days >= 0 without NaN.")
    if df["event"].dtype.kind != "i" or not set(df["event"].unique()) <= {0, 1}:
        raise ValueError("event must be int 0/1.")
    for c in df.columns[4:]:
        if c not in COVARIATES:
            raise ValueError(f"Column {c!r} is not a schema covariate.")
        if COVARIATES[c].kind == "numeric" and df[c].dtype.kind != "f":
            raise ValueError(f"Numeric covariate {c!r} must be float; got {df[c].dtype}.")
