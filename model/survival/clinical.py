"""Clinical-molecular prognosis of an adult diffuse glioma: one Cox model per set of inputs.

No torch, no plotly, no streamlit: lifelines, numpy, pandas, :mod:`model.core` and the input
reading / scope check of :mod:`model.survival.clinical_inputs` only.

What a clinician enters (``patient`` dict; every key optional except ``age_years`` and
``tumour_type``, a value of None / "" / "unknown" counts as not given):

================== =========================================================================
key                values
================== =========================================================================
tumour_type        "diffuse glioma", "glioma", "glioblastoma", "astrocytoma",
                   "oligodendroglioma", "oligoastrocytoma", "LGG", "GBM" (covered) --
                   "metastasis", "meningioma", "pituitary", "lymphoma", ... (refused)
age_years          years at diagnosis, >= 18 (a child is refused)
sex                "female" / "male"
grade              WHO CNS grade 2 / 3 / 4 (also "II", "WHO III", "G4"); grade 1 is refused.
                   Absent but ``tumour_type`` "glioblastoma" / "GBM": grade 4 is taken from it.
idh                "mutant" / "wildtype"
codeletion_1p19q   "codeleted" / "intact" (used only together with ``idh``)
mgmt               "methylated" / "unmethylated" (MGMT promoter)
resection          "GTR" / "STR" / "biopsy" (extent of resection)
karnofsky          0-100 -- recorded by no training cohort of diffuse glioma: always ignored
================== =========================================================================

API (what the pages, the PDF and the CLI call)
----------------------------------------------
::

    from model.survival.clinical import OutOfScopeError, load
    model = load()                    # served checkpoint, sha256-checked (CheckpointError)
    model.scope(patient)              # Scope(covered: bool, reason: str) -- never raises for scope
    res = model.predict(patient)      # ClinicalPrognosisResult; OutOfScopeError (.reason), ValueError
    res.inputs_used, res.inputs_ignored, res.training_cohort
    res.time_days, res.survival, res.lower, res.upper        # step curve + 95 % band (days)
    res.survival_at, res.at(3), res.median_days, res.median_ci_days
    res.c_index                       # {"value", "ci95", "how"}: the validated C of the set used
    res.as_dict()                     # JSON-safe (for --json)
    model.card_                       # the model card (validation tables, decision, data)

Times are days everywhere (:data:`model.core.units.DAYS_PER_UNIT` converts for display).

The model
---------
:class:`ClinicalPrognosis` fits, lifelines-style (``fit(df) -> self``, fitted attributes end in
``_``), one Cox proportional-hazards model (lifelines ``CoxPHFitter``, Efron ties, L2
``penalizer`` on standardised covariates) per *input set*: ``age_years`` plus any combination
of sex, grade, IDH, MGMT and resection, with 1p/19q only alongside IDH (48 sets, see
:func:`default_input_sets`). Each set is fitted on the complete cases of its inputs, so a
missing input is never imputed. :meth:`ClinicalPrognosis.predict` uses the largest fitted set
whose inputs the user gave and reports every other input given as ignored, with the reason.

Design (numeric codes; the reference level is 0): ``age_years`` per year; ``sex_male``;
``grade_3``, ``grade_4`` (vs 2); ``idh_wildtype`` (vs mutant); ``codeleted_1p19q`` (vs intact;
"relative co-deletion" of UCSF-PDGM is treated as not given); ``mgmt_unmethylated`` (vs
methylated); ``resection_STR``, ``resection_biopsy`` (vs GTR).

Individual curve and band: Breslow cumulative hazard ``H(t|x) = sum_{t_i <= t} d_i exp(b'(x -
m)) / S0_i`` (exactly lifelines' ``predict_survival_function``) and its variance by Tsiatis
(1981) / Andersen et al. (1993, VII.2.2), as R's ``survfit.coxph``: ``Var H = sum d_i
exp(2 b'(x - m)) / S0_i^2 + q(t)' V q(t)``, ``q(t) = sum d_i exp(b'(x - m)) (x - xbar_i) /
S0_i``, ``V`` lifelines' ``variance_matrix_``. The 95 % band is ``exp(-H exp(+-1.96 se(H) /
H))`` (log cumulative hazard scale = R's ``conf.type = "log-log"``): pointwise, analytic,
deterministic; it reflects the sampling error of the fit, not model misspecification. The
median's CI is where the band crosses 0.5 (Brookmeyer-Crowley style). Survival beyond the
fitting set's longest follow-up is not extrapolated (None).

Checkpoint (``model/checkpoints/prognosis_clinical/``): ``model.json`` (every set's terms,
coefficients, means, variance, risk-set sums and validated C) and ``model_card.json`` holding
``model.json``'s sha256; JSON only, :func:`load` refuses a mismatch with
:class:`model.core.errors.CheckpointError`.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from model.core.config import CHECKPOINTS_DIR
from model.core.errors import CheckpointError
from model.core.jsonio import CARD, json_safe, write_card
from model.core.units import DAYS_PER_YEAR
from model.survival.clinical_inputs import (
    _ALIASES,
    _LEVELS,
    INPUTS,
    OPTIONAL_INPUTS,
    OutOfScopeError,
    Scope,
    _design,
    cohort_inputs,
    default_input_sets,
    normalise_patient,
    scope,
)

__all__ = [
    "CLINICAL_CHECKPOINT", "MODEL_FILE", "INPUTS", "OPTIONAL_INPUTS", "OutOfScopeError",
    "Scope", "SurvivalAt", "ClinicalPrognosisResult", "ClinicalPrognosis", "default_input_sets",
    "normalise_patient", "scope", "cohort_inputs", "load", "sha256_file",
]

#: served checkpoint folder.
CLINICAL_CHECKPOINT: Path = CHECKPOINTS_DIR / "prognosis_clinical"
#: the coefficients / risk-set file of a checkpoint (its sha256 is in the card).
MODEL_FILE = "model.json"
FORMAT = "tumorboard-clinical-cox-1"
_Z = 1.959963984540054

@dataclass(frozen=True)
class SurvivalAt:
    """Survival probability at ``years`` with its 95 % band (None beyond the follow-up)."""

    years: float
    survival: float | None
    lower: float | None
    upper: float | None


@dataclass(frozen=True)
class ClinicalPrognosisResult:
    """One patient's prognosis.

    Attributes
    ----------
    inputs_used : dict
        Normalised value of every input the model used (``age_years`` in years, ``grade`` 2-4...).
    inputs_ignored : dict
        Input name -> why it was not used (one line each).
    input_set : tuple of str
        The fitted model's inputs (= keys of ``inputs_used``).
    training_cohort : str
        Cohort(s) the used model was fitted on.
    n_patients, n_events : int
        Size of that fit.
    time_days, survival, lower, upper : numpy.ndarray
        Step curve S(t) and its pointwise 95 % band at the fitting cohort's event times (days),
        starting at (0, 1); it stops at the last event time of the fit.
    survival_at : tuple of SurvivalAt
        1, 2 and 5 years (365.25 days per year).
    median_days : float or None
        Median survival (None: not reached within the follow-up); ``median_ci_days`` its CI
        (either end None when the band does not cross 0.5).
    max_followup_days : float
        Longest follow-up of the fit: nothing is said beyond it.
    c_index : dict
        Validated concordance of this input set (``value``, ``ci95``, ``how``: where it was
        measured), from the checkpoint card; empty for a model fitted in memory.
    band : str
        How the band was computed (one line).
    notes : tuple of str
        Caveats to show with the numbers (e.g. grade not given).
    """

    inputs_used: dict
    inputs_ignored: dict
    input_set: tuple
    training_cohort: str
    n_patients: int
    n_events: int
    time_days: np.ndarray
    survival: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    survival_at: tuple
    median_days: float | None
    median_ci_days: tuple
    max_followup_days: float
    c_index: dict = field(default_factory=dict)
    band: str = ""
    notes: tuple = ()

    covered: bool = True

    def as_dict(self) -> dict:
        """JSON-safe dict of every field (arrays as lists; NaN -> None), for ``--json`` output."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        for k in ("time_days", "survival", "lower", "upper"):
            out[k] = np.asarray(out[k], float).tolist()
        out["survival_at"] = [vars(a) for a in self.survival_at]
        return json_safe(out)

    def at(self, years: float) -> SurvivalAt:
        """Survival at ``years`` (any horizon) with its band; None values beyond the follow-up."""
        return _at(self.time_days, self.survival, self.lower, self.upper, years, self.max_followup_days)


# --------------------------------------------------------------------------------------------
# One fitted set
# --------------------------------------------------------------------------------------------
@dataclass
class _SetModel:
    inputs: tuple
    terms: list
    coef: np.ndarray
    means: np.ndarray
    variance: np.ndarray
    event_times: np.ndarray
    d: np.ndarray
    s0: np.ndarray
    s1: np.ndarray  # (n_times, p): sum over the risk set of (x - m) exp(b'(x - m))
    n: int
    events: int
    max_followup_days: float
    cohort: str = ""
    c_index: dict = field(default_factory=dict)

    def lp(self, x: np.ndarray) -> np.ndarray:
        """Linear predictor b'(x - m) of design rows ``x`` (n, p)."""
        return (np.asarray(x, float) - self.means) @ self.coef

    def to_json(self) -> dict:
        return {"inputs": list(self.inputs), "terms": self.terms, "coef": self.coef.tolist(),
                "means": self.means.tolist(), "variance": self.variance.tolist(),
                "event_times_days": self.event_times.tolist(), "d": self.d.tolist(),
                "s0": self.s0.tolist(), "s1": self.s1.tolist(), "n": self.n, "events": self.events,
                "max_followup_days": self.max_followup_days, "cohort": self.cohort,
                "c_index": self.c_index}

    @classmethod
    def from_json(cls, j: dict) -> "_SetModel":
        p = len(j["terms"])
        return cls(tuple(j["inputs"]), list(j["terms"]), np.asarray(j["coef"], float),
                   np.asarray(j["means"], float), np.asarray(j["variance"], float).reshape(p, p),
                   np.asarray(j["event_times_days"], float), np.asarray(j["d"], float),
                   np.asarray(j["s0"], float), np.asarray(j["s1"], float).reshape(-1, p),
                   int(j["n"]), int(j["events"]), float(j["max_followup_days"]), j.get("cohort", ""),
                   dict(j.get("c_index") or {}))


def _fit_set(data: pd.DataFrame, inputs: tuple, penalizer: float, cohort: str) -> _SetModel | None:
    from lifelines import CoxPHFitter

    x = _design(data, inputs)
    ok = x.notna().all(axis=1)
    x, t, e = x[ok], data.loc[ok, "time_days"].to_numpy(float), data.loc[ok, "event"].to_numpy(int)
    x = x.loc[:, x.std(ddof=0) > 0]  # a level absent from the data (possible in a CV fold)
    if e.sum() < 2 or x.shape[1] == 0:
        return None
    fr = x.assign(_T=t, _E=e)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cph = CoxPHFitter(penalizer=penalizer).fit(fr, duration_col="_T", event_col="_E")
    terms = list(x.columns)
    b = cph.params_[terms].to_numpy(float)
    m = x.mean().to_numpy(float)
    xc = x.to_numpy(float) - m
    r = np.exp(xc @ b)
    times = np.unique(t[e == 1])
    order = np.argsort(-t, kind="stable")  # risk sets by reverse cumulative sums
    ts, rs, xs = t[order], r[order], (xc * r[:, None])[order]
    cum_r, cum_x = np.cumsum(rs), np.cumsum(xs, axis=0)
    last = np.searchsorted(-ts, -times, side="right") - 1  # last index with T >= time
    s0, s1 = cum_r[last], cum_x[last]
    d = np.array([np.sum((t == u) & (e == 1)) for u in times], float)
    var = cph.variance_matrix_.loc[terms, terms].to_numpy(float)
    return _SetModel(tuple(inputs), terms, b, m, var, times, d, s0, s1, int(len(t)), int(e.sum()),
                     float(t.max()), cohort)


def _at(t, s, lo, hi, years, max_fu) -> SurvivalAt:
    days = years * DAYS_PER_YEAR
    if days > max_fu:
        return SurvivalAt(years, None, None, None)
    i = np.searchsorted(t, days, side="right") - 1
    return SurvivalAt(years, float(s[i]), float(lo[i]), float(hi[i]))


def _first_below(t: np.ndarray, s: np.ndarray, level: float = 0.5) -> float | None:
    idx = np.nonzero(s <= level)[0]
    return float(t[idx[0]]) if idx.size else None


# --------------------------------------------------------------------------------------------
# The fitter
# --------------------------------------------------------------------------------------------
class ClinicalPrognosis:
    """Cox prognosis per input set, fitted and served in lifelines' manner.

    Parameters
    ----------
    input_sets : list of tuple of str, optional
        Input sets to fit (default :func:`default_input_sets`); each must contain ``age_years``.
    penalizer : float
        lifelines ``CoxPHFitter(penalizer=...)`` (L2 on standardised covariates); 0.01 keeps
        rare levels (e.g. 1p/19q co-deletion with few deaths) finite.
    min_events_per_term : float
        A set is fitted only when its complete cases have at least this many deaths per
        design column (else it is left out and its extra inputs are reported as ignored).

    Attributes (after :meth:`fit`)
    ------------------------------
    models_ : dict
        ``frozenset(inputs) -> _SetModel`` (coefficients ``coef``, ``terms``, ``n``, ``events``...).
    cohort_ : str
        Name given to :meth:`fit`.
    card_ : dict
        The checkpoint card when loaded by :func:`load` (else empty).
    """

    def __init__(self, input_sets: list[tuple[str, ...]] | None = None, penalizer: float = 0.01,
                 min_events_per_term: float = 5.0):
        self.input_sets = [tuple(s) for s in (input_sets or default_input_sets())]
        for s in self.input_sets:
            if "age_years" not in s or not set(s) <= set(INPUTS):
                raise ValueError(f"Input set {s} must contain age_years and only {list(INPUTS)}.")
        self.penalizer = float(penalizer)
        self.min_events_per_term = float(min_events_per_term)
        self.card_: dict = {}

    # -- fitting -----------------------------------------------------------------------------
    def fit(self, df: pd.DataFrame, cohort: str = "") -> "ClinicalPrognosis":
        """Fit every input set on the complete cases of its inputs.

        Parameters
        ----------
        df : pandas.DataFrame
            ``time_days`` (days, >= 0), ``event`` (1 death, 0 censored) and input columns in the
            model's codes (see :func:`cohort_inputs` for a cohort-schema frame).
        cohort : str
            Name of the training cohort(s), carried into results.

        Returns
        -------
        ClinicalPrognosis
            self.

        Raises
        ------
        ValueError
            ``time_days`` / ``event`` missing or invalid, or no set could be fitted.
        """
        if not {"time_days", "event"} <= set(df.columns):
            raise ValueError("fit needs time_days (days) and event (1 = death, 0 = censored).")
        if (df["time_days"] < 0).any() or not set(df["event"].unique()) <= {0, 1}:
            raise ValueError("time_days must be >= 0 and event 0/1.")
        self.models_ = {}
        for s in self.input_sets:
            if not set(s) <= set(df.columns):
                continue
            m = _fit_set(df, s, self.penalizer, cohort)
            if m is not None and m.events >= self.min_events_per_term * len(m.terms):
                self.models_[frozenset(s)] = m
        if not self.models_:
            raise ValueError("No input set could be fitted (too few deaths or inputs missing).")
        self.cohort_ = cohort
        return self

    def _check(self) -> None:
        if not getattr(self, "models_", None):
            raise RuntimeError("ClinicalPrognosis is not fitted: call fit() or load().")

    # -- choosing the set --------------------------------------------------------------------
    def choose(self, values: dict) -> tuple[_SetModel, dict]:
        """The largest fitted set within the given inputs, and why each other input is ignored.

        Raises
        ------
        ValueError
            No fitted set fits the inputs (age missing).
        """
        self._check()
        given = {k for k in values if k in INPUTS}
        fits = [m for key, m in self.models_.items() if key <= given]
        if not fits:
            raise ValueError("Age is needed: every fitted model uses age at diagnosis.")
        best = max(fits, key=lambda m: (len(m.inputs), m.events))
        ignored = {}
        for k in sorted(given - set(best.inputs)):
            if k == "codeletion_1p19q" and "idh" not in given:
                ignored[k] = "1p/19q is used only together with IDH (WHO 2021)"
            else:
                ignored[k] = "no fitted model uses it together with the other inputs given"
        return best, ignored

    def risk(self, df: pd.DataFrame, inputs: tuple[str, ...]) -> np.ndarray:
        """Linear predictor (log relative hazard, higher = shorter survival) of each row under
        the model of exactly ``inputs``; NaN where an input is missing.

        Raises
        ------
        KeyError
            No fitted model for ``inputs``.
        """
        m = self._model(inputs)
        x = _design(df, m.inputs)
        full = x.reindex(columns=m.terms)
        return m.lp(full.to_numpy(float))

    def survival_at(self, df: pd.DataFrame, inputs: tuple[str, ...], days: float) -> np.ndarray:
        """Predicted S(``days``) of each row under the model of exactly ``inputs`` (NaN beyond
        the fit's follow-up or where an input is missing)."""
        m = self._model(inputs)
        if days > m.max_followup_days:
            return np.full(len(df), np.nan)
        h0 = float(np.sum((m.d / m.s0)[m.event_times <= days]))
        return np.exp(-h0 * np.exp(self.risk(df, inputs)))

    def _model(self, inputs) -> _SetModel:
        self._check()
        key = frozenset(inputs)
        if key not in self.models_:
            raise KeyError(f"No fitted model for inputs {sorted(key)}.")
        return self.models_[key]

    # -- prediction ----------------------------------------------------------------------------
    def scope(self, patient: dict) -> Scope:
        """See :func:`scope`."""
        return scope(patient)

    def predict(self, patient: dict) -> ClinicalPrognosisResult:
        """The prognosis of one patient from the inputs given (see the module docstring).

        Raises
        ------
        OutOfScopeError
            The patient is outside the covered population (``.reason``, one line).
        ValueError
            An input value cannot be read.
        RuntimeError
            Not fitted.
        """
        sc = scope(patient)
        if not sc.covered:
            raise OutOfScopeError(sc.reason)
        values, ignored_keys = normalise_patient(patient)
        m, ignored = self.choose(values)
        ignored.update(ignored_keys)
        x = _design(pd.DataFrame([values]), m.inputs).reindex(columns=m.terms).to_numpy(float)[0]
        xc = x - m.means
        r = float(np.exp(xc @ m.coef))
        dh = m.d / m.s0
        h = np.cumsum(dh) * r
        var1 = np.cumsum(m.d / m.s0 ** 2) * r * r
        q = np.cumsum(dh[:, None] * (xc[None, :] - m.s1 / m.s0[:, None]), axis=0) * r
        var = var1 + np.einsum("ij,jk,ik->i", q, m.variance, q)
        se = np.sqrt(np.maximum(var, 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            f = np.exp(_Z * se / h)
        t = np.concatenate([[0.0], m.event_times])
        s = np.concatenate([[1.0], np.exp(-h)])
        lo = np.concatenate([[1.0], np.exp(-h * f)])
        hi = np.concatenate([[1.0], np.exp(-h / f)])
        med = _first_below(t, s)
        med_ci = (_first_below(t, lo), _first_below(t, hi))
        notes = []
        stated, _ = normalise_patient({k: v for k, v in patient.items()
                                       if _ALIASES.get(str(k).strip().lower(), str(k).strip().lower()) != "tumour_type"})
        if "grade" in m.inputs and "grade" not in stated:
            notes.append(f"WHO grade {values['grade']} taken from the tumour type given.")
        if "grade" not in m.inputs:
            notes.append("Grade not used: the curve is that of the fitting cohort's mix of grades "
                         "at this age, not of this patient's tumour grade.")
        if values["age_years"] > 90:
            notes.append(f"Age {values['age_years']:g} is at the edge of the fitting cohorts (18-94 years).")
        far = [a.years for a in (_at(t, s, lo, hi, y, m.max_followup_days) for y in (1, 2, 5)) if a.survival is None]
        if far:
            notes.append(f"No estimate beyond the fit's longest follow-up ({m.max_followup_days / DAYS_PER_YEAR:.1f} years).")
        used = {k: values[k] for k in m.inputs}
        return ClinicalPrognosisResult(
            inputs_used=used, inputs_ignored=ignored, input_set=m.inputs, training_cohort=m.cohort,
            n_patients=m.n, n_events=m.events, time_days=t, survival=s, lower=lo, upper=hi,
            survival_at=tuple(_at(t, s, lo, hi, y, m.max_followup_days) for y in (1, 2, 5)),
            median_days=med, median_ci_days=med_ci, max_followup_days=m.max_followup_days,
            c_index=dict(m.c_index),
            band="pointwise 95 % band, Tsiatis variance of the Cox cumulative hazard (log-log scale)",
            notes=tuple(notes))

    # -- serialisation ---------------------------------------------------------------------------
    def to_json(self) -> dict:
        """Every fitted set as JSON-safe dicts (what ``model.json`` holds)."""
        self._check()
        return json_safe({"format": FORMAT, "penalizer": self.penalizer,
                          "min_events_per_term": self.min_events_per_term, "cohort": self.cohort_,
                          "inputs": {k: list(v) for k, v in INPUTS.items()},
                          "levels": {k: list(v) for k, v in _LEVELS.items()},
                          "sets": [m.to_json() for m in self.models_.values()]})

    @classmethod
    def from_json(cls, j: dict) -> "ClinicalPrognosis":
        """Inverse of :meth:`to_json`. Raises CheckpointError for another format."""
        if j.get("format") != FORMAT:
            raise CheckpointError(f"Not a clinical prognosis model (format {j.get('format')!r}).")
        sets = [_SetModel.from_json(s) for s in j["sets"]]
        obj = cls([m.inputs for m in sets], j["penalizer"], j["min_events_per_term"])
        obj.models_ = {frozenset(m.inputs): m for m in sets}
        obj.cohort_ = j.get("cohort", "")
        return obj

    def save(self, folder: Path, card: dict) -> dict:
        """Write ``model.json`` and ``model_card.json`` (with ``model.json``'s sha256) to
        ``folder`` (created). Returns the card written."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / MODEL_FILE).write_text(json.dumps(self.to_json(), allow_nan=False) + "\n")
        return write_card(folder, dict(card, model_file=MODEL_FILE, sha256=sha256_file(folder / MODEL_FILE)))


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load(folder: Path | None = None) -> ClinicalPrognosis:
    """Read a clinical prognosis checkpoint (default :data:`CLINICAL_CHECKPOINT`).

    Raises
    ------
    CheckpointError
        Folder, card or ``model.json`` missing, unreadable, or ``model.json``'s sha256 differs
        from the card's.
    """
    folder = Path(folder or CLINICAL_CHECKPOINT)
    card_path, model_path = folder / CARD, folder / MODEL_FILE
    if not card_path.is_file() or not model_path.is_file():
        raise CheckpointError(f"No clinical prognosis checkpoint in {folder} (needs {CARD} and {MODEL_FILE}; "
                              "train it with python -m training.prognosis).")
    try:
        card = json.loads(card_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{card_path} is not readable JSON ({exc}).") from None
    if card.get("sha256") != sha256_file(model_path):
        raise CheckpointError(f"{model_path} does not match the sha256 in its card (modified or partial copy).")
    model = ClinicalPrognosis.from_json(json.loads(model_path.read_text()))
    model.card_ = card
    return model
