"""Individual prognosis (model/survival/prognosis.py): the curve and its band, which entered
covariates are used, the PDF's ImagePrognosisSummary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model.survival import prognosis as pg
from model.survival.cohorts import join_image_covariates


def test_individual_curve_monotone_with_ordered_horizons(image_cohort):
    risk_df, cdr = image_cohort()
    img = join_image_covariates(risk_df, cdr)
    assert img["patient_id"].iloc[0] == "TCGA-XX-0000" and img["age_years"].notna().all()
    model = pg.fit_prognostic_model(img)
    assert model.inputs_ == ["risk_score", "age_years", "sex"] and model.n_ == 72
    prog = pg.individual_survival(model, {"risk_score": 0.5, "age_years": 60, "sex": "male"}, n_boot=60)
    c = prog.curve
    assert c["survival"].iloc[0] == 1.0
    assert np.all(np.diff(c["survival"]) <= 1e-12)  # monotone non-increasing
    assert np.all(np.diff(c["lower"]) <= 1e-12) and np.all(np.diff(c["upper"]) <= 1e-12)
    assert np.all(c["lower"] <= c["survival"] + 1e-9) and np.all(c["survival"] <= c["upper"] + 1e-9)
    s1, s2, s5 = prog.horizons["survival"]
    assert 1.0 >= s1 >= s2 >= s5 >= 0.0
    assert prog.horizons["years"].tolist() == [1.0, 2.0, 5.0]
    assert prog.n_boot_ok >= 55 and 0 <= prog.percentile <= 100
    worse = pg.individual_survival(model, {"risk_score": 2.0, "age_years": 75, "sex": "male"}, n_boot=0)
    assert (worse.horizons["survival"] < prog.horizons["survival"]).all()  # higher risk, lower S
    with pytest.raises(ValueError):
        pg.individual_survival(model, {"risk_score": 0.5, "age_years": 60, "sex": "other"}, n_boot=0)


@pytest.mark.parametrize("entered, cohort_cols, inputs", [
    ({}, ("age_years", "sex"), ("risk_score",)),
    ({"age_years": 52, "sex": "female"}, ("age_years", "sex"), ("risk_score", "age_years", "sex")),
    ({"age_years": 52, "sex": pg.UNKNOWN}, ("age_years", "sex"), ("risk_score", "age_years")),
    ({"age_years": 52, "sex": "male"}, ("sex",), ("risk_score", "sex")),  # no ages recorded
    ({"age_years": None, "sex": "male", "idh": "mutant", "karnofsky": "90"}, ("age_years", "sex"),
     ("risk_score", "sex")),  # IDH / Karnofsky are never model inputs
])
def test_select_prognosis_inputs(entered, cohort_cols, inputs):
    cohort = pd.DataFrame({"risk_score": [0.1, 0.2], "age_years": [50.0, 60.0], "sex": ["female", "male"]})
    for c in ("age_years", "sex"):
        if c not in cohort_cols:
            cohort[c] = np.nan
    chosen = pg.select_prognosis_inputs(cohort, 0.3, entered)
    assert chosen.inputs == inputs and set(chosen.values) == set(inputs)
    assert chosen.values["risk_score"] == 0.3
    if "age_years" in inputs:
        assert chosen.values["age_years"] == 52.0 and isinstance(chosen.values["age_years"], float)


def test_covariate_usage_table():
    entered = {"age_years": 52, "sex": pg.UNKNOWN, "karnofsky": "90", "resection": pg.UNKNOWN,
               "idh": "mutant", "mgmt": pg.UNKNOWN}
    tab = pg.covariate_usage(0.1234, entered, ["risk_score", "age_years"])
    assert list(tab.columns) == ["covariate", "entered", "used by the fitted model", "note"]
    rows = {r.covariate: r for r in tab.itertuples()}
    assert rows["image risk score"].entered == "0.123"
    assert rows["age"].entered == "52 years" and rows["age"].note == "Cox covariate (per 10 years)"
    assert rows["sex"].entered == "unknown" and rows["sex"].note == "not entered"
    assert rows["IDH"].entered == "mutant" and not rows["IDH"][3]
    assert rows["Karnofsky"].note.startswith("recorded only")
    no_age = pg.covariate_usage(0.1, {"age_years": 40}, ["risk_score"])
    assert no_age.loc[1, "note"] == "not available for the fitting patients"


def test_image_prognosis_summary(tmp_path, image_cohort):
    risk_df, _ = image_cohort(120, seed=2)
    assert pg.image_prognosis_summary(0.0, tmp_path) is None  # no cohort_risk.csv
    risk_df.to_csv(tmp_path / "cohort_risk.csv", index=False)
    train = risk_df[risk_df["split"] == "train"]
    med = float(np.median(train["risk_score"]))
    s = pg.image_prognosis_summary(med, tmp_path, n_boot=20)
    assert isinstance(s, pg.ImagePrognosisSummary)
    assert s.group == "low" and s.threshold == pytest.approx(med)  # at the median: low
    assert s.percentile == pytest.approx(100 * np.mean(train["risk_score"] <= med))
    assert s.n == len(train) and s.events == int(train["event"].sum())
    assert set(s.cohort_km) == {"low", "high"} and s.individual is not None
    assert s.individual.horizons["years"].tolist() == [1.0, 2.0, 5.0]
    assert s.to_dict()["individual"] is s.individual and "bootstrap" in s.note
    # too few events for a Cox model: cohort curves only, said in the note
    risk_df.assign(event=0).to_csv(tmp_path / "cohort_risk.csv", index=False)
    few = pg.image_prognosis_summary(med, tmp_path, n_boot=5)
    assert few.individual is None and "ValueError" in few.note
