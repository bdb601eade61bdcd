"""model.survival.image_added_value: an image feature enters the prognosis only when it adds to
the clinical inputs under cross-validation and a likelihood-ratio test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model.survival.image_added_value import image_added_value


def _cohort(signal: float, n: int = 150, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.uniform(25, 75, n)
    feat = rng.normal(size=n)
    lp = 0.04 * (age - 50) + signal * feat
    t = rng.exponential(1500 * np.exp(-lp))
    c = rng.uniform(200, 4000, n)
    return pd.DataFrame({"time_days": np.minimum(t, c), "event": (t <= c).astype(int), "age_years": age,
                         "sex": rng.choice(["female", "male"], n), "grade": rng.choice(["WHO II", "WHO III"], n),
                         "risk_score": feat})


def test_a_strong_feature_enters_and_noise_does_not():
    strong = image_added_value(_cohort(1.0), n_repeats=2)
    assert strong.enters and strong.delta_mean > 0.05 and strong.lr_p < 1e-6
    assert strong.sentence().startswith("The image risk score adds to age + sex + WHO grade on the 150 image patients")
    noise = image_added_value(_cohort(0.0), n_repeats=2)
    assert not noise.enters
    assert noise.sentence().endswith("it is not used by the prognosis.")
    assert noise.folds == 10 and noise.n == 150


def test_lr_test_matches_lifelines():
    from lifelines import CoxPHFitter
    from scipy.stats import chi2

    df = _cohort(0.3, seed=3)
    res = image_added_value(df, n_repeats=1)
    x = pd.DataFrame({"age_years": df["age_years"], "sex_male": (df["sex"] == "male").astype(float),
                      "grade_3": (df["grade"] == "WHO III").astype(float),
                      "f": (df["risk_score"] - df["risk_score"].mean()) / df["risk_score"].std(ddof=0),
                      "T": df["time_days"], "E": df["event"]})
    ll0 = CoxPHFitter(penalizer=0.01).fit(x.drop(columns="f"), "T", "E").log_likelihood_
    m1 = CoxPHFitter(penalizer=0.01).fit(x, "T", "E")
    assert res.lr_statistic == pytest.approx(2 * (m1.log_likelihood_ - ll0), rel=1e-6)
    assert res.lr_p == pytest.approx(chi2.sf(res.lr_statistic, 1), rel=1e-9)
    assert res.hazard_ratio_per_sd == pytest.approx(float(np.exp(m1.params_["f"])), rel=1e-6)


@pytest.mark.parametrize("df, match", [
    (_cohort(0.5).drop(columns="risk_score"), "no 'risk_score' column"),
    (_cohort(0.5).assign(event=0), "deaths"),
])
def test_refusals(df, match):
    with pytest.raises(ValueError, match=match):
        image_added_value(df, n_repeats=1)


def test_served_image_cohort(repo_root):
    from model.survival import cohorts as co

    img = co.load_cohort("tcga_image", checkpoint_dir=repo_root / "model" / "checkpoints" / "grade_lgg")
    if img is None:
        pytest.skip("cohort_risk.csv of the served checkpoint not present")
    res = image_added_value(img)
    assert res.n == len(img.dropna(subset=["risk_score", "age_years", "sex", "grade"]))
    assert res.folds == 25
    assert ("does not add" in res.sentence()) == (not res.enters)
