"""training.prognosis: the served checkpoint reproduces its card, the card is strict JSON and
its decision follows the rule written before the run; the evaluation command's prognosis C."""

import json

import numpy as np
import pytest

from model.survival.clinical import CLINICAL_CHECKPOINT, load
from model.survival.validation import harrell_c
from training.prognosis import AGE, AGE_SEX_GRADE, SHARED_SETS, load_data, run


@pytest.fixture(scope="module")
def card():
    def no_nan(x):
        raise ValueError(f"non-strict JSON constant {x}")

    return json.loads((CLINICAL_CHECKPOINT / "model_card.json").read_text(), parse_constant=no_nan)


@pytest.fixture(scope="module")
def data():
    return load_data()


def test_card_has_the_numbers(card):
    for k in ("decision_rule", "decision", "validation", "goals", "anchors", "data", "image_patients_note", "sha256"):
        assert k in card
    cc = card["validation"]["cross_cohort"]["age_years+sex+grade"]
    for way in ("ucsf_to_tcga", "tcga_to_ucsf", "ucsf_to_image88", "pooled_to_image88"):
        r = cc[way]
        assert 0.5 < r["harrell_c"] < 1 and r["harrell_c_ci95"][0] < r["harrell_c"] < r["harrell_c_ci95"][1]
        assert {"uno_c", "uno_c_ci95", "auc", "calibration_slope", "calibration"} <= set(r)
        assert [c["years"] for c in r["calibration"]] == [1, 2, 5]
    assert "age_years" in card["validation"]["cross_cohort"]  # the age-only comparison
    assert card["limitations"] and len(card["served_sets"]) == card["decision"]["n_sets_served"]
    served = load()
    for row in card["served_sets"]:
        assert served.models_[frozenset(row["inputs"])].c_index == row["c_index"]
    assert "excluded" in card["image_patients_note"] or "without them" in card["image_patients_note"]


def test_decision_follows_the_rule(card):
    checks = card["decision"]["pooling_check"]
    pool = all(v["harrell_c"] >= 0.70 and 0.7 <= v["calibration_slope"] <= 1.3 for v in checks.values())
    assert card["decision"]["pool_shared_sets"] == pool
    served = load()
    want = "UCSF-PDGM + TCGA-CDR" if pool else "UCSF-PDGM"
    for s in SHARED_SETS:
        assert served.models_[frozenset(s)].cohort.startswith(want)
    assert served.models_[frozenset(("age_years", "sex", "grade", "idh"))].cohort == "UCSF-PDGM"


def test_served_checkpoint_reproduces_card_c_on_image_patients(card, data):
    """The 88 held-out image patients (TCGA-CDR rows, never fitted on): the served age+sex+grade
    model's Harrell C from the checkpoint equals the card's."""
    served = load()
    test = data["image88"].dropna(subset=list(AGE_SEX_GRADE))
    c = harrell_c(test["time_days"].to_numpy(), test["event"].to_numpy(), served.risk(test, AGE_SEX_GRADE))
    assert c == pytest.approx(card["validation"]["served_on_image88"]["harrell_c"], abs=1e-12)
    assert len(test) == card["validation"]["served_on_image88"]["n"]
    assert not set(data["image88"].index) & set(data["tcga_train"].index)


def test_ucsf_model_reproduces_card_c_on_tcga(card, data):
    """The served UCSF age+sex+grade+IDH fit is the run's UCSF fit: its C within UCSF-PDGM CV
    is in the card, and the pooled age-only model reproduces the card's C on the image patients."""
    served = load()
    test = data["image88"]
    c = harrell_c(test["time_days"].to_numpy(), test["event"].to_numpy(), served.risk(test, AGE))
    assert c == pytest.approx(card["validation"]["cross_cohort"]["age_years"]["pooled_to_image88"]["harrell_c"], abs=1e-12)


@pytest.mark.needs_shared("tcga_clinical/tcga_lgg_flair_seg_survival.csv")
def test_evaluate_prognosis_c_index(shared_data, card):
    import pandas as pd

    from training.evaluate import prognosis_c_index

    csv = shared_data / "tcga_clinical" / "tcga_lgg_flair_seg_survival.csv"
    ids = pd.read_csv(csv)["bcr_patient_barcode"].str.replace("-", "_").tolist()
    out = prognosis_c_index(csv, ids, n_boot=200)
    assert out["prognosis_n"] == 88 and out["prognosis_refused"] == 0
    lo, hi = out["c_index_prognosis_ci95"]
    assert lo < out["c_index_prognosis"] < hi
    assert out["c_index_age_only"] == pytest.approx(
        card["validation"]["cross_cohort"]["age_years"]["pooled_to_image88"]["harrell_c"], abs=1e-12)
    assert abs(out["c_index_prognosis"] - card["validation"]["served_on_image88"]["harrell_c"]) < 0.02


@pytest.mark.slow
def test_training_run_writes_a_loadable_checkpoint(tmp_path):
    card = run(tmp_path / "ck", n_boot=20, cv_repeats=1, log=lambda s: None)
    m = load(tmp_path / "ck")
    assert len(m.models_) == card["decision"]["n_sets_served"]
    res = m.predict({"tumour_type": "glioblastoma", "age_years": 70, "sex": "female"})
    assert res.c_index["value"] > 0.5 and np.isfinite(res.survival).all()
