"""Kaplan-Meier estimates, medians, the number-at-risk table and log-rank tests.

Statistics only: every function returns numbers (typed dataclasses or documented frames); the
figures that draw them live in :mod:`model.views.survival_figures` and never refit. No
Streamlit, torch or Plotly here. Every time is in **days**; ``unit`` only chooses round
table times (:func:`default_at_risk_times`).

Methods
-------
* Kaplan-Meier product-limit estimator (Kaplan EL, Meier P, *J Am Stat Assoc* 1958;53:457-481),
  via :class:`lifelines.KaplanMeierFitter`.
* Pointwise 95% confidence bands exactly as lifelines computes them: Greenwood's variance on the
  log(-log) scale ("exponential Greenwood"), alpha = 0.05.
* Median survival and its 95% CI: :attr:`KaplanMeierFitter.median_survival_time_` and
  :func:`lifelines.utils.median_survival_times` applied to the KM confidence band (the first
  times the lower / upper band reach 0.5). ``inf`` means "not reached".
* Log-rank test (Mantel N, *Cancer Chemother Rep* 1966;50:163-170) via
  :func:`lifelines.statistics.logrank_test` (2 groups, 1 degree of freedom) and
  :func:`lifelines.statistics.multivariate_logrank_test` (k > 2 groups, k - 1 degrees of freedom);
  pairwise tests with Holm or Benjamini-Hochberg adjusted p-values (:func:`adjust_pvalues`).
* The number-at-risk table is computed here with numpy/pandas (definition in
  :func:`at_risk_table`), not by lifelines.

Input frames need ``time_days`` (float, days >= 0), ``event`` (int 0/1; 1 = event) and the
grouping column (any cohort of :mod:`model.survival.cohorts`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from lifelines.statistics import logrank_test, multivariate_logrank_test
from lifelines.utils import median_survival_times

from model.core.units import DAYS_PER_UNIT

__all__ = [
    "ALL_LABEL",
    "UNITS",
    "CORRECTIONS",
    "KMCurve",
    "LogRankResult",
    "KMAnalysis",
    "check_unit",
    "clean_survival",
    "km_curve",
    "km_curves",
    "logrank",
    "at_risk_table",
    "median_survival",
    "adjust_pvalues",
    "pairwise_logrank",
    "default_at_risk_times",
    "parse_times",
    "km_analysis",
]

#: label of the single curve when there is no grouping column.
ALL_LABEL = "All patients"

#: display unit -> days per unit (the units the Survival page offers, in this order).
UNITS: dict[str, float] = {u: DAYS_PER_UNIT[u] for u in ("days", "months", "years")}

#: correction key -> description shown in the app.
CORRECTIONS = {
    "holm": "Holm step-down (Holm 1979), controls the family-wise error rate",
    "bh": "Benjamini-Hochberg (1995), controls the false discovery rate",
}


# --------------------------------------------------------------------------------------------
# Typed results
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class KMCurve:
    """One group's Kaplan-Meier estimate (lifelines ``KaplanMeierFitter``, alpha 0.05).

    Attributes
    ----------
    group : str
        Group label (:data:`ALL_LABEL` without grouping).
    n, events : int
        Patients and events in the group.
    time_days : numpy.ndarray of float64, shape (m,)
        Step times in days (lifelines' timeline, starting at 0).
    survival, ci_lower, ci_upper : numpy.ndarray of float64, shape (m,)
        S(t) and its pointwise 95% band (exponential Greenwood) at ``time_days``.
    censor_days, censor_survival : numpy.ndarray of float64, shape (c,)
        Sorted censoring times (days) and S(t) there (for the censoring ticks).
    """

    group: str
    n: int
    events: int
    time_days: np.ndarray = field(repr=False)
    survival: np.ndarray = field(repr=False)
    ci_lower: np.ndarray = field(repr=False)
    ci_upper: np.ndarray = field(repr=False)
    censor_days: np.ndarray = field(repr=False)
    censor_survival: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class LogRankResult:
    """Result of :func:`logrank`.

    Attributes
    ----------
    test : str
        ``"log-rank (2 groups)"`` or ``"multivariate log-rank (k groups)"``.
    test_statistic : float
        Chi-square statistic.
    p_value : float
    degrees_of_freedom : int
        ``n_groups - 1``.
    n_groups : int
    n : int
        Rows used.
    """

    test: str
    test_statistic: float
    p_value: float
    degrees_of_freedom: int
    n_groups: int
    n: int

    def to_dict(self) -> dict:
        """The fields as a plain (JSON-safe) dict."""
        return asdict(self)


@dataclass
class KMAnalysis:
    """Everything shown for one Kaplan-Meier selection (:func:`km_analysis`), computed once.

    Attributes
    ----------
    group_col : str or None
        Grouping column (None = one curve of all patients).
    curves : list of KMCurve
        One per group, groups in sorted label order.
    at_risk : pandas.DataFrame
        :func:`at_risk_table` at ``at_risk_times_days`` (``at_risk``, ``events``, ``censored``).
    median : pandas.DataFrame
        :func:`median_survival`.
    at_risk_times_days : list of float
        The table times (days), also the figure's x ticks.
    n : int
        Rows used; ``n_dropped`` rows were left out for a missing time, event or group.
    n_dropped : int
    max_days : float
        Longest follow-up (days) among the rows used.
    logrank : LogRankResult or None
        None without ``group_col`` or when not applicable (then ``logrank_error`` says why).
    logrank_error : str or None
    pairwise : pandas.DataFrame or None
        :func:`pairwise_logrank` when there are 3+ groups.
    correction : str
        Key of :data:`CORRECTIONS` used for ``pairwise``.
    """

    group_col: str | None
    curves: list[KMCurve]
    at_risk: pd.DataFrame
    median: pd.DataFrame
    at_risk_times_days: list[float]
    n: int
    n_dropped: int
    max_days: float
    logrank: LogRankResult | None = None
    logrank_error: str | None = None
    pairwise: pd.DataFrame | None = None
    correction: str = "holm"

    @property
    def groups(self) -> list[str]:
        """Group labels in curve order."""
        return [c.group for c in self.curves]


# --------------------------------------------------------------------------------------------
# Cleaning and grouping
# --------------------------------------------------------------------------------------------
def check_unit(unit: str) -> float:
    """Days per display ``unit``.

    Parameters
    ----------
    unit : str
        A key of :data:`UNITS` (``"days"``, ``"months"``, ``"years"``).

    Returns
    -------
    float
        Days per unit (1, 30.4375, 365.25).

    Raises
    ------
    ValueError
        Unknown unit.
    """
    if unit not in UNITS:
        raise ValueError(f"Unknown time unit {unit!r}; use one of {list(UNITS)}.")
    return UNITS[unit]


def _check_survival_columns(df: pd.DataFrame, group_col: str | None = None) -> None:
    need = ["time_days", "event"] + ([group_col] if group_col else [])
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise ValueError(f"Cohort frame lacks column(s) {missing}.")


def clean_survival(df: pd.DataFrame, group_col: str | None = None) -> tuple[pd.DataFrame, int]:
    """Rows with time, event (and group, if any).

    Parameters
    ----------
    df : pandas.DataFrame
        ``time_days`` (days), ``event`` (0/1) and ``group_col``.
    group_col : str, optional

    Returns
    -------
    (pandas.DataFrame, int)
        A copy with ``time_days`` float64 and ``event`` int64, and the number of rows dropped.

    Raises
    ------
    ValueError
        Missing columns.
    """
    _check_survival_columns(df, group_col)
    cols = ["time_days", "event"] + ([group_col] if group_col else [])
    ok = df[cols].notna().all(axis=1)
    out = df.loc[ok].copy()
    out["time_days"] = out["time_days"].astype(float)
    out["event"] = out["event"].astype(int)
    return out, int((~ok).sum())


def _groups(df: pd.DataFrame, group_col: str | None) -> list[tuple[str, pd.DataFrame]]:
    """(label, rows) per group in sorted label order; one "All patients" group if no group_col."""
    if group_col is None:
        return [(ALL_LABEL, df)]
    return [(str(g), sub) for g, sub in sorted(df.groupby(group_col, sort=False), key=lambda t: str(t[0]))]


def _fit_km(sub: pd.DataFrame, label: str) -> KaplanMeierFitter:
    return KaplanMeierFitter(alpha=0.05, label=label).fit(
        sub["time_days"].to_numpy(dtype=float), sub["event"].to_numpy(dtype=int)
    )


# --------------------------------------------------------------------------------------------
# Estimates and tests
# --------------------------------------------------------------------------------------------
def km_curve(sub: pd.DataFrame, label: str = ALL_LABEL) -> KMCurve:
    """Kaplan-Meier estimate of one group.

    Parameters
    ----------
    sub : pandas.DataFrame
        Clean rows (:func:`clean_survival`): ``time_days`` float (days), ``event`` int 0/1.
    label : str
        Group label.

    Returns
    -------
    KMCurve
    """
    kmf = _fit_km(sub, label)
    sf = kmf.survival_function_.iloc[:, 0]
    ci = kmf.confidence_interval_survival_function_
    cens_t = np.sort(sub.loc[sub["event"] == 0, "time_days"].to_numpy(dtype=float))
    cens_s = (kmf.survival_function_at_times(cens_t).to_numpy(dtype=float)
              if cens_t.size else np.zeros(0))
    return KMCurve(
        group=label, n=int(len(sub)), events=int(sub["event"].sum()),
        time_days=sf.index.to_numpy(dtype=float), survival=sf.to_numpy(dtype=float),
        ci_lower=ci.iloc[:, 0].to_numpy(dtype=float), ci_upper=ci.iloc[:, 1].to_numpy(dtype=float),
        censor_days=cens_t, censor_survival=cens_s,
    )


def km_curves(df: pd.DataFrame, group_col: str | None = None) -> list[KMCurve]:
    """Kaplan-Meier estimate per group (sorted labels); rows with a NaN time/event/group dropped.

    Parameters
    ----------
    df : pandas.DataFrame
        ``time_days`` (days), ``event`` (0/1), ``group_col``.
    group_col : str, optional

    Returns
    -------
    list of KMCurve

    Raises
    ------
    ValueError
        Missing columns.
    """
    data, _ = clean_survival(df, group_col)
    return [km_curve(sub, label) for label, sub in _groups(data, group_col)]


def logrank(df: pd.DataFrame, group_col: str) -> LogRankResult:
    """Log-rank test of equal survival across the groups of ``group_col``.

    Parameters
    ----------
    df : pandas.DataFrame
        Cohort frame with ``time_days`` (float, days), ``event`` (int 0/1) and ``group_col``.
        Rows with a missing group, time or event are ignored.
    group_col : str
        Column whose distinct values define the groups.

    Returns
    -------
    LogRankResult
        Two groups: :func:`lifelines.statistics.logrank_test`; more:
        :func:`lifelines.statistics.multivariate_logrank_test` (Mantel 1966).

    Raises
    ------
    ValueError
        Missing columns, or fewer than 2 groups with data.
    """
    data, _ = clean_survival(df, group_col)
    groups = _groups(data, group_col)
    k = len(groups)
    if k < 2:
        raise ValueError(f"The log-rank test needs at least 2 groups in {group_col!r}; found {k}.")
    if k == 2:
        (_, a), (_, b) = groups
        res = logrank_test(a["time_days"], b["time_days"], a["event"], b["event"])
        test = "log-rank (2 groups)"
    else:
        res = multivariate_logrank_test(
            data["time_days"], data[group_col].astype(str), data["event"]
        )
        test = f"multivariate log-rank ({k} groups)"
    return LogRankResult(
        test=test, test_statistic=float(res.test_statistic), p_value=float(res.p_value),
        degrees_of_freedom=int(res.degrees_of_freedom), n_groups=k, n=int(len(data)),
    )


def at_risk_table(
    df: pd.DataFrame, times: Iterable[float], group_col: str | None = None
) -> pd.DataFrame:
    """Number at risk and cumulative events/censorings at given times, per group.

    Definition (the survminer / R ``summary(survfit, times)`` convention), for each time t:

    * ``at_risk``  = number of patients with ``time_days >= t`` (still under observation just
      before t; a patient who dies or is censored at exactly t is still at risk at t);
    * ``events``   = number with ``time_days <= t`` and ``event == 1``;
    * ``censored`` = number with ``time_days <= t`` and ``event == 0``.

    Because of ties at t, ``at_risk + events + censored`` can exceed n. Computed directly with
    numpy (not lifelines' at-risk table, which has reported off-by-one differences).

    Parameters
    ----------
    df : pandas.DataFrame
        Cohort frame with ``time_days`` (float, days), ``event`` (int 0/1) and ``group_col``.
    times : iterable of float
        Times in days (>= 0), in the order wanted.
    group_col : str, optional
        Grouping column or None (one group labelled "All patients"). Rows with NaN group are
        left out.

    Returns
    -------
    pandas.DataFrame
        Columns ``group`` (str), ``time_days`` (float), ``at_risk``, ``events``, ``censored``
        (int); groups in sorted order, times in the given order.

    Raises
    ------
    ValueError
        Missing columns, no times, or a negative / non-finite time.
    """
    data, _ = clean_survival(df, group_col)
    t = np.asarray(list(times), dtype=float)
    if t.size == 0:
        raise ValueError("at_risk_table needs at least one time.")
    if not np.all(np.isfinite(t)) or np.any(t < 0):
        raise ValueError("Times must be finite and >= 0 (days).")
    rows = []
    for label, sub in _groups(data, group_col):
        dur = sub["time_days"].to_numpy(dtype=float)
        ev = sub["event"].to_numpy(dtype=int) == 1
        at_risk = (dur[None, :] >= t[:, None]).sum(axis=1)
        done = dur[None, :] <= t[:, None]
        events = (done & ev[None, :]).sum(axis=1)
        censored = (done & ~ev[None, :]).sum(axis=1)
        for i, ti in enumerate(t):
            rows.append((label, float(ti), int(at_risk[i]), int(events[i]), int(censored[i])))
    return pd.DataFrame(rows, columns=["group", "time_days", "at_risk", "events", "censored"])


def median_survival(df: pd.DataFrame, group_col: str | None = None) -> pd.DataFrame:
    """Kaplan-Meier median survival with its 95% CI, per group.

    Parameters
    ----------
    df : pandas.DataFrame
        Cohort frame with ``time_days`` (float, days), ``event`` (int 0/1) and ``group_col``.
    group_col : str, optional
        Grouping column or None (one group "All patients"). Rows with NaN group are left out.

    Returns
    -------
    pandas.DataFrame
        Columns ``group`` (str), ``n`` (int), ``events`` (int), ``median_days``,
        ``ci_lower_days``, ``ci_upper_days`` (float, days). ``median_days`` is lifelines'
        ``KaplanMeierFitter.median_survival_time_``; the CI is
        ``lifelines.utils.median_survival_times(kmf.confidence_interval_)`` (exponential
        Greenwood band, alpha 0.05). ``inf`` = the curve (or band) never reaches 0.5 ("not
        reached"); values are kept as lifelines returns them.

    Raises
    ------
    ValueError
        Missing columns or no rows with data.
    """
    data, _ = clean_survival(df, group_col)
    if data.empty:
        raise ValueError("No rows with time_days and event to estimate survival.")
    rows = []
    for label, sub in _groups(data, group_col):
        kmf = _fit_km(sub, label)
        ci = median_survival_times(kmf.confidence_interval_)
        rows.append(
            {
                "group": label,
                "n": int(len(sub)),
                "events": int(sub["event"].sum()),
                "median_days": float(kmf.median_survival_time_),
                "ci_lower_days": float(ci.iloc[0, 0]),
                "ci_upper_days": float(ci.iloc[0, 1]),
            }
        )
    return pd.DataFrame(rows)


def adjust_pvalues(p_values: Sequence[float], method: str = "holm") -> np.ndarray:
    """Multiple-comparison adjusted p-values, in the input order.

    * ``"holm"``: sort ascending p_(1) <= ... <= p_(m); adjusted p_(i) =
      max_{j <= i} min(1, (m - j + 1) p_(j)) (Holm, Scand J Stat 1979;6:65-70).
    * ``"bh"``: adjusted p_(i) = min_{j >= i} min(1, m / j x p_(j)) (Benjamini & Hochberg,
      J R Stat Soc B 1995;57:289-300).

    Same values as R ``p.adjust(p, "holm" / "BH")``.

    Parameters
    ----------
    p_values : sequence of float, length m
    method : {"holm", "bh"}

    Returns
    -------
    numpy.ndarray of float64, shape (m,)

    Raises
    ------
    ValueError
        Unknown method, or a p-value outside [0, 1] / NaN.
    """
    if method not in CORRECTIONS:
        raise ValueError(f"Unknown correction {method!r}; use one of {list(CORRECTIONS)}.")
    p = np.asarray(list(p_values), dtype=float)
    if p.size == 0:
        return p
    if np.any(~np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError("p-values must be finite and in [0, 1].")
    m = p.size
    order = np.argsort(p, kind="mergesort")
    ps = p[order]
    if method == "holm":
        adj = np.maximum.accumulate((m - np.arange(m)) * ps)
    else:
        adj = np.minimum.accumulate((m / np.arange(1, m + 1) * ps)[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out


def pairwise_logrank(df: pd.DataFrame, group_col: str, correction: str = "holm") -> pd.DataFrame:
    """Log-rank test for every pair of groups, with adjusted p-values.

    Parameters
    ----------
    df : pandas.DataFrame
        Cohort frame (``time_days`` days, ``event`` 0/1, ``group_col``); rows with a missing
        group/time/event are ignored.
    group_col : str
        Grouping column.
    correction : {"holm", "bh"}
        :func:`adjust_pvalues` over the k(k-1)/2 pairs.

    Returns
    -------
    pandas.DataFrame
        One row per pair (groups in sorted order): ``group_a``, ``group_b`` (str), ``n_a``,
        ``n_b``, ``events_a``, ``events_b`` (int), ``test_statistic`` (chi-square, 1 df),
        ``p_value`` (unadjusted, :func:`lifelines.statistics.logrank_test`), ``p_adjusted``,
        ``correction`` (str).

    Raises
    ------
    ValueError
        Fewer than 2 groups, unknown correction, missing columns.
    """
    if correction not in CORRECTIONS:
        raise ValueError(f"Unknown correction {correction!r}; use one of {list(CORRECTIONS)}.")
    data, _ = clean_survival(df, group_col)
    groups = _groups(data, group_col)
    if len(groups) < 2:
        raise ValueError(f"Pairwise tests need at least 2 groups in {group_col!r}.")
    rows = []
    for i in range(len(groups)):
        for j in range(i + 1, len(groups)):
            (la, a), (lb, b) = groups[i], groups[j]
            res = logrank_test(a["time_days"], b["time_days"], a["event"], b["event"])
            rows.append(
                {
                    "group_a": la, "group_b": lb, "n_a": len(a), "n_b": len(b),
                    "events_a": int(a["event"].sum()), "events_b": int(b["event"].sum()),
                    "test_statistic": float(res.test_statistic), "p_value": float(res.p_value),
                }
            )
    out = pd.DataFrame(rows)
    out["p_adjusted"] = adjust_pvalues(out["p_value"], correction)
    out["correction"] = correction
    return out


# --------------------------------------------------------------------------------------------
# Table times and the whole analysis
# --------------------------------------------------------------------------------------------
def default_at_risk_times(max_days: float, unit: str = "days", n_max: int = 10) -> list[float]:
    """Round-numbered times (returned in **days**) for the at-risk table and x-axis ticks.

    The step is a "nice" number in the display ``unit`` (1, 2 or 5 x 10^k; for months 2, 3,
    6, 12, 24... months) giving at most ``n_max`` intervals from 0 to ``max_days``.

    Parameters
    ----------
    max_days : float
        Longest follow-up, days.
    unit : str
        Display unit (:data:`UNITS`).
    n_max : int
        Most intervals.

    Returns
    -------
    list of float
        Times in days, starting at 0 (``[0.0]`` for a non-positive span).

    Raises
    ------
    ValueError
        Unknown unit.
    """
    per = check_unit(unit)
    span = max(float(max_days), 0.0) / per
    if not np.isfinite(span) or span <= 0:
        return [0.0]
    raw = span / max(n_max, 1)
    if unit == "months" and raw > 1:
        # whole quarters / half-years / years read better than 2.5 or 5 months
        step = next((m for m in (2, 3, 6, 12, 24, 36, 48, 60, 120) if m >= raw), None)
    else:
        step = None
    if step is None:
        mag = 10 ** math.floor(math.log10(raw))
        step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    ticks = np.arange(0.0, span + 1e-9, step)
    return [float(x * per) for x in ticks]


def parse_times(text: str, unit: str) -> list[float] | None:
    """Comma / semicolon / space separated times in ``unit`` -> sorted unique days.

    Parameters
    ----------
    text : str
        E.g. ``"0, 1, 2, 5"``.
    unit : str
        Display unit of the numbers (:data:`UNITS`).

    Returns
    -------
    list of float or None
        Days; None when ``text`` holds no number.

    Raises
    ------
    ValueError
        A part that is not a number, a negative or non-finite time, or an unknown unit.
    """
    per = check_unit(unit)
    parts = [p for p in text.replace(";", ",").replace(" ", ",").split(",") if p.strip()]
    if not parts:
        return None
    vals = sorted({float(p) for p in parts})
    if any(v < 0 or not math.isfinite(v) for v in vals):
        raise ValueError("times must be >= 0")
    return [v * per for v in vals]


def km_analysis(data: pd.DataFrame, group_col: str | None = None, unit: str = "days",
                at_risk_times: Iterable[float] | None = None, correction: str = "holm") -> KMAnalysis:
    """Every statistic shown for one Kaplan-Meier selection, computed once.

    Parameters
    ----------
    data : pandas.DataFrame
        Cohort frame: ``time_days`` (days), ``event`` (0/1), ``group_col``.
    group_col : str, optional
        Grouping column; None = one curve of all patients.
    unit : str
        Display unit, only used for the default table times (:func:`default_at_risk_times`).
    at_risk_times : iterable of float, optional
        Table times in days.
    correction : {"holm", "bh"}
        Correction of the pairwise tests (3+ groups).

    Returns
    -------
    KMAnalysis
        Curves (:func:`km_curves`), the :func:`at_risk_table`, :func:`median_survival`,
        :func:`logrank` (None with ``logrank_error`` when not applicable, e.g. one group; None
        without ``group_col``) and :func:`pairwise_logrank` for 3+ groups.

    Raises
    ------
    ValueError
        Missing columns, unknown unit or correction, invalid table times, or no row with time,
        event (and group).
    """
    check_unit(unit)
    if correction not in CORRECTIONS:
        raise ValueError(f"Unknown correction {correction!r}; use one of {list(CORRECTIONS)}.")
    clean, n_dropped = clean_survival(data, group_col)
    if clean.empty:
        raise ValueError("No rows with time_days, event" + (f" and {group_col}" if group_col else "") + ".")
    max_days = float(clean["time_days"].max())
    times = (default_at_risk_times(max_days, unit) if at_risk_times is None
             else [float(t) for t in at_risk_times])
    out = KMAnalysis(
        group_col=group_col, curves=km_curves(clean, group_col),
        at_risk=at_risk_table(clean, times, group_col), median=median_survival(data, group_col),
        at_risk_times_days=times, n=int(len(clean)), n_dropped=n_dropped, max_days=max_days,
        correction=correction,
    )
    if group_col is not None:
        try:
            out.logrank = logrank(clean, group_col)
        except ValueError as exc:
            out.logrank_error = str(exc)
        else:
            if out.logrank.n_groups >= 3:
                out.pairwise = pairwise_logrank(clean, group_col, correction)
    return out
