"""The one risk group / percentile convention (model/survival/risk.py) and every user of it:
the predictor, the image cohort table, the PDF's prognosis and the individual prognosis."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model.survival import risk

TRAIN = [0.1, 0.2, 0.3, 0.4]  # median 0.25


@pytest.mark.parametrize("score, percentile, group", [
    (0.05, 0.0, "low"),     # below every training risk
    (0.1, 25.0, "low"),     # equal to a training risk: counted (<=)
    (0.25, 50.0, "low"),    # exactly at the median: low (group is strictly above)
    (0.2500001, 50.0, "high"),
    (0.3, 75.0, "high"),
    (0.4, 100.0, "high"),   # equal to the largest training risk: percentile 100
    (9.0, 100.0, "high"),
])
def test_boundary_convention(score, percentile, group):
    pos = risk.risk_position(score, TRAIN)
    assert pos.percentile == pytest.approx(percentile) and pos.group == group
    assert pos.threshold == pytest.approx(0.25)
    assert risk.risk_percentile(score, TRAIN) == pos.percentile
    assert risk.risk_group(score, 0.25) == group


def test_threshold_given_and_vectorised():
    assert risk.risk_position(0.3, TRAIN, threshold=0.3).group == "low"
    assert risk.risk_groups(np.array([0.25, 0.26, np.nan]), 0.25).tolist() == ["low", "high", "low"]
    assert risk.risk_percentile(0.2, [0.1, np.nan, 0.3]) == pytest.approx(50.0)  # NaN ignored


@pytest.mark.parametrize("frame", [
    pd.DataFrame({"risk_score": [0.1]}),                                  # no split column
    pd.DataFrame({"risk_score": [0.1], "split": ["test"]}),               # no training row
    pd.DataFrame({"risk_score": [np.nan], "split": ["train"]}),
])
def test_threshold_refusals(frame):
    with pytest.raises(ValueError):
        risk.risk_threshold(frame)


def test_percentile_needs_a_reference():
    with pytest.raises(ValueError):
        risk.risk_percentile(0.1, [np.nan])


def _risk_csv(folder, scores_train, scores_test=(0.9,)):
    n_tr, n_te = len(scores_train), len(scores_test)
    pd.DataFrame({
        "patient_id": [f"P{i}" for i in range(n_tr + n_te)],
        "risk_score": list(scores_train) + list(scores_test),
        "split": ["train"] * n_tr + ["test"] * n_te,
        "time_days": np.linspace(100, 900, n_tr + n_te), "event": [1, 0] * ((n_tr + n_te) // 2) + [1] * ((n_tr + n_te) % 2),
        "grade": "G2",
    }).to_csv(folder / "cohort_risk.csv", index=False)


def test_cohort_table_and_pdf_agree_at_the_median(tmp_path):
    from model.survival.cohorts import load_cohort_risk
    from model.survival.prognosis import image_prognosis_summary

    train = [0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7]  # median 0.35 is not a training value
    _risk_csv(tmp_path, train + [0.35], scores_test=(0.35,))  # now the median IS 0.35
    df = load_cohort_risk(tmp_path)
    at_median = df[df["risk_score"] == 0.35]
    assert (at_median["risk_group"] == "low").all()  # at the median -> low, as everywhere
    s = image_prognosis_summary(0.35, tmp_path, n_boot=0)
    assert s.group == "low"
    assert s.percentile == pytest.approx(100 * 5 / 9)  # 0.1, 0.2, 0.25, 0.3, 0.35 of nine


def test_predictor_uses_the_convention(predictor, demo_study):
    """Predictor.predict's percentile and group are model.survival.risk's, on the demo study."""
    p = predictor.predict(demo_study)
    pos = risk.risk_position(p.risk_score, predictor._cohort_risk, predictor.card.get("risk_threshold"))
    assert (p.risk_percentile, p.risk_group) == (pos.percentile, pos.group)
