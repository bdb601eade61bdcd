"""The Survival page's clinical prognosis, tumour-board risk groups and validation, and the Model
page's prognosis section, under Streamlit's AppTest.

The image-risk validation further down the Survival page is not under test here (it is
patched to "not available" so each run stays short)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from model.core.config import REPO_ROOT

SURVIVAL = str(REPO_ROOT / "app_pages" / "survival.py")
MODEL = str(REPO_ROOT / "app_pages" / "model_card.py")
GRADE4 = {"tumour_type": "astrocytoma", "age_years": 55, "sex": "male", "grade": 4, "karnofsky": 80}


@pytest.fixture()
def page(monkeypatch):
    from model import cached

    def no_validation(*a, **k):
        raise ValueError("not computed in this test")

    monkeypatch.setattr(cached, "survival_validation", no_validation)

    def make(inputs: dict | None = None) -> AppTest:
        at = AppTest.from_file(SURVIVAL, default_timeout=120)
        if inputs is not None:
            at.session_state["clinical_inputs"] = dict(inputs)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return make


def _survival(at) -> dict:
    return {m.label: m.value for m in at.metric if m.label.endswith("survival") or m.label.startswith("Median")}


def _charts(at) -> list[str]:
    return [c.proto.id for c in at.get("plotly_chart")]


def test_idh_changes_the_curve_and_is_said_used(page):
    at = page({**GRADE4, "idh": "wildtype"})
    wt = _survival(at)
    assert list(wt)[:3] == ["1-year survival", "2-year survival", "5-year survival"]
    assert any("survival_clinical_curve" in c for c in _charts(at))
    sentence = [m.value for m in at.markdown if "were used" in m.value]
    assert sentence == ["Age, sex, WHO grade and IDH were used; Karnofsky is not recorded in the fitting "
                        "cohorts and was ignored."]
    # the same inputs through the widget: IDH mutant
    at.selectbox(key="survival_clin_idh").set_value("mutant")
    at.run()
    assert not at.exception
    mut = _survival(at)
    assert mut != wt
    pct = lambda d, k: float(d[k].rstrip("%"))  # noqa: E731
    assert pct(mut, "5-year survival") > pct(wt, "5-year survival")
    assert any("IDH were used" in m.value for m in at.markdown)
    # stored once for the Prediction page and the PDF, and the page's numbers are those of the
    # shared path (model.analysis.clinical_prognosis) for the stored inputs
    stored = at.session_state["clinical_inputs"]
    assert stored["idh"] == "mutant" and stored["grade"] == 4
    # numbers as floats, as the Prediction page's number inputs expect them
    assert isinstance(stored["age_years"], float) and isinstance(stored["karnofsky"], float)
    from model.analysis import clinical_prognosis
    from model.survival.clinical import load

    res = clinical_prognosis(stored, load()).result
    assert [f"{a.survival:.0%}" for a in res.survival_at] == [mut[k] for k in list(mut)[:3]]


def test_metastasis_is_not_covered_and_has_no_curve(page):
    at = page({"tumour_type": "metastasis", "age_years": 64, "sex": "female"})
    warn = [w.value for w in at.warning if "Not covered" in w.value]
    assert len(warn) == 1 and "metastases" in warn[0]
    assert not _survival(at)
    assert not any("survival_clinical_curve" in c for c in _charts(at))


def test_no_inputs_asks_for_them(page):
    at = page(None)
    assert any("No individual prognosis yet" in i.value for i in at.info)
    assert not _survival(at)


def test_tumour_board_risk_groups_and_units(page):
    at = page({"tumour_type": "glioblastoma", "age_years": 70, "sex": "male"})
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Log-rank p"] == "< 0.0001"
    assert metrics["Harrell C on TCGA-CDR"] == "0.795"
    counts = [d.value for d in at.dataframe if "patients" in d.value.columns and "group" in d.value.columns][0]
    assert counts["group"].tolist() == ["low", "intermediate", "high"]
    assert int(counts["patients"].sum()) == 1059
    assert any("falls in the **high** group" in c.value for c in at.caption)
    labels = [b.label for b in at.get("download_button")]
    assert "Download groups: at risk + medians (CSV)" in labels and "Download patients and groups (CSV)" in labels
    # the median in the unit picked
    at.selectbox(key="survival_unit").set_value("months")
    at.run()
    assert "Median survival (months)" in _survival(at)
    # the other direction, 2 groups
    at.selectbox(key="survival_board_train").set_value("tcga")
    at.radio(key="survival_board_groups").set_value(2)
    at.run()
    assert not at.exception
    counts = [d.value for d in at.dataframe if "patients" in d.value.columns and "group" in d.value.columns][0]
    assert counts["group"].tolist() == ["low", "high"]
    assert any(m.label == "Harrell C on UCSF-PDGM" for m in at.metric)


def test_validation_table_and_calibration_on_the_survival_page(page):
    at = page(None)
    tables = [d.value for d in at.dataframe]
    cc = [t for t in tables if "Uno C (95% CI)" in t.columns and "trained \u2192 tested" in t.columns]
    assert cc and "UCSF-PDGM \u2192 TCGA-CDR" in set(cc[0]["trained \u2192 tested"])
    assert any("calibration slope (95% CI)" in t.columns for t in tables)
    assert any("source" in t.columns for t in tables)  # anchors
    assert any("survival_clinical_calibration" in c for c in _charts(at))


@pytest.mark.slow  # loads the grade model for the top of the Model page
def test_model_page_prognosis_section():
    at = AppTest.from_file(MODEL, default_timeout=180)
    at.run()
    assert not at.exception
    assert any(h.value == "Prognosis model (clinical-molecular)" for h in at.header)
    tables = [d.value for d in at.dataframe]
    assert any("Harrell C (95% CI)" in t.columns and "AUC 5y" in t.columns for t in tables)
    goals = [t for t in tables if "goal" in t.columns][0]
    assert set(goals["met"]) <= {"yes", "no"} and len(goals) == 4
    assert any("model_prognosis_calibration" in c.proto.id for c in at.get("plotly_chart"))


@pytest.mark.slow  # runs the whole app on the demo study (segmenter, type model)
def test_inputs_entered_on_the_survival_page_reach_the_prediction_page():
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=300)
    at.run()
    assert not at.exception
    at.switch_page("app_pages/survival.py")
    at.session_state["survival_n_boot"] = 20
    at.run()
    at.selectbox(key="survival_clin_tumour_type").set_value("glioblastoma")
    at.number_input(key="survival_clin_age_years").set_value(63.0)
    at.selectbox(key="survival_clin_sex").set_value("female")
    at.selectbox(key="survival_clin_karnofsky").set_value(70)
    at.run()
    assert not at.exception
    on_survival = [_survival(at)[k] for k in ("1-year survival", "2-year survival", "5-year survival")]
    at.switch_page("app_pages/prediction.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    on_prediction = [m.value for m in at.metric if m.label.endswith("-year survival")]
    assert on_prediction == on_survival
    assert at.number_input(key="clin_age_years").value == 63.0
    assert at.selectbox(key="clin_tumour_type").value == "glioblastoma"


def test_image_score_is_said_not_to_add(page):
    at = page(None)
    said = [m.value for m in at.markdown if m.value.startswith("The image risk score")]
    assert len(said) == 1 and "image patients" in said[0] and "likelihood-ratio p" in said[0]


def test_tumour_board_png_export(page, monkeypatch):
    from model.views import export

    seen = []

    def fake_png(fig, width=1000, height=None, scale=2.0):
        seen.append([t.name for t in fig.data if t.name])
        return b"\x89PNG fake"

    monkeypatch.setattr(export, "figure_png", fake_png)
    at = page({"tumour_type": "glioblastoma", "age_years": 70.0, "sex": "male"})
    at.button(key="survival_board_png_prepare").click()
    at.run()
    assert not at.exception
    assert "Download figure (PNG)" in [b.label for b in at.get("download_button")]
    # the exported figure is the board's: three groups and the patient's curve
    assert seen and {"This patient (predicted)"} <= set(seen[-1])
    assert sum(1 for n in seen[-1] if n.startswith(("low (", "intermediate (", "high ("))) == 3


def test_every_chart_follows_the_streamlit_theme(page):
    """Dark or light: each figure is drawn with Streamlit's theme and brings no background, font
    colour or grey of its own that would vanish on one theme (the KM, prognosis, board KM and
    calibration figures used to force Plotly's white template)."""
    from tests.views.figure_theme import theme_problems

    charts = page(GRADE4).get("plotly_chart")
    assert len(charts) >= 4
    for c in charts:
        assert c.proto.theme == "streamlit", c.proto.id
        assert theme_problems(c.proto.spec) == [], c.proto.id
