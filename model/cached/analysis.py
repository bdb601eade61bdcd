"""Cached analysis of the session's study (segmentation, tumour type, prognosis inputs).

Part of :mod:`model.cached` (the only Streamlit package of ``model/``); import the names
from ``model.cached``.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from model.core.jsonio import CARD
from model.imaging.study import Study
from model.cached.resources import configure_torch_threads, get_predictor
from model.cached.session import _CLINICAL, get_prediction, per_study

__all__ = [
    "get_analysis", "get_clinical_inputs", "get_prognosis_model", "get_segmenter",
    "get_tumour", "get_type_assessment", "get_type_model", "set_clinical_inputs",
]


# ============================================================================ analysis (agent G)
# One results path (model.analysis) for the Prediction page, the PDF and the CLI: the served
# segmenter, type model and clinical prognosis; each study's segmentation and scope + type once
# per session and study (shared by every page and the PDF); the patient's clinical inputs
# entered once (Prediction and Survival pages) and carried to the PDF.


@st.cache_resource(show_spinner="Loading the segmentation model...")
def _segmenter(folder: str, mtime: float):
    from model.analysis import load_segmenter

    configure_torch_threads()
    return load_segmenter(folder)  # (Segmenter, None) or (None, reason)


def _segment_card_mtime() -> float:
    from model.inference.segment import SEGMENT_CHECKPOINT

    card = SEGMENT_CHECKPOINT / CARD
    return card.stat().st_mtime if card.exists() else 0.0


def get_segmenter() -> tuple[Any, str | None]:
    """``(Segmenter, None)`` or ``(None, reason)`` (no or invalid checkpoint); shared, reloaded
    when the checkpoint's model card changes."""
    from model.inference.segment import SEGMENT_CHECKPOINT

    return _segmenter(str(SEGMENT_CHECKPOINT), _segment_card_mtime())


@st.cache_resource(show_spinner="Loading the tumour-type model...")
def get_type_model():
    """The shared :class:`model.inference.tumour_type.TumourTypeClassifier`."""
    from model.inference.tumour_type import TumourTypeClassifier

    configure_torch_threads()
    return TumourTypeClassifier()


@st.cache_resource(show_spinner="Loading the prognosis model...")
def get_prognosis_model():
    """The shared clinical prognosis (:func:`model.survival.clinical.load`; CheckpointError is
    not cached)."""
    from model.survival.clinical import load

    return load()


def get_tumour(study: Study):
    """:func:`model.analysis.find_tumour` of ``study``: segmented once per study and session
    (and again when the segmentation checkpoint changes); every page and the PDF share it."""
    from model.analysis import find_tumour

    slot, _ = per_study(study, "analysis", dict)
    mtime = _segment_card_mtime()
    if slot.get("tumour", (None,))[0] != mtime:
        slot.pop("type", None)
        slot["tumour"] = (mtime, find_tumour(study, *get_segmenter()))
    return slot["tumour"][1]


def get_type_assessment(study: Study):
    """``(ScopeDecision, TypeFinding)`` of ``study`` (:func:`model.analysis.assess_type`), once
    per study and segmentation."""
    from model.analysis import assess_type

    tumour = get_tumour(study)
    slot, _ = per_study(study, "analysis", dict)
    if "type" not in slot:
        slot["type"] = assess_type(study, tumour, get_type_model())
    return slot["type"]


def get_clinical_inputs() -> dict:
    """The patient's clinical inputs entered in this session (keys
    :data:`model.analysis.CLINICAL_KEYS`; empty when none). Dropped when another study loads."""
    return dict(st.session_state.get(_CLINICAL) or {})


def set_clinical_inputs(values: dict | None) -> None:
    """Set the patient's clinical inputs (Prediction or Survival page); empty values dropped."""
    from model.analysis import clean_clinical

    st.session_state[_CLINICAL] = clean_clinical(values)


def get_analysis(study: Study):
    """:class:`model.analysis.StudyAnalysis` of ``study`` with the session's clinical inputs
    (cached steps; the grade prediction is :func:`get_prediction`, run only when in scope)."""
    from model.analysis import analyse
    from model.core.errors import CheckpointError

    try:
        prognosis_model = get_prognosis_model()
    except CheckpointError:
        prognosis_model = None  # analyse says why
    return analyse(study, get_clinical_inputs(), predictor=get_predictor(),
                   prognosis_model=prognosis_model, tumour=get_tumour(study),
                   type_assessment=get_type_assessment(study),
                   prediction=lambda: get_prediction(study))
