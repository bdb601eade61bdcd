"""Survival figures (model/views/survival_figures.py) draw typed results without refitting;
PNG export (model/views/export.py) fails with a typed error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model.survival import km as skm
from model.survival.cox import cox_hazard_ratios
from model.survival.risk import risk_threshold
from model.views import export
from model.views import survival_figures as sf


def test_km_figure_structure(groups_data):
    df = groups_data(seed=3, k=3)
    df.loc[0, "g"] = None  # one row without a group -> dropped and counted
    times = [0, 200, 400]
    fig = sf.km_figure(skm.km_analysis(df, "g", unit="months", at_risk_times=times), unit="months",
                       highlight_group="g1")
    roles = [(t.meta or {}).get("role") for t in fig.data]
    km = [t for t in fig.data if (t.meta or {}).get("role") == "km"]
    assert len(km) == 3 and [t.meta["group"] for t in km] == ["g0", "g1", "g2"]
    # highlighted curve is thicker
    widths = {t.meta["group"]: t.line.width for t in km}
    assert widths["g1"] > widths["g0"] and widths["g1"] > widths["g2"]
    # x axis in months: the last KM x equals the group's max time / 30.4375
    g0 = df[df.g == "g0"]
    assert km[0].x[-1] == pytest.approx(g0.time_days.max() / 30.4375)
    # at-risk subplot (second row, own y axis) with the same numbers as at_risk_table
    risk_traces = [t for t in fig.data if (t.meta or {}).get("role") == "at_risk"]
    assert len(risk_traces) == 3 and all(t.yaxis == "y2" for t in risk_traces)
    expect = skm.at_risk_table(df.dropna(subset=["g"]), times, "g")
    assert list(risk_traces[0].text) == [str(v) for v in expect[expect.group == "g0"].at_risk]
    assert "censor" in roles and roles.count("ci_lower") == 3
    meta = fig.layout.meta
    assert meta["n_dropped"] == 1 and meta["logrank"]["n_groups"] == 3
    assert "yaxis2" in fig.layout and fig.layout.yaxis2.title.text == "Number at risk"


def test_km_figure_single_group_and_invalid_unit(tiny):
    fig = sf.km_figure(skm.km_analysis(tiny, unit="years"), unit="years")
    km = [t for t in fig.data if (t.meta or {}).get("role") == "km"]
    assert len(km) == 1 and fig.layout.meta["logrank"] is None
    # lifelines KM on the hand example: S = 0.8 after t=1, 0.8*3/4 = 0.6 after t=2, 0.6*1/2 = 0.3
    assert list(np.round(km[0].y, 6)) == [1.0, 0.8, 0.6, 0.3, 0.3]
    with pytest.raises(ValueError):
        sf.km_figure(skm.km_analysis(tiny), unit="weeks")


def test_risk_histogram():
    df = pd.DataFrame({"risk_score": [0.1, 0.2, 0.3, 0.9], "split": ["train"] * 4})
    df["risk_group"] = np.where(df.risk_score > risk_threshold(df), "high", "low")
    fig = sf.risk_histogram(df, study_score=0.5)
    assert fig.layout.meta["threshold"] == pytest.approx(0.25)
    assert [s.x0 for s in fig.layout.shapes] == [pytest.approx(0.25), 0.5]


def test_km_figure_events_and_censored_rows_match_hand_counts(tiny):
    df = tiny.assign(g=["a", "b", "a", "b", "b"])
    # a: (1, e), (2, e)        b: (2, c), (3, e), (5, c)
    fig = sf.km_figure(skm.km_analysis(df, "g", at_risk_times=[0, 2, 4]),
                       table_rows=("at_risk", "events", "censored"))
    by_role = {}
    for t in fig.data:
        m = t.meta or {}
        if m.get("role") in ("at_risk", "events", "censored"):
            by_role[(m["role"], m["group"])] = list(t.text)
            assert t.yaxis == {"at_risk": "y2", "events": "y3", "censored": "y4"}[m["role"]]
    assert by_role[("at_risk", "a")] == ["2", "1", "0"]
    assert by_role[("events", "a")] == ["0", "2", "2"]
    assert by_role[("censored", "a")] == ["0", "0", "0"]
    assert by_role[("at_risk", "b")] == ["3", "3", "1"]
    assert by_role[("events", "b")] == ["0", "0", "1"]
    assert by_role[("censored", "b")] == ["0", "1", "1"]
    titles = {a.name: a.text for a in fig.layout.annotations if (a.name or "").startswith("table_title")}
    assert titles == {"table_title_at_risk": "<b>Number at risk</b>",
                      "table_title_events": "<b>Cumulative events</b>",
                      "table_title_censored": "<b>Censored</b>"}
    with pytest.raises(ValueError):
        sf.km_figure(skm.km_analysis(df, "g"), table_rows=("deaths",))


def test_figure_png_failure_is_typed(monkeypatch):
    import plotly.graph_objects as go

    def boom(*a, **k):
        raise RuntimeError("no chrome here")

    fig = go.Figure()
    monkeypatch.setattr(go.Figure, "to_image", boom)
    with pytest.raises(export.FigureExportError, match="no chrome"):
        export.figure_png(fig)


def test_km_figure_does_not_refit(groups_data, monkeypatch):
    """The figure draws the analysis it is given: lifelines is never called while drawing."""
    res = skm.km_analysis(groups_data(seed=2, k=2), "g")

    def no_fit(*a, **k):
        raise AssertionError("km_figure refitted")

    monkeypatch.setattr("lifelines.KaplanMeierFitter.fit", no_fit)
    monkeypatch.setattr(skm, "logrank_test", no_fit)
    fig = sf.km_figure(res)
    km_tr = [t for t in fig.data if (t.meta or {}).get("role") == "km"]
    assert [list(t.y) for t in km_tr] == [list(c.survival) for c in res.curves]
    assert fig.layout.meta["logrank"] == res.logrank.to_dict()


def test_km_figure_refuses_an_empty_analysis(tiny):
    res = skm.km_analysis(tiny)
    res.curves = []
    with pytest.raises(ValueError):
        sf.km_figure(res)


def test_forest_and_individual_curve(cox_data):
    df = cox_data()
    hr = cox_hazard_ratios(df, ["g", "age_years"], references={"g": "a"}).table
    fig = sf.forest_figure(hr)
    pts = [t for t in fig.data if (t.meta or {}).get("role") == "hr"][0]
    assert list(pts.y) == list(hr["term"]) and fig.layout.xaxis.type == "log"
    with pytest.raises(ValueError):
        sf.forest_figure(hr.iloc[:0])
    from model.survival.cox import CoxModel
    from model.survival.prognosis import individual_survival

    prog = individual_survival(CoxModel(["g", "age_years"]).fit(df), {"g": "b", "age_years": 60.0}, n_boot=5)
    fig = sf.add_individual_curve(sf.km_figure(skm.km_analysis(df, "g")), prog, unit="days")
    roles = [(t.meta or {}).get("role") for t in fig.data]
    assert {"individual", "individual_ci_upper", "individual_ci_lower", "individual_horizon"} <= set(roles)


def test_group_colors_fixed_and_palette():
    c = sf.group_colors(["low", "high", "x", "y"])
    assert c["low"] == "#0072B2" and c["high"] == "#D55E00"
    assert len({c["x"], c["y"], c["low"], c["high"]}) == 4
