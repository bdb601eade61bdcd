"""Display tables (pandas DataFrames of formatted text) built from results and model cards.

The pages show these with ``st.dataframe``; nothing here computes a statistic, every number
comes from a prediction, a timeline or a file that training wrote.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

__all__ = ["fmt_num", "fmt_ci", "study_summary_table", "timeline_table",
           "longitudinal_comparison_table", "metrics_table", "cv_table", "attribution_eval_table"]


def fmt_num(value: Any, spec: str = ".2f") -> str:
    """A number for display: ``"n/a"`` when missing, None (strict-JSON NaN) or not finite.

    Parameters
    ----------
    value : object
        Anything :func:`float` accepts.
    spec : str
        Format specification, default two decimals.

    Returns
    -------
    str
    """
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "n/a"
    return format(v, spec) if math.isfinite(v) else "n/a"


def fmt_ci(c: float | None, lo: float | None, hi: float | None) -> str:
    """``"0.712 [0.60, 0.81]"``: an estimate with its confidence interval, ``"n/a"`` when the
    estimate is missing or not finite; the interval is left out when ``lo`` is."""
    if c is None or not math.isfinite(c):
        return "n/a"
    ci = f" [{lo:.2f}, {hi:.2f}]" if lo is not None and math.isfinite(lo) else ""
    return f"{c:.3f}{ci}"


def study_summary_table(study, drop: tuple[str, ...] = ()) -> pd.DataFrame:
    """One row per sequence of ``study.summary()`` (file, shape, spacing_mm, orientation...),
    without the columns in ``drop`` (ignored when absent)."""
    return pd.DataFrame(study.summary()).T.drop(columns=list(drop), errors="ignore")


def timeline_table(timeline: pd.DataFrame) -> pd.DataFrame:
    """The visits of one patient's timeline (:func:`model.inference.longitudinal.predict_timeline`).

    Returns
    -------
    DataFrame
        Columns ``time point``, ``week`` (since the first visit), ``RANO`` ("missing" when not
        rated), ``death HR`` (2 decimals) and ``progression HR`` (text; "after progression" once
        a visit was rated PD: nothing is left to predict for that endpoint).
    """
    tl = timeline
    return pd.DataFrame({
        "time point": tl["Timepoint"], "week": tl["week"],
        "RANO": [r if isinstance(r, str) else "missing" for r in tl["rating"]],
        "death HR": tl["os_hr"].round(2),
        "progression HR": [("after progression" if p else f"{h:.2f}")
                           for h, p in zip(tl["ttp_hr"], tl["progressed"])],
    })


_LONGITUDINAL_MODELS = {"network": "LSTM over visits", "cox_baseline": "Cox, baseline visit",
                        "cox_locf": "Cox, last observation (time-varying)"}
_ENDPOINTS = {"os": "overall survival", "ttp": "time to progression"}


def longitudinal_comparison_table(card: dict) -> pd.DataFrame:
    """The longitudinal model card's held-out comparison (``card["comparison"]``, written by
    ``training.longitudinal``): C-index with its 95% bootstrap CI per endpoint, prediction time
    and model, and the paired difference to the LSTM."""
    rows = [{
        "endpoint": _ENDPOINTS.get(r["endpoint"], r["endpoint"]),
        "prediction time": r["prediction_time"], "model": _LONGITUDINAL_MODELS.get(r["model"], r["model"]),
        "patients": r["n_patients"], "events": r["events"],
        "C-index": fmt_ci(r["c_index"], r["ci95_low"], r["ci95_high"]),
        "LSTM minus this": (fmt_ci(r["network_minus_this"], r["delta_ci95_low"], r["delta_ci95_high"])
                            if "network_minus_this" in r else ""),
    } for r in card.get("comparison", [])]
    return pd.DataFrame(rows)


def metrics_table(card: dict) -> pd.DataFrame:
    """Patient-level metrics per split of a classifier's model card (``card["metrics"]``):
    accuracy, ROC AUC, macro F1 and C-index, each with its 95% bootstrap CI when the card has
    one (3 decimals, CI 2)."""
    rows = []
    for split, m in card.get("metrics", {}).items():
        def fmt(k: str, m=m) -> str:
            if m.get(k) is None:
                return "n/a"
            ci = m.get(k + "_ci95")
            return fmt_num(m[k], ".3f") + (f" [{fmt_num(ci[0])}, {fmt_num(ci[1])}]" if ci else "")

        rows.append({"split": split, "patients": m.get("n_patients"), "accuracy": fmt("accuracy"),
                     "ROC AUC": fmt("roc_auc"), "F1 (macro)": fmt("f1_macro"), "C-index": fmt("c_index")})
    return pd.DataFrame(rows)


def cv_table(cv: dict) -> pd.DataFrame:
    """The design comparison of ``cv.json`` (``training.cv``): one row per design with pooled
    out-of-fold AUC and C-index [95% CI], paired differences to the served design, fold means
    ± s.d., folds done and training time; column ``id`` is the design's key in ``cv.json``."""
    def ms(v: dict, k: str) -> str:
        m, sd = v["mean"].get(k), v["sd"].get(k)
        return "n/a" if fmt_num(m) == "n/a" else f"{fmt_num(m)} ± {fmt_num(sd)}"

    def ci(v: dict, k: str) -> str:
        p, c = v["pooled"].get(k), v["pooled"].get(k + "_ci95")
        return (fmt_num(p) + (f" [{fmt_num(c[0])}, {fmt_num(c[1])}]" if c else "")
                if p is not None else "n/a")

    def diff(v: dict, k: str) -> str:
        d = v.get("minus_reference", {}).get(k)
        return "" if not d else f"{d['difference']:+.2f} [{d['ci95'][0]:+.2f}, {d['ci95'][1]:+.2f}]"

    rows = [{"design": v.get("name", name),
             "pooled AUC [95% CI]": ci(v, "roc_auc"), "AUC minus served": diff(v, "roc_auc"),
             "AUC (mean ± sd of folds)": ms(v, "roc_auc"), "accuracy (mean ± sd)": ms(v, "accuracy"),
             "F1 macro (mean ± sd)": ms(v, "f1_macro"), "C-index (mean ± sd)": ms(v, "c_index"),
             "pooled C [95% CI]": ci(v, "c_index"), "C minus served": diff(v, "c_index"),
             "ECE (mean ± sd)": ms(v, "ece"), "folds": len(v.get("folds_done", [])),
             "train s/fold": (f"{sum(v['train_seconds']) / len(v['train_seconds']):.0f}"
                              if v.get("train_seconds") else ""),
             "what": v.get("description", "") + (f" ({v['note']})" if v.get("note") else ""),
             "id": name}
            for name, v in cv["variants"].items()]
    return pd.DataFrame(rows)


def attribution_eval_table(ev: dict) -> pd.DataFrame:
    """The attribution check of ``attribution_eval.json`` (``training.attribution_eval``): per
    method, deletion and insertion AUC against random blocks and the left-right mirrored map,
    the randomisation Spearman correlations and seconds per case."""
    rnd = ev["random"]
    n = ev["n_patients"]

    def fmt(v):
        return "n/a" if v is None else f"{v:.2f}"

    rows = []
    for m, r in ev["methods"].items():
        rz = ev.get("randomisation", {}).get(m, {})
        rows.append({"method": m,
                     "deletion AUC (lower better)": f"{r['deletion_auc']:.3f}",
                     "random": f"{rnd['deletion_auc']:.3f}",
                     "insertion AUC (higher better)": f"{r['insertion_auc']:.3f}",
                     "random ": f"{rnd['insertion_auc']:.3f}",
                     "beats random (deletion)": f"{r['beats_random_deletion']}/{n}",
                     "deletion, map mirrored L-R": (f"{r['deletion_auc_mirrored']:.3f}"
                                                    if "deletion_auc_mirrored" in r else "n/a"),
                     "beats mirrored (del./ins.)": (f"{r['beats_mirrored_deletion']}/{n}, "
                                                    f"{r['beats_mirrored_insertion']}/{n}"
                                                    if "beats_mirrored_deletion" in r else "n/a"),
                     "Spearman vs random head": fmt(rz.get("head")),
                     "vs random weights": fmt(rz.get("full")),
                     "s per case": f"{r['seconds_per_case']:.1f}"})
    return pd.DataFrame(rows)
