"""The one Streamlit-aware module of ``model/``: server-wide caches and the session's study.

* :func:`get_predictor` loads the checkpoint once per server (``st.cache_resource``); the
  predictor is read-only and shared by all sessions.
* The loaded study, its prediction and its attribution maps live in the session
  (``st.session_state``), keyed by the study's content hash, so they survive page switches and
  are released when the session ends or another study is loaded.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import streamlit as st

from model.checkpoint import DEFAULT_CHECKPOINT
from model.predictor import Prediction, Predictor
from model.study import Study

STUDY = "study"
PREDICTION = "prediction"
MAPS = "attribution_maps"


@st.cache_resource(show_spinner="Loading the model...")
def get_predictor(checkpoint_dir: str = str(DEFAULT_CHECKPOINT)) -> Predictor:
    """The shared predictor for a checkpoint folder (verified once per server)."""
    return Predictor(checkpoint_dir)


@st.cache_resource(show_spinner="Loading the demo study...")
def get_demo_study() -> Study:
    """The committed demo study, loaded once per server and shared read-only."""
    return Study.demo()


def current_study() -> Study | None:
    """The study loaded in this session, or None."""
    return st.session_state.get(STUDY)


def set_study(study: Study) -> None:
    """Make ``study`` the session's study and drop results of the previous one."""
    st.session_state[STUDY] = study
    st.session_state.pop(PREDICTION, None)
    st.session_state[MAPS] = {}
    st.session_state["checkpoint_dir"] = str(DEFAULT_CHECKPOINT)


def get_prediction(study: Study) -> Prediction:
    """Prediction of the session's study, computed once per study.

    Raises:
        StudyError: the study has no sequence the model uses.
        CheckpointError: the served checkpoint failed verification.
    """
    cached = st.session_state.get(PREDICTION)
    if cached is not None and st.session_state.get("prediction_key") == study.key:
        return cached
    pred = get_predictor().predict(study)
    st.session_state[PREDICTION] = pred
    st.session_state["prediction_key"] = study.key
    st.session_state["checkpoint_dir"] = str(DEFAULT_CHECKPOINT)
    return pred


def get_attribution(study: Study, method: str,
                    progress: Callable[[float], None] | None = None) -> dict[str, np.ndarray]:
    """Attribution maps of the session's study for ``method``, computed once per study+method."""
    maps = st.session_state.setdefault(MAPS, {})
    key = (study.key, method)
    if key not in maps:
        # Keep only the current study's maps: each is the size of the study.
        for k in [k for k in maps if k[0] != study.key]:
            del maps[k]
        maps[key] = get_predictor().attribution(study, method, progress=progress)
    return maps[key]


def get_window(study: Study, sequence: str) -> tuple[float, float]:
    """Automatic (level, width) of a sequence, computed once per study and sequence."""
    from model.render import auto_window

    windows = st.session_state.setdefault("windows", {})
    key = (study.key, sequence)
    if key not in windows:
        windows.clear() if len(windows) > 16 else None
        windows[key] = auto_window(study.volumes[sequence].data)
    return windows[key]
