"""Validation of a risk score on held-out patients: Harrell's and Uno's C, time-dependent AUC,
IPCW, calibration, proportional-hazards checks (:func:`validate_risk`).

Harrell's C is defined ONCE, in :mod:`model.survival.concordance` (:func:`harrell_c`, used here
and by ``training.metrics.harrell_c``, the Cox summaries and every other caller). Uno's C, the cumulative/dynamic AUC and the IPCW weights come from
torchsurv 0.2.0, imported lazily inside those functions (the only place ``model.survival``
touches torch; importing this module does not import torch). lifelines fits the Cox models.
Times are in days. No Streamlit or Plotly here.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter

from model.core.jsonio import json_safe
from model.core.units import DAYS_PER_YEAR
from model.survival.cohorts.tcga import join_image_covariates
from model.survival.concordance import harrell_c
from model.survival.cox import CoxModel, hazard_ratio_table
from model.survival.prognosis import PROGNOSTIC_INPUTS

__all__ = [
    "VALIDATION_MODELS",
    "ipcw_weights",
    "uno_c",
    "time_auc",
    "validate_risk",
]

#: torchsurv's message when the censoring distribution reaches 0 (it then returns weight 1).
_IPCW_ZERO = "Censoring distribution zero"

#: validation models: name -> (inputs, description).
VALIDATION_MODELS = {
    "image": (("risk_score",), "image model risk score alone"),
    "age": (("age_years",), "Cox: age only"),
    "clinical": (("age_years", "sex", "grade"), "Cox: age + sex + WHO grade"),
    "prognostic": (PROGNOSTIC_INPUTS, "Cox: image risk score + age + sex (the individual-prognosis model)"),
}


def _ci(samples: list[float], alpha: float = 0.05) -> tuple[float, float]:
    a = np.asarray([s for s in samples if s is not None and np.isfinite(s)], dtype=float)
    if a.size < 10:
        return float("nan"), float("nan")
    return float(np.quantile(a, alpha / 2)), float(np.quantile(a, 1 - alpha / 2))


def ipcw_weights(train_time: np.ndarray, train_event: np.ndarray, times_days: np.ndarray) -> np.ndarray:
    """Inverse-probability-of-censoring weights 1 / G(t) at ``times_days``.

    G is the Kaplan-Meier estimate of the censoring distribution of the *training* patients
    (torchsurv 0.2.0 ``get_ipcw(train_event, train_time, new_time)``). torchsurv's warning
    "Censoring distribution zero at time points ..." is dropped by message (the weights there
    are as torchsurv computes them); other warnings pass through.

    Parameters
    ----------
    train_time : numpy.ndarray of float, shape (m,)
        Training times (days).
    train_event : numpy.ndarray of int, shape (m,)
        Training events (1 / 0).
    times_days : numpy.ndarray of float, shape (k,)
        Where to evaluate (days).

    Returns
    -------
    numpy.ndarray of float64, shape (k,)
    """
    import torch
    from torchsurv.stats.ipcw import get_ipcw

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_IPCW_ZERO, category=UserWarning)
        w = get_ipcw(torch.as_tensor(np.asarray(train_event, int) == 1),
                     torch.as_tensor(np.asarray(train_time, float), dtype=torch.float64),
                     new_time=torch.as_tensor(np.asarray(times_days, float), dtype=torch.float64))
    return w.to(torch.float64).numpy()


def _uno_c_w(t: np.ndarray, e: np.ndarray, risk: np.ndarray, w: np.ndarray, tau: float | None) -> float:
    import torch
    from torchsurv.metrics.cindex import ConcordanceIndex

    tmax = None if tau is None else torch.tensor(float(tau), dtype=torch.float64)
    try:
        return float(ConcordanceIndex()(
            torch.as_tensor(np.asarray(risk, float), dtype=torch.float64),
            torch.as_tensor(np.asarray(e, int) == 1),
            torch.as_tensor(np.asarray(t, float), dtype=torch.float64),
            weight=torch.as_tensor(np.asarray(w, float), dtype=torch.float64),
            tmax=tmax, instate=False,
        ))
    except (ValueError, RuntimeError, ZeroDivisionError, AssertionError):
        return float("nan")


def uno_c(
    time_days: np.ndarray, event: np.ndarray, risk: np.ndarray,
    train_time: np.ndarray, train_event: np.ndarray, tau_days: float | None = None,
) -> float:
    """Uno's C (IPCW concordance, Uno et al. Stat Med 2011) via torchsurv 0.2.0.

    torchsurv ``ConcordanceIndex`` with ``weight = get_ipcw(train_event, train_time,
    new_time=time_days)`` (:func:`ipcw_weights`): the censoring distribution is the Kaplan-Meier
    estimate of the *training* patients, as torchsurv's docs recommend for a train/test split,
    evaluated at the held-out times; pairs are truncated at ``tau_days`` (torchsurv ``tmax``:
    weights only for times < tmax). With no censoring every weight is 1 and Uno's C equals
    Harrell's C (for untied times). torchsurv's own ``confidence_interval(method="bootstrap")``
    does not resample the weights with the patients (0.2.0), so :func:`validate_risk`
    bootstraps by hand.

    Parameters
    ----------
    time_days, event, risk : numpy.ndarray, shape (n,)
        Held-out times (days, float), events (1 / 0) and risk scores (higher = worse).
    train_time, train_event : numpy.ndarray, shape (m,)
        Training times and events (censoring distribution).
    tau_days : float, optional
        Truncation time (days).

    Returns
    -------
    float
        In [0, 1]; NaN when there is no comparable pair.
    """
    w = ipcw_weights(train_time, train_event, time_days)
    return _uno_c_w(time_days, event, risk, w, tau_days)


def _auc_w(
    t: np.ndarray, e: np.ndarray, risk: np.ndarray, w: np.ndarray,
    horizons: Sequence[float], w_h: np.ndarray,
) -> list[float]:
    import torch
    from torchsurv.metrics.auc import Auc

    t = np.asarray(t, float)
    ev = np.asarray(e, int) == 1
    out = [float("nan")] * len(horizons)
    ok = [k for k, h in enumerate(horizons) if np.any(ev & (t <= h)) and np.any(t > h)]
    if not ok:
        return out
    try:
        res = Auc()(
            torch.as_tensor(np.asarray(risk, float), dtype=torch.float64),
            torch.as_tensor(ev), torch.as_tensor(t, dtype=torch.float64), auc_type="cumulative",
            weight=torch.as_tensor(np.asarray(w, float), dtype=torch.float64),
            new_time=torch.as_tensor([float(horizons[k]) for k in ok], dtype=torch.float64),
            weight_new_time=torch.as_tensor([float(w_h[k]) for k in ok], dtype=torch.float64),
            instate=False,
        )
    except (ValueError, RuntimeError, ZeroDivisionError, IndexError, AssertionError):
        return out
    for j, k in enumerate(ok):
        out[k] = float(res[j])
    return out


def time_auc(
    time_days: np.ndarray, event: np.ndarray, risk: np.ndarray,
    train_time: np.ndarray, train_event: np.ndarray, horizons_days: Sequence[float],
) -> list[float]:
    """Cumulative/dynamic time-dependent AUC at each horizon (Uno et al. JASA 2007 IPCW).

    torchsurv 0.2.0 ``Auc(auc_type="cumulative")``: cases = event by t, controls = still
    followed after t; IPCW from the training censoring distribution (:func:`ipcw_weights`).

    Parameters
    ----------
    time_days, event, risk : numpy.ndarray, shape (n,)
        Held-out times (days), events (1 / 0), risk scores (higher = worse).
    train_time, train_event : numpy.ndarray, shape (m,)
        Training times and events.
    horizons_days : sequence of float, length k
        Horizons (days).

    Returns
    -------
    list of float, length k
        AUC per horizon; NaN at a horizon without cases or controls.
    """
    w = ipcw_weights(train_time, train_event, time_days)
    w_h = ipcw_weights(train_time, train_event, np.asarray(horizons_days, float))
    return _auc_w(time_days, event, risk, w, list(horizons_days), w_h)


def _km_at(time_days: np.ndarray, event: np.ndarray, t: float) -> tuple[float, float, float]:
    kmf = KaplanMeierFitter(alpha=0.05).fit(np.asarray(time_days, float), np.asarray(event, int))
    s = float(kmf.survival_function_at_times([t]).iloc[0])
    ci = kmf.confidence_interval_survival_function_
    idx = ci.index.searchsorted(t, side="right") - 1
    lo, hi = (float(ci.iloc[idx, 0]), float(ci.iloc[idx, 1])) if idx >= 0 else (1.0, 1.0)
    return s, lo, hi


def validate_risk(
    cohort_risk_df: pd.DataFrame,
    cdr_df: pd.DataFrame | None,
    n_boot: int = 200,
    seed: int = 0,
    horizons_days: Sequence[float] = (DAYS_PER_YEAR, 2 * DAYS_PER_YEAR),
    tau_days: float = 5 * DAYS_PER_YEAR,
    heldout_splits: Sequence[str] = ("val", "test"),
) -> dict:
    """Validate the image model's risk score on held-out patients, next to clinical baselines.

    Parameters
    ----------
    cohort_risk_df : pandas.DataFrame
        ``cohort_risk.csv`` rows (``patient_id``, ``risk_score``, ``split``, ``time_days`` days,
        ``event`` 0/1, ``grade``), e.g. :func:`load_cohort_risk` output or the raw CSV.
    cdr_df : pandas.DataFrame or None
        :func:`load_tcga_cdr` (OS) output for age / sex / grade; None -> only the image model
        can be evaluated (the others need age) and a ValueError is raised.
    n_boot, seed : int
        Percentile bootstrap over held-out patients (models kept fixed), seeded; the same
        resamples for every model, so differences are paired.
    horizons_days : sequence of float
        Times for the time-dependent AUC and calibration (default 1 and 2 years).
    tau_days : float
        Truncation time of Uno's C (default 5 years), capped at the last training time so the
        training censoring distribution is estimable.
    heldout_splits : sequence of str
        Splits evaluated (default val + test; the training split fits the Cox models).

    Notes
    -----
    Models (:data:`VALIDATION_MODELS`), all fitted on the training split with lifelines
    ``CoxPHFitter``: ``image`` (risk score alone; its discrimination uses the raw score, its
    calibration a Cox recalibration of the score), ``age``, ``clinical`` (age + sex + grade),
    ``prognostic`` (risk + age + sex, the page's individual model). Every metric is computed
    on the same held-out patients (complete age / sex / grade). Harrell's C: lifelines;
    Uno's C and the cumulative/dynamic AUC: torchsurv 0.2.0 with IPCW from the training
    censoring KM (:func:`uno_c`, :func:`time_auc`). Calibration at each horizon: mean predicted
    S(t) vs the Kaplan-Meier estimate (95% CI) of the held-out patients, overall and in the
    halves below / above the median prediction. Proportional hazards: lifelines
    ``proportional_hazard_test`` (scaled Schoenfeld residuals vs rank of time) on each training
    fit.

    Returns
    -------
    dict
        JSON-safe (NaN -> None): ``n_train``, ``events_train``, ``n_heldout``,
        ``events_heldout``, ``heldout_splits``, ``n_excluded`` (rows without covariates),
        ``horizons_days``, ``tau_days``, ``n_boot``, ``seed``, ``ci_method``, ``models``: name
        -> {``inputs``, ``description``, ``harrell_c``/``uno_c``: {estimate, ci_lower,
        ci_upper}, ``auc``: list per horizon {time_days, estimate, ci_lower, ci_upper},
        ``calibration``: list per horizon {time_days, predicted_mean, observed, observed_lower,
        observed_upper, groups: [...]}, ``hazard_ratios`` (training fit), ``ph_test``: list
        {term, test_statistic, p_value}, ``penalizer``}, ``differences``: "<a>_minus_<b>" ->
        {harrell_c, uno_c: {estimate, ci_lower, ci_upper}}, ``notes``.

    Raises
    ------
    ValueError
        No training or held-out rows, no held-out event, or no CDR covariates.
    """
    from lifelines.statistics import proportional_hazard_test

    if cdr_df is None:
        raise ValueError("validate_risk needs the TCGA-CDR table for age, sex and grade.")
    df = join_image_covariates(cohort_risk_df, cdr_df)
    df = df[df["time_days"].notna() & df["event"].notna() & df["risk_score"].notna()].copy()
    df["event"] = df["event"].astype(int)
    inputs_all = sorted({c for ins, _ in VALIDATION_MODELS.values() for c in ins})
    complete = df[inputs_all].notna().all(axis=1)
    n_excluded = int((~complete).sum())
    df = df[complete]
    train = df[df["split"] == "train"].reset_index(drop=True)
    held = df[df["split"].isin([s.lower() for s in heldout_splits])].reset_index(drop=True)
    if train.empty or held.empty:
        raise ValueError(f"Need training and held-out ({list(heldout_splits)}) rows with covariates.")
    if held["event"].sum() < 1:
        raise ValueError("No event among the held-out patients: discrimination is undefined.")
    tr_t, tr_e = train["time_days"].to_numpy(float), train["event"].to_numpy(int)
    ho_t, ho_e = held["time_days"].to_numpy(float), held["event"].to_numpy(int)
    tau = float(min(tau_days, tr_t.max()))
    horizons = [float(h) for h in horizons_days]

    models: dict = {}
    scores: dict = {}
    surv: dict = {}
    notes = []
    for name, (inputs, desc) in VALIDATION_MODELS.items():
        refs = {"sex": "female", "grade": "WHO II"}
        m = CoxModel(inputs, references=refs, min_events=3).fit(train)
        lp = m.linear_predictor(held)
        scores[name] = held["risk_score"].to_numpy(float) if name == "image" else lp
        surv[name] = m.survival_at(held, horizons)
        try:
            ph = proportional_hazard_test(m.cph_, m.data_, time_transform="rank").summary
            ph_rows = [{"term": str(k), "test_statistic": float(r["test_statistic"]), "p_value": float(r["p"])}
                       for k, r in ph.iterrows()]
        except (ValueError, ArithmeticError, np.linalg.LinAlgError, KeyError) as exc:  # reported, not fatal
            ph_rows = []
            notes.append(f"PH test of {name} failed: {exc}")
        hr = hazard_ratio_table(m)
        models[name] = {
            "inputs": list(m.inputs_), "description": desc, "penalizer": m.penalizer_,
            "hazard_ratios": hr.drop(columns=["n", "events"]).to_dict("records"),
            "ph_test": ph_rows,
        }
        if name == "image" and m.cph_.params_.iloc[0] < 0:
            notes.append("On the training split a higher image risk score went with LONGER survival "
                         "(negative Cox coefficient); discrimination uses the raw score as served.")

    w_ho = ipcw_weights(tr_t, tr_e, ho_t)  # a function of the time only: resampled with it
    w_h = ipcw_weights(tr_t, tr_e, np.asarray(horizons, float))

    def metrics(idx: np.ndarray) -> dict:
        t, e, w = ho_t[idx], ho_e[idx], w_ho[idx]
        res = {}
        for name in models:
            s = scores[name][idx]
            res[name] = {
                "harrell_c": harrell_c(t, e, s),
                "uno_c": _uno_c_w(t, e, s, w, tau),
                "auc": _auc_w(t, e, s, w, horizons, w_h),
            }
        return res

    full = metrics(np.arange(len(held)))
    rng = np.random.default_rng(seed)
    boots = [metrics(rng.integers(0, len(held), len(held))) for _ in range(int(n_boot))]

    for name in models:
        f = full[name]
        entry = models[name]
        for key in ("harrell_c", "uno_c"):
            lo, hi = _ci([b[name][key] for b in boots])
            entry[key] = {"estimate": f[key], "ci_lower": lo, "ci_upper": hi}
        entry["auc"] = []
        for k, h in enumerate(horizons):
            lo, hi = _ci([b[name]["auc"][k] for b in boots])
            entry["auc"].append({"time_days": h, "estimate": f["auc"][k], "ci_lower": lo, "ci_upper": hi,
                                 "cases": int(np.sum((ho_e == 1) & (ho_t <= h))),
                                 "controls": int(np.sum(ho_t > h))})
        entry["calibration"] = []
        for k, h in enumerate(horizons):
            pred = surv[name][:, k]
            obs, olo, ohi = _km_at(ho_t, ho_e, h)
            groups = []
            med = float(np.median(pred))
            for gname, mask in (("lower predicted survival", pred <= med), ("higher predicted survival", pred > med)):
                if mask.sum() == 0:
                    continue
                go_, glo, ghi = _km_at(ho_t[mask], ho_e[mask], h)
                groups.append({"group": gname, "n": int(mask.sum()), "predicted_mean": float(pred[mask].mean()),
                               "observed": go_, "observed_lower": glo, "observed_upper": ghi})
            entry["calibration"].append({
                "time_days": h, "predicted_mean": float(pred.mean()), "observed": obs,
                "observed_lower": olo, "observed_upper": ohi, "at_risk": int(np.sum(ho_t >= h)),
                "groups": groups,
            })
    differences = {}
    for a, b in (("image", "age"), ("image", "clinical"), ("prognostic", "age"), ("prognostic", "clinical")):
        d = {}
        for key in ("harrell_c", "uno_c"):
            est = full[a][key] - full[b][key]
            lo, hi = _ci([bt[a][key] - bt[b][key] for bt in boots])
            d[key] = {"estimate": est, "ci_lower": lo, "ci_upper": hi}
        differences[f"{a}_minus_{b}"] = d
    if len(held) < 50 or held["event"].sum() < 20:
        notes.append(f"Only {len(held)} held-out patients with {int(held['event'].sum())} events: "
                     "confidence intervals are wide; treat the estimates as indicative.")
    return json_safe({
        "n_train": int(len(train)), "events_train": int(tr_e.sum()),
        "n_heldout": int(len(held)), "events_heldout": int(ho_e.sum()),
        "heldout_splits": sorted(held["split"].unique().tolist()), "n_excluded": n_excluded,
        "horizons_days": horizons, "tau_days": tau, "n_boot": int(n_boot), "seed": int(seed),
        "ci_method": f"percentile bootstrap over held-out patients ({int(n_boot)} resamples; "
                     "models fixed at their training fit; paired across models)",
        "models": models, "differences": differences, "notes": notes,
    })
