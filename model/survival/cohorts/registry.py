"""The cohort registry: :data:`COHORTS` (key -> :class:`CohortSpec`), :func:`load_cohort`, and
what a cohort offers the Survival page: :func:`stratifiable`, :func:`adjusters` (Cox
covariates), :func:`cox_references`, :func:`covariate_label`, :func:`time_conversion_text`."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from model.core.units import DAYS_PER_MONTH, DAYS_PER_WEEK

from model.survival.cohorts.loaders import (
    load_brats19,
    load_brats20,
    load_image_cohort,
    load_islp_braincancer,
    load_lumiere,
    load_tcga_clinical,
    load_ucsf_pdgm,
)
from model.survival.cohorts.schema import COVARIATES, CohortSpec

__all__ = ["COHORTS", "load_cohort", "stratifiable", "adjusters", "cox_references", "covariate_label",
           "time_conversion_text"]

COHORTS: dict[str, CohortSpec] = {
    spec.key: spec
    for spec in [
        CohortSpec(
            "tcga", "TCGA LGG + GBM (TCGA-CDR)",
            "TCGA lower-grade glioma and glioblastoma patients with curated outcomes (Pan-Cancer CDR).",
            "days", "Liu J et al. Cell 2018;173:400-416", "TCGA open access (NCI GDC)",
            load_tcga_clinical,
            strata=("cancer_type", "grade", "histology", "sex", "age_group"),
            numeric=("age_years",), endpoints=("OS", "PFI"),
        ),
        CohortSpec(
            "tcga_image", "TCGA-LGG image cohort (model risk)",
            "The image model's TCGA-LGG patients: predicted risk score and group, OS from TCGA-CDR.",
            "days", "Liu J et al. Cell 2018; Buda M et al. Comput Biol Med 2019",
            "TCGA open access; images CC BY-NC-SA 4.0 (believed)",
            load_image_cohort,
            strata=("risk_group", "grade", "histology", "sex", "age_group", "split"),
            numeric=("risk_score", "age_years"),
            note="Training patients were used to fit the image model: their risk separation is optimistic.",
            needs_checkpoint=True,
        ),
        CohortSpec(
            "ucsf_pdgm", "UCSF-PDGM (WHO 2021 diffuse glioma)",
            "Adult diffuse glioma, UCSF, WHO 2021 diagnoses with IDH, 1p/19q, MGMT and resection.",
            "days", "Calabrese E et al. Radiol Artif Intell 2022;4:e220058", "CC BY 4.0",
            load_ucsf_pdgm,
            strata=("grade", "diagnosis", "idh", "mgmt", "codeletion_1p19q", "resection", "sex", "age_group"),
            numeric=("age_years",),
        ),
        CohortSpec(
            "brats19", "BraTS 2019 survival (HGG)",
            "BraTS 2019 training subjects with overall survival (all high-grade glioma).",
            "days (text)", "Bakas S et al. arXiv:1811.02629", "BraTS data terms (research use, cite)",
            load_brats19,
            strata=("resection", "age_group", "brats_grade"),
            numeric=("age_years",),
            note="62 patients are TCGA-GBM patients also in TCGA-CDR; many are also in BraTS 2020.",
        ),
        CohortSpec(
            "brats20", "BraTS 2020 survival (HGG)",
            "BraTS 2020 training subjects with overall survival.",
            "days", "Bakas S et al. arXiv:1811.02629", "BraTS data terms (research use, cite)",
            load_brats20,
            strata=("resection", "age_group"),
            numeric=("age_years",),
            note="Mostly the same patients as BraTS 2019 (do not pool the two).",
        ),
        CohortSpec(
            "islp", "ISLP BrainCancer (Selingerová 2016)",
            "Primary brain tumours treated with stereotactic radiation (meningioma, gliomas, other).",
            "months", "Selingerová I et al. PLoS One 2016;11:e0148733", "CC BY 4.0 (data), BSD (ISLP)",
            load_islp_braincancer,
            strata=("diagnosis", "karnofsky_group", "sex", "location", "stereotactic"),
            numeric=("karnofsky", "tumor_volume_cm3"),
        ),
        CohortSpec(
            "lumiere", "LUMIERE glioblastoma",
            "Glioblastoma patients with longitudinal MRI (per-patient overall survival).",
            "weeks", "Suter Y et al. Sci Data 2022;9:768", "non-commercial (believed CC BY-NC 4.0)",
            load_lumiere,
            strata=("mgmt", "idh", "any_progression", "sex", "age_group"),
            numeric=("age_years", "n_visits"),
            note="Survival known only in whole weeks; every patient with known survival died (no censoring).",
        ),
    ]
}


def load_cohort(key: str, endpoint: str = "OS", checkpoint_dir: str | Path | None = None) -> pd.DataFrame | None:
    """Load a registered cohort by key (see :data:`COHORTS`) in the cohort schema.

    Parameters
    ----------
    key : str
        Registry key.
    endpoint : str
        Only matters for cohorts with several (TCGA: "OS" / "PFI").
    checkpoint_dir : str or Path, optional
        Only for ``"tcga_image"``.

    Returns
    -------
    pandas.DataFrame or None
        The cohort schema; None for ``"tcga_image"`` when its ``cohort_risk.csv`` is absent.

    Raises
    ------
    KeyError
        Unknown key.
    ValueError
        Endpoint not available for the cohort; malformed data.
    FileNotFoundError
        The committed CSV is missing.
    """
    if key not in COHORTS:
        raise KeyError(f"Unknown cohort {key!r}; known: {sorted(COHORTS)}.")
    spec = COHORTS[key]
    if endpoint not in spec.endpoints:
        raise ValueError(f"Cohort {spec.title!r} has only {list(spec.endpoints)}; not {endpoint!r}.")
    if spec.needs_checkpoint:
        return spec.loader(checkpoint_dir=checkpoint_dir)
    return spec.loader(endpoint=endpoint)


def stratifiable(df: pd.DataFrame, key: str) -> list[str]:
    """The registry's strata of cohort ``key`` that have >= 2 non-missing levels in ``df``.

    Parameters
    ----------
    df : pandas.DataFrame
        The loaded cohort.
    key : str
        Registry key.

    Returns
    -------
    list of str
        Column names, in registry order.

    Raises
    ------
    KeyError
        Unknown key.
    """
    spec = COHORTS[key]
    return [c for c in spec.strata if c in df.columns and df[c].dropna().nunique() >= 2]


def adjusters(df: pd.DataFrame | None, key: str) -> list[str]:
    """Covariates cohort ``key`` offers as Cox adjusters: its numeric covariates, then its
    stratifiable ones (:func:`stratifiable`), without the training ``split``.

    Parameters
    ----------
    df : pandas.DataFrame or None
        The loaded cohort (None -> no adjusters).
    key : str
        Registry key.

    Returns
    -------
    list of str

    Raises
    ------
    KeyError
        Unknown key.
    """
    if df is None:
        return []
    spec = COHORTS[key]
    return [c for c in (*spec.numeric, *stratifiable(df, key)) if c != "split"]


def cox_references(cols: Sequence[str]) -> dict[str, str]:
    """Reference level of each categorical covariate in ``cols`` that the schema orders (the
    first of :attr:`Covariate.levels`, e.g. ``"WHO II"``, ``"female"``, ``"low"``).

    Parameters
    ----------
    cols : sequence of str

    Returns
    -------
    dict
        Covariate -> reference level; covariates without schema levels are left out (the Cox
        model then takes the sorted-first level).
    """
    return {c: COVARIATES[c].levels[0] for c in cols if c in COVARIATES and COVARIATES[c].levels}


def covariate_label(col: str) -> str:
    """Display name of a covariate.

    Parameters
    ----------
    col : str
        Covariate (column) name.

    Returns
    -------
    str
        :attr:`Covariate.label`, or ``col`` itself when it is not a schema covariate.
    """
    return COVARIATES[col].label if col in COVARIATES else col


def time_conversion_text(spec: CohortSpec) -> str:
    """How a cohort's source times became days, in words (for the caption).

    Parameters
    ----------
    spec : CohortSpec

    Returns
    -------
    str
        E.g. ``"converted from months (x 30.4375 days)"``; ``"days"`` when no conversion.
    """
    return {"months": f"converted from months (x {DAYS_PER_MONTH:g} days)",
            "weeks": f"converted from weeks (x {DAYS_PER_WEEK:g} days)",
            "days (text)": "days; 'ALIVE (N days later)' = censored at N"}.get(spec.source_unit, "days")
