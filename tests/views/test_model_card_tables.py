"""Model-page tables and the per-patient Dice figure of the segmentation and tumour-type cards
(model.views.tables, model.views.model_card_figures): the cards' numbers as given, and a card
lacking a section gives an empty table, not an exception."""

import json

import pytest

from model.core.config import CHECKPOINTS_DIR
from model.views import tables as t
from model.views.model_card_figures import segment_dice_figure

SEG_CARD = json.loads((CHECKPOINTS_DIR / "segment_lgg" / "model_card.json").read_text())
TYPE_DIR = CHECKPOINTS_DIR / "type_figshare"

ALL = [t.segment_dice_table, t.segment_cv_table, t.segment_postprocessing_table,
       t.segment_subset_table, t.segment_error_table, t.segment_brats_table, t.segment_time_table,
       t.type_cv_summary_table, t.type_study_table, t.type_path_variants_table, t.type_scope_table,
       t.type_path_check_table]


@pytest.mark.parametrize("table", ALL, ids=lambda f: f.__name__)
def test_a_card_without_the_section_gives_a_table(table):
    table({})  # no KeyError / TypeError on a card that lacks the section


def test_segment_dice_table_marks_the_goal_not_met():
    table = t.segment_dice_table(SEG_CARD)
    test = SEG_CARD["metrics"]["test"]
    assert table.iloc[0]["patients"] == str(test["n_patients"])
    assert table.iloc[0]["reaches the goal"] == ("yes" if test["dice_mean"] >= 0.85 else "no")
    assert t.segment_dice_table({"metrics": {"test": {"dice_mean": 0.9, "dice_ci95": [0.85, 0.95]}}}
                                ).iloc[0]["reaches the goal"] == "yes"


def test_segment_cv_table_difference_row():
    table = t.segment_cv_table(SEG_CARD)
    diff = SEG_CARD["cv"]["flair_minus_stacked"]
    assert table.iloc[-1]["mean Dice [95% CI]"].startswith(f"{diff['mean_diff']:+.3f}")
    assert table.iloc[-1]["served"] == ("CI excludes 0" if diff["excludes_0"] else "CI includes 0")


def test_hd95_unknown_is_said_in_words():
    table = t.segment_error_table({"metrics": {"test": {"hd95_mm_median": None}}})
    assert "placeholder geometry" in table.loc[table["quantity"] == "HD95 (median)"].iloc[0, 1]
    table = t.segment_error_table({"metrics": {"test": {"hd95_mm_median": 4.25}}})
    assert table.loc[table["quantity"] == "HD95 (median)"].iloc[0, 1] == "4.2 mm"


def test_type_tables_from_the_files():
    se = json.loads((TYPE_DIR / "study_eval.json").read_text())
    table = t.type_study_table(se, goal=0.90)
    assert table.iloc[-1]["studies"].endswith("(not met)") == (se["glioma_fraction"] < 0.90)
    ood = json.loads((TYPE_DIR / "ood_mahalanobis.json").read_text())
    scope = t.type_scope_table(ood)
    n_out = sum(g["n"] for k, g in ood["meta"]["separation"]["out_of_scope"].items() if k != "tumour_free")
    assert n_out == 3  # 1 metastasis + 2 non-brain pictures: why the page says 'very few'
    assert len(scope) == 2 + len(ood["meta"]["separation"]["out_of_scope"]) + 2


def test_dice_figure_follows_the_page_theme():
    fig = segment_dice_figure({"held-out (2)": {"a": 0.5, "b": 0.9}}, {"goal": 0.85})
    # no colours of its own: st.plotly_chart(theme="streamlit") styles it (light or dark)
    assert fig.layout.paper_bgcolor is None and fig.layout.plot_bgcolor is None
    assert list(fig.data[0].text) == ["a", "b"] and list(fig.data[0].y) == [0.5, 0.9]
