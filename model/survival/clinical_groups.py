"""Risk groups of the clinical prognosis across cohorts, for the tumour board.

A :class:`~model.survival.clinical.ClinicalPrognosis` is fitted on one cohort (e.g. UCSF-PDGM)
with one input set (e.g. age + sex + WHO grade); its linear predictor cut at the *training*
cohort's quantiles gives risk groups; the groups are then applied unchanged to another cohort
(e.g. TCGA-CDR) and compared there by Kaplan-Meier and the log-rank test. Nothing of the test
cohort enters the cut points or the coefficients.

Group convention (the same as :mod:`model.survival.risk`, generalised to ``k`` groups): cut
points are the training cohort's linear-predictor quantiles at ``1/k, ..., (k-1)/k``; a patient
is in group ``j`` = the number of cut points *strictly below* their risk, so a risk equal to a
cut point goes to the lower group. With ``k = 2`` this is exactly
:func:`model.survival.risk.risk_groups` with the training median (tested).

No Streamlit, Plotly or torch here. Times are days.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from model.survival import cohorts as co
from model.survival.clinical import ClinicalPrognosis, cohort_inputs
from model.survival.concordance import harrell_c
from model.survival.km import KMAnalysis, LogRankResult, km_analysis

__all__ = ["CLINICAL_COHORTS", "GROUP_LABELS", "SHARED_INPUTS", "CrossCohortRiskGroups", "clinical_frame",
           "assign_groups", "cross_cohort_risk_groups", "fit_cross_cohort", "patient_group"]

#: registry key -> title, of the cohorts with the clinical model's inputs (age, sex, grade).
CLINICAL_COHORTS = {"ucsf_pdgm": "UCSF-PDGM", "tcga": "TCGA-CDR"}
#: the inputs both cohorts record (the cross-cohort models use these).
SHARED_INPUTS = ("age_years", "sex", "grade")
#: labels of k = 2, 3, 4 groups, lowest risk first.
GROUP_LABELS = {2: ("low", "high"), 3: ("low", "intermediate", "high"),
                4: ("low", "low-intermediate", "high-intermediate", "high")}
GROUP_COLUMN = "clinical_risk_group"


@dataclass(frozen=True)
class CrossCohortRiskGroups:
    """Risk groups of a model fitted on ``train_cohort`` shown on ``test_cohort``.

    Attributes
    ----------
    train_cohort, test_cohort : str
        Titles.
    inputs : tuple of str
        The fitted model's inputs.
    labels : tuple of str
        Group labels, lowest risk first.
    cut_points : tuple of float
        Training-cohort quantiles of the linear predictor (log relative hazard).
    n_train, events_train : int
        Complete cases of the fit.
    hazard_ratios : dict
        Design column -> hazard ratio of the fitted model.
    patients : pandas.DataFrame
        One row per test patient with every input: ``patient_id``, ``time_days``, ``event``,
        ``risk`` (linear predictor), ``clinical_risk_group``; the groups partition these rows.
    n_test_missing : int
        Test patients left out for a missing input.
    counts : dict
        Group -> ``{"n", "events"}`` in the test cohort (label order).
    km : KMAnalysis
        Kaplan-Meier of the test cohort by group (log-rank in ``km.logrank``).
    harrell_c : float
        Harrell's C of the risk on the test cohort (continuous risk, not the groups).
    """

    train_cohort: str
    test_cohort: str
    inputs: tuple
    labels: tuple
    cut_points: tuple
    n_train: int
    events_train: int
    hazard_ratios: dict
    patients: pd.DataFrame = field(repr=False)
    n_test_missing: int
    counts: dict
    km: KMAnalysis = field(repr=False)
    harrell_c: float

    @property
    def logrank(self) -> LogRankResult | None:
        """The log-rank test across the groups in the test cohort."""
        return self.km.logrank

    def counts_table(self) -> pd.DataFrame:
        """``group``, ``patients``, ``deaths``, ``share`` (of the test patients) in label order."""
        n = sum(v["n"] for v in self.counts.values()) or 1
        return pd.DataFrame([{"group": g, "patients": v["n"], "deaths": v["events"], "share": v["n"] / n}
                             for g, v in self.counts.items()])


def clinical_frame(key: str) -> pd.DataFrame:
    """A registered cohort (``"ucsf_pdgm"``, ``"tcga"``) in the clinical model's codes: adults,
    index ``patient_id``, ``time_days`` (days), ``event``, and the inputs the cohort records.

    Raises
    ------
    KeyError
        Not a cohort of :data:`CLINICAL_COHORTS`.
    """
    if key not in CLINICAL_COHORTS:
        raise KeyError(f"No clinical inputs for cohort {key!r}; use one of {list(CLINICAL_COHORTS)}.")
    df = co.load_cohort(key, endpoint="OS")
    out = cohort_inputs(df)
    out.index = df["patient_id"].astype(str).to_numpy()
    out.index.name = "patient_id"
    return out[out["age_years"] >= 18]


def assign_groups(risk: np.ndarray, cut_points: tuple, labels: tuple) -> np.ndarray:
    """Group label of each risk: ``labels[j]``, ``j`` = number of cut points strictly below it.

    NaN risks get None.
    """
    r = np.asarray(risk, float)
    idx = np.searchsorted(np.asarray(cut_points, float), r, side="left")
    out = np.array([labels[i] for i in idx], dtype=object)
    out[~np.isfinite(r)] = None
    return out


def cross_cohort_risk_groups(model: ClinicalPrognosis, train: pd.DataFrame, test: pd.DataFrame,
                             inputs: tuple = SHARED_INPUTS, n_groups: int = 3,
                             train_name: str = "", test_name: str = "", unit: str = "years",
                             at_risk_times: list[float] | None = None) -> CrossCohortRiskGroups:
    """Risk groups from ``train`` applied to ``test``.

    Parameters
    ----------
    model : ClinicalPrognosis
        Fitted on ``train`` with a model of exactly ``inputs``.
    train, test : pandas.DataFrame
        Model-coded frames (:func:`clinical_frame`): ``time_days``, ``event``, the inputs.
    inputs : tuple of str
        Input set of the model used.
    n_groups : int
        2, 3 or 4.
    train_name, test_name : str
        Titles carried into the result.
    unit, at_risk_times : str, list of float
        Passed to :func:`model.survival.km.km_analysis` (table times in days).

    Returns
    -------
    CrossCohortRiskGroups

    Raises
    ------
    ValueError
        ``n_groups`` not 2-4, or no test patient with every input.
    KeyError
        The model has no fit of exactly ``inputs``.
    """
    if n_groups not in GROUP_LABELS:
        raise ValueError(f"n_groups must be one of {sorted(GROUP_LABELS)}, not {n_groups!r}.")
    inputs = tuple(inputs)
    labels = GROUP_LABELS[n_groups]
    fitted = model._model(inputs)
    r_train = model.risk(train, inputs)
    r_train = r_train[np.isfinite(r_train)]
    cuts = tuple(float(q) for q in np.quantile(r_train, [j / n_groups for j in range(1, n_groups)]))
    r_test = model.risk(test, inputs)
    ok = np.isfinite(r_test)
    if not ok.any():
        raise ValueError(f"No patient of {test_name or 'the test cohort'} has every input {list(inputs)}.")
    pts = pd.DataFrame({"patient_id": np.asarray(test.index, str)[ok],
                        "time_days": test["time_days"].to_numpy(float)[ok],
                        "event": test["event"].to_numpy(int)[ok], "risk": r_test[ok]})
    pts[GROUP_COLUMN] = pd.Categorical(assign_groups(pts["risk"].to_numpy(), cuts, labels),
                                       categories=list(labels), ordered=True)
    counts = {g: {"n": int((pts[GROUP_COLUMN] == g).sum()),
                  "events": int(pts.loc[pts[GROUP_COLUMN] == g, "event"].sum())} for g in labels}
    km_df = pts.assign(**{GROUP_COLUMN: pts[GROUP_COLUMN].astype(str)})
    km = km_analysis(km_df, GROUP_COLUMN, unit=unit, at_risk_times=at_risk_times)
    return CrossCohortRiskGroups(
        train_cohort=train_name, test_cohort=test_name, inputs=inputs, labels=labels, cut_points=cuts,
        n_train=int(fitted.n), events_train=int(fitted.events),
        hazard_ratios={t: float(np.exp(b)) for t, b in zip(fitted.terms, fitted.coef)},
        patients=pts, n_test_missing=int((~ok).sum()), counts=counts, km=km,
        harrell_c=float(harrell_c(pts["time_days"].to_numpy(), pts["event"].to_numpy(), pts["risk"].to_numpy())),
    )


def fit_cross_cohort(train_key: str = "ucsf_pdgm", test_key: str = "tcga", inputs: tuple = SHARED_INPUTS,
                     n_groups: int = 3, unit: str = "years",
                     at_risk_times: list[float] | None = None) -> tuple[ClinicalPrognosis, CrossCohortRiskGroups]:
    """Fit the clinical model of ``inputs`` on cohort ``train_key`` and show its risk groups on
    ``test_key`` (keys of :data:`CLINICAL_COHORTS`; they must differ).

    Returns
    -------
    (ClinicalPrognosis, CrossCohortRiskGroups)
        The fitted model (one input set) and the result.

    Raises
    ------
    ValueError
        Same cohort twice, too few deaths to fit, or as :func:`cross_cohort_risk_groups`.
    KeyError
        Unknown cohort key.
    """
    if train_key == test_key:
        raise ValueError("Fit on one cohort and show on another: the two cohorts must differ.")
    train, test = clinical_frame(train_key), clinical_frame(test_key)
    missing = [k for k in inputs if k not in train.columns or k not in test.columns]
    if missing:
        raise ValueError(f"Inputs {missing} are not recorded in both cohorts.")
    name_tr, name_te = CLINICAL_COHORTS[train_key], CLINICAL_COHORTS[test_key]
    model = ClinicalPrognosis(input_sets=[tuple(inputs)]).fit(train, cohort=name_tr)
    res = cross_cohort_risk_groups(model, train, test, inputs, n_groups, name_tr, name_te, unit, at_risk_times)
    return model, res


def patient_group(model: ClinicalPrognosis, result: CrossCohortRiskGroups, patient: dict) -> str | None:
    """The group of ``patient`` (a :meth:`ClinicalPrognosis.predict` input dict) under the
    cross-cohort model and its cut points; None when the patient lacks one of its inputs or a
    value cannot be read."""
    from model.survival.clinical import normalise_patient

    try:
        values, _ = normalise_patient(patient)
    except ValueError:
        return None
    if not set(result.inputs) <= set(values):
        return None
    r = model.risk(pd.DataFrame([{k: values[k] for k in result.inputs}]), result.inputs)
    return assign_groups(r, result.cut_points, result.labels)[0]
