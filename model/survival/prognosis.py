"""Individual prognosis: one patient's predicted survival curve with a bootstrap 95% band.

* :func:`fit_prognostic_model` -- the Cox model (image risk score + age + sex) fitted on the
  image model's training patients;
* :func:`select_prognosis_inputs` / :func:`covariate_usage` -- which entered covariates that
  model can use (the decision the Survival page used to hard-code);
* :func:`individual_survival` -- S(t | x) with a bootstrap band (:class:`IndividualPrognosis`);
* :func:`image_prognosis_summary` -- the PDF report's prognosis of a risk score
  (:class:`ImagePrognosisSummary`): cohort KM by risk group, percentile, group, curve.

Risk percentile and group follow :mod:`model.survival.risk` (one convention). Times are in
days. No Streamlit, torch or Plotly here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from model.core.units import DAYS_PER_YEAR
from model.survival.cohorts.tcga import load_cohort_risk
from model.survival.cox import CoxModel, breslow_survival, efron_fit
from model.survival.km import km_curve
from model.survival.risk import risk_position

__all__ = [
    "PROGNOSTIC_INPUTS",
    "HORIZONS_DAYS",
    "ENTERED_COVARIATES",
    "UNKNOWN",
    "PrognosisInputs",
    "IndividualPrognosis",
    "ImagePrognosisSummary",
    "fit_prognostic_model",
    "select_prognosis_inputs",
    "covariate_usage",
    "individual_survival",
    "image_prognosis_summary",
]

#: covariates of the individual prognosis model (fitted on the image cohort).
PROGNOSTIC_INPUTS = ("risk_score", "age_years", "sex")
#: 1-, 2- and 5-year horizons in days.
HORIZONS_DAYS = (DAYS_PER_YEAR, 2 * DAYS_PER_YEAR, 5 * DAYS_PER_YEAR)
#: clinical covariates a user may enter for a study, in display order.
ENTERED_COVARIATES = ("age_years", "sex", "karnofsky", "resection", "idh", "mgmt")
#: how an entered covariate that was left empty is shown.
UNKNOWN = "unknown"

_RECORDED_ONLY = "recorded only: not in TCGA-CDR for these patients"
_ENTERED_LABELS = {"karnofsky": "Karnofsky", "resection": "resection", "idh": "IDH", "mgmt": "MGMT"}


def _entered(value: object) -> bool:
    return value is not None and value != UNKNOWN and not (isinstance(value, float) and np.isnan(value))


@dataclass(frozen=True)
class PrognosisInputs:
    """What the prognostic model will use for one study (:func:`select_prognosis_inputs`).

    Attributes
    ----------
    inputs : tuple of str
        Model inputs, ``"risk_score"`` first, then the entered covariates the fitting patients
        have (``age_years``, ``sex``).
    values : dict
        Input -> value for exactly ``inputs`` (``age_years`` float years, ``sex`` str).
    """

    inputs: tuple[str, ...]
    values: dict


def fit_prognostic_model(
    image_cohort: pd.DataFrame,
    inputs: Sequence[str] = PROGNOSTIC_INPUTS,
    splits: Sequence[str] | None = ("train",),
) -> CoxModel:
    """Cox model for the individual prognosis, fitted on the image cohort.

    Parameters
    ----------
    image_cohort : pandas.DataFrame
        :func:`model.survival.cohorts.join_image_covariates` output (``risk_score``,
        ``age_years``, ``sex``, ``split``, ``time_days`` days, ``event``).
    inputs : sequence of str
        Default ``risk_score`` (z-scored on the fitting rows: HR per SD), ``age_years`` (per 10
        years), ``sex`` (male vs female) - the covariates the image cohort records. Karnofsky,
        resection, IDH and MGMT are not recorded for these TCGA patients and cannot be used.
    splits : sequence of str or None
        Rows used for fitting (default the training split, so that
        :func:`model.survival.validation.validate_risk` measures exactly this model on patients
        it has not seen); None = all rows.

    Returns
    -------
    CoxModel
        Fitted (``references={"sex": "female"}``, ``min_events=5``).

    Raises
    ------
    ValueError
        As :meth:`CoxModel.fit` (e.g. no covariates joined for the patients).
    """
    df = image_cohort
    if splits is not None:
        df = df[df["split"].astype(str).isin(list(splits))]
    return CoxModel(inputs, references={"sex": "female"}, min_events=5).fit(df)


def select_prognosis_inputs(image_cohort: pd.DataFrame, risk_score: float,
                            entered: Mapping[str, object]) -> PrognosisInputs:
    """Choose the prognostic model's inputs from what was entered and what the cohort records.

    Parameters
    ----------
    image_cohort : pandas.DataFrame
        The fitting cohort (``load_cohort("tcga_image")``).
    risk_score : float
        The study's image risk score (always an input).
    entered : mapping
        Covariate -> value entered for the study (keys of :data:`ENTERED_COVARIATES`); None or
        :data:`UNKNOWN` = not entered.

    Returns
    -------
    PrognosisInputs
        ``age_years`` and ``sex`` are used when entered AND present (non-NaN somewhere) in the
        cohort; Karnofsky, resection, IDH and MGMT never (TCGA-CDR does not record them).
    """
    candidates = [c for c in PROGNOSTIC_INPUTS if c != "risk_score"]
    values: dict = {"risk_score": float(risk_score)}
    for c in candidates:
        v = entered.get(c)
        if not _entered(v) or c not in image_cohort.columns or not image_cohort[c].notna().any():
            continue
        values[c] = float(v) if c == "age_years" else v
    inputs = tuple(c for c in PROGNOSTIC_INPUTS if c in values)
    return PrognosisInputs(inputs=inputs, values=values)


def covariate_usage(risk_score: float, entered: Mapping[str, object],
                    used_inputs: Sequence[str]) -> pd.DataFrame:
    """One row per covariate: what was entered and whether the fitted model used it.

    Parameters
    ----------
    risk_score : float
        The study's image risk score.
    entered : mapping
        As :func:`select_prognosis_inputs` (display values: age in years, levels as str).
    used_inputs : sequence of str
        ``CoxModel.inputs_`` of the fitted prognostic model.

    Returns
    -------
    pandas.DataFrame
        Columns ``covariate``, ``entered`` (str), ``used by the fitted model`` (bool),
        ``note`` (str).
    """
    used = set(used_inputs)
    age, sex = entered.get("age_years"), entered.get("sex")
    rows = [
        ("image risk score", f"{risk_score:.3f}", "risk_score" in used, "Cox covariate (per SD)"),
        ("age", UNKNOWN if not _entered(age) else f"{age} years", "age_years" in used,
         "Cox covariate (per 10 years)" if "age_years" in used else
         ("not entered" if not _entered(age) else "not available for the fitting patients")),
        ("sex", sex if _entered(sex) else UNKNOWN, "sex" in used,
         "Cox covariate (male vs female)" if "sex" in used else
         ("not entered" if not _entered(sex) else "not available for the fitting patients")),
    ]
    for c in ("karnofsky", "resection", "idh", "mgmt"):
        v = entered.get(c)
        rows.append((_ENTERED_LABELS[c], str(v) if _entered(v) else UNKNOWN, False, _RECORDED_ONLY))
    return pd.DataFrame(rows, columns=["covariate", "entered", "used by the fitted model", "note"])


@dataclass
class IndividualPrognosis:
    """Result of :func:`individual_survival`.

    Attributes
    ----------
    curve : pandas.DataFrame
        ``time_days`` (float, days), ``survival``, ``lower``, ``upper`` (95% band).
    horizons : pandas.DataFrame
        One row per horizon: ``years``, ``time_days``, ``survival``, ``lower``, ``upper``,
        ``at_risk`` (fitting patients still followed at that time) and ``beyond_follow_up``
        (True when later than the last fitting event: S is carried flat and should not be
        trusted).
    linear_predictor : float
        beta'x of the patient.
    percentile : float
        0-100, share of the fitting rows' linear predictors <= the patient's
        (:func:`model.survival.risk.risk_percentile`).
    group : str
        "high" / "low" vs the median linear predictor of the fitting rows
        (:func:`model.survival.risk.risk_group`).
    n_boot, n_boot_ok : int
        Requested and successful bootstrap refits.
    ci_method : str
    """

    curve: pd.DataFrame
    horizons: pd.DataFrame
    linear_predictor: float
    percentile: float
    group: str
    n_boot: int
    n_boot_ok: int
    ci_method: str


def individual_survival(
    model: CoxModel,
    values: dict,
    n_boot: int = 200,
    seed: int = 0,
    horizons_days: Sequence[float] = HORIZONS_DAYS,
    alpha: float = 0.05,
) -> IndividualPrognosis:
    """Predicted survival curve S(t | x) of one patient with a bootstrap 95% band.

    The point estimate: lifelines' coefficients with the Breslow step baseline
    (:meth:`CoxModel.survival_at`). The band: ``n_boot`` nonparametric bootstrap resamples of
    the fitting patients (seeded), the Cox model refitted on each (same design and penalty;
    Efron Newton-Raphson in numpy, :func:`model.survival.cox.efron_fit`, the estimator lifelines
    uses, ~1 ms per refit) and the patient's curve predicted with the Breslow baseline;
    pointwise alpha/2 and 1 - alpha/2 quantiles (so the band is also non-increasing). lifelines
    has no CI for an individual curve. Resamples whose fit fails are skipped (``n_boot_ok``).

    Parameters
    ----------
    model : CoxModel
        Fitted, e.g. :func:`fit_prognostic_model`.
    values : dict
        Input name -> value (e.g. ``{"risk_score": -0.12, "age_years": 45, "sex": "male"}``).
    n_boot, seed : int
        Bootstrap resamples and seed.
    horizons_days : sequence of float
        Times reported in ``horizons`` (default 1, 2, 5 years = 365.25, 730.5, 1826.25 days).
    alpha : float
        1 - level of the band.

    Returns
    -------
    IndividualPrognosis
        Curve on a grid of 0, every fitting event time, 120 even steps to the last follow-up
        and the horizons.

    Raises
    ------
    ValueError
        A missing / unknown input value, or an unfitted model.
    """
    x = model.design(values)
    data = model.data_
    times_fit = data["time_days"].to_numpy(float)
    max_t = float(times_fit.max())
    ev_times = np.unique(times_fit[data["event"].to_numpy() == 1])
    last_event = float(ev_times.max()) if ev_times.size else 0.0
    grid = np.unique(np.concatenate([[0.0], ev_times, np.linspace(0, max_t, 120), np.asarray(horizons_days, float)]))
    point = model.survival_at(values, grid)[0]
    rng = np.random.default_rng(seed)
    boots = []
    n = len(data)
    Xf = data[model.terms_].to_numpy(float)
    tf, ef = data["time_days"].to_numpy(float), data["event"].to_numpy(int)
    xv = x.to_numpy(float)[0]
    for _ in range(int(n_boot)):
        idx = rng.integers(0, n, n)
        Xb, tb, eb = Xf[idx], tf[idx], ef[idx]
        if eb.sum() < 2 or np.any(Xb.std(axis=0) == 0):
            continue
        try:
            beta = efron_fit(Xb, tb, eb, model.penalizer_)
            sb = breslow_survival(Xb, tb, eb, beta, xv, grid)
        except (ValueError, np.linalg.LinAlgError, FloatingPointError):
            continue  # a failed resample is skipped and counted
        if np.all(np.isfinite(sb)):
            boots.append(sb)
    if boots:
        B = np.vstack(boots)
        lower = np.quantile(B, alpha / 2, axis=0)
        upper = np.quantile(B, 1 - alpha / 2, axis=0)
    else:
        lower = upper = np.full_like(point, np.nan)
    curve = pd.DataFrame({"time_days": grid, "survival": point, "lower": lower, "upper": upper})
    hz = []
    for h in horizons_days:
        i = int(np.searchsorted(grid, h))
        hz.append(
            {
                "years": h / DAYS_PER_YEAR, "time_days": float(h), "survival": float(point[i]),
                "lower": float(lower[i]), "upper": float(upper[i]),
                "at_risk": int((times_fit >= h).sum()), "beyond_follow_up": bool(h > last_event),
            }
        )
    lp = float(model.linear_predictor(values)[0])
    pos = risk_position(lp, model.linear_predictor(model.decoded_inputs()))
    return IndividualPrognosis(
        curve=curve, horizons=pd.DataFrame(hz), linear_predictor=lp, percentile=pos.percentile,
        group=pos.group, n_boot=int(n_boot), n_boot_ok=len(boots),
        ci_method=f"nonparametric bootstrap of the {model.n_} fitting patients "
        f"({len(boots)} Cox refits, pointwise percentile 95% band)",
    )


@dataclass
class ImagePrognosisSummary:
    """The PDF report's prognosis of one image risk score (:func:`image_prognosis_summary`).

    Attributes
    ----------
    cohort_km : dict
        Risk group ("low" / "high") -> (times_days, survival): float64 arrays, shape (m,), the
        Kaplan-Meier step curve of the training split's patients in that group (groups with
        < 2 patients are left out).
    percentile : float
        0-100, of the risk score among the training patients (:mod:`model.survival.risk`).
    group : str
        "high" / "low" vs the training median.
    n, events : int
        Training patients and deaths.
    individual : IndividualPrognosis or None
        Curve of an image-only Cox model fitted on the training split; None when it cannot be
        fitted (``note`` says why).
    note : str
    """

    cohort_km: dict
    percentile: float
    group: str
    n: int
    events: int
    individual: IndividualPrognosis | None = None
    note: str = ""
    threshold: float = field(default=float("nan"))

    def to_dict(self) -> dict:
        """The fields as a shallow dict (``individual`` stays an :class:`IndividualPrognosis`)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def image_prognosis_summary(risk_score: float, checkpoint_dir: str | Path | None,
                            n_boot: int = 200, seed: int = 0) -> ImagePrognosisSummary | None:
    """Individual survival of a patient with ``risk_score`` over the image cohort (for the PDF).

    Parameters
    ----------
    risk_score : float
        The study's image risk score.
    checkpoint_dir : str or Path or None
        Checkpoint holding ``cohort_risk.csv`` (:func:`model.survival.cohorts.load_cohort_risk`).
    n_boot, seed : int
        Bootstrap of :func:`individual_survival`.

    Returns
    -------
    ImagePrognosisSummary or None
        None when the checkpoint has no (or an empty) ``cohort_risk.csv``. The training split is
        used (all rows when it has none).

    Raises
    ------
    ValueError
        A malformed ``cohort_risk.csv`` (as :func:`load_cohort_risk`).
    """
    df = load_cohort_risk(checkpoint_dir)
    if df is None or df.empty:
        return None
    train = df[df["split"] == "train"]
    if train.empty:
        train = df
    pos = risk_position(risk_score, train["risk_score"].to_numpy(float))
    km = {}
    for g in ("low", "high"):
        sub = train[(train["risk_score"] > pos.threshold) == (g == "high")]
        if len(sub) >= 2:
            c = km_curve(sub, g)
            km[g] = (c.time_days, c.survival)
    out = ImagePrognosisSummary(cohort_km=km, percentile=pos.percentile, group=pos.group,
                                n=int(len(train)), events=int(train["event"].sum()),
                                threshold=pos.threshold)
    try:
        model = CoxModel(("risk_score",)).fit(train)
        out.individual = individual_survival(model, {"risk_score": float(risk_score)},
                                             n_boot=n_boot, seed=seed)
        out.note = "Cox model on the image risk score, bootstrap 95% band."
    except (ValueError, np.linalg.LinAlgError) as exc:  # too few events, separation
        out.note = f"Individual curve not available ({type(exc).__name__}); cohort curves only."
    return out
