"""Risk group and risk percentile: THE one definition used everywhere.

The image model (and any Cox model) gives a risk score, higher = worse prognosis. Where the app
says "high / low risk" or "percentile N of the training patients", it uses this module: the
predictor (:meth:`model.inference.classify.Predictor.predict`), the image cohort table
(:func:`model.survival.cohorts.tcga.load_cohort_risk`), the PDF's prognosis
(:func:`model.survival.prognosis.image_prognosis_summary`) and the individual prognosis
(:func:`model.survival.prognosis.individual_survival`).

Convention (documented once, tested at the boundary in ``tests/survival/test_risk.py``)
------------------------------------------------------------------------------------------
* **percentile** of ``x`` = 100 x (share of the reference (training) risks that are ``<= x``).
  A score equal to the largest training risk is percentile 100; one below every training risk
  is 0.
* **group** = ``"high"`` when ``x > threshold`` (strictly above), else ``"low"``; the threshold
  is the median of the training risks (:func:`risk_threshold`) unless a model card fixes one.
  A score exactly at the median is "low".

No Streamlit, torch or Plotly here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "HIGH",
    "LOW",
    "RiskPosition",
    "risk_threshold",
    "risk_percentile",
    "risk_group",
    "risk_groups",
    "risk_position",
]

HIGH = "high"
LOW = "low"


@dataclass(frozen=True)
class RiskPosition:
    """Where one risk score sits among the reference (training) risks.

    Attributes
    ----------
    score : float
        The risk score (unitless; higher = worse).
    percentile : float
        0-100, share of reference risks ``<= score`` (see the module docstring).
    group : str
        ``"high"`` when ``score > threshold`` else ``"low"``.
    threshold : float
        The cut used (training median unless given).
    """

    score: float
    percentile: float
    group: str
    threshold: float


def _finite(reference: np.ndarray | pd.Series | list[float]) -> np.ndarray:
    ref = np.asarray(pd.to_numeric(pd.Series(np.asarray(reference).ravel()), errors="coerce"), float)
    return ref[np.isfinite(ref)]


def risk_threshold(df: pd.DataFrame) -> float:
    """Median ``risk_score`` of the training rows: the cut between "low" and "high" risk.

    Parameters
    ----------
    df : pandas.DataFrame
        Frame with ``risk_score`` (float, model output, higher = worse) and ``split`` (str;
        rows with ``split == "train"`` are used).

    Returns
    -------
    float
        ``numpy.median`` of the finite training risk scores. Taken on the training split only
        so that validation/test rows do not influence the cut applied to them.

    Raises
    ------
    ValueError
        Columns missing, or no training row with a finite risk score.
    """
    for col in ("risk_score", "split"):
        if col not in df.columns:
            raise ValueError(f"risk_threshold needs a {col!r} column.")
    scores = pd.to_numeric(df.loc[df["split"].astype(str) == "train", "risk_score"], errors="coerce")
    scores = scores[np.isfinite(scores)]
    if scores.empty:
        raise ValueError("No training rows (split == 'train') with a finite risk_score.")
    return float(np.median(scores.to_numpy()))


def risk_percentile(score: float, reference: np.ndarray | pd.Series | list[float]) -> float:
    """Percentile of ``score`` among ``reference``: 100 x share of reference values ``<= score``.

    Parameters
    ----------
    score : float
        Risk score (unitless).
    reference : array-like of float, shape (n,)
        Training risks; non-finite values are ignored.

    Returns
    -------
    float
        In [0, 100].

    Raises
    ------
    ValueError
        ``reference`` has no finite value.
    """
    ref = _finite(reference)
    if ref.size == 0:
        raise ValueError("risk_percentile needs at least one finite reference risk.")
    return float(100.0 * np.count_nonzero(ref <= float(score)) / ref.size)


def risk_group(score: float, threshold: float) -> str:
    """``"high"`` when ``score > threshold`` (strictly), else ``"low"``.

    Parameters
    ----------
    score, threshold : float
        Risk score and cut (unitless).

    Returns
    -------
    str
        ``"high"`` or ``"low"``.
    """
    return HIGH if float(score) > float(threshold) else LOW


def risk_groups(scores: np.ndarray | pd.Series, threshold: float) -> np.ndarray:
    """Vectorised :func:`risk_group`.

    Parameters
    ----------
    scores : array-like of float, shape (n,)
    threshold : float

    Returns
    -------
    numpy.ndarray of str (object), shape (n,)
        ``"high"`` where ``scores > threshold``, else ``"low"`` (NaN scores are "low").
    """
    s = np.asarray(pd.to_numeric(pd.Series(np.asarray(scores).ravel()), errors="coerce"), float)
    return np.where(s > float(threshold), HIGH, LOW).astype(object)


def risk_position(score: float, reference: np.ndarray | pd.Series | list[float],
                  threshold: float | None = None) -> RiskPosition:
    """Percentile and group of ``score`` among the reference risks.

    Parameters
    ----------
    score : float
        Risk score.
    reference : array-like of float, shape (n,)
        Training risks.
    threshold : float, optional
        The cut; default the median of the finite ``reference`` values.

    Returns
    -------
    RiskPosition

    Raises
    ------
    ValueError
        ``reference`` has no finite value.
    """
    ref = _finite(reference)
    pct = risk_percentile(score, ref)
    thr = float(np.median(ref)) if threshold is None else float(threshold)
    return RiskPosition(score=float(score), percentile=pct, group=risk_group(score, thr), threshold=thr)
