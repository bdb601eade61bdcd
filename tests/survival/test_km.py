"""Kaplan-Meier statistics (model/survival/km.py): at-risk table, medians, log-rank, pairwise
tests and the typed :class:`KMAnalysis`."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from lifelines.statistics import logrank_test, multivariate_logrank_test

from model.survival import km as skm


def test_at_risk_hand_example(tiny):
    # times  [1, 2, 2, 3, 5], events [1, 0, 1, 1, 0]   (1 = event, 0 = censored)
    # t=0: at risk = all 5 (time >= 0);             events <= 0: 0;            censored: 0
    # t=1: at risk = 5 (1,2,2,3,5 all >= 1);        events <= 1: {1} -> 1;     censored: 0
    # t=2: at risk = 4 (2,2,3,5);                   events <= 2: {1, 2e} -> 2; censored {2c} -> 1
    # t=3: at risk = 2 (3,5);                       events: {1,2e,3} -> 3;     censored: 1
    # t=4: at risk = 1 (5);                         events: 3;                 censored: 1
    # t=5: at risk = 1 (5 >= 5);                    events: 3;                 censored {2c,5} -> 2
    # t=6: at risk = 0;                             events: 3;                 censored: 2
    tab = skm.at_risk_table(tiny, [0, 1, 2, 3, 4, 5, 6])
    assert list(tab.columns) == ["group", "time_days", "at_risk", "events", "censored"]
    assert tab["at_risk"].tolist() == [5, 5, 4, 2, 1, 1, 0]
    assert tab["events"].tolist() == [0, 1, 2, 3, 3, 3, 3]
    assert tab["censored"].tolist() == [0, 0, 1, 1, 1, 2, 2]
    assert set(tab["group"]) == {"All patients"}


def test_at_risk_grouped_and_errors(tiny):
    df = tiny.assign(g=["a", "b", "a", "b", None])
    tab = skm.at_risk_table(df, [0, 2], group_col="g")
    # group a: times 1(e), 2(e) -> t=0: 2 at risk; t=2: 1 at risk (2), events 2
    # group b: times 2(c), 3(e) -> t=0: 2; t=2: 2 at risk, censored 1; the NaN-group row is left out
    a = tab[tab.group == "a"]
    b = tab[tab.group == "b"]
    assert a["at_risk"].tolist() == [2, 1] and a["events"].tolist() == [0, 2]
    assert b["at_risk"].tolist() == [2, 2] and b["censored"].tolist() == [0, 1]
    with pytest.raises(ValueError):
        skm.at_risk_table(tiny, [-1])
    with pytest.raises(ValueError):
        skm.at_risk_table(tiny, [])


def test_logrank_two_groups_matches_lifelines(groups_data):
    df = groups_data()
    res = skm.logrank(df, "g")
    a, b = df[df.g == "g0"], df[df.g == "g1"]
    ref = logrank_test(a.time_days, b.time_days, a.event, b.event)
    assert res.p_value == pytest.approx(ref.p_value, rel=1e-12)
    assert res.test_statistic == pytest.approx(ref.test_statistic, rel=1e-12)
    assert res.degrees_of_freedom == 1 and res.n_groups == 2
    assert 0 < res.p_value < 1


def test_logrank_three_groups_multivariate(groups_data):
    df = groups_data(seed=7, k=3)
    res = skm.logrank(df, "g")
    ref = multivariate_logrank_test(df.time_days, df.g, df.event)
    assert res.n_groups == 3
    assert res.degrees_of_freedom == 2
    assert res.p_value == pytest.approx(ref.p_value, rel=1e-12)


def test_logrank_needs_two_groups(tiny):
    with pytest.raises(ValueError):
        skm.logrank(tiny.assign(g="only"), "g")


def test_median_survival_gbm_matches_lifelines(cdr_os):
    gbm = cdr_os[cdr_os.cancer_type == "GBM"]
    med = skm.median_survival(gbm)
    kmf = KaplanMeierFitter().fit(gbm["time_days"], gbm["event"])
    row = med.iloc[0]
    assert row["median_days"] == kmf.median_survival_time_
    # GBM median OS is ~12-15 months in the literature; TCGA-GBM gives ~14 months (430 days).
    assert 300 <= row["median_days"] <= 550
    assert row["ci_lower_days"] <= row["median_days"] <= row["ci_upper_days"]
    assert row["n"] == 576 and row["events"] == 474


def test_median_not_reached_is_inf():
    df = pd.DataFrame({"time_days": [10.0, 20, 30, 40], "event": [1, 0, 0, 0]})
    med = skm.median_survival(df)
    assert math.isinf(med["median_days"].iloc[0])  # S(t) never drops to 0.5


def test_adjust_pvalues_by_hand():
    p = [0.01, 0.04, 0.03, 0.20]
    # Holm: sorted 0.01, 0.03, 0.04, 0.20 -> 4*0.01 = 0.04, 3*0.03 = 0.09, 2*0.04 = 0.08 -> running
    # max 0.09, 1*0.20 = 0.20; back in input order:
    assert skm.adjust_pvalues(p, "holm") == pytest.approx([0.04, 0.09, 0.09, 0.20])
    # BH: m/j * p_(j) = 0.04, 0.06, 0.0533, 0.20 -> running min from the largest: 0.04, 0.0533,
    # 0.0533, 0.20; back in input order:
    assert skm.adjust_pvalues(p, "bh") == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.20])
    assert skm.adjust_pvalues([0.6, 0.9], "holm").tolist() == [1.0, 1.0]  # capped at 1
    with pytest.raises(ValueError):
        skm.adjust_pvalues([0.1], "bonferroni-typo")
    with pytest.raises(ValueError):
        skm.adjust_pvalues([1.2], "holm")


def test_pairwise_logrank_holm_matches_hand_computation(groups_data):
    df = groups_data(seed=7, k=3)
    pw = skm.pairwise_logrank(df, "g", "holm")
    assert list(zip(pw.group_a, pw.group_b)) == [("g0", "g1"), ("g0", "g2"), ("g1", "g2")]
    raw = []
    for a, b in zip(pw.group_a, pw.group_b):
        A, B = df[df.g == a], df[df.g == b]
        raw.append(logrank_test(A.time_days, B.time_days, A.event, B.event).p_value)
    assert pw["p_value"].tolist() == pytest.approx(raw, rel=1e-12)
    order = np.argsort(raw)
    holm = np.empty(3)
    running = 0.0
    for rank, i in enumerate(order):  # (m - rank) * p, running maximum, capped at 1
        running = max(running, min(1.0, (3 - rank) * raw[i]))
        holm[i] = running
    assert pw["p_adjusted"].to_numpy() == pytest.approx(holm, rel=1e-12)
    bh = skm.pairwise_logrank(df, "g", "bh")
    assert (bh["p_adjusted"] <= pw["p_adjusted"] + 1e-15).all()  # BH never exceeds Holm
    assert (pw["p_adjusted"] >= pw["p_value"]).all()


def test_km_analysis_typed_result(groups_data):
    df = groups_data(seed=3, k=3)
    df.loc[0, "g"] = None  # one row without a group -> dropped and counted
    res = skm.km_analysis(df, "g", unit="months", at_risk_times=[0, 200, 400], correction="bh")
    assert isinstance(res, skm.KMAnalysis)
    assert res.groups == ["g0", "g1", "g2"] and res.n == len(df) - 1 and res.n_dropped == 1
    assert isinstance(res.logrank, skm.LogRankResult) and res.logrank.n_groups == 3
    assert res.logrank.to_dict()["degrees_of_freedom"] == 2
    assert res.pairwise is not None and set(res.pairwise["correction"]) == {"bh"}
    g0 = df[df.g == "g0"]
    kmf = KaplanMeierFitter().fit(g0["time_days"], g0["event"])
    c0 = res.curves[0]
    assert c0.survival == pytest.approx(kmf.survival_function_.iloc[:, 0].to_numpy())
    assert c0.time_days[-1] == g0["time_days"].max() and c0.n == len(g0)
    assert c0.censor_days.tolist() == sorted(g0.loc[g0.event == 0, "time_days"])
    assert res.at_risk.equals(skm.at_risk_table(df.dropna(subset=["g"]), [0, 200, 400], "g"))
    # no group column: one curve, no test; default table times are round numbers of the unit
    one = skm.km_analysis(df, None, unit="years")
    assert one.groups == ["All patients"] and one.logrank is None and one.logrank_error is None
    assert one.at_risk_times_days == skm.default_at_risk_times(df["time_days"].max(), "years")
    # one level only: the log-rank test is not applicable, said in words
    single = skm.km_analysis(df.assign(g="x"), "g")
    assert single.logrank is None and "at least 2 groups" in single.logrank_error


@pytest.mark.parametrize("frame, group_col, kwargs", [
    (pd.DataFrame({"time_days": [1.0], "event": [1], "g": [None]}), "g", {}),   # no row with a group
    (pd.DataFrame({"time_days": [1.0], "event": [1]}), None, {"unit": "weeks"}),
    (pd.DataFrame({"time_days": [1.0], "event": [1]}), None, {"correction": "bonferroni"}),
    (pd.DataFrame({"time_days": [1.0], "event": [1]}), None, {"at_risk_times": [-1.0]}),
    (pd.DataFrame({"time_days": [1.0]}), None, {}),                               # no event column
])
def test_km_analysis_refusals(frame, group_col, kwargs):
    with pytest.raises(ValueError):
        skm.km_analysis(frame, group_col, **kwargs)


@pytest.mark.parametrize("text, unit, expected", [
    ("", "days", None),
    ("1, 2", "years", [365.25, 730.5]),
    ("6;3 3", "months", [3 * 30.4375, 6 * 30.4375]),
])
def test_parse_times(text, unit, expected):
    assert skm.parse_times(text, unit) == (None if expected is None else pytest.approx(expected))


@pytest.mark.parametrize("text, unit", [("-1", "days"), ("a, 2", "days"), ("1", "weeks")])
def test_parse_times_refuses(text, unit):
    with pytest.raises(ValueError):
        skm.parse_times(text, unit)
