"""Does an image feature add to the clinical prognosis? (issue 15, item 3)

On the image patients (the served grade model's ``cohort_risk.csv`` joined to TCGA-CDR age, sex
and WHO grade), a Cox model of the clinical inputs is compared with the same model plus the
image feature (today: the image model's risk score):

* **cross-validation**: repeated K-fold; in each fold both models are fitted on the training
  part (lifelines ``CoxPHFitter``, L2 penalizer 0.01, the feature standardised on the training
  part) and scored by Harrell's C on the held-out part; the paired fold differences give the
  mean delta C and its 2.5-97.5 % fold range;
* **likelihood-ratio test** of the nested models fitted on every patient (1 df).

Rule: the feature *enters* only if the fold range of delta C lies above 0 and the LR p < 0.05.
Caveat carried in the result: the image risk score of the grade model's own training patients
is in-sample (the network saw them), which favours the feature; a feature that does not add
even so is not used.

No Streamlit, Plotly or torch. Times are days.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from model.survival.clinical_inputs import cohort_inputs, design
from model.survival.concordance import harrell_c

__all__ = ["AddedValue", "image_added_value"]

_LABELS = {"age_years": "age", "sex": "sex", "grade": "WHO grade"}


@dataclass(frozen=True)
class AddedValue:
    """Result of :func:`image_added_value`.

    Attributes
    ----------
    feature : str
        Display name of the image feature.
    base_inputs : tuple of str
        The clinical inputs of both models.
    n, events : int
        Complete cases used.
    folds : int
        Folds scored (``n_splits * n_repeats`` minus folds without a comparable pair).
    c_base, c_with : float
        Mean held-out Harrell C without / with the feature.
    delta_mean : float
        Mean paired difference (with - without).
    delta_range95 : tuple of float
        2.5 and 97.5 % quantiles of the fold differences.
    lr_statistic, lr_p : float
        Likelihood-ratio test (1 df) of the nested models on every patient.
    hazard_ratio_per_sd : float
        Of the feature in the full model.
    enters : bool
        The rule of the module docstring.
    caveat : str
    """

    feature: str
    base_inputs: tuple
    n: int
    events: int
    folds: int
    c_base: float
    c_with: float
    delta_mean: float
    delta_range95: tuple
    lr_statistic: float
    lr_p: float
    hazard_ratio_per_sd: float
    enters: bool
    caveat: str

    def sentence(self) -> str:
        """One sentence for the page, e.g. "The image risk score does not add to age + sex + WHO
        grade on the 88 image patients (... ): it is not used."."""
        base = " + ".join(_LABELS.get(k, k) for k in self.base_inputs)
        lo, hi = self.delta_range95
        ev = (f"cross-validated C {self.c_base:.2f} without, {self.c_with:.2f} with it, difference "
              f"{self.delta_mean:+.3f} (fold range {lo:+.2f} to {hi:+.2f}); likelihood-ratio p = {self.lr_p:.2g}")
        if self.enters:
            return f"The {self.feature} adds to {base} on the {self.n} image patients ({ev})."
        return (f"The {self.feature} does not add to {base} on the {self.n} image patients ({ev}): "
                "it is not used by the prognosis.")


def _fit(df: pd.DataFrame, cols: list[str]):
    from lifelines import CoxPHFitter

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CoxPHFitter(penalizer=0.01).fit(df[cols + ["_T", "_E"]], duration_col="_T", event_col="_E")


def image_added_value(image_cohort: pd.DataFrame, feature: str = "risk_score",
                      feature_label: str = "image risk score",
                      base_inputs: tuple = ("age_years", "sex", "grade"), n_splits: int = 5,
                      n_repeats: int = 5, seed: int = 0) -> AddedValue:
    """Cross-validated added value of ``feature`` over the clinical ``base_inputs``.

    Parameters
    ----------
    image_cohort : pandas.DataFrame
        :func:`model.survival.cohorts.load_cohort` ``("tcga_image")``: ``time_days``, ``event``,
        ``feature`` and the cohort-schema clinical columns.
    feature, feature_label : str
        Column and display name.
    base_inputs : tuple of str
        Clinical inputs (keys of :data:`model.survival.clinical_inputs.INPUTS`).
    n_splits, n_repeats, seed : int
        Repeated K-fold.

    Returns
    -------
    AddedValue

    Raises
    ------
    ValueError
        Columns missing or fewer than 10 events among the complete cases.
    """
    from scipy.stats import chi2

    if feature not in image_cohort.columns:
        raise ValueError(f"The image cohort has no {feature!r} column.")
    coded = cohort_inputs(image_cohort)
    x = design(coded, tuple(base_inputs))
    x = x.loc[:, x.std(ddof=0) > 0]
    df = x.assign(_F=pd.to_numeric(image_cohort[feature], errors="coerce").to_numpy(float),
                  _T=coded["time_days"].to_numpy(float), _E=coded["event"].to_numpy(int)).dropna()
    if int(df["_E"].sum()) < 10:
        raise ValueError(f"Only {int(df['_E'].sum())} deaths among the image patients with every input.")
    base_cols = list(x.columns)
    rng = np.random.default_rng(seed)
    n = len(df)
    c0, c1 = [], []
    for _ in range(n_repeats):
        folds = np.array_split(rng.permutation(n), n_splits)
        for k in range(n_splits):
            te = df.iloc[folds[k]]
            tr = df.iloc[np.concatenate([folds[j] for j in range(n_splits) if j != k])]
            mu, sd = tr["_F"].mean(), tr["_F"].std(ddof=0) or 1.0
            tr, te = tr.assign(_F=(tr["_F"] - mu) / sd), te.assign(_F=(te["_F"] - mu) / sd)
            m0, m1 = _fit(tr, base_cols), _fit(tr, base_cols + ["_F"])
            a = harrell_c(te["_T"], te["_E"], m0.predict_log_partial_hazard(te[base_cols]).to_numpy())
            b = harrell_c(te["_T"], te["_E"], m1.predict_log_partial_hazard(te[base_cols + ["_F"]]).to_numpy())
            if np.isfinite(a) and np.isfinite(b):
                c0.append(a)
                c1.append(b)
    d = np.asarray(c1) - np.asarray(c0)
    full = df.assign(_F=(df["_F"] - df["_F"].mean()) / (df["_F"].std(ddof=0) or 1.0))
    f0, f1 = _fit(full, base_cols), _fit(full, base_cols + ["_F"])
    lr = max(0.0, 2.0 * (float(f1.log_likelihood_) - float(f0.log_likelihood_)))
    p = float(chi2.sf(lr, 1))
    lo, hi = (float(v) for v in np.quantile(d, [0.025, 0.975]))
    return AddedValue(
        feature=feature_label, base_inputs=tuple(base_inputs), n=int(n), events=int(df["_E"].sum()),
        folds=int(d.size), c_base=float(np.mean(c0)), c_with=float(np.mean(c1)), delta_mean=float(d.mean()),
        delta_range95=(lo, hi), lr_statistic=lr, lr_p=p,
        hazard_ratio_per_sd=float(np.exp(f1.params_["_F"])), enters=bool(lo > 0 and p < 0.05),
        caveat=("The image risk score of the grade model's own training patients is in-sample (the network "
                "saw them), which favours the feature."),
    )
