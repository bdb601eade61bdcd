"""Figures follow the page's theme (dark and light); a PNG export is in light print style
(model/views/style.py, model/views/export.py)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from model.views import style
from tests.views.figure_theme import DARK, WHITE, contrast, theme_problems


def _cohort(n=80, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.where(np.arange(n) % 2 == 0, "LGG", "GBM")
    return pd.DataFrame({"time_days": rng.exponential(np.where(g == "LGG", 900, 300)) + 1,
                         "event": rng.integers(0, 2, n), "g": g, "age_years": rng.normal(50, 12, n)})


def _km(group=None):
    from model.survival import km as skm
    from model.views import survival_figures as sf

    df = _cohort()
    if group:
        df.loc[0, group] = None  # one row without a group: the figure's note annotation
    return sf.km_figure(skm.km_analysis(df, group), table_rows=("at_risk", "events", "censored"))


def _forest():
    from model.survival.cox import cox_hazard_ratios
    from model.views import survival_figures as sf

    return sf.forest_figure(cox_hazard_ratios(_cohort(), ["g", "age_years"], references={"g": "LGG"}).table)


def _histogram():
    from model.views import survival_figures as sf

    df = pd.DataFrame({"risk_score": np.linspace(-1, 1, 30), "split": ["train"] * 30})
    df["risk_group"] = np.where(df.risk_score > 0, "high", "low")
    return sf.risk_histogram(df, study_score=0.3)


def _clinical_calibration():
    from model.nets.checkpoint import read_card
    from model.core.config import CHECKPOINTS_DIR
    from model.survival import clinical_tables as ct
    from model.views.clinical_figures import clinical_calibration_figure

    card = read_card(CHECKPOINTS_DIR / "prognosis_clinical")
    s, d = ct.calibration_choices(card)[0]
    return clinical_calibration_figure(ct.calibration_of(card, s, d))


def _timeline():
    from model.views.longitudinal_figures import timeline_figure

    tl = pd.DataFrame({"Patient": "P", "Timepoint": [f"week-{w}" for w in (0, 10, 30, 50)],
                       "visit_index": range(4), "week": [0, 10, 30, 50], "rating": ["Pre-Op", None, "SD", "PD"],
                       "os_hr": [1.0, 1.4, 2.0, 3.1], "ttp_hr": [0.9, 1.2, 1.8, 2.5],
                       "progressed": [False, False, False, True]})
    return timeline_figure(tl, {"death_week": 60, "first_pd_week": 50}, "P")


def _prediction():
    from model.views import prediction_figures as pf

    p = SimpleNamespace(probabilities={"WHO II": 0.3, "WHO III": 0.7},
                        sequence_weights={"FLAIR": 0.5, "T1ce": 0.3, "T2": 0.2},
                        slice_weights={"FLAIR": [(40, 0.2), (41, 0.5), (42, 0.3)]})
    return [pf.probability_figure(p), pf.sequence_weight_figure(p), pf.slice_attention_figure(p)]


BUILDERS = {"km": lambda: _km(), "km_groups": lambda: _km("g"), "forest": _forest, "histogram": _histogram,
            "clinical_calibration": _clinical_calibration, "timeline": _timeline,
            "prediction": lambda: _prediction()}


@pytest.mark.parametrize("name", list(BUILDERS))
def test_page_figures_carry_no_colours_of_their_own(name):
    figs = BUILDERS[name]()
    for fig in figs if isinstance(figs, list) else [figs]:
        assert theme_problems(fig) == []


def test_the_check_can_fail():
    fig = go.Figure(go.Scatter(x=[0, 1], y=[0, 1], line=dict(color="#333333")))
    assert theme_problems(fig) == [".data[0].line.color = #333333 (contrast 1.4 on one theme)"]
    fig.update_layout(template="plotly_white")
    assert "a template of its own" in theme_problems(fig)
    fig.update_layout(paper_bgcolor="white")
    assert "layout.paper_bgcolor = white" in theme_problems(fig)


def test_ink_reads_on_white_and_on_the_dark_theme():
    # #808080: WCAG luminance ((128/255 + 0.055) / 1.055) ** 2.4 = 0.2159; on white
    # 1.05 / 0.2659 = 3.95; the dark background rgb(23, 22, 20) has luminance 0.0080.
    assert contrast((128, 128, 128), WHITE) == pytest.approx(3.95, abs=0.01)
    assert contrast((128, 128, 128), DARK) == pytest.approx(0.2659 / 0.0580, abs=0.02)
    assert min(contrast((128, 128, 128), WHITE), contrast((128, 128, 128), DARK)) >= 3
    assert style.INK == "#808080"


def test_print_style_is_light_black_ink_and_leaves_the_figure_alone():
    fig = _km()
    before = json.loads(fig.to_json())
    printed = style.print_style(fig)
    assert json.loads(fig.to_json()) == before
    assert printed.layout.template.layout.paper_bgcolor == "white"
    km = [t for t in printed.data if (t.meta or {}).get("role") == "km"][0]
    assert km.line.color == "#000000"  # the whole cohort's INK curve, black on paper
    assert [t.line.color for t in fig.data if (t.meta or {}).get("role") == "km"] == [style.INK]
    assert style.styled(fig, "screen") is fig
    with pytest.raises(ValueError, match="figure style"):
        style.styled(fig, "dark")


def test_png_export_is_drawn_in_print_style(monkeypatch):
    from model.views import export

    seen = {}

    def fake_to_image(self, **kw):
        seen["fig"] = json.loads(self.to_json())
        return b"\x89PNG fake"

    monkeypatch.setattr(go.Figure, "to_image", fake_to_image)
    fig = _km()
    assert export.figure_png(fig) == b"\x89PNG fake"
    assert seen["fig"]["layout"]["template"]["layout"]["paper_bgcolor"] == "white"
    export.figure_png(fig, style="screen")
    assert seen["fig"]["layout"]["template"] == json.loads(fig.to_json())["layout"]["template"]
