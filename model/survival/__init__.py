"""Survival statistics (TRANSITIONAL: being split into km, cox, prognosis, validation, risk,
tables; cohorts live in :mod:`model.survival.cohorts`)."""

from model.survival._legacy import *  # noqa: F401,F403  (transitional, removed in this issue)
from model.survival._legacy import _cox_efron_fit, _fit_cph  # noqa: F401
