"""Inputs of the clinical prognosis: what a clinician enters, read into the model's codes, and
the scope check (who the model speaks for). No torch, no plotly, no streamlit.

See :mod:`model.survival.clinical` for the table of keys and values; this module holds
:data:`INPUTS` (input -> design columns), :func:`normalise_patient`, :func:`scope`,
:func:`cohort_inputs` (cohort-schema frame -> model codes) and the design encoding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from model.core.errors import TumorBoardError

__all__ = ["INPUTS", "OPTIONAL_INPUTS", "OutOfScopeError", "Scope", "default_input_sets",
           "normalise_patient", "scope", "cohort_inputs", "design"]

#: input -> design columns (reference level omitted).
INPUTS: dict[str, tuple[str, ...]] = {
    "age_years": ("age_years",),
    "sex": ("sex_male",),
    "grade": ("grade_3", "grade_4"),
    "idh": ("idh_wildtype",),
    "codeletion_1p19q": ("codeleted_1p19q",),
    "mgmt": ("mgmt_unmethylated",),
    "resection": ("resection_STR", "resection_biopsy"),
}
OPTIONAL_INPUTS = ("sex", "grade", "idh", "codeletion_1p19q", "mgmt", "resection")
_LEVELS = {
    "sex": ("female", "male"), "grade": (2, 3, 4), "idh": ("mutant", "wildtype"),
    "codeletion_1p19q": ("intact", "codeleted"), "mgmt": ("methylated", "unmethylated"),
    "resection": ("GTR", "STR", "biopsy"),
}
_MISSING = {"", "unknown", "not given", "na", "n/a", "nan", "none", "not available", "not tested"}
_COVERED_TYPES = {
    "diffuse glioma": None, "glioma": None, "adult diffuse glioma": None, "lgg": None,
    "lower-grade glioma": None, "glioblastoma": 4, "gbm": 4, "hgg": None, "astrocytoma": None,
    "oligodendroglioma": None, "oligoastrocytoma": None, "high-grade glioma": None,
}
_REFUSED_TYPES = {
    "metastasis": "brain metastases", "metastases": "brain metastases",
    "brain metastasis": "brain metastases", "met": "brain metastases",
    "meningioma": "meningioma", "pituitary": "pituitary tumours", "pituitary adenoma": "pituitary tumours",
    "lymphoma": "CNS lymphoma", "medulloblastoma": "medulloblastoma", "ependymoma": "ependymoma",
    "pilocytic astrocytoma": "pilocytic astrocytoma (WHO grade 1)", "schwannoma": "schwannoma",
    "no tumour": "scans without a tumour", "no tumor": "scans without a tumour",
}
_WHO_SCOPE = "adult (>= 18 years) diffuse glioma, WHO CNS grade 2-4"


class OutOfScopeError(TumorBoardError, ValueError):
    """The patient is outside the populations the model's cohorts cover (``reason``: one line)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Scope:
    """Whether the model speaks for a patient: ``covered`` and a one-line ``reason`` if not."""

    covered: bool
    reason: str = ""


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------
def default_input_sets() -> list[tuple[str, ...]]:
    """Age plus every combination of sex, grade, IDH, MGMT, resection; 1p/19q only with IDH.

    Returns 48 tuples in :data:`INPUTS` order, smallest first.
    """
    base = ("sex", "grade", "idh", "mgmt", "resection")
    sets = []
    for k in range(len(base) + 1):
        for combo in combinations(base, k):
            sets.append(("age_years", *combo))
            if "idh" in combo:
                sets.append(("age_years", *combo, "codeletion_1p19q"))
    order = list(INPUTS)
    return sorted({tuple(sorted(s, key=order.index)) for s in sets}, key=lambda s: (len(s), [order.index(x) for x in s]))


def _text(v: object) -> str | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    t = str(v).strip().lower()
    return None if t in _MISSING else t


def _grade(v: object) -> int | None:
    t = _text(v)
    if t is None:
        return None
    t = t.replace("who", "").replace("cns", "").replace("grade", "").replace("g", "").strip()
    roman = {"i": 1, "ii": 2, "iii": 3, "iv": 4}
    if t in roman:
        return roman[t]
    try:
        g = float(t)
    except ValueError:
        raise ValueError(f"WHO grade {v!r} not understood: give 2, 3 or 4 (or II, III, IV).") from None
    if g != int(g) or int(g) not in (1, 2, 3, 4):
        raise ValueError(f"WHO grade {v!r} not understood: give 2, 3 or 4.")
    return int(g)


_SYN = {
    "sex": {"f": "female", "female": "female", "woman": "female", "m": "male", "male": "male", "man": "male"},
    "idh": {"mutant": "mutant", "mutated": "mutant", "mut": "mutant", "idh-mutant": "mutant",
            "wildtype": "wildtype", "wild-type": "wildtype", "wt": "wildtype", "wild type": "wildtype",
            "idh-wildtype": "wildtype"},
    "codeletion_1p19q": {"codeleted": "codeleted", "co-deleted": "codeleted", "codeletion": "codeleted",
                         "co-deletion": "codeleted", "deleted": "codeleted", "intact": "intact",
                         "non-codeleted": "intact", "not codeleted": "intact"},
    "mgmt": {"methylated": "methylated", "positive": "methylated", "unmethylated": "unmethylated",
             "not methylated": "unmethylated", "negative": "unmethylated"},
    "resection": {"gtr": "GTR", "gross total": "GTR", "gross total resection": "GTR", "str": "STR",
                  "subtotal": "STR", "subtotal resection": "STR", "partial": "STR", "biopsy": "biopsy"},
}
_ALIASES = {"age": "age_years", "1p19q": "codeletion_1p19q", "1p/19q": "codeletion_1p19q",
            "eor": "resection", "extent_of_resection": "resection", "kps": "karnofsky",
            "who_grade": "grade", "tumor_type": "tumour_type", "type": "tumour_type",
            "gender": "sex", "idh_status": "idh", "mgmt_status": "mgmt"}


def normalise_patient(patient: dict) -> tuple[dict, dict]:
    """Given values in the model's codes, and the keys that cannot be used.

    Parameters
    ----------
    patient : dict
        See the module docstring for keys and values (aliases such as ``age``, ``1p19q``,
        ``eor``, ``kps`` are accepted).

    Returns
    -------
    values : dict
        ``age_years`` float, ``sex`` / ``idh`` / ``codeletion_1p19q`` / ``mgmt`` /
        ``resection`` str, ``grade`` int; only inputs given.
    ignored : dict
        key -> reason, for keys no model uses (Karnofsky, unknown keys).

    Raises
    ------
    ValueError
        A value that cannot be read (e.g. ``idh="maybe"``, a negative age).
    """
    values, ignored = {}, {}
    for key, v in patient.items():
        k = _ALIASES.get(str(key).strip().lower(), str(key).strip().lower())
        if k == "tumour_type":
            continue
        if k == "age_years":
            if _text(v) is None:
                continue
            try:
                a = float(v)
            except (TypeError, ValueError):
                raise ValueError(f"Age {v!r} is not a number of years.") from None
            if not 0 <= a <= 120:
                raise ValueError(f"Age {a:g} years is not plausible (0-120).")
            values[k] = a
        elif k == "grade":
            g = _grade(v)
            if g is not None:
                values[k] = g
        elif k in _SYN:
            t = _text(v)
            if t is None:
                continue
            if t not in _SYN[k]:
                raise ValueError(f"{k} {v!r} not understood: use one of {sorted(set(_SYN[k].values()))}.")
            values[k] = _SYN[k][t]
        elif k == "karnofsky":
            if _text(v) is not None:
                ignored[k] = "no training cohort of diffuse glioma records Karnofsky with survival"
        elif _text(v) is not None:
            ignored[k] = "not an input of this model"
    t = _text(patient.get("tumour_type", patient.get("tumor_type", patient.get("type"))))
    if "grade" not in values and t is not None and _COVERED_TYPES.get(t):
        values["grade"] = _COVERED_TYPES[t]
    return values, ignored


def scope(patient: dict) -> Scope:
    """Whether the model covers ``patient`` (adult diffuse glioma, WHO CNS grade 2-4).

    Refused (``covered=False``, one-line ``reason``): a tumour type that is not a diffuse
    glioma (metastasis, meningioma, ...), an unrecognised or absent tumour type, age < 18
    (paediatric), WHO grade 1, no age, contradictions (glioblastoma with grade 2-3, 1p/19q
    co-deletion with IDH wildtype). Values that cannot be read raise ValueError (see
    :func:`normalise_patient`).
    """
    t = _text(patient.get("tumour_type", patient.get("tumor_type", patient.get("type"))))
    if t is None:
        return Scope(False, f"Tumour type not given: this model covers only {_WHO_SCOPE}.")
    if t in _REFUSED_TYPES:
        return Scope(False, f"Outside what this model covers: {_REFUSED_TYPES[t]} (it covers {_WHO_SCOPE}).")
    if t not in _COVERED_TYPES:
        return Scope(False, f"Outside what this model covers: unknown tumour type {t!r} (it covers {_WHO_SCOPE}).")
    values, _ = normalise_patient(patient)
    if "age_years" not in values:
        return Scope(False, "Age is needed: every model here uses age at diagnosis.")
    if values["age_years"] < 18:
        return Scope(False, f"Outside what this model covers: paediatric patient (age {values['age_years']:g}); "
                            f"it covers {_WHO_SCOPE}.")
    if values.get("grade") == 1:
        return Scope(False, f"Outside what this model covers: WHO grade 1 (it covers {_WHO_SCOPE}).")
    if t in ("glioblastoma", "gbm") and values.get("grade") not in (None, 4):
        return Scope(False, f"Contradictory inputs: glioblastoma is WHO grade 4, grade {values['grade']} was given.")
    if values.get("codeletion_1p19q") == "codeleted" and values.get("idh") == "wildtype":
        return Scope(False, "Contradictory inputs: 1p/19q co-deletion with IDH wildtype (WHO 2021 requires IDH mutation).")
    return Scope(True)


def cohort_inputs(df: pd.DataFrame) -> pd.DataFrame:
    """A cohort frame of :mod:`model.survival.cohorts` schema -> this model's input codes.

    ``grade`` "WHO II/III/IV" -> 2/3/4; ``codeletion_1p19q`` "co-deleted" -> "codeleted",
    "relative co-deletion" -> NaN; other inputs kept (already "female"/"male", "mutant"/
    "wildtype", "methylated"/"unmethylated", "GTR"/"STR"/"biopsy"). Returns ``time_days``,
    ``event`` and every input column present.
    """
    out = pd.DataFrame({"time_days": df["time_days"].astype(float), "event": df["event"].astype(int)},
                       index=df.index)
    for k in INPUTS:
        if k not in df.columns:
            continue
        col = df[k]
        if k == "grade":
            col = col.map(lambda v: _grade(v) if _text(v) is not None else np.nan)
        elif k == "codeletion_1p19q":
            col = col.map(lambda v: {"co-deleted": "codeleted", "codeleted": "codeleted",
                                     "intact": "intact"}.get(_text(v) or "", np.nan))
        elif k == "age_years":
            col = pd.to_numeric(col, errors="coerce").astype(float)
        else:
            col = col.map(lambda v, k=k: _SYN[k].get(_text(v) or "", np.nan))
        out[k] = col
    return out


def _design(values: pd.DataFrame, inputs: tuple[str, ...]) -> pd.DataFrame:
    """Input codes -> numeric design columns of ``inputs`` (NaN where an input is missing)."""
    cols = {}
    for k in inputs:
        v = values[k]
        if k == "age_years":
            cols["age_years"] = v.astype(float)
            continue
        for term in INPUTS[k]:
            level = term.split("_", 1)[1] if k != "codeletion_1p19q" else "codeleted"
            if k == "grade":
                level = int(level)
            cols[term] = np.where(v.isna(), np.nan, (v == level).astype(float))
    return pd.DataFrame(cols, index=values.index)


#: public name of the design encoding (input codes -> numeric Cox design columns).
design = _design
