"""Harrell's concordance index, defined once for the whole project (:func:`harrell_c`).

No Streamlit, torch or Plotly here.
"""

from __future__ import annotations

import numpy as np

__all__ = ["harrell_c"]


def harrell_c(time_days: np.ndarray, event: np.ndarray, risk: np.ndarray) -> float:
    """Harrell's C-index of a risk score: THE definition used across TumorBoard.

    lifelines ``concordance_index`` with the risk negated (higher ``risk`` = shorter survival);
    ties in the risk count one half. ``training.metrics.harrell_c``, :mod:`model.survival.validation` and the Cox summaries
    (:func:`model.survival.cox.cox_hazard_ratios`) delegate here.

    Parameters
    ----------
    time_days : numpy.ndarray of float, shape (n,)
        Follow-up times (days).
    event : numpy.ndarray of int, shape (n,)
        1 = event, 0 = censored.
    risk : numpy.ndarray of float, shape (n,)
        Risk score, higher = worse.

    Returns
    -------
    float
        In [0, 1]; NaN when there is no comparable pair.
    """
    from lifelines.utils import concordance_index

    try:
        return float(concordance_index(np.asarray(time_days, float), -np.asarray(risk, float),
                                       np.asarray(event, int)))
    except (ZeroDivisionError, ValueError, AssertionError):
        return float("nan")
