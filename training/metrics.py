"""Patient-level evaluation metrics with bootstrap confidence intervals.

Classification metrics come from scikit-learn; the C-index is Harrell's, from lifelines
(``concordance_index`` treats a higher score as longer survival, so the risk is negated).
Confidence intervals are percentile bootstrap intervals over patients (Efron & Tibshirani,
*An Introduction to the Bootstrap*, 1993), 1000 resamples, fixed seed.
"""

from __future__ import annotations

import numpy as np
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
    """Harrell's C-index of a risk score (higher = worse prognosis) over the patients with
    known survival (finite time, event 0/1); NaN without an event.
    (:func:`model.survival.concordance.harrell_c`, lifelines.)"""
    from model.survival.concordance import harrell_c as _harrell

    ok = np.isfinite(time) & (event >= 0)
    if ok.sum() < 2 or event[ok].sum() == 0:
        return float("nan")
    return _harrell(time[ok], event[ok], risk[ok])


def bootstrap_ci(fn, arrays: tuple[np.ndarray, ...], n_boot: int = 1000, seed: int = 0,
                 alpha: float = 0.05) -> tuple[float, float]:
    """Percentile bootstrap CI of ``fn(*arrays)`` resampling rows (patients) with replacement."""
    if n_boot <= 0:
        return float("nan"), float("nan")
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


def expected_calibration_error(y: np.ndarray, prob: np.ndarray, n_bins: int = 10) -> float:
    """Top-label expected calibration error (Guo et al., ICML 2017), equal-width bins.

    ``sum_b |B_b|/N * |accuracy(B_b) - mean confidence(B_b)|`` over confidence bins.
    """
    conf = prob.max(1)
    correct = (prob.argmax(1) == y).astype(float)
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        m = bins == b
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(ece)


def reliability_curve(y: np.ndarray, prob: np.ndarray, n_bins: int = 10) -> dict:
    """Per-bin mean confidence, accuracy and count (top label) for a reliability diagram."""
    conf = prob.max(1)
    correct = (prob.argmax(1) == y).astype(float)
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    out = {"confidence": [], "accuracy": [], "count": []}
    for b in range(n_bins):
        m = bins == b
        if m.any():
            out["confidence"].append(float(conf[m].mean()))
            out["accuracy"].append(float(correct[m].mean()))
            out["count"].append(int(m.sum()))
    return out


def fit_temperature(prob: np.ndarray, y: np.ndarray, min_t: float = 1.0, max_t: float = 20.0) -> float:
    """Temperature T minimising the NLL of ``softmax(log(prob) / T)`` (Guo et al. 2017).

    Fitted on held-aside validation predictions; searched on a log grid in [min_t, max_t] then
    refined, so it is deterministic. ``min_t`` defaults to 1: the model is only ever softened,
    never sharpened, because a temperature fitted on a dozen validation patients is not trusted
    to make a clinical model more confident. Returns 1.0 with fewer than two classes.
    """
    if len(np.unique(y)) < 2:
        return 1.0
    logp = np.log(np.clip(prob, 1e-12, 1))

    def nll(t: float) -> float:
        z = logp / t
        z = z - z.max(1, keepdims=True)
        lsm = z - np.log(np.exp(z).sum(1, keepdims=True))
        return float(-lsm[np.arange(len(y)), y].mean())

    grid = np.exp(np.linspace(np.log(min_t), np.log(max_t), 200))
    best = grid[int(np.argmin([nll(t) for t in grid]))]
    fine = np.clip(np.linspace(best * 0.9, best * 1.1, 41), min_t, max_t)
    return float(fine[int(np.argmin([nll(t) for t in fine]))])


def apply_temperature(prob: np.ndarray, t: float) -> np.ndarray:
    """``softmax(log(prob) / t)`` row-wise."""
    z = np.log(np.clip(prob, 1e-12, 1)) / t
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


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
        "ece": expected_calibration_error(y, prob),
        "majority_class_accuracy": float(np.bincount(y, minlength=len(labels)).max() / len(y)),
    }
    out["accuracy_ci95"] = bootstrap_ci(lambda a, b: float((a == b.argmax(1)).mean()), (y, prob), n_boot)
    out["roc_auc_ci95"] = bootstrap_ci(roc_auc, (y, prob), n_boot)
    if time is not None and event is not None and risk is not None:
        t, e, r = (np.asarray(a, dtype=float) for a in (time, event, risk))
        out["c_index"] = harrell_c(t, e, r)
        out["c_index_ci95"] = bootstrap_ci(harrell_c, (t, e, r), n_boot)
    return out


def paired_diff(fn, a: tuple, b: tuple, n_boot: int = 1000, seed: int = 0) -> dict:
    """``fn(*a) - fn(*b)`` on the same patients, with a paired percentile bootstrap 95% CI
    (:func:`bootstrap_ci` over patient indices, so both sides draw the same rows).

    ``a`` and ``b``: tuples of (N,) or (N, C) arrays whose rows are the same N patients in the
    same order (e.g. ``(y, prob_a)`` and ``(y, prob_b)``). Returns
    ``{"difference": float, "ci95": [lo, hi]}`` (NaN bounds when under half the resamples are
    finite).
    """
    def diff(ix: np.ndarray) -> float:
        return fn(*(x[ix] for x in a)) - fn(*(x[ix] for x in b))

    ix = np.arange(len(a[0]))
    lo, hi = bootstrap_ci(diff, (ix,), n_boot, seed)
    return {"difference": float(diff(ix)), "ci95": [lo, hi]}
