"""Server-wide caches of the Survival page (every statistic from model.survival).

Part of :mod:`model.cached` (the only Streamlit package of ``model/``); import the names
from ``model.cached``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import pandas as pd
import streamlit as st

__all__ = [
    "survival_checkpoint", "survival_cohort", "survival_hazard_ratios",
    "survival_km", "survival_km_figure", "survival_validation",
    "prepared_png", "reset_invalid_widget",
]


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
