"""Server-wide caches of the tumour board's clinical risk groups (agent I, issue 15).

Part of :mod:`model.cached` (the only Streamlit package of ``model/``); import the names
from ``model.cached``.
"""

from __future__ import annotations

from typing import Iterable

import streamlit as st

from model.cached.survival import _risk_mtime, survival_checkpoint

__all__ = ["clinical_risk_groups", "survival_image_added_value"]


# ============================================================================ clinical risk groups (agent I)
# The tumour board's Kaplan-Meier of one cohort by the risk groups of a clinical model fitted on
# another (model.survival.clinical_groups); server-wide, keyed by the selection.
@st.cache_resource(show_spinner="Fitting the clinical model on the training cohort...")
def _clinical_cross_fit(train_key: str, test_key: str, inputs: tuple[str, ...], n_groups: int,
                        times: tuple[float, ...] | None):
    from model.survival.clinical_groups import fit_cross_cohort

    return fit_cross_cohort(train_key, test_key, inputs, n_groups, unit="years",
                            at_risk_times=None if times is None else list(times))


def clinical_risk_groups(train_key: str, test_key: str, inputs: Iterable[str], n_groups: int = 3,
                         times: Iterable[float] | None = None):
    """``(ClinicalPrognosis, CrossCohortRiskGroups)`` of
    :func:`model.survival.clinical_groups.fit_cross_cohort` (cached; ``times`` = table times in
    days, None = round years). Raises ValueError / KeyError as ``fit_cross_cohort``."""
    return _clinical_cross_fit(train_key, test_key, tuple(inputs), int(n_groups),
                               None if times is None else tuple(float(t) for t in times))


@st.cache_data(show_spinner="Cross-validating the image risk score against the clinical model...")
def _image_added_value(checkpoint_dir: str, mtime: float):
    from model.survival.cohorts import load_cohort
    from model.survival.image_added_value import image_added_value

    img = load_cohort("tcga_image", checkpoint_dir=checkpoint_dir)
    if img is None:
        raise ValueError("cohort_risk.csv not found")
    return image_added_value(img)


def survival_image_added_value():
    """:func:`model.survival.image_added_value.image_added_value` of the served checkpoint's
    image cohort (cached). Raises ValueError when ``cohort_risk.csv`` is absent or too small."""
    ck = survival_checkpoint()
    return _image_added_value(ck, _risk_mtime(ck))
