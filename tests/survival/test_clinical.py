"""The clinical-molecular prognosis (model.survival.clinical): lifelines equivalence, inputs used /
ignored, scope refusals, checkpoint integrity. Fits run on the committed UCSF-PDGM table."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter

from model.core.errors import CheckpointError
from model.survival.clinical import (
    ClinicalPrognosis,
    OutOfScopeError,
    _design,
    cohort_inputs,
    default_input_sets,
    load,
    scope,
)
from model.survival.cohorts import load_ucsf_pdgm

GBM = {"tumour_type": "glioblastoma", "age_years": 60, "sex": "male", "grade": 4}


@pytest.fixture(scope="module")
def ucsf():
    df = cohort_inputs(load_ucsf_pdgm())
    return df[df["age_years"] >= 18]


@pytest.fixture(scope="module")
def served():
    return load()


def test_default_sets_always_have_age_and_1p19q_only_with_idh():
    sets = default_input_sets()
    assert len(sets) == 48 and len(set(sets)) == 48
    assert all(s[0] == "age_years" for s in sets)
    assert all("idh" in s for s in sets if "codeletion_1p19q" in s)


@pytest.mark.parametrize("inputs", [("age_years",), ("age_years", "grade", "idh"),
                                    ("age_years", "sex", "grade", "idh", "codeletion_1p19q", "mgmt", "resection")])
def test_coefficients_and_curve_equal_lifelines(ucsf, inputs):
    """Hand-checkable: the stored coefficients are lifelines CoxPHFitter's on the same complete
    cases, and the individual curve is lifelines' predict_survival_function."""
    m = ClinicalPrognosis(input_sets=[inputs]).fit(ucsf, "UCSF-PDGM")
    sm = m.models_[frozenset(inputs)]
    x = _design(ucsf, inputs).dropna()
    ref = CoxPHFitter(penalizer=0.01).fit(
        x.assign(T=ucsf.loc[x.index, "time_days"], E=ucsf.loc[x.index, "event"]), "T", "E")
    np.testing.assert_allclose(sm.coef, ref.params_[sm.terms].to_numpy(), rtol=1e-10, atol=1e-12)
    assert sm.n == len(x) and sm.events == int(ucsf.loc[x.index, "event"].sum())
    patient = {"tumour_type": "astrocytoma", "age_years": 41, "sex": "female", "grade": 3, "idh": "mutant",
               "codeletion_1p19q": "intact", "mgmt": "methylated", "resection": "STR"}
    res = m.predict(patient)
    assert res.input_set == inputs
    sf = ref.predict_survival_function(_design(pd.DataFrame([res.inputs_used]), inputs)[sm.terms])
    np.testing.assert_allclose(res.survival[1:], sf.loc[res.time_days[1:]].to_numpy()[:, 0], rtol=1e-9)


def test_band_brackets_curve_and_median_ci(served):
    res = served.predict(GBM)
    assert res.time_days[0] == 0 and res.survival[0] == 1
    assert np.all(np.diff(res.survival) <= 1e-12)
    assert np.all(res.lower <= res.survival + 1e-12) and np.all(res.survival <= res.upper + 1e-12)
    lo, hi = res.median_ci_days
    assert lo <= res.median_days <= hi
    one = res.survival_at[0]
    assert one.years == 1 and one.lower < one.survival < one.upper


def test_idh_changes_grade4_five_year_survival_and_says_so(served):
    wt = served.predict({**GBM, "idh": "wildtype"})
    mut = served.predict({**GBM, "idh": "mutant"})
    assert "idh" in wt.inputs_used and "idh" in mut.inputs_used and "idh" not in wt.inputs_ignored
    assert mut.at(5).survival > wt.at(5).survival + 0.05
    assert served.predict(GBM).input_set == ("age_years", "sex", "grade")


def test_unused_inputs_are_reported_ignored(served):
    res = served.predict({**GBM, "karnofsky": 70, "codeletion_1p19q": "intact"})
    assert "karnofsky" in res.inputs_ignored and "Karnofsky" in res.inputs_ignored["karnofsky"]
    assert "with IDH" in res.inputs_ignored["codeletion_1p19q"]
    assert "codeletion_1p19q" not in res.input_set
    # the ignored values do not change the curve
    np.testing.assert_array_equal(res.survival, served.predict(GBM).survival)


def test_mgmt_changes_curve_where_the_model_uses_it(served):
    a = served.predict({**GBM, "idh": "wildtype", "mgmt": "methylated"})
    b = served.predict({**GBM, "idh": "wildtype", "mgmt": "unmethylated"})
    assert "mgmt" in a.input_set and not np.allclose(a.survival, b.survival)


def test_glioblastoma_without_grade_is_grade4(served):
    res = served.predict({"tumour_type": "GBM", "age_years": 60, "sex": "male"})
    assert res.inputs_used["grade"] == 4


@pytest.mark.parametrize("patient, words", [
    ({"tumour_type": "metastasis", "age_years": 60}, "metastases"),
    ({"tumour_type": "brain metastasis", "age_years": 60, "grade": 4}, "metastases"),
    ({"tumour_type": "meningioma", "age_years": 55, "grade": 2}, "meningioma"),
    ({"tumour_type": "pituitary", "age_years": 40}, "pituitary"),
    ({"tumour_type": "glioma", "age_years": 9, "grade": 2}, "paediatric"),
    ({"tumour_type": "glioma", "age_years": 30, "grade": 1}, "grade 1"),
    ({"tumour_type": "banana", "age_years": 50}, "unknown tumour type"),
    ({"age_years": 50, "grade": 4}, "Tumour type not given"),
    ({"tumour_type": "glioblastoma", "age_years": 50, "grade": 2}, "Contradictory"),
    ({"tumour_type": "glioma", "grade": 3}, "Age is needed"),
    ({"tumour_type": "glioma", "age_years": 40, "idh": "wildtype", "1p19q": "codeleted"}, "Contradictory"),
])
def test_scope_refusals(served, patient, words):
    sc = scope(patient)
    assert not sc.covered and words in sc.reason and "\n" not in sc.reason
    with pytest.raises(OutOfScopeError) as err:
        served.predict(patient)
    assert err.value.reason == sc.reason


@pytest.mark.parametrize("patient", [{**GBM, "idh": "maybe"}, {**GBM, "age_years": -3}, {**GBM, "grade": "V"}])
def test_unreadable_values_raise(served, patient):
    with pytest.raises(ValueError):
        served.predict(patient)


def test_checkpoint_roundtrip_and_sha256(served, tmp_path):
    again = ClinicalPrognosis.from_json(json.loads(json.dumps(served.to_json())))
    np.testing.assert_array_equal(again.predict(GBM).survival, served.predict(GBM).survival)
    from model.survival.clinical import CLINICAL_CHECKPOINT

    shutil.copytree(CLINICAL_CHECKPOINT, tmp_path / "ck")
    assert load(tmp_path / "ck").card_["name"] == "prognosis_clinical"
    f = tmp_path / "ck" / "model.json"
    f.write_text(f.read_text().replace('"coef": [', '"coef": [1.0e-3, ', 1))
    with pytest.raises(CheckpointError, match="sha256"):
        load(tmp_path / "ck")
    with pytest.raises(CheckpointError):
        load(tmp_path / "nothing")


@pytest.mark.parametrize("module", ["model.survival.clinical", "model.survival.clinical_inputs"])
def test_no_torch_plotly_streamlit_in_module_source(module):
    import ast
    import importlib

    tree = ast.parse(open(importlib.import_module(module).__file__).read())
    imports = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    imports += [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert not [m for m in imports if m.split(".")[0] in {"torch", "torchsurv", "plotly", "streamlit"}]
    assert all(m.split(".")[0] in {"__future__", "hashlib", "json", "math", "warnings", "dataclasses",
                                   "itertools", "pathlib", "numpy", "pandas", "lifelines", "model"} for m in imports)
    assert not [m for m in imports if m.startswith("model.")
                and not m.startswith(("model.core", "model.survival.clinical_inputs"))]


@pytest.mark.slow
def test_tsiatis_band_close_to_bootstrap(ucsf):
    """The analytic band's width at 1 and 2 years is within 35 % of a 200-resample bootstrap of
    the fitting patients (the two estimate the same sampling error)."""
    inputs = ("age_years", "grade", "idh")
    patient = {"tumour_type": "glioma", "age_years": 55, "grade": 4, "idh": "wildtype"}
    res = ClinicalPrognosis(input_sets=[inputs]).fit(ucsf).predict(patient)
    rng = np.random.default_rng(0)
    boots = []
    for _ in range(200):
        b = ucsf.iloc[rng.integers(0, len(ucsf), len(ucsf))].reset_index(drop=True)
        r = ClinicalPrognosis(input_sets=[inputs]).fit(b).predict(patient)
        boots.append([r.at(1).survival, r.at(2).survival])
    boots = np.asarray(boots)
    for j, y in enumerate((1, 2)):
        lo, hi = np.quantile(boots[:, j], [0.025, 0.975])
        a = res.at(y)
        assert abs((a.upper - a.lower) - (hi - lo)) < 0.35 * (hi - lo)
