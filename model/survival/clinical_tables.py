"""Display tables and sentences of the clinical prognosis (results and its model card).

What the Survival and Model pages (and anything else that shows the clinical prognosis) print:
:func:`inputs_sentence` (which inputs were used / ignored, in one sentence), :func:`inputs_table`,
:func:`horizons_table`, :func:`format_median`, :func:`curve_table` (CSV export), and from the
card :func:`cross_cohort_table`, :func:`cv_table`, :func:`anchors_table`,
:func:`calibration_choices` / :func:`calibration_of`. No Streamlit, no Plotly; times in days,
shown in the unit asked for (``days`` / ``months`` / ``years``).
"""

from __future__ import annotations

import pandas as pd

from model.core.units import DAYS_PER_UNIT

__all__ = ["INPUT_LABELS", "input_label", "inputs_sentence", "inputs_table", "horizons_table",
           "format_median", "curve_table", "set_label", "direction_label", "cross_cohort_table",
           "cv_table", "anchors_table", "calibration_choices", "calibration_of", "goals_table",
           "served_sets_table"]

#: model input -> how the pages name it.
INPUT_LABELS = {"age_years": "age", "sex": "sex", "grade": "WHO grade", "idh": "IDH",
                "codeletion_1p19q": "1p/19q", "mgmt": "MGMT", "resection": "extent of resection",
                "karnofsky": "Karnofsky", "tumour_type": "tumour type"}
_COHORT_NAMES = {"ucsf": "UCSF-PDGM", "tcga": "TCGA-CDR", "pooled": "UCSF-PDGM + TCGA-CDR",
                 "image88": "TCGA image patients (LGG)", "lumiere": "LUMIERE (GBM)",
                 "tcga_train": "TCGA-CDR (image patients excluded)"}


def input_label(key: str) -> str:
    """Display name of a model input (``"idh"`` -> ``"IDH"``)."""
    return INPUT_LABELS.get(key, key)


def _join(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def inputs_sentence(result) -> str:
    """One sentence: which inputs the prognosis used and which it ignored, and why.

    ``result`` is a :class:`model.survival.clinical.ClinicalPrognosisResult`. E.g. "Age, sex,
    WHO grade and IDH were used; Karnofsky is not recorded in the fitting cohorts and was
    ignored."
    """
    used = [input_label(k) for k in result.input_set]
    verb = "was" if len(used) == 1 else "were"
    parts = [f"{_cap(_join(used))} {verb} used"]
    ign = dict(result.inputs_ignored)
    if "karnofsky" in ign:
        ign.pop("karnofsky")
        parts.append("Karnofsky is not recorded in the fitting cohorts and was ignored")
    for k, why in ign.items():
        parts.append(f"{input_label(k)} was ignored ({why})")
    return "; ".join(parts) + "."


def inputs_table(result, entered: dict) -> pd.DataFrame:
    """``input``, ``entered``, ``used``, ``note``: every input offered, what the user entered
    ("unknown" when nothing), whether the model used it and why not."""
    rows = []
    for k in ("tumour_type", "age_years", "sex", "grade", "idh", "codeletion_1p19q", "mgmt", "karnofsky",
              "resection"):
        v = entered.get(k)
        given = v not in (None, "", "unknown")
        if k == "tumour_type":
            used, note = given, "decides whether the model covers the patient"
        elif k in result.inputs_used:
            used, note = True, ""
            if not given:
                note = f"taken from the tumour type ({result.inputs_used[k]})"
        elif k in result.inputs_ignored:
            used, note = False, result.inputs_ignored[k]
        else:
            used, note = False, "not given" if not given else ""
        rows.append({"input": input_label(k), "entered": str(v) if given else "unknown", "used": bool(used),
                     "note": note})
    return pd.DataFrame(rows)


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}%"


def horizons_table(result) -> pd.DataFrame:
    """``horizon``, ``survival``, ``95% band`` of the result's 1/2/5-year survival (strings)."""
    return pd.DataFrame([{"horizon": f"{a.years:g} year{'s' if a.years != 1 else ''}",
                          "survival": _pct(a.survival),
                          "95% band": "beyond follow-up" if a.survival is None else f"{_pct(a.lower)}-{_pct(a.upper)}"}
                         for a in result.survival_at])


def _days(d, unit: str) -> str:
    if d is None:
        return "not reached"
    v = d / DAYS_PER_UNIT[unit]
    return f"{v:.0f}" if unit == "days" else f"{v:.1f}"


def format_median(result, unit: str = "years") -> str:
    """The median survival and its CI in ``unit``, e.g. "1.4 years (95% CI 1.2-1.6)"; "not
    reached within 17.6 years of follow-up" when S(t) stays above 0.5.

    Raises
    ------
    KeyError
        Unknown unit.
    """
    per = DAYS_PER_UNIT[unit]
    if result.median_days is None:
        return f"not reached within {result.max_followup_days / per:.1f} {unit} of follow-up" if unit != "days" \
            else f"not reached within {result.max_followup_days:.0f} days of follow-up"
    lo, hi = result.median_ci_days
    return f"{_days(result.median_days, unit)} {unit} (95% CI {_days(lo, unit)}-{_days(hi, unit)})"


def curve_table(result, unit: str = "days") -> pd.DataFrame:
    """The individual curve for CSV export: time in ``unit``, ``survival``, ``lower``, ``upper``."""
    return pd.DataFrame({f"time_{unit}": result.time_days / DAYS_PER_UNIT[unit], "survival": result.survival,
                         "lower_95": result.lower, "upper_95": result.upper})


# --------------------------------------------------------------------------------------------
# The model card
# --------------------------------------------------------------------------------------------
def set_label(set_key: str) -> str:
    """``"age_years+sex+grade"`` -> ``"age + sex + WHO grade"``."""
    return " + ".join(input_label(k) for k in str(set_key).split("+"))


def direction_label(direction: str) -> str:
    """``"ucsf_to_tcga"`` -> ``"UCSF-PDGM -> TCGA-CDR"``."""
    a, _, b = str(direction).partition("_to_")
    return f"{_COHORT_NAMES.get(a, a)} \u2192 {_COHORT_NAMES.get(b, b)}"


def _ci(v, ci) -> str:
    if v is None:
        return "n/a"
    if not ci or ci[0] is None:
        return f"{v:.3f}"
    return f"{v:.3f} ({ci[0]:.3f}-{ci[1]:.3f})"


def _row(set_key: str, direction: str, m: dict) -> dict:
    auc = m.get("auc") or {}
    slope = m.get("calibration_slope") or {}
    return {"inputs": set_label(set_key), "trained \u2192 tested": direction_label(direction),
            "patients": m.get("n"), "deaths": m.get("events"),
            "Harrell C (95% CI)": _ci(m.get("harrell_c"), m.get("harrell_c_ci95")),
            "Uno C (95% CI)": _ci(m.get("uno_c"), m.get("uno_c_ci95")),
            "AUC 1y": _ci(auc.get("1y"), None), "AUC 2y": _ci(auc.get("2y"), None),
            "AUC 5y": _ci(auc.get("5y"), None),
            "calibration slope (95% CI)": _ci(slope.get("slope"), slope.get("ci95"))}


def cross_cohort_table(card: dict) -> pd.DataFrame:
    """Every trained-on-one, tested-on-another validation of the card, one row each (age only
    first, so each set sits next to the age-only baseline of the same direction), then the
    served model on the held-out image patients and the rich (molecular) sets on LUMIERE."""
    val = card.get("validation") or {}
    rows = []
    cc = val.get("cross_cohort") or {}
    directions = []
    for per_set in cc.values():
        directions += [d for d in per_set if d not in directions]
    for d in directions:
        for s, per_set in cc.items():
            if d in per_set:
                rows.append(_row(s, d, per_set[d]))
    served = val.get("served_on_image88")
    if served:
        r = _row("+".join(served.get("inputs", [])), "served_to_image88", served)
        r["trained \u2192 tested"] = "served model \u2192 TCGA image patients (LGG)"
        rows.append(r)
    for s, per_set in (val.get("ucsf_rich_sets_on_lumiere") or {}).items():
        for d, m in per_set.items():
            rows.append(_row(s, d, m))
    return pd.DataFrame(rows)


def cv_table(card: dict, cohort: str = "ucsf") -> pd.DataFrame:
    """The card's 5 x 5-fold cross-validation within one cohort: ``inputs``, mean C (sd),
    age-only C on the same patients, the difference with its fold range."""
    cv = ((card.get("validation") or {}).get("cv_5x5") or {}).get(cohort) or {}
    rows = []
    for s, m in cv.items():
        rng = m.get("delta_vs_age_fold_range95") or [None, None]
        rows.append({"inputs": set_label(s), "C (mean \u00b1 sd over folds)": f"{m['mean']:.3f} \u00b1 {m['sd']:.3f}",
                     "age only, same patients": f"{m.get('age_only_same_patients', float('nan')):.3f}",
                     "difference to age only (fold range)": (
                         f"{m.get('delta_vs_age_mean', 0):+.3f}" + (f" ({rng[0]:+.3f} to {rng[1]:+.3f})"
                                                                    if rng[0] is not None else ""))})
    return pd.DataFrame(rows)


def anchors_table(card: dict) -> pd.DataFrame:
    """Published anchors of the card: ``what``, ``C-index``, ``source``."""
    rows = []
    for a in card.get("anchors") or []:
        c = a.get("c_index")
        if c is None and a.get("c_index_range"):
            lo, hi = a["c_index_range"]
            c = f"{lo:.2f}-{hi:.2f}"
        elif c is not None:
            c = f"{c:.2f}"
        rows.append({"what": a.get("what", ""), "C-index": c, "source": a.get("source", "")})
    return pd.DataFrame(rows)


def calibration_choices(card: dict) -> list[tuple[str, str]]:
    """``(set_key, direction)`` of every validation in the card with a calibration at 1, 2, 5
    years (``direction`` ``"served_to_image88"`` for the served model on the image patients)."""
    val = card.get("validation") or {}
    out = [(s, d) for s, per in (val.get("cross_cohort") or {}).items() for d, m in per.items()
           if m.get("calibration")]
    served = val.get("served_on_image88") or {}
    if served.get("calibration"):
        out.append(("+".join(served.get("inputs", [])), "served_to_image88"))
    return out


def calibration_of(card: dict, set_key: str, direction: str) -> list[dict]:
    """The calibration list (``years``, ``groups`` of ``predicted`` / ``observed`` /
    ``observed_ci95``) of one validation; [] when the card has none."""
    val = card.get("validation") or {}
    if direction == "served_to_image88":
        return list((val.get("served_on_image88") or {}).get("calibration") or [])
    return list(((val.get("cross_cohort") or {}).get(set_key) or {}).get(direction, {}).get("calibration") or [])


_GOALS = {"image88_c_ge_0.82": ("Harrell C >= 0.82 on the held-out image patients", ("image88_c", "image88_c_ci95")),
          "cross_cohort_c_ge_0.78": ("Harrell C >= 0.78 across cohorts, both ways",
                                     ("ucsf_to_tcga_c", "tcga_to_ucsf_c")),
          "cross_cohort_calibration_slope_0.8_1.2": ("calibration slope 0.8-1.2 across cohorts, both ways",
                                                     ("ucsf_to_tcga_calibration_slope", "tcga_to_ucsf_calibration_slope")),
          "image88_calibration_slope_0.8_1.2": ("calibration slope 0.8-1.2 on the image patients",
                                                ("image88_calibration_slope",))}


def goals_table(card: dict) -> pd.DataFrame:
    """The issue's goals as the card reports them: ``goal``, ``met``, ``measured``."""
    met = (card.get("goals") or {}).get("met") or {}
    vals = met.get("values") or {}
    rows = []
    for k, ok in met.items():
        if k == "values":
            continue
        what, keys = _GOALS.get(k, (k, ()))
        shown = []
        for vk in keys:
            v = vals.get(vk)
            if isinstance(v, dict):
                shown.append(_ci(v.get("slope"), v.get("ci95")))
            elif isinstance(v, (int, float)) and not vk.endswith("ci95"):
                ci = vals.get(vk + "95") if vk + "95" in vals else vals.get(vk + "_ci95")
                shown.append(_ci(v, ci))
        label = {"ucsf_to_tcga": "UCSF\u2192TCGA", "tcga_to_ucsf": "TCGA\u2192UCSF"}
        if len(keys) == 2 and len(shown) == 2:
            shown = [f"{label[keys[0][:12]]} {shown[0]}", f"{label[keys[1][:12]]} {shown[1]}"]
        rows.append({"goal": what, "met": "yes" if ok else "no", "measured": "; ".join(shown)})
    return pd.DataFrame(rows)


def served_sets_table(card: dict) -> pd.DataFrame:
    """Every served input set: ``inputs``, ``fitted on``, ``patients``, ``deaths``, ``C (95% CI)``,
    ``how measured``."""
    rows = []
    for s in card.get("served_sets") or []:
        c = s.get("c_index") or {}
        rows.append({"inputs": set_label("+".join(s.get("inputs", []))), "fitted on": s.get("cohort", ""),
                     "patients": s.get("n"), "deaths": s.get("events"),
                     "C (95% CI)": _ci(c.get("value"), c.get("ci95")), "how measured": c.get("how", "")})
    return pd.DataFrame(rows)
