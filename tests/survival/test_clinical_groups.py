"""Cross-cohort risk groups of the clinical prognosis (model.survival.clinical_groups) and the
display tables of the prognosis (model.survival.clinical_tables): hand-checkable partitions,
log-rank equal to lifelines' on the same split, the card's cross-cohort C reproduced."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines.statistics import logrank_test, multivariate_logrank_test

from model.survival import clinical_groups as cg
from model.survival import clinical_tables as ct
from model.survival.clinical import ClinicalPrognosis, load
from model.survival.risk import risk_groups



@pytest.fixture(scope="module")
def ucsf_on_tcga():
    return cg.fit_cross_cohort("ucsf_pdgm", "tcga", cg.SHARED_INPUTS, n_groups=3)


@pytest.fixture(scope="module")
def served():
    return load()


def test_groups_partition_the_test_cohort(ucsf_on_tcga):
    model, res = ucsf_on_tcga
    test = cg.clinical_frame("tcga")
    complete = test[list(cg.SHARED_INPUTS)].notna().all(axis=1)
    pts = res.patients
    # every test patient with the inputs is in exactly one group; the others are counted as missing
    assert len(pts) == int(complete.sum()) and res.n_test_missing == int((~complete).sum())
    assert pts["patient_id"].is_unique and set(pts["patient_id"]) == set(test.index[complete])
    assert pts["clinical_risk_group"].notna().all()
    assert sum(v["n"] for v in res.counts.values()) == len(pts)
    assert sum(v["events"] for v in res.counts.values()) == int(pts["event"].sum())
    # by hand: group = number of cut points strictly below the risk
    lo, hi = res.cut_points
    by_hand = np.where(pts["risk"] <= lo, "low", np.where(pts["risk"] <= hi, "intermediate", "high"))
    assert (pts["clinical_risk_group"].astype(str).to_numpy() == by_hand).all()
    assert {g: v["n"] for g, v in res.counts.items()} == {g: int((by_hand == g).sum()) for g in res.labels}
    assert res.counts_table()["patients"].tolist() == [res.counts[g]["n"] for g in res.labels]
    # the KM curves are drawn from the same partition
    assert {c.group: c.n for c in res.km.curves} == {g: v["n"] for g, v in res.counts.items()}


def test_cut_points_come_from_the_training_cohort(ucsf_on_tcga):
    model, res = ucsf_on_tcga
    train = cg.clinical_frame("ucsf_pdgm")
    r = model.risk(train, res.inputs)
    r = r[np.isfinite(r)]
    assert res.cut_points == pytest.approx(tuple(np.quantile(r, [1 / 3, 2 / 3])))
    share = pd.Series(cg.assign_groups(r, res.cut_points, res.labels)).value_counts(normalize=True)
    assert all(abs(share[g] - 1 / 3) < 0.05 for g in res.labels)  # thirds of the TRAINING cohort
    assert res.n_train == len(r) and res.train_cohort == "UCSF-PDGM" and res.test_cohort == "TCGA-CDR"


def test_logrank_equals_lifelines_on_the_same_split(ucsf_on_tcga):
    _, res = ucsf_on_tcga
    pts = res.patients
    ref = multivariate_logrank_test(pts["time_days"], pts["clinical_risk_group"].astype(str), pts["event"])
    assert res.logrank.p_value == pytest.approx(float(ref.p_value), rel=1e-12, abs=1e-300)
    assert res.logrank.test_statistic == pytest.approx(float(ref.test_statistic), rel=1e-12)
    assert res.logrank.degrees_of_freedom == 2 and res.logrank.n == len(pts)
    assert res.logrank.p_value < 1e-10  # UCSF-trained groups separate TCGA-CDR


def test_two_groups_are_the_risk_module_convention():
    model, res = cg.fit_cross_cohort("tcga", "ucsf_pdgm", ("age_years", "grade"), n_groups=2)
    train = cg.clinical_frame("tcga")
    r_tr = model.risk(train, res.inputs)
    median = float(np.median(r_tr[np.isfinite(r_tr)]))
    assert res.cut_points == pytest.approx((median,))
    pts = res.patients
    assert (pts["clinical_risk_group"].astype(str).to_numpy() == risk_groups(pts["risk"], median)).all()
    a, b = (pts[pts["clinical_risk_group"] == g] for g in ("low", "high"))
    ref = logrank_test(a["time_days"], b["time_days"], a["event"], b["event"])
    assert res.logrank.p_value == pytest.approx(float(ref.p_value), rel=1e-12, abs=1e-300)


def test_cross_cohort_c_reproduces_the_card(ucsf_on_tcga, served):
    _, res = ucsf_on_tcga
    card_c = served.card_["validation"]["cross_cohort"]["age_years+sex+grade"]["ucsf_to_tcga"]
    assert res.harrell_c == pytest.approx(card_c["harrell_c"], abs=1e-9)
    assert len(res.patients) == card_c["n"] and int(res.patients["event"].sum()) == card_c["events"]


def test_assign_groups_boundaries():
    labels = cg.GROUP_LABELS[3]
    got = cg.assign_groups(np.array([-1.0, 0.0, 0.5, 1.0, 2.0, np.nan]), (0.0, 1.0), labels)
    assert got.tolist() == ["low", "low", "intermediate", "intermediate", "high", None]


def test_patient_group(ucsf_on_tcga):
    model, res = ucsf_on_tcga
    young = {"tumour_type": "astrocytoma", "age_years": 30, "sex": "female", "grade": 2}
    old = {"tumour_type": "glioblastoma", "age_years": 75, "sex": "male"}  # grade 4 from the type
    assert cg.patient_group(model, res, young) == "low"
    assert cg.patient_group(model, res, old) == "high"
    assert cg.patient_group(model, res, {"tumour_type": "glioma", "age_years": 50}) is None  # no sex/grade


@pytest.mark.parametrize("kwargs, exc", [
    (dict(train_key="tcga", test_key="tcga"), ValueError),
    (dict(train_key="ucsf_pdgm", test_key="tcga", n_groups=5), ValueError),
    (dict(train_key="lumiere", test_key="tcga"), KeyError),
    (dict(train_key="ucsf_pdgm", test_key="tcga", inputs=("age_years", "idh")), ValueError),
])
def test_refusals(kwargs, exc):
    with pytest.raises(exc):
        cg.fit_cross_cohort(**kwargs)


def test_synthetic_hand_checkable():
    rng = np.random.default_rng(0)
    n = 120
    df = pd.DataFrame({"age_years": rng.uniform(20, 80, n)})
    df["time_days"] = rng.exponential(3000 * np.exp(-(df["age_years"] - 50) / 15))
    df["event"] = (rng.uniform(size=n) < 0.8).astype(int)
    train, test = df.iloc[:80], df.iloc[80:]
    m = ClinicalPrognosis(input_sets=[("age_years",)]).fit(train, "A")
    res = cg.cross_cohort_risk_groups(m, train, test, ("age_years",), 2, "A", "B")
    # one input with a positive coefficient: the groups are the test ages above / below the
    # training median age
    assert res.hazard_ratios["age_years"] > 1
    high = test["age_years"] > np.median(train["age_years"])
    assert res.counts["high"]["n"] == int(high.sum()) and res.counts["low"]["n"] == int((~high).sum())


# ------------------------------------------------------------------ display tables
def test_inputs_sentence_and_tables(served):
    base = {"tumour_type": "astrocytoma", "age_years": 55, "sex": "male", "grade": 4, "karnofsky": 80}
    r = served.predict({**base, "idh": "wildtype"})
    s = ct.inputs_sentence(r)
    assert s == ("Age, sex, WHO grade and IDH were used; Karnofsky is not recorded in the fitting cohorts "
                 "and was ignored.")
    r0 = served.predict({"tumour_type": "glioma", "age_years": 55, "codeletion_1p19q": "intact"})
    assert ct.inputs_sentence(r0).startswith("Age was used; 1p/19q was ignored (1p/19q is used only together with IDH")
    tab = ct.inputs_table(r, {**base, "idh": "wildtype"}).set_index("input")
    assert bool(tab.loc["IDH", "used"]) and not bool(tab.loc["Karnofsky", "used"])
    assert tab.loc["MGMT", "entered"] == "unknown"
    h = ct.horizons_table(r)
    assert h["horizon"].tolist() == ["1 year", "2 years", "5 years"]
    assert ct.format_median(r, "days").endswith(")") and "days" in ct.format_median(r, "days")
    med_m = float(ct.format_median(r, "months").split()[0])
    assert med_m == pytest.approx(r.median_days / (365.25 / 12), abs=0.05)
    curve = ct.curve_table(r, "years")
    assert list(curve.columns) == ["time_years", "survival", "lower_95", "upper_95"]
    assert (curve["lower_95"] <= curve["survival"] + 1e-12).all() and (curve["survival"] <= curve["upper_95"] + 1e-12).all()


def test_card_tables(served):
    card = served.card_
    cc = ct.cross_cohort_table(card)
    row = cc[(cc["inputs"] == "age + sex + WHO grade") & (cc["trained \u2192 tested"] == "UCSF-PDGM \u2192 TCGA-CDR")]
    v = card["validation"]["cross_cohort"]["age_years+sex+grade"]["ucsf_to_tcga"]
    assert row["Harrell C (95% CI)"].iloc[0] == (f"{v['harrell_c']:.3f} ({v['harrell_c_ci95'][0]:.3f}-"
                                                 f"{v['harrell_c_ci95'][1]:.3f})")
    assert {"Uno C (95% CI)", "AUC 1y", "AUC 5y", "calibration slope (95% CI)"} <= set(cc.columns)
    assert (cc["inputs"] == "age").sum() >= 2  # the age-only baseline in both directions
    assert len(ct.anchors_table(card)) == len(card["anchors"])
    cal = ct.calibration_of(card, "age_years+sex+grade", "ucsf_to_tcga")
    assert [c["years"] for c in cal] == [1, 2, 5]
    assert ("age_years+sex+grade", "ucsf_to_tcga") in ct.calibration_choices(card)
    assert ct.calibration_of(card, "nope", "ucsf_to_tcga") == []
    assert set(ct.goals_table(card)["met"]) <= {"yes", "no"}
    assert len(ct.served_sets_table(card)) == len(card["served_sets"])


def test_figures_draw_results(served):
    from model.views import clinical_figures as cf
    from model.views.survival_figures import km_figure

    r = served.predict({"tumour_type": "glioblastoma", "age_years": 60, "sex": "male"})
    fig = cf.clinical_curve_figure(r, unit="months")
    roles = [t.meta["role"] for t in fig.data]
    assert roles == ["clinical_upper", "clinical_lower", "clinical", "clinical_horizon"]
    assert fig.data[2].x[-1] == pytest.approx(r.time_days[-1] / (365.25 / 12))
    _, res = cg.fit_cross_cohort("ucsf_pdgm", "tcga")
    km = km_figure(res.km, unit="years")
    n0 = len(km.data)
    cf.add_clinical_curve(km, r, unit="years")
    assert len(km.data) == n0 + 4
    cal = cf.clinical_calibration_figure(ct.calibration_of(served.card_, "age_years+sex+grade", "ucsf_to_tcga"))
    assert sum(1 for t in cal.data if (t.meta or {}).get("role") == "calibration") == 3
