"""Server-wide resources: caches shared by every session (read-only models and data).

Part of :mod:`model.cached` (the only Streamlit package of ``model/``); import the names
from ``model.cached``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import streamlit as st

from model.core import config
from model.core.jsonio import CARD
from model.core.memory import fix_mmap_threshold
from model.inference import longitudinal as lg
from model.inference.classify import Predictor
from model.imaging.study import Study

__all__ = [
    "configure_torch_threads", "get_demo_study", "get_held_out_visits",
    "get_longitudinal_model", "get_predictor", "get_timeline",
]


# The server's big buffers (volumes, maps, activations) come from mmap, so a freed study goes
# back to the operating system instead of staying in the session threads' heaps (see
# model/core/memory.py; measured in bench/README.md, memory section). Once per process: this
# module is imported by app.py's first run, before any study is loaded.
fix_mmap_threshold()


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
