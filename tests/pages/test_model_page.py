"""The Model page's segmentation and tumour-type sections (AppTest): the cards' numbers shown as
tables (never raw JSON), next to the anchors, with the goals said plainly not met."""

import json

import pytest
from streamlit.testing.v1 import AppTest

from model.core.config import CHECKPOINTS_DIR, REPO_ROOT

MODEL = str(REPO_ROOT / "app_pages" / "model_card.py")
SEG = CHECKPOINTS_DIR / "segment_lgg"
TYPE = CHECKPOINTS_DIR / "type_figshare"


@pytest.fixture(scope="module")
def page():
    at = AppTest.from_file(MODEL, default_timeout=180)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _table(at, column):
    """The first grid (st.dataframe) or static table (st.table: the wide ones), in page order,
    with ``column``."""
    return next(e.value for e in at.main if getattr(e, "type", None) in ("dataframe", "table")
                and column in e.value.columns)


def _text(at) -> str:
    parts = [e.value for kind in ("markdown", "warning", "info", "caption") for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def test_model_page_renders_without_raw_json(page):
    assert not page.exception
    assert not page.error, [e.value for e in page.error]
    assert not page.get("json"), "the Model page shows raw JSON"
    headers = [h.value for h in page.header]
    assert any("Tumour segmentation" in h for h in headers)
    assert any("Tumour type" in h for h in headers)


def test_segmentation_dice_next_to_buda(page):
    card = json.loads((SEG / "model_card.json").read_text())
    test = card["metrics"]["test"]
    table = _table(page, "mean Dice [95% CI]")
    lo, hi = test["dice_ci95"]
    held_out = table.iloc[0]
    assert held_out["mean Dice [95% CI]"] == f"{test['dice_mean']:.3f} [{lo:.2f}, {hi:.2f}]"
    assert held_out["mean Dice [95% CI]"].startswith("0.73")
    assert held_out["median Dice [95% CI]"].startswith(f"{test['dice_median']:.3f}")
    assert held_out["reaches the goal"] == "no"
    buda = table[table["what"].str.startswith("Buda")].iloc[0]
    assert (buda["mean Dice [95% CI]"], buda["median Dice [95% CI]"]) == ("0.836", "0.873")
    assert "Goal not met" in _text(page) and "0.85" in _text(page)


def test_segmentation_design_subsets_brats_tables(page):
    cv = _table(page, "train s/run")
    assert list(cv["design"])[:2] == ["stacked", "flair"]
    assert cv.loc[cv["design"] == "stacked", "mean Dice [95% CI]"].item().startswith("0.794")
    assert cv.loc[cv["design"] == "flair", "mean Dice [95% CI]"].item().startswith("0.773")
    subsets = _table(page, "sequences given")
    assert subsets.loc[subsets["sequences given"] == "FLAIR only", "mean Dice [95% CI]"].item().startswith("0.657")
    errors = _table(page, "quantity")
    assert "placeholder geometry" in errors.loc[errors["quantity"] == "HD95 (median)"].iloc[0, 1]
    brats = _table(page, "ground truth mL")
    assert {"Brats18_CBICA_ASK_1", "Brats18_TCIA02_471_1"} <= set(brats["case"])
    assert "chosen after seeing them" in _text(page)
    dice_chart = next(c for c in page.get("plotly_chart") if "Dice per patient" in c.proto.spec)
    assert dice_chart.proto.theme == "streamlit"


def test_type_cv_accuracy_anchors_and_3d(page):
    cv = json.loads((TYPE / "cv.json").read_text())
    pooled = cv["variants"]["2d"]["pooled"]
    table = _table(page, "accuracy [95% CI]")
    lo, hi = pooled["accuracy_ci95"]
    row = table[table["id"] == "2d"].iloc[0]
    assert row["accuracy [95% CI]"] == f"{pooled['accuracy']:.3f} [{lo:.2f}, {hi:.2f}]"
    assert row["accuracy [95% CI]"].startswith("0.872")
    assert row["ROC AUC [95% CI]"].startswith("0.969")
    anchors = _table(page, "patient accuracy")
    assert {"0.948", "about 0.97", "0.885"} <= set(anchors["patient accuracy"])
    study = _table(page, "called glioma")
    assert "0.66" in set(study["glioma fraction"]) and "0.34-0.41" in set(study["glioma fraction"])
    assert any("not met" in s for s in study["studies"])
    scope = _table(page, "refused / flagged")
    assert scope.loc[scope["group"].str.startswith("BraTS metastasis"), "n"].item() == "1"
    paths = _table(page, "served for 3D studies")
    served = paths[paths["served for 3D studies"] == "yes"].iloc[0]
    assert served["accuracy [95% CI]"].startswith("0.816")
    assert paths.loc[paths["slice path"] == "training path", "accuracy [95% CI]"].item().startswith("0.868")
    assert "No 3D meningioma or pituitary study" in _text(page)


def test_every_chart_follows_the_streamlit_theme(page):
    from tests.views.figure_theme import theme_problems

    charts = page.get("plotly_chart")
    assert len(charts) >= 4
    for c in charts:
        assert c.proto.theme == "streamlit" and theme_problems(c.proto.spec) == [], c.proto.id
