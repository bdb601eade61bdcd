"""The Survival page (app_pages/survival.py) under Streamlit's AppTest: default state, a fake
prediction with strata, the image risk score as an experimental number, the validation and the PNG
failure message (the clinical prognosis: tests/pages/test_survival_prognosis_page.py)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from model.survival.cohorts import load_tcga_cdr


def test_page_runs_default_state(repo_root):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(repo_root / "app_pages" / "survival.py"), default_timeout=60)
    at.session_state["survival_n_boot"] = 20  # keep the validation bootstrap short in tests
    at.run()
    assert not at.exception
    assert at.title[0].value == "Survival"
    assert any("No individual prognosis yet" in i.value for i in at.info)  # no clinical inputs yet


def test_page_with_prediction_and_strata(repo_root, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    rng = np.random.default_rng(0)
    n = 60
    pd.DataFrame(
        {
            "patient_id": [f"P{i}" for i in range(n)],
            "risk_score": rng.normal(size=n),
            "split": ["train"] * 40 + ["test"] * 20,
            "time_days": rng.integers(10, 2000, n).astype(float),
            "event": rng.integers(0, 2, n),
            "grade": ["G2"] * n,
        }
    ).to_csv(tmp_path / "cohort_risk.csv", index=False)
    at = AppTest.from_file(str(repo_root / "app_pages" / "survival.py"), default_timeout=60)
    at.session_state["survival_n_boot"] = 20
    monkeypatch.setattr("model.nets.checkpoint.DEFAULT_CHECKPOINT", tmp_path)
    at.session_state["prediction"] = SimpleNamespace(
        risk_score=0.7, risk_percentile=76.0, risk_group="high"
    )
    at.run()
    assert not at.exception
    assert not any("Load a study" in i.value for i in at.info)
    at.selectbox(key="survival_strata").set_value("grade")
    at.selectbox(key="survival_unit").set_value("years")
    at.run()
    assert not at.exception
    assert any(m.label == "p-value" for m in at.metric)


def _real_ids_checkpoint(tmp_path: Path, n: int = 90) -> Path:
    """A cohort_risk.csv over real TCGA-LGG patients of the committed CDR (covariates join)."""
    cdr = load_tcga_cdr()
    lgg = cdr[(cdr.cancer_type == "LGG") & cdr.grade.notna()].head(n)
    rng = np.random.default_rng(2)
    split = ["train"] * 60 + ["val"] * 15 + ["test"] * (len(lgg) - 75)
    pd.DataFrame({
        "patient_id": lgg["patient_id"].str.replace("-", "_"),
        "risk_score": 0.02 * rng.normal(size=len(lgg)) + 0.01 * (lgg["age_years"] - 45) / 10,
        "split": split, "time_days": lgg["time_days"], "event": lgg["event"], "grade": lgg["grade"],
    }).to_csv(tmp_path / "cohort_risk.csv", index=False)
    return tmp_path


def test_page_image_score_and_validation(repo_root, cdr_os, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    ck = _real_ids_checkpoint(tmp_path)
    at = AppTest.from_file(str(repo_root / "app_pages" / "survival.py"), default_timeout=90)
    at.session_state["survival_n_boot"] = 20
    monkeypatch.setattr("model.nets.checkpoint.DEFAULT_CHECKPOINT", ck)
    at.session_state["prediction"] = SimpleNamespace(risk_score=0.01, risk_percentile=60.0, risk_group="high")
    at.run()
    assert not at.exception
    # issue 15: the image-only risk score is an experimental number with its held-out C-index,
    # not a risk group, and no individual curve is fitted on it
    score = [m.value for m in at.markdown if "image-only risk score" in m.value]
    assert len(score) == 1 and "**0.010**" in score[0] and "experimental; Harrell C on" in score[0]
    assert not any("risk group" in m.value for m in at.markdown)
    assert not any(m.label.endswith("survival") for m in at.metric)  # no clinical inputs entered
    assert any("Harrell C (95% CI)" in d.value.columns for d in at.dataframe)  # validation table
    # the image cohort no longer offers the image model's risk group (issue 15); a 3-group stratum
    # (histology) gives the multivariate log-rank p and the pairwise table with its correction
    at.session_state["survival_cohort"] = "tcga_image"
    at.session_state["survival_correction"] = "bh"
    at.run()  # the strata options depend on the cohort
    assert "predicted risk group" not in at.selectbox(key="survival_strata").options
    assert "histology" in at.selectbox(key="survival_strata").options
    at.selectbox(key="survival_strata").set_value("histology")
    at.run()
    assert not at.exception and any(m.label == "p-value" for m in at.metric)
    assert any("p_adjusted" in d.value.columns for d in at.dataframe)
    assert any("Benjamini-Hochberg" in c.value for c in at.caption)
    # kaleido failing -> a message instead of the download button, page keeps working
    from model.views import export

    monkeypatch.setattr(export, "figure_png", lambda *a, **k: (_ for _ in ()).throw(export.FigureExportError("no Chrome")))
    at.button(key="survival_png_prepare").click()
    at.run()
    assert not at.exception
    assert any("PNG export is not available" in w.value for w in at.warning)
    assert not any(getattr(b, "label", "") == "Download figure (PNG)" for b in at.get("download_button"))
