"""The Prediction page with the served scope rule: a study the tumour-type scope check refuses
gets no type and no experimental grade, even when the user enters "glioma" (issue 14: the
grade only for studies inside its scope). The demo is such a study today (skull-stripped,
OOD score above the threshold: model/checkpoints/type_figshare/strip_check.json)."""

import json

import pytest
from streamlit.testing.v1 import AppTest

from model.core.config import REPO_ROOT

DEMO = "brats_gli_00001_000 (= data/demo_study)"


def _demo_in_scope() -> bool:
    side = json.loads((REPO_ROOT / "model/checkpoints/type_figshare/ood_mahalanobis.json").read_text())
    return side["meta"]["scores"]["brats_glioma"][DEMO]["score"] <= side["threshold"]


@pytest.mark.skipif(_demo_in_scope(), reason="the served scope rule admits the demo")
def test_out_of_scope_demo_gets_no_grade_even_as_a_glioma():
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=180)
    at.run()
    at.session_state["clinical_inputs"] = {"age_years": 45.0, "tumour_type": "glioma"}
    at.switch_page("app_pages/prediction.py")
    at.run()
    assert not at.exception and not at.error
    assert "prediction" not in at.session_state          # the grade model never ran
    warnings, infos = [w.value for w in at.warning], [i.value for i in at.info]
    assert any(w.startswith("Outside what this model knows: its tumour slices look unlike")
               for w in warnings), warnings              # the type: the OOD refusal
    assert any("whatever the clinical inputs say" in i for i in infos), infos  # the grade
    metrics = {m.label for m in at.metric}
    assert "1-year survival" in metrics                  # the clinical prognosis still shows
    assert not any(w.value.startswith("WHO grade") for w in at.warning)
