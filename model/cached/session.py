"""The session: its study, what is derived from it, per-study page slots, widget memory and uploads.

Only this module names session keys; pages ask through the accessors.

Part of :mod:`model.cached` (the only Streamlit package of ``model/``); import the names
from ``model.cached``.
"""

from __future__ import annotations

from typing import Any, Callable, Hashable, Iterable, TypeVar

import numpy as np
import streamlit as st

from model.inference.classify import Prediction, PreparedStudy
from model.imaging.study import Study
from model.views.render import IntensityStats
from model.cached.resources import get_predictor

__all__ = [
    "MAPS", "PREDICTION", "PREPARED", "STUDY", "WidgetMemory", "attribution_methods",
    "cached_upload", "clear_upload", "computed_attribution", "current_prediction",
    "current_study", "flash", "forget_widgets", "get_attribution", "get_prediction",
    "get_prepared", "has_attribution", "intensity_stats", "per_study", "pop_flash",
    "reset_uploader", "set_study", "set_widget", "uploader_key",
    "widget_value",
]

# Session keys (only this module names them; tests read STUDY, PREDICTION, MAPS and PREPARED).
STUDY = "study"
PREDICTION = "prediction"
_PREDICTION_KEY = "prediction_key"
MAPS = "attribution_maps"
PREPARED = "prepared_study"
_PER_STUDY = "_per_study"
_KEEP_PREFIX = "_keep_"
_UPLOADER_GEN = "uploader_gen"
_UPLOAD_FOUND = "upload_found"
_FLASH = "flash"
_CLINICAL = "clinical_inputs"
T = TypeVar("T")


# ============================================================================ the session's study
def current_study() -> Study | None:
    """The study loaded in this session, or None."""
    return st.session_state.get(STUDY)


def set_study(study: Study) -> None:
    """Make ``study`` the session's study and drop everything derived from the previous one
    (prepared input, prediction, maps, per-study page state), so its memory is released.

    Loading the same study again (same content hash) keeps the pages' per-study state.
    """
    previous = st.session_state.get(STUDY)
    st.session_state[STUDY] = study
    st.session_state.pop(PREDICTION, None)
    st.session_state.pop(_PREDICTION_KEY, None)
    st.session_state.pop(PREPARED, None)
    st.session_state[MAPS] = {}
    if previous is not None and previous.key != study.key:
        st.session_state.pop(_PER_STUDY, None)
        st.session_state.pop(_CLINICAL, None)  # another patient's inputs (analysis section)


# ============================================================================ prediction, attribution
def get_prepared(study: Study) -> PreparedStudy:
    """The model input of the session's study, prepared once per study (shared by the
    prediction and every attribution method).

    Raises
    ------
    StudyError
        The study has no sequence the model uses.
    CheckpointError
        The served checkpoint failed verification.
    """
    cached = st.session_state.get(PREPARED)
    if cached is not None and cached[0] == study.key:
        return cached[1]
    prep = get_predictor().prepare(study)
    st.session_state[PREPARED] = (study.key, prep)
    return prep


def get_prediction(study: Study) -> Prediction:
    """Prediction of the session's study, computed once per study.

    Raises
    ------
    StudyError
        The study has no sequence the model uses.
    CheckpointError
        The served checkpoint failed verification.
    """
    cached = st.session_state.get(PREDICTION)
    if cached is not None and st.session_state.get(_PREDICTION_KEY) == study.key:
        return cached
    pred = get_predictor().predict(study, prepared=get_prepared(study))
    st.session_state[PREDICTION] = pred
    st.session_state[_PREDICTION_KEY] = study.key
    return pred


def current_prediction() -> Prediction | None:
    """The prediction of the session's study when the Prediction page has computed it, else
    None (never computes one)."""
    return st.session_state.get(PREDICTION)


def attribution_methods(study: Study) -> list[str]:
    """Attribution methods already computed for ``study`` in this session, in the order they
    were computed."""
    return [m for (k, m) in st.session_state.get(MAPS, {}) if k == study.key]


def has_attribution(study: Study, method: str) -> bool:
    """Whether the maps of ``method`` are already computed for ``study`` in this session."""
    return (study.key, method) in st.session_state.get(MAPS, {})


def computed_attribution(study: Study, method: str) -> dict[str, np.ndarray] | None:
    """The maps of ``method`` for ``study`` when already computed, else None (never computes).

    Returns
    -------
    dict of str to ndarray or None
        sequence -> float32 (X, Y, Z) map in [0, 1] on that sequence's voxels.
    """
    return st.session_state.get(MAPS, {}).get((study.key, method))


def get_attribution(study: Study, method: str,
                    progress: Callable[[float], None] | None = None) -> dict[str, np.ndarray]:
    """Attribution maps of the session's study for ``method``, computed once per study+method.

    Parameters
    ----------
    study : Study
        The session's study.
    method : str
        One of :data:`model.inference.classify.ATTRIBUTION_METHODS`.
    progress : callable, optional
        Receives fractions in [0, 1] while the maps are computed.

    Returns
    -------
    dict of str to ndarray
        sequence -> float32 (X, Y, Z) map in [0, 1] on that sequence's voxels.

    Raises
    ------
    ValueError
        Unknown method.
    StudyError
        The study has no sequence the model uses.
    """
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
        if pred is not None and st.session_state.get(_PREDICTION_KEY) == study.key:
            target = predictor.classes.index(pred.predicted_class)
        maps[key] = predictor.attribution(study, method, target=target,
                                          prepared=get_prepared(study), progress=progress)
    return maps[key]


# ============================================================================ per-study page state
def per_study(study: Study, name: str, factory: Callable[[], T]) -> tuple[T, bool]:
    """A page's named slot of state for ``study``, dropped when another study is loaded.

    Parameters
    ----------
    study : Study
        The session's study.
    name : str
        The slot's name, chosen by the page (e.g. ``"viewer"``).
    factory : callable
        Makes the slot's initial value when the slot is missing or belongs to another study.

    Returns
    -------
    (object, bool)
        The slot's value and whether it was just created (the page then resets what depends
        on it, e.g. its widget positions).
    """
    store = st.session_state.get(_PER_STUDY)
    if store is None or store[0] != study.key:
        store = (study.key, {})
        st.session_state[_PER_STUDY] = store
    slots: dict[str, Any] = store[1]
    fresh = name not in slots
    if fresh:
        slots[name] = factory()
    return slots[name], fresh


def intensity_stats(study: Study, sequence: str) -> IntensityStats:
    """Foreground percentiles of one sequence of ``study`` (window presets), computed once per
    study and sequence and shared by the Viewer and Prediction pages."""
    stats, _ = per_study(study, "intensity_stats", dict)
    if sequence not in stats:
        stats[sequence] = IntensityStats.of(study.volumes[sequence].data)
    return stats[sequence]


# ============================================================================ widget memory
class WidgetMemory:
    """Widget values kept across page switches (Streamlit drops the state of widgets that a
    run did not draw).

    Make one per page run, pass ``memory.keep(key, default, options)`` as a widget's ``key``
    (the widget then takes no ``value``/``index`` argument) and call :meth:`save` at the end
    of the page.
    """

    def __init__(self) -> None:
        self._kept: list[str] = []

    def keep(self, key: str, default: Any, options: Iterable | None = None) -> str:
        """Give widget ``key`` its value from before a page switch, else ``default`` (also when
        the kept value is no longer one of ``options``); returns ``key``."""
        ss = st.session_state
        if key not in ss:
            ss[key] = ss.get(_KEEP_PREFIX + key, default)
        if options is not None and ss[key] not in list(options):
            ss[key] = default
        self._kept.append(key)
        return key

    def save(self) -> None:
        """Remember the value of every widget kept in this run."""
        for k in self._kept:
            st.session_state[_KEEP_PREFIX + k] = st.session_state[k]


def widget_value(key: str, default: Any = None) -> Any:
    """Current value of widget ``key``, else the value kept from before a page switch, else
    ``default``."""
    ss = st.session_state
    return ss.get(key, ss.get(_KEEP_PREFIX + key, default))


def set_widget(key: str, value: Any) -> None:
    """Set widget ``key``'s value (in a callback, or before the widget is drawn)."""
    st.session_state[key] = value


def forget_widgets(*keys: str, prefixes: tuple[str, ...] = ()) -> None:
    """Drop widgets' values (current and kept): the named ``keys`` and every key that starts
    with one of ``prefixes``."""
    ss = st.session_state
    for k in keys:
        ss.pop(k, None)
        ss.pop(_KEEP_PREFIX + k, None)
    if prefixes:
        for k in [k for k in ss if str(k).startswith(prefixes)]:
            del ss[k]


# ============================================================================ uploads
def uploader_key() -> str:
    """Key of the Study page's file uploader; a new key (:func:`reset_uploader`) drops the
    uploaded bytes from the session."""
    return f"uploader_{st.session_state.setdefault(_UPLOADER_GEN, 0)}"


def reset_uploader() -> None:
    """Give the uploader a new key, drop the old one's uploaded bytes from the server and
    forget what it had read."""
    _drop_uploaded_files(st.session_state.get(uploader_key()))
    st.session_state[_UPLOADER_GEN] = st.session_state.setdefault(_UPLOADER_GEN, 0) + 1
    clear_upload()


def _drop_uploaded_files(files: Any) -> None:
    # Streamlit keeps every uploaded file's bytes in its server-wide upload manager until the
    # browser deletes it (the user's "x") or the session shuts down; a new widget key does
    # neither, so each upload stayed in memory for the session's life (measured in
    # bench/README.md, memory section: +8 MB per upload). Streamlit's own chat input removes
    # its files the same way (tests/pages/test_cached.py checks it on the pinned Streamlit); with
    # a manager that has no remove_file, the bytes are only freed at session end, as before.
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    remove = getattr(getattr(ctx, "uploaded_file_mgr", None), "remove_file", None)
    if remove is None or not files:
        return
    for f in files if isinstance(files, (list, tuple)) else [files]:
        file_id = getattr(f, "file_id", None)
        if file_id is not None:
            remove(session_id=ctx.session_id, file_id=file_id)


def cached_upload(upload_key: Hashable, read: Callable[[], T]) -> T:
    """``read()`` once per set of uploaded files (``upload_key`` identifies them); the result
    is kept until the files change or :func:`clear_upload`."""
    cached = st.session_state.get(_UPLOAD_FOUND)
    if cached is None or cached[0] != upload_key:
        cached = (upload_key, read())
        st.session_state[_UPLOAD_FOUND] = cached
    return cached[1]


def clear_upload() -> None:
    """Forget the files read by :func:`cached_upload`."""
    st.session_state.pop(_UPLOAD_FOUND, None)


def flash(message: str) -> None:
    """Keep ``message`` to show once on the next run (:func:`pop_flash`)."""
    st.session_state[_FLASH] = message


def pop_flash() -> str | None:
    """The message of :func:`flash`, once; None when there is none."""
    return st.session_state.pop(_FLASH, None)
