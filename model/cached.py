"""The one Streamlit module of ``model/``: server-wide caches and every session key.

Pages hold widgets and layout; whatever they keep between reruns goes through the accessors
here, and only this module names session keys.

* **Server-wide resources** (``st.cache_resource`` / ``st.cache_data``): the classifier
  (:func:`get_predictor`), the demo study, the longitudinal model and its held-out visits.
  They are read-only and shared by every session.
* **The session's study** (:func:`current_study`, :func:`set_study`) and what is derived from
  it: the prepared model input, the prediction and the attribution maps, keyed by the study's
  content hash so they survive page switches and are released when another study is loaded.
* **Per-study page state** (:func:`per_study`): a page asks for a named slot (e.g. the viewer's
  crosshair and slice cache); every slot is dropped when another study is loaded, so this
  module never needs to know the pages' own names.
* **Widget memory** (:class:`WidgetMemory`, :func:`set_widget`, :func:`forget_widgets`):
  widget values kept across page switches and set from callbacks.
* **Uploads** (:func:`uploader_key`, :func:`cached_upload`, :func:`flash`...): the Study page's
  uploader generation, the files it has read and the one-shot message after a load.

:func:`configure_torch_threads` sets torch's intra-op threads once per server (see there).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Callable, Hashable, Iterable, TypeVar

import numpy as np
import pandas as pd
import streamlit as st

from model.core import config
from model.core.jsonio import CARD
from model.inference import longitudinal as lg
from model.inference.classify import Prediction, PreparedStudy, Predictor
from model.imaging.study import Study
from model.views.render import IntensityStats

T = TypeVar("T")

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


# ============================================================================ server-wide
def configure_torch_threads() -> int:
    """Set torch's intra-op threads for the shared model and return the number used.

    ``$TUMORBOARD_TORCH_THREADS`` (:func:`model.core.config.torch_threads`) when set; else
    half the CPUs this process may use (at least 1, at most 4). Sessions run their scripts on
    their own threads and every one of them would otherwise start one OpenMP team of "all
    cores": on a 2-core laptop two concurrent predictions, or the browser and a training run
    next to the server, then make each forward pass wait on barriers (measured in
    ``bench/README.md``: 1 thread beat 2 several-fold under load, and lost less than 2x when
    idle).

    Returns
    -------
    int
        The number of torch intra-op threads now set (>= 1).
    """
    import torch

    n = config.torch_threads()
    if n <= 0:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        n = max(1, min(4, cpus // 2))
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


@st.cache_resource(show_spinner="Loading the model...")
def get_predictor(checkpoint_dir: str = str(config.DEFAULT_CHECKPOINT)) -> Predictor:
    """The shared predictor for a checkpoint folder (verified once per server).

    Parameters
    ----------
    checkpoint_dir : str
        Checkpoint folder; default :data:`model.core.config.DEFAULT_CHECKPOINT`.

    Returns
    -------
    Predictor
        Read-only, shared by every session.

    Raises
    ------
    CheckpointError
        The checkpoint failed verification (not cached: retried on the next run).
    """
    configure_torch_threads()
    return Predictor(checkpoint_dir)


@st.cache_resource(show_spinner="Loading the demo study...")
def get_demo_study() -> Study:
    """The committed demo study, loaded once per server and shared read-only."""
    return Study.demo()


@st.cache_resource(show_spinner="Loading the longitudinal model...")
def _longitudinal_model(folder: str, mtime: float) -> lg.LongitudinalModel:
    # mtime is only a cache key: a retrained checkpoint rewrites its model card.
    return lg.load_longitudinal(folder)


@st.cache_data(show_spinner=False)
def _held_out_visits(folder: str, mtime: float) -> pd.DataFrame:
    return lg.load_held_out_visits(folder)


def _card_mtime(folder: Path) -> float:
    return (folder / CARD).stat().st_mtime


def get_longitudinal_model(folder: str | Path | None = None) -> lg.LongitudinalModel:
    """The shared longitudinal model (reloaded when its model card changes on disk).

    Parameters
    ----------
    folder : str or Path, optional
        Checkpoint folder; default :data:`model.core.config.DEFAULT_LONGITUDINAL_CHECKPOINT`.

    Returns
    -------
    LongitudinalModel
        See :func:`model.inference.longitudinal.load_longitudinal`.

    Raises
    ------
    OSError
        The folder has no model card.
    CheckpointError
        The checkpoint failed verification.
    """
    folder = Path(folder or config.DEFAULT_LONGITUDINAL_CHECKPOINT)
    return _longitudinal_model(str(folder), _card_mtime(folder))


def get_held_out_visits(folder: str | Path | None = None) -> pd.DataFrame:
    """The held-out test patients' visits stored with the longitudinal checkpoint.

    Returns
    -------
    DataFrame
        The validated visit table (:func:`model.inference.longitudinal.validate_visits`).

    Raises
    ------
    OSError
        The folder has no model card.
    VisitTableError
        The stored table cannot be read.
    """
    folder = Path(folder or config.DEFAULT_LONGITUDINAL_CHECKPOINT)
    return _held_out_visits(str(folder), _card_mtime(folder))


@st.cache_data(show_spinner=False, max_entries=64)
def _timeline(folder: str, mtime: float, visits: pd.DataFrame) -> pd.DataFrame:
    return lg.predict_timeline(_longitudinal_model(folder, mtime), visits)


def get_timeline(visits: pd.DataFrame, folder: str | Path | None = None) -> pd.DataFrame:
    """Risk after each visit (:func:`model.inference.longitudinal.predict_timeline`) with the
    shared longitudinal model, cached per visit table.

    Parameters
    ----------
    visits : DataFrame
        A visit table, raw or validated (one or several patients).
    folder : str or Path, optional
        Checkpoint folder; default :data:`model.core.config.DEFAULT_LONGITUDINAL_CHECKPOINT`.

    Returns
    -------
    DataFrame
        One row per visit (columns in ``predict_timeline``).

    Raises
    ------
    VisitTableError
        The table is not valid.
    OSError, CheckpointError
        As :func:`get_longitudinal_model`.
    """
    folder = Path(folder or config.DEFAULT_LONGITUDINAL_CHECKPOINT)
    return _timeline(str(folder), _card_mtime(folder), visits)


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


def report_prognosis(risk_score: float) -> Callable[[], Any]:
    """What the PDF report's survival section draws, as a callable the report runs when it is
    built (on the download click): :func:`model.survival.prognosis.image_prognosis_summary` of
    ``risk_score`` over the served checkpoint's image cohort. It holds only the score and the
    folder, never the study."""
    from model.survival.prognosis import image_prognosis_summary

    return functools.partial(image_prognosis_summary, float(risk_score),
                             str(get_predictor().checkpoint_dir))


# ============================================================================ analysis (agent G)
# One results path (model.analysis) for the Prediction page, the PDF and the CLI: the served
# segmenter, type model and clinical prognosis; each study's segmentation and scope + type once
# per session and study (shared by every page and the PDF); the patient's clinical inputs
# entered once (Prediction and Survival pages) and carried to the PDF.
_CLINICAL = "clinical_inputs"


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
    """Give the uploader a new key and forget what the old one had read."""
    st.session_state[_UPLOADER_GEN] = st.session_state.setdefault(_UPLOADER_GEN, 0) + 1
    clear_upload()


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


# ============================================================================ survival page
# (agent B) Server-wide caches of the Survival page. Every statistic comes from model.survival;
# the served checkpoint's cohort_risk.csv mtime is part of each key, so a retrained checkpoint
# is picked up. Figures are drawn by the page from these results (model.views.survival_figures).
def survival_checkpoint() -> str:
    """Folder of the served checkpoint whose ``cohort_risk.csv`` is the image cohort
    (:data:`model.nets.checkpoint.DEFAULT_CHECKPOINT`, read at call time)."""
    from model.nets import checkpoint as ckpt

    return str(ckpt.DEFAULT_CHECKPOINT)


def _risk_mtime(checkpoint_dir: str) -> float:
    p = Path(checkpoint_dir) / "cohort_risk.csv"
    return p.stat().st_mtime if checkpoint_dir and p.is_file() else 0.0


def _cohort_args(key: str) -> tuple[str | None, float]:
    from model.survival.cohorts import COHORTS

    if key in COHORTS and COHORTS[key].needs_checkpoint:
        ck = survival_checkpoint()
        return ck, _risk_mtime(ck)
    return None, 0.0


@st.cache_data(show_spinner="Loading the cohort...")
def _survival_cohort(key: str, endpoint: str, checkpoint_dir: str | None, mtime: float):
    from model.survival.cohorts import load_cohort

    return load_cohort(key, endpoint=endpoint, checkpoint_dir=checkpoint_dir)


def survival_cohort(key: str, endpoint: str = "OS") -> pd.DataFrame | None:
    """:func:`model.survival.cohorts.load_cohort` (cached; None = the image cohort's
    ``cohort_risk.csv`` is absent). Raises as ``load_cohort``."""
    return _survival_cohort(key, endpoint, *_cohort_args(key))


@st.cache_data(show_spinner="Computing the Kaplan-Meier analysis...")
def _survival_km(key: str, endpoint: str, checkpoint_dir: str | None, mtime: float,
                 group_col: str | None, unit: str, times: tuple[float, ...] | None, correction: str):
    from model.survival.km import km_analysis

    return km_analysis(_survival_cohort(key, endpoint, checkpoint_dir, mtime), group_col, unit=unit,
                       at_risk_times=None if times is None else list(times), correction=correction)


def survival_km(key: str, endpoint: str, group_col: str | None, unit: str,
                times: Iterable[float] | None, correction: str = "holm"):
    """:func:`model.survival.km.km_analysis` of a registered cohort (cached by the selection,
    so reruns for other widgets reuse it; ``times`` None = round times in ``unit``). Raises as
    ``km_analysis``."""
    return _survival_km(key, endpoint, *_cohort_args(key), group_col, unit,
                        None if times is None else tuple(float(t) for t in times), correction)


@st.cache_data(show_spinner=False)
def _survival_km_figure(key: str, endpoint: str, checkpoint_dir: str | None, mtime: float,
                        group_col: str | None, unit: str, times: tuple[float, ...] | None,
                        correction: str, title: str | None, table_rows: tuple[str, ...],
                        highlight_group: str | None):
    from model.views.survival_figures import km_figure

    km = _survival_km(key, endpoint, checkpoint_dir, mtime, group_col, unit, times, correction)
    return km_figure(km, unit=unit, title=title, table_rows=table_rows, highlight_group=highlight_group)


def survival_km_figure(key: str, endpoint: str, group_col: str | None, unit: str,
                       times: Iterable[float] | None, correction: str = "holm",
                       title: str | None = None, table_rows: Iterable[str] = ("at_risk",),
                       highlight_group: str | None = None):
    """:func:`model.views.survival_figures.km_figure` of :func:`survival_km`'s analysis (cached:
    a rerun for another widget does not redraw it; each call returns its own copy)."""
    return _survival_km_figure(key, endpoint, *_cohort_args(key), group_col, unit,
                               None if times is None else tuple(float(t) for t in times),
                               correction, title, tuple(table_rows), highlight_group)


@st.cache_data(show_spinner="Fitting the Cox model...")
def _survival_cox(key: str, endpoint: str, checkpoint_dir: str | None, mtime: float,
                  cols: tuple[str, ...]):
    from model.survival import cohorts as co
    from model.survival.cox import cox_hazard_ratios

    return cox_hazard_ratios(_survival_cohort(key, endpoint, checkpoint_dir, mtime), list(cols),
                             references=co.cox_references(cols),
                             labels={c: co.covariate_label(c) for c in cols})


def survival_hazard_ratios(key: str, endpoint: str, cols: Iterable[str]):
    """:func:`model.survival.cox.cox_hazard_ratios` of a registered cohort (cached), schema
    reference levels and labels. Raises ValueError as ``CoxModel.fit``."""
    return _survival_cox(key, endpoint, *_cohort_args(key), tuple(cols))


@st.cache_resource(show_spinner="Fitting the prognostic Cox model...")
def _survival_prognostic_model(checkpoint_dir: str, mtime: float, inputs: tuple[str, ...]):
    from model.survival.cohorts import load_image_cohort
    from model.survival.prognosis import fit_prognostic_model

    img = load_image_cohort(checkpoint_dir)
    if img is None:
        raise ValueError("cohort_risk.csv not found")
    return fit_prognostic_model(img, inputs=inputs)


def survival_prognostic_model(inputs: Iterable[str]):
    """:func:`model.survival.prognosis.fit_prognostic_model` on the served image cohort
    (cached). Raises ValueError when it cannot be fitted or ``cohort_risk.csv`` is absent."""
    ck = survival_checkpoint()
    return _survival_prognostic_model(ck, _risk_mtime(ck), tuple(inputs))


@st.cache_data(show_spinner="Bootstrapping the individual survival curve...")
def _survival_individual(checkpoint_dir: str, mtime: float, inputs: tuple[str, ...], values: tuple,
                         n_boot: int):
    from model.survival.prognosis import individual_survival

    model = _survival_prognostic_model(checkpoint_dir, mtime, inputs)
    return individual_survival(model, dict(values), n_boot=n_boot, seed=0)


def survival_individual(inputs: Iterable[str], values: dict, n_boot: int = 200):
    """:func:`model.survival.prognosis.individual_survival` of one study (cached, seed 0).
    Raises ValueError as the model fit / ``individual_survival``."""
    ck = survival_checkpoint()
    return _survival_individual(ck, _risk_mtime(ck), tuple(inputs), tuple(sorted(values.items())),
                                int(n_boot))


@st.cache_data(show_spinner="Validating the risk score on held-out patients...")
def _survival_validation(checkpoint_dir: str, mtime: float, n_boot: int) -> dict:
    from model.survival.cohorts import load_cohort_risk, load_tcga_cdr
    from model.survival.validation import validate_risk

    risk = load_cohort_risk(checkpoint_dir)
    if risk is None:
        raise ValueError("cohort_risk.csv not found")
    return validate_risk(risk, load_tcga_cdr(endpoint="OS"), n_boot=n_boot, seed=0)


def survival_validation(n_boot: int = 200) -> dict:
    """:func:`model.survival.validation.validate_risk` of the served checkpoint (cached).
    Raises ValueError / FileNotFoundError as ``validate_risk`` / the loaders."""
    ck = survival_checkpoint()
    return _survival_validation(ck, _risk_mtime(ck), int(n_boot))


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


@st.cache_data(show_spinner="Rendering the PNG...")
def _figure_png(fig_json: str, width: int) -> bytes:
    import plotly.io as pio

    from model.views import export

    return export.figure_png(pio.from_json(fig_json), width=width)


def prepared_png(key: str, fig_json: str, prepare: bool, width: int = 1100) -> tuple[bytes | None, str | None] | None:
    """PNG export of a figure, kept in the session under ``key`` until the figure changes.

    ``prepare=True`` (the page's button was pressed) renders it (cached,
    :func:`model.views.export.figure_png`). Returns None when nothing was prepared for this
    figure, else ``(png, None)`` or ``(None, reason)`` when the export failed.
    """
    from model.views.export import FigureExportError

    state_key = f"{key}_result"
    if prepare:
        try:
            st.session_state[state_key] = (fig_json, _figure_png(fig_json, int(width)), None)
        except FigureExportError as exc:
            st.session_state[state_key] = (fig_json, None, str(exc))
    res = st.session_state.get(state_key)
    if res is None or res[0] != fig_json:
        return None
    return res[1], res[2]


def reset_invalid_widget(key: str, options: list, default: Any) -> None:
    """Before drawing widget ``key``: drop a remembered value no longer in ``options`` (a list
    value keeps its valid items), so the widget falls back to ``default``."""
    ss = st.session_state
    cur = ss.get(key)
    if isinstance(cur, list):
        keep = [c for c in cur if c in options]
        if keep != cur:
            ss[key] = keep
    elif key in ss and cur not in options:
        ss[key] = default
