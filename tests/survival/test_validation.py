"""Validation of the risk score (model/survival/validation.py) and its display tables
(model/survival/tables.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from model.survival import tables as tb
from model.survival import concordance
from model.survival import validation as va


def test_uno_equals_harrell_without_censoring():
    rng = np.random.default_rng(4)
    n = 80
    t = rng.exponential(500, n) + rng.uniform(0, 1e-3, n)  # untied
    e = np.ones(n, int)
    risk = -np.log(t) + rng.normal(0, 1.0, n)
    h = va.harrell_c(t, e, risk)
    u = va.uno_c(t, e, risk, train_time=t, train_event=e)
    assert 0.6 < h < 0.95
    assert u == pytest.approx(h, abs=1e-9)
    # with censoring the two differ but stay in [0, 1]
    c = rng.uniform(0, 800, n)
    tc, ec = np.minimum(t, c), (t <= c).astype(int)
    uc = va.uno_c(tc, ec, risk, train_time=tc, train_event=ec, tau_days=600)
    assert 0.5 < uc <= 1.0
    auc = va.time_auc(tc, ec, risk, tc, ec, [200.0, 1e9])
    assert 0.5 < auc[0] <= 1.0 and math.isnan(auc[1])  # no controls after 1e9 days


def test_validate_risk_returns_json_dict(image_cohort):
    import json

    risk_df, cdr = image_cohort(200, seed=1)
    res = va.validate_risk(risk_df, cdr, n_boot=30, seed=0)
    json.dumps(res, allow_nan=False)  # model-card ready
    assert res["n_train"] == 120 and res["n_heldout"] == 80
    assert set(res["models"]) == {"image", "age", "clinical", "prognostic"}
    img = res["models"]["image"]
    for key in ("harrell_c", "uno_c"):
        d = img[key]
        assert d["ci_lower"] <= d["estimate"] <= d["ci_upper"]
        assert d["estimate"] > 0.6  # the synthetic risk score is informative
    assert [a["time_days"] for a in img["auc"]] == [365.25, 730.5]
    cal = img["calibration"][0]
    assert 0 <= cal["predicted_mean"] <= 1 and len(cal["groups"]) == 2
    assert {r["term"] for r in res["models"]["clinical"]["ph_test"]} == {
        "age_years (per 10 years)", "sex=male", "grade=WHO III"}
    assert set(res["differences"]) == {"image_minus_age", "image_minus_clinical",
                                       "prognostic_minus_age", "prognostic_minus_clinical"}
    tab = tb.validation_table(res)
    assert list(tab["model"]) == ["image", "age", "clinical", "prognostic"]
    diffs = tb.differences_table(res)
    assert list(diffs["comparison"]) == ["image - age", "image - clinical", "prognostic - age",
                                         "prognostic - clinical"]
    assert set(tb.ph_table(res)["model"]) <= set(res["models"])
    with pytest.raises(ValueError):
        va.validate_risk(risk_df.assign(split="train"), cdr, n_boot=0)


@pytest.mark.parametrize("t, e, risk, expected", [
    ([1.0, 2.0, 3.0], [1, 1, 1], [3.0, 2.0, 1.0], 1.0),   # higher risk, shorter survival
    ([1.0, 2.0, 3.0], [1, 1, 1], [1.0, 2.0, 3.0], 0.0),
    ([1.0, 2.0, 3.0], [1, 1, 1], [1.0, 1.0, 1.0], 0.5),   # ties count one half
    ([1.0, 2.0], [0, 0], [1.0, 2.0], math.nan),            # no comparable pair
])
def test_harrell_c_by_hand(t, e, risk, expected):
    c = va.harrell_c(np.array(t), np.array(e), np.array(risk))
    assert (math.isnan(c) and math.isnan(expected)) or c == pytest.approx(expected)


def test_training_metrics_delegate_to_the_one_harrell_c():
    from training import metrics

    rng = np.random.default_rng(0)
    t, e, r = rng.exponential(100, 50), rng.integers(0, 2, 50), rng.normal(size=50)
    assert metrics.harrell_c(t, e, r) == concordance.harrell_c(t, e, r) == va.harrell_c(t, e, r)
