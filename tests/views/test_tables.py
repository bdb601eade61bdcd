"""Display tables and figures (model.views.tables, prediction_figures, model_card_figures,
longitudinal_figures) draw results as given."""

import json
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from model.core.config import CHECKPOINTS_DIR, DEFAULT_CHECKPOINT
from model.views import tables
from model.views.longitudinal_figures import timeline_figure
from model.views.model_card_figures import attribution_curve_figure, cv_fold_auc_figure
from model.views.prediction_figures import (probability_figure, sequence_weight_figure,
                                            slice_attention_figure)


@pytest.mark.parametrize("value, spec, shown", [
    (0.123456, ".2f", "0.12"),
    (2, ".3f", "2.000"),
    ("0.5", ".2f", "0.50"),
    (None, ".2f", "n/a"),
    (math.nan, ".2f", "n/a"),
    (math.inf, ".2f", "n/a"),
    ("high", ".2f", "n/a"),
    ([1, 2], ".2f", "n/a"),
])
def test_fmt_num(value, spec, shown):
    assert tables.fmt_num(value, spec) == shown


@pytest.mark.parametrize("c, lo, hi, shown", [
    (0.7123, 0.6, 0.81, "0.712 [0.60, 0.81]"),
    (0.7123, None, None, "0.712"),
    (0.7123, math.nan, math.nan, "0.712"),
    (None, 0.1, 0.2, "n/a"),
    (math.nan, 0.1, 0.2, "n/a"),
])
def test_fmt_ci(c, lo, hi, shown):
    assert tables.fmt_ci(c, lo, hi) == shown


def _timeline():
    return pd.DataFrame({"Timepoint": ["week-000", "week-010", "week-020"], "week": [0, 10, 20],
                         "visit_index": [0, 1, 2], "rating": [np.nan, "SD", "PD"],
                         "os_hr": [1.0, 1.234, 2.5], "ttp_hr": [0.8, 1.5, 3.0],
                         "progressed": [False, False, True]})


def test_timeline_table_says_after_progression():
    t = tables.timeline_table(_timeline())
    assert list(t.columns) == ["time point", "week", "RANO", "death HR", "progression HR"]
    assert t["RANO"].tolist() == ["missing", "SD", "PD"]
    assert t["death HR"].tolist() == [1.0, 1.23, 2.5]
    assert t["progression HR"].tolist() == ["0.80", "1.50", "after progression"]


def test_timeline_figure_stops_progression_at_first_pd():
    fig = timeline_figure(_timeline(), {"death_week": 30.0, "first_pd_week": 20}, "P1")
    names = [t.name for t in fig.data]
    assert names[:2] == ["death (OS) hazard ratio", "progression hazard ratio (until first PD)"]
    ttp = fig.data[1].y
    assert ttp[2] is None or np.isnan(ttp[2])  # no progression risk once progressed
    assert {"RANO missing", "RANO SD", "RANO PD"} <= set(names)


def test_card_tables_match_the_committed_reports():
    card = json.loads((DEFAULT_CHECKPOINT / "model_card.json").read_text())
    m = tables.metrics_table(card)
    assert list(m["split"]) == list(card["metrics"])
    test = card["metrics"]["test"]
    assert m.loc[m["split"] == "test", "accuracy"].item().startswith(f"{test['accuracy']:.3f}")
    cv = json.loads((DEFAULT_CHECKPOINT / "cv.json").read_text())
    assert list(tables.cv_table(cv)["id"]) == list(cv["variants"])
    assert len(cv_fold_auc_figure(cv).data) == len(cv["variants"])
    ev = json.loads((DEFAULT_CHECKPOINT / "attribution_eval.json").read_text())
    assert list(tables.attribution_eval_table(ev)["method"]) == list(ev["methods"])
    for kind in ("deletion", "insertion"):
        assert len(attribution_curve_figure(ev, kind).data) == len(ev["methods"]) + 1
    lcard = json.loads((CHECKPOINTS_DIR / "longitudinal_lumiere" / "model_card.json").read_text())
    comp = tables.longitudinal_comparison_table(lcard)
    assert len(comp) == len(lcard["comparison"])
    assert set(comp["model"]) <= {"LSTM over visits", "Cox, baseline visit",
                                  "Cox, last observation (time-varying)"}


def test_prediction_figures_draw_the_prediction_as_given():
    pred = SimpleNamespace(probabilities={"WHO grade II": 0.3, "WHO grade III": 0.7},
                           sequence_weights={"T1ce": 0.25, "FLAIR": 0.75},
                           slice_weights={"T1ce": [(10, 0.2), (12, 0.8)], "FLAIR": [(10, 0.5), (12, 0.5)]})
    bars = probability_figure(pred).data[0]
    assert list(bars.x) == [0.3, 0.7] and list(bars.y) == ["WHO grade II", "WHO grade III"]
    w = sequence_weight_figure(pred).data[0]
    assert list(w.x) == ["T1ce", "FLAIR"] and list(w.y) == [0.25, 0.75]
    fig = slice_attention_figure(pred)
    assert [t.name for t in fig.data] == ["T1ce", "FLAIR"]
    assert fig.layout.annotations[0].text == "T1ce max z=12"


def test_study_summary_table_in_words(demo_study):
    tbl = tables.study_summary_table(demo_study, drop=("warnings",))
    assert list(tbl.index) == ["T1", "T1ce", "T2", "FLAIR"] and tbl.index.name == "sequence"
    flair = tbl.loc["FLAIR"]
    v = demo_study.volumes["FLAIR"]  # the demo: 240 x 240 x 155 voxels of 1 mm, stored LPS
    assert flair["voxels"] == "240 x 240 x 155" == " x ".join(map(str, v.shape))
    assert flair["spacing (mm)"] == "1.00 x 1.00 x 1.00"
    assert (flair["orientation"], flair["as stored"], flair["geometry"]) == ("RAS", "LPS", "known")
    assert "warnings" not in tbl.columns and "shape" not in tbl.columns
