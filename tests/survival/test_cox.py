"""Cox models (model/survival/cox.py): the lifelines-style CoxModel, hazard ratios, the numpy
Efron refit, typed convergence warnings."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from model.core.warnings import ConvergenceFallbackWarning
from model.survival import cox


def test_cox_hazard_ratios(cox_data):
    df = cox_data()
    df.loc[0, "age_years"] = np.nan
    res = cox.cox_hazard_ratios(df, ["g", "age_years"], references={"g": "a"})
    hr = res.table
    assert res.n_missing == 1 and res.n == 299 and res.penalizer == 0.0
    assert 0.5 < res.concordance < 1 and 0 <= res.lr_p < 0.05
    lifelines_c = cox.CoxModel(["g", "age_years"], references={"g": "a"}).fit(df).cph_.concordance_index_
    assert res.concordance == pytest.approx(lifelines_c, abs=1e-12)  # one Harrell's C, same number
    row_g = hr[hr.covariate == "g"].iloc[0]
    assert row_g["reference"] == "a" and row_g["level"] == "b"
    assert row_g["ci_lower"] < 2.0 < row_g["ci_upper"] and row_g["hr"] > 1.3
    row_age = hr[hr.covariate == "age_years"].iloc[0]
    assert row_age["level"] == "per 10 years" and row_age["ci_lower"] < 1.5 < row_age["ci_upper"]
    with pytest.raises(ValueError):
        cox.cox_hazard_ratios(df.assign(g="a"), ["g"])  # no covariate varies


def test_numpy_cox_matches_lifelines(cox_data):
    df = cox_data(150, seed=3)
    m = cox.CoxModel(["g", "age_years"]).fit(df)
    X = m.data_[m.terms_].to_numpy(float)
    t, e = m.data_["time_days"].to_numpy(float), m.data_["event"].to_numpy(int)
    assert cox.efron_fit(X, t, e) == pytest.approx(m.beta_, rel=1e-5)
    pen = cox.fit_cph(m.data_, 0.1).params_.reindex(m.terms_).to_numpy()
    assert cox.efron_fit(X, t, e, 0.1) == pytest.approx(pen, rel=1e-4)
    ev = np.unique(t[e == 1])[:20]
    ours = m.survival_at(df.iloc[[5]], ev)[0]
    ref = m.cph_.predict_survival_function(m.data_[m.terms_].iloc[[5]], times=ev).to_numpy()[:, 0]
    assert ours == pytest.approx(ref, rel=1e-9)  # equal at event times (lifelines interpolates between)


def test_cox_model_is_a_lifelines_style_fitter(cox_data):
    df = cox_data(120, seed=5)
    model = cox.CoxModel(["g", "age_years", "const"], references={"g": "b"})
    with pytest.raises(ValueError, match="not fitted"):
        model.linear_predictor({"g": "a", "age_years": 50.0})
    assert model.fit(df.assign(const=1.0)) is model  # fit returns self
    assert model.inputs_ == ["g", "age_years"] and model.dropped_ == ["const"]
    assert model.encoding_["g"] == ("dummies", "b", ["a"])
    assert model.encoding_["age_years"] == ("scale", 10.0, "per 10 years")
    assert model.n_ == 120 and model.events_ == int(df["event"].sum()) and model.penalizer_ == 0.0
    assert model.terms_ == ["g=a", "age_years (per 10 years)"]
    back = model.decoded_inputs()
    assert model.linear_predictor(back) == pytest.approx(model.linear_predictor(df))
    s = model.survival_at(df.iloc[:3], [0.0, 500.0, 1000.0])
    assert s.shape == (3, 3) and np.all(np.diff(s, axis=1) <= 0)
    with pytest.raises(ValueError, match="must be one of"):
        model.design({"g": "c", "age_years": 50.0})


def _separated(n: int = 40) -> pd.DataFrame:
    """Every event in level "b": the unpenalised MLE of its coefficient is infinite."""
    rng = np.random.default_rng(0)
    g = np.array(["a", "b"] * (n // 2))
    t = rng.uniform(10, 1000, n)
    return pd.DataFrame({"time_days": t, "event": (g == "b").astype(int), "g": g})


def test_fallback_penalizer_is_said_with_a_typed_warning():
    from lifelines.exceptions import ConvergenceWarning

    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        m = cox.CoxModel(["g"]).fit(_separated())
    assert m.penalizer_ == cox.FALLBACK_PENALIZER
    fallback = [w for w in rec if issubclass(w.category, ConvergenceFallbackWarning)]
    assert len(fallback) == 1 and "penalizer 0.1" in str(fallback[0].message)
    # lifelines' own ConvergenceWarning is caught by type and kept on the model, not shown
    assert not [w for w in rec if issubclass(w.category, ConvergenceWarning)]
    assert isinstance(m.convergence_warnings_, list)
    # a fit that converges says nothing
    df = _separated()
    df.loc[df.index[:6], "event"] = 1 - df.loc[df.index[:6], "event"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceFallbackWarning)
        assert cox.CoxModel(["g"]).fit(df).penalizer_ == 0.0


@pytest.mark.parametrize("frame, inputs, match", [
    (pd.DataFrame({"time_days": [1.0, 2, 3, 4, 5, 6], "event": [1] * 6, "x": [1.0] * 6}), ["x"], "No covariate"),
    (pd.DataFrame({"time_days": [1.0, 2.0, 3.0], "event": [1, 1, 1], "x": [1.0, 2.0, 3.0]}), ["x"], "Too little"),
    (pd.DataFrame({"time_days": [1.0], "event": [1]}), ["x"], "no column"),
])
def test_cox_model_refusals(frame, inputs, match):
    with pytest.raises(ValueError, match=match):
        cox.CoxModel(inputs).fit(frame)
