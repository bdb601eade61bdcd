"""Survival cohorts of the Survival page, loaded into ONE documented schema.

Rooms:

* :mod:`~model.survival.cohorts.schema` -- the schema (:data:`SCHEMA_COLUMNS`, the covariate
  catalogue :data:`COVARIATES`, :class:`CohortSpec`, :func:`check_time_event`,
  :func:`validate_cohort`);
* :mod:`~model.survival.cohorts.tcga` -- TCGA-CDR loading and the image model's risk cohort;
* :mod:`~model.survival.cohorts.loaders` -- one loader per cohort (unit conversions explicit);
* :mod:`~model.survival.cohorts.registry` -- :data:`COHORTS`, :func:`load_cohort`.

No Streamlit, torch or Plotly here; nothing here imports the statistics modules.
"""

from model.survival.cohorts.loaders import (
    age_group,
    load_brats19,
    load_brats20,
    load_image_cohort,
    load_islp_braincancer,
    load_lumiere,
    load_tcga_clinical,
    load_ucsf_pdgm,
    months_to_days,
    parse_brats_survival,
    weeks_to_days,
)
from model.survival.cohorts.registry import (
    COHORTS,
    adjusters,
    covariate_label,
    cox_references,
    load_cohort,
    stratifiable,
    time_conversion_text,
)
from model.survival.cohorts.schema import (
    COVARIATES,
    SCHEMA_COLUMNS,
    CohortSpec,
    Covariate,
    check_time_event,
    validate_cohort,
)
from model.survival.cohorts.tcga import (
    load_cohort_risk,
    join_image_covariates,
    load_tcga_cdr,
)

__all__ = [
    "SCHEMA_COLUMNS",
    "Covariate",
    "COVARIATES",
    "CohortSpec",
    "COHORTS",
    "check_time_event",
    "months_to_days",
    "weeks_to_days",
    "parse_brats_survival",
    "age_group",
    "load_tcga_cdr",
    "load_cohort_risk",
    "join_image_covariates",
    "load_tcga_clinical",
    "load_ucsf_pdgm",
    "load_brats19",
    "load_brats20",
    "load_islp_braincancer",
    "load_lumiere",
    "load_image_cohort",
    "load_cohort",
    "stratifiable",
    "adjusters",
    "cox_references",
    "covariate_label",
    "time_conversion_text",
    "validate_cohort",
]
