"""Display tables of survival results: formatted frames for ``st.dataframe`` and CSV export.

Each function takes a result (a frame from :mod:`model.survival.km`, the dict of
:func:`model.survival.validation.validate_risk`) and returns a :class:`pandas.DataFrame` of
display values. Nothing is estimated here. No Streamlit, torch or Plotly.
"""

from __future__ import annotations

import math

import pandas as pd

from model.survival.km import check_unit

__all__ = [
    "format_days",
    "format_p",
    "summary_table",
    "median_table",
    "at_risk_display",
    "pairwise_display",
    "validation_table",
    "differences_table",
    "ph_table",
]


def format_days(days: float | None, unit: str) -> str:
    """A time in days shown in ``unit`` with one decimal; ``"not reached"`` for inf, ``"n/a"``
    for None / NaN.

    Parameters
    ----------
    days : float or None
        Days.
    unit : str
        Display unit (:data:`model.survival.km.UNITS`).

    Returns
    -------
    str

    Raises
    ------
    ValueError
        Unknown unit.
    """
    per = check_unit(unit)
    if days is None or (isinstance(days, float) and math.isnan(days)):
        return "n/a"
    if math.isinf(days):
        return "not reached"
    return f"{days / per:.1f}"


def format_p(p: float) -> str:
    """A p-value as ``"< 0.0001"`` or with 4 decimals.

    Parameters
    ----------
    p : float

    Returns
    -------
    str
    """
    return "< 0.0001" if p < 1e-4 else f"{p:.4f}"


def summary_table(at_risk: pd.DataFrame, medians: pd.DataFrame) -> pd.DataFrame:
    """Join an at-risk table with a median-survival table for export.

    Parameters
    ----------
    at_risk : pandas.DataFrame
        :func:`model.survival.km.at_risk_table` output.
    medians : pandas.DataFrame
        :func:`model.survival.km.median_survival` output.

    Returns
    -------
    pandas.DataFrame
        One row per (group, time) with the at-risk columns followed by the group's
        ``n_total``, ``events_total``, ``median_days``, ``ci_lower_days``, ``ci_upper_days``
        (days; ``inf`` = not reached).

    Raises
    ------
    ValueError
        A ``group`` column is missing.
    """
    if "group" not in at_risk.columns or "group" not in medians.columns:
        raise ValueError("Both tables need a 'group' column.")
    med = medians.rename(columns={"n": "n_total", "events": "events_total"})
    return at_risk.merge(med, on="group", how="left")


def median_table(med: pd.DataFrame, unit: str) -> pd.DataFrame:
    """Median survival for display: ``group``, ``n``, ``events``, ``median (unit)`` and the 95%
    CI bounds in ``unit`` (:func:`format_days`).

    Parameters
    ----------
    med : pandas.DataFrame
        :func:`model.survival.km.median_survival` output.
    unit : str
        Display unit.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    ValueError
        Unknown unit.
    """
    return pd.DataFrame(
        {
            "group": med["group"],
            "n": med["n"],
            "events": med["events"],
            f"median ({unit})": [format_days(v, unit) for v in med["median_days"]],
            f"95% CI lower ({unit})": [format_days(v, unit) for v in med["ci_lower_days"]],
            f"95% CI upper ({unit})": [format_days(v, unit) for v in med["ci_upper_days"]],
        }
    )


def at_risk_display(risk: pd.DataFrame, unit: str) -> pd.DataFrame:
    """The at-risk table with the time also in ``unit``: ``group``, ``time (unit)`` (2
    decimals), ``time_days``, ``at_risk``, ``events``, ``censored``.

    Parameters
    ----------
    risk : pandas.DataFrame
        :func:`model.survival.km.at_risk_table` output.
    unit : str

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    ValueError
        Unknown unit.
    """
    per = check_unit(unit)
    show = risk.assign(**{f"time ({unit})": (risk["time_days"] / per).round(2)})
    return show[["group", f"time ({unit})", "time_days", "at_risk", "events", "censored"]]


def pairwise_display(pw: pd.DataFrame) -> pd.DataFrame:
    """Pairwise log-rank table with formatted p-values (:func:`format_p`), without the
    ``correction`` column.

    Parameters
    ----------
    pw : pandas.DataFrame
        :func:`model.survival.km.pairwise_logrank` output.

    Returns
    -------
    pandas.DataFrame
    """
    return pw.assign(p_value=pw["p_value"].map(format_p),
                     p_adjusted=pw["p_adjusted"].map(format_p)).drop(columns=["correction"])


def _time_label(t: float, unit: str, per: float) -> str:
    v = t / per
    return f"{v:g} {unit[:-1] if abs(v - 1) < 1e-9 else unit}"


def validation_table(result: dict, unit: str = "years") -> pd.DataFrame:
    """Flatten :func:`model.survival.validation.validate_risk` output to one row per model.

    Parameters
    ----------
    result : dict
        ``validate_risk`` output.
    unit : str
        Unit of the horizon labels.

    Returns
    -------
    pandas.DataFrame
        ``model``, ``description``, ``Harrell C (95% CI)``, ``Uno C (95% CI)``, ``AUC at <t>``
        per horizon (each "0.71 (0.55-0.85)") and ``S(<t>) predicted / observed`` per horizon.

    Raises
    ------
    ValueError
        Unknown unit.
    """
    per = check_unit(unit)

    def fmt(d: dict) -> str:
        if d.get("estimate") is None:
            return "n/a"
        lo, hi = d.get("ci_lower"), d.get("ci_upper")
        return f"{d['estimate']:.2f}" + (f" ({lo:.2f}-{hi:.2f})" if lo is not None and hi is not None else "")

    rows = []
    for name, m in result["models"].items():
        row = {"model": name, "description": m["description"],
               "Harrell C (95% CI)": fmt(m["harrell_c"]), "Uno C (95% CI)": fmt(m["uno_c"])}
        for a in m["auc"]:
            row[f"AUC at {_time_label(a['time_days'], unit, per)}"] = fmt(a)
        for c in m["calibration"]:
            obs = "n/a" if c["observed"] is None else f"{c['observed']:.2f}"
            row[f"S({_time_label(c['time_days'], unit, per)}) predicted / observed"] = (
                f"{c['predicted_mean']:.2f} / {obs}")
        rows.append(row)
    return pd.DataFrame(rows)


def differences_table(result: dict) -> pd.DataFrame:
    """Paired C-index differences of ``validate_risk`` output, one row per comparison.

    Parameters
    ----------
    result : dict
        ``validate_risk`` output.

    Returns
    -------
    pandas.DataFrame
        ``comparison`` ("image - age", ...) and the Harrell / Uno C difference as
        "+0.05 (-0.10 to +0.20)" (95% CI).
    """
    names = {"harrell_c": "Harrell C", "uno_c": "Uno C"}

    def fmt(d: dict) -> str:
        if d["estimate"] is None:
            return "n/a"
        if d["ci_lower"] is None:
            return f"{d['estimate']:+.2f}"
        return f"{d['estimate']:+.2f} ({d['ci_lower']:+.2f} to {d['ci_upper']:+.2f})"

    return pd.DataFrame([
        {"comparison": k.replace("_minus_", " - "),
         **{f"{names[m]} difference (95% CI)": fmt(d[m]) for m in names}}
        for k, d in result["differences"].items()
    ])


def ph_table(result: dict) -> pd.DataFrame:
    """Proportional-hazards tests of ``validate_risk`` output (lifelines
    ``proportional_hazard_test`` on the training fits).

    Parameters
    ----------
    result : dict
        ``validate_risk`` output.

    Returns
    -------
    pandas.DataFrame
        ``model``, ``term``, ``test_statistic``, ``p_value``; empty if none.
    """
    return pd.DataFrame([{"model": name, **r} for name, m in result["models"].items()
                         for r in m["ph_test"]])
