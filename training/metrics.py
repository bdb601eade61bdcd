"""Patient-level evaluation metrics with bootstrap confidence intervals.

Classification metrics come from scikit-learn; the C-index is Harrell's, from lifelines
(``concordance_index`` treats a higher score as longer survival, so the risk is negated).
Confidence intervals are percentile bootstrap intervals over patients (Efron & Tibshirani,
*An Introduction to the Bootstrap*, 1993), 1000 resamples, fixed seed.
"""

from __future__ import annotations

import numpy as np
from lifelines.utils import concordance_index
from sklearn.metrics import (accuracy_score, confusion_matrix, f1_score, precision_score,
                             recall_score, roc_auc_score)


def roc_auc(y: np.ndarray, prob: np.ndarray) -> float:
    """ROC AUC; binary uses the positive-class column, else macro one-vs-rest. NaN if one class."""
    if len(np.unique(y)) < 2:
        return float("nan")
    if prob.shape[1] == 2:
        return float(roc_auc_score(y, prob[:, 1]))
    present = np.unique(y)
    if len(present) < prob.shape[1]:
        return float("nan")
    return float(roc_auc_score(y, prob, multi_class="ovr", average="macro"))


def harrell_c(time: np.ndarray, event: np.ndarray, risk: np.ndarray) -> float:
    """Harrell's C-index of a risk score (higher = worse prognosis). NaN without events."""
    ok = np.isfinite(time) & (event >= 0)
    if ok.sum() < 2 or event[ok].sum() == 0:
        return float("nan")
    try:
        return float(concordance_index(time[ok], -risk[ok], event[ok]))
    except ZeroDivisionError:  # no comparable pairs (e.g. a bootstrap draw of one patient)
        return float("nan")


def bootstrap_ci(fn, arrays: tuple[np.ndarray, ...], n_boot: int = 1000, seed: int = 0,
                 alpha: float = 0.05) -> tuple[float, float]:
    """Percentile bootstrap CI of ``fn(*arrays)`` resampling rows (patients) with replacement."""
    rng = np.random.default_rng(seed)
    n = len(arrays[0])
    vals = []
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        v = fn(*(a[idx] for a in arrays))
        if np.isfinite(v):
            vals.append(v)
    if len(vals) < n_boot // 2:
        return float("nan"), float("nan")
    lo, hi = np.percentile(vals, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(lo), float(hi)


def classification_report(y: np.ndarray, prob: np.ndarray, labels: list[str],
                          time: np.ndarray | None = None, event: np.ndarray | None = None,
                          risk: np.ndarray | None = None, n_boot: int = 1000) -> dict:
    """Metrics of patient-level predictions.

    Args:
        y: int (N,) true class indices.
        prob: float (N, C) predicted probabilities.
        labels: class names (C).
        time, event, risk: optional (N,) survival time (days), event 0/1 (-1 unknown), risk.
    Returns:
        dict with ``n_patients, labels, accuracy, precision_macro, recall_macro, f1_macro,
        roc_auc, confusion_matrix`` (rows true, columns predicted), ``*_ci95`` for accuracy,
        roc_auc (and c_index), and ``c_index`` when survival is given.
    """
    y = np.asarray(y)
    prob = np.asarray(prob, dtype=float)
    pred = prob.argmax(1)
    k = list(range(len(labels)))
    out = {
        "n_patients": int(len(y)),
        "labels": list(labels),
        "accuracy": float(accuracy_score(y, pred)),
        "precision_macro": float(precision_score(y, pred, labels=k, average="macro", zero_division=0)),
        "recall_macro": float(recall_score(y, pred, labels=k, average="macro", zero_division=0)),
        "f1_macro": float(f1_score(y, pred, labels=k, average="macro", zero_division=0)),
        "roc_auc": roc_auc(y, prob),
        "confusion_matrix": confusion_matrix(y, pred, labels=k).tolist(),
    }
    out["accuracy_ci95"] = bootstrap_ci(lambda a, b: float((a == b.argmax(1)).mean()), (y, prob), n_boot)
    out["roc_auc_ci95"] = bootstrap_ci(roc_auc, (y, prob), n_boot)
    if time is not None and event is not None and risk is not None:
        t, e, r = (np.asarray(a, dtype=float) for a in (time, event, risk))
        out["c_index"] = harrell_c(t, e, r)
        out["c_index_ci95"] = bootstrap_ci(harrell_c, (t, e, r), n_boot)
    return out
