"""The numbers the app shows on the demo study are pinned across the issue-12 restructuring.

``tests/golden/demo_numbers.json`` was written by ``tests/golden/capture_demo_numbers.py`` on
commit 5a40224 (before any module moved). Moving code between modules must not change a
single shown number: class probabilities, risk score, percentile and group, the TCGA-CDR
Kaplan-Meier medians and log-rank p by grade / type / sex, and the PDF's individual prognosis.
Update the imports here when a module moves, never the numbers (unless a reviewed fix changes
behaviour, said in the commit).
"""

import json
from pathlib import Path

import pytest

GOLDEN = json.loads((Path(__file__).parent / "golden" / "demo_numbers.json").read_text())


def test_demo_prediction_numbers(demo_study, predictor):
    p = predictor.predict(demo_study)
    g = GOLDEN["prediction"]
    assert p.predicted_class == g["predicted_class"]
    assert p.risk_group == g["risk_group"]
    for k, v in g["probabilities"].items():
        assert p.probabilities[k] == pytest.approx(v, abs=1e-5)
    for k, v in g["sequence_weights"].items():
        assert p.sequence_weights[k] == pytest.approx(v, abs=1e-5)
    assert p.risk_score == pytest.approx(g["risk_score"], abs=1e-5)
    assert p.risk_percentile == pytest.approx(g["risk_percentile"], abs=1e-9)


@pytest.mark.parametrize("col", ["grade", "cancer_type", "sex"])
def test_tcga_km_numbers(col):
    from model.survival import km as sv
    from model.survival.cohorts import load_tcga_cdr

    cdr = load_tcga_cdr(endpoint="OS")
    d = cdr.dropna(subset=[col])
    med = json.loads(sv.median_survival(d, col).to_json())
    g = GOLDEN["km_tcga_os"][col]
    assert med == g["median"]
    assert sv.logrank(d, col).p_value == pytest.approx(g["logrank_p"], rel=1e-9)


def test_report_individual_prognosis(demo_study, predictor):
    from model.survival.prognosis import image_prognosis_summary
    from model.core.config import DEFAULT_CHECKPOINT

    p = predictor.predict(demo_study)
    s = image_prognosis_summary(p.risk_score, DEFAULT_CHECKPOINT).to_dict()
    g = GOLDEN["report_survival"]
    assert s["percentile"] == pytest.approx(g["percentile"])
    assert s["group"] == g["group"]
    h = json.loads(s["individual"].horizons.to_json())
    for key in ("survival", "lower", "upper"):
        for i, v in g["individual"]["horizons"][key].items():
            assert h[key][i] == pytest.approx(v, abs=1e-9)
