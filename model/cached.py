"""The one Streamlit-aware module of ``model/``: server-wide caches and the session's study.

* :func:`get_predictor` loads the checkpoint once per server (``st.cache_resource``); the
  predictor is read-only and shared by all sessions.
* The loaded study, its prepared model input, its prediction and its attribution maps live in
  the session (``st.session_state``), keyed by the study's content hash, so they survive page
  switches and are released when the session ends or another study is loaded.
* :func:`configure_torch_threads` sets torch's intra-op threads once per server (see there).
"""

from __future__ import annotations

import os
from typing import Callable

import numpy as np
import streamlit as st

from model.core.config import DEFAULT_CHECKPOINT
from model.inference.classify import Prediction, PreparedStudy, Predictor
from model.study import Study

STUDY = "study"
PREDICTION = "prediction"
MAPS = "attribution_maps"
PREPARED = "prepared_study"
#: Session entries derived from the loaded study, dropped when another study is loaded
#: (the viewer page rebuilds its caches when ``viewer_study`` is missing).
_PER_STUDY = ("attr_stats", "viewer_study", "viewer_cache", "viewer_stats")


def configure_torch_threads() -> int:
    """Set torch's intra-op threads for the shared model and return the number used.

    ``$TUMORBOARD_TORCH_THREADS`` when set; else half the CPUs this process may use (at least
    1, at most 4). Sessions run their scripts on their own threads and every one of them would
    otherwise start one OpenMP team of "all cores": on a 2-core laptop two concurrent
    predictions, or the browser and a training run next to the server, then make each forward
    pass wait on barriers (measured in ``bench/README.md``: 1 thread beat 2 several-fold under
    load, and lost less than 2x when idle).
    """
    import torch

    from model.core.config import torch_threads

    n = torch_threads()
    if n <= 0:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        n = max(1, min(4, cpus // 2))
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


@st.cache_resource(show_spinner="Loading the model...")
def get_predictor(checkpoint_dir: str = str(DEFAULT_CHECKPOINT)) -> Predictor:
    """The shared predictor for a checkpoint folder (verified once per server).

    Raises:
        CheckpointError: the checkpoint failed verification (not cached: retried next run).
    """
    configure_torch_threads()
    return Predictor(checkpoint_dir)


@st.cache_resource(show_spinner="Loading the demo study...")
def get_demo_study() -> Study:
    """The committed demo study, loaded once per server and shared read-only."""
    return Study.demo()


def current_study() -> Study | None:
    """The study loaded in this session, or None."""
    return st.session_state.get(STUDY)


def set_study(study: Study) -> None:
    """Make ``study`` the session's study and drop everything derived from the previous one
    (prepared input, prediction, maps, windows, viewer caches), so its memory is released."""
    previous = st.session_state.get(STUDY)
    st.session_state[STUDY] = study
    st.session_state.pop(PREDICTION, None)
    st.session_state.pop("prediction_key", None)
    st.session_state.pop(PREPARED, None)
    st.session_state[MAPS] = {}
    if previous is not None and previous.key != study.key:
        for k in _PER_STUDY:
            st.session_state.pop(k, None)


def get_prepared(study: Study) -> PreparedStudy:
    """The model input of the session's study, prepared once per study (shared by the
    prediction and every attribution method).

    Raises:
        StudyError: the study has no sequence the model uses.
        CheckpointError: the served checkpoint failed verification.
    """
    cached = st.session_state.get(PREPARED)
    if cached is not None and cached[0] == study.key:
        return cached[1]
    prep = get_predictor().prepare(study)
    st.session_state[PREPARED] = (study.key, prep)
    return prep


def get_prediction(study: Study) -> Prediction:
    """Prediction of the session's study, computed once per study.

    Raises:
        StudyError: the study has no sequence the model uses.
        CheckpointError: the served checkpoint failed verification.
    """
    cached = st.session_state.get(PREDICTION)
    if cached is not None and st.session_state.get("prediction_key") == study.key:
        return cached
    pred = get_predictor().predict(study, prepared=get_prepared(study))
    st.session_state[PREDICTION] = pred
    st.session_state["prediction_key"] = study.key
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
        predictor = get_predictor()
        # Reuse the prepared input and, when the prediction is on screen, its class (the
        # attribution's default target is the same argmax): saves a preprocessing and a forward.
        target = None
        pred = st.session_state.get(PREDICTION)
        if pred is not None and st.session_state.get("prediction_key") == study.key:
            target = predictor.classes.index(pred.predicted_class)
        maps[key] = predictor.attribution(study, method, target=target,
                                          prepared=get_prepared(study), progress=progress)
    return maps[key]

