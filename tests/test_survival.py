"""Tests of model/survival.py and pages/survival.py (the Survival page)."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from lifelines.statistics import logrank_test, multivariate_logrank_test

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from model import survival as sv  # noqa: E402

CDR = ROOT / "data" / "cohorts" / "tcga_cdr_lgg_gbm.csv"
needs_cdr = pytest.mark.skipif(not CDR.is_file(), reason="TCGA-CDR table not committed")


@pytest.fixture(scope="module")
def cdr_os() -> pd.DataFrame:
    return sv.load_tcga_cdr(endpoint="OS")


def _tiny() -> pd.DataFrame:
    return pd.DataFrame({"time_days": [1, 2, 2, 3, 5], "event": [1, 0, 1, 1, 0]})


def _two_groups(seed: int = 1, k: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parts = []
    for i in range(k):
        n = 40
        t = rng.exponential(300 * (i + 1), n)
        c = rng.uniform(0, 900, n)
        parts.append(
            pd.DataFrame(
                {"time_days": np.minimum(t, c).round(), "event": (t <= c).astype(int), "g": f"g{i}"}
            )
        )
    return pd.concat(parts, ignore_index=True)


# --------------------------------------------------------------------------------- at-risk table
def test_at_risk_hand_example():
    # times  [1, 2, 2, 3, 5], events [1, 0, 1, 1, 0]   (1 = event, 0 = censored)
    # t=0: at risk = all 5 (time >= 0);             events <= 0: 0;            censored: 0
    # t=1: at risk = 5 (1,2,2,3,5 all >= 1);        events <= 1: {1} -> 1;     censored: 0
    # t=2: at risk = 4 (2,2,3,5);                   events <= 2: {1, 2e} -> 2; censored {2c} -> 1
    # t=3: at risk = 2 (3,5);                       events: {1,2e,3} -> 3;     censored: 1
    # t=4: at risk = 1 (5);                         events: 3;                 censored: 1
    # t=5: at risk = 1 (5 >= 5);                    events: 3;                 censored {2c,5} -> 2
    # t=6: at risk = 0;                             events: 3;                 censored: 2
    tab = sv.at_risk_table(_tiny(), [0, 1, 2, 3, 4, 5, 6])
    assert list(tab.columns) == ["group", "time_days", "at_risk", "events", "censored"]
    assert tab["at_risk"].tolist() == [5, 5, 4, 2, 1, 1, 0]
    assert tab["events"].tolist() == [0, 1, 2, 3, 3, 3, 3]
    assert tab["censored"].tolist() == [0, 0, 1, 1, 1, 2, 2]
    assert set(tab["group"]) == {"All patients"}


def test_at_risk_grouped_and_errors():
    df = _tiny().assign(g=["a", "b", "a", "b", None])
    tab = sv.at_risk_table(df, [0, 2], group_col="g")
    # group a: times 1(e), 2(e) -> t=0: 2 at risk; t=2: 1 at risk (2), events 2
    # group b: times 2(c), 3(e) -> t=0: 2; t=2: 2 at risk, censored 1; the NaN-group row is left out
    a = tab[tab.group == "a"]
    b = tab[tab.group == "b"]
    assert a["at_risk"].tolist() == [2, 1] and a["events"].tolist() == [0, 2]
    assert b["at_risk"].tolist() == [2, 2] and b["censored"].tolist() == [0, 1]
    with pytest.raises(ValueError):
        sv.at_risk_table(_tiny(), [-1])
    with pytest.raises(ValueError):
        sv.at_risk_table(_tiny(), [])


# --------------------------------------------------------------------------------------- logrank
def test_logrank_two_groups_matches_lifelines():
    df = _two_groups()
    res = sv.logrank(df, "g")
    a, b = df[df.g == "g0"], df[df.g == "g1"]
    ref = logrank_test(a.time_days, b.time_days, a.event, b.event)
    assert res["p_value"] == pytest.approx(ref.p_value, rel=1e-12)
    assert res["test_statistic"] == pytest.approx(ref.test_statistic, rel=1e-12)
    assert res["degrees_of_freedom"] == 1 and res["n_groups"] == 2
    assert 0 < res["p_value"] < 1


def test_logrank_three_groups_multivariate():
    df = _two_groups(seed=7, k=3)
    res = sv.logrank(df, "g")
    ref = multivariate_logrank_test(df.time_days, df.g, df.event)
    assert res["n_groups"] == 3
    assert res["degrees_of_freedom"] == 2
    assert res["p_value"] == pytest.approx(ref.p_value, rel=1e-12)


def test_logrank_needs_two_groups():
    with pytest.raises(ValueError):
        sv.logrank(_tiny().assign(g="only"), "g")


# ------------------------------------------------------------------------------ real TCGA table
@needs_cdr
def test_load_tcga_cdr_counts(cdr_os):
    assert list(cdr_os.columns) == sv.COHORT_COLUMNS
    assert cdr_os["event"].dtype.kind == "i" and set(cdr_os["event"].unique()) <= {0, 1}
    assert cdr_os["time_days"].dtype == float and (cdr_os["time_days"] >= 0).all()
    by = cdr_os.groupby("cancer_type")["event"].agg(["size", "sum"])
    # Data README: GBM 576 rows / 474 deaths, LGG 492 / 120. One LGG patient (TCGA-CS-5390,
    # alive, censored) has no OS.time in the CDR and is dropped, so LGG is 491 rows, still
    # 120 deaths (the dropped row is not a death).
    assert by.loc["GBM", "size"] == 576 and by.loc["GBM", "sum"] == 474
    assert by.loc["LGG", "size"] == 491 and by.loc["LGG", "sum"] == 120
    assert "TCGA-CS-5390" not in set(cdr_os["patient_id"])
    raw = pd.read_csv(CDR)
    assert (raw["type"] == "LGG").sum() == 492
    # grade: GBM = WHO IV by definition; LGG G2/G3 -> WHO II/III; the [Discrepancy] one -> NaN
    assert (cdr_os.loc[cdr_os.cancer_type == "GBM", "grade"] == "WHO IV").all()
    lgg = cdr_os[cdr_os.cancer_type == "LGG"]
    assert set(lgg["grade"].dropna()) == {"WHO II", "WHO III"}
    assert lgg["grade"].isna().sum() == 1
    assert set(cdr_os["sex"].dropna()) == {"female", "male"}
    assert not cdr_os["histology"].astype(str).str.startswith("[").any()


@needs_cdr
def test_load_tcga_cdr_pfi_and_errors(tmp_path):
    pfi = sv.load_tcga_cdr(endpoint="PFI")
    assert len(pfi) == 1067  # same single missing-time row as OS
    raw = pd.read_csv(CDR).dropna(subset=["PFI", "PFI.time"])
    assert pfi["event"].sum() == int(raw["PFI"].sum())
    with pytest.raises(ValueError):
        sv.load_tcga_cdr(endpoint="DSS-typo")
    with pytest.raises(FileNotFoundError, match="TCGA-CDR"):
        sv.load_tcga_cdr(tmp_path / "missing.csv")


def test_load_tcga_cdr_placeholders(tmp_path):
    p = tmp_path / "cdr.csv"
    pd.DataFrame(
        {
            "bcr_patient_barcode": ["TCGA-A", "TCGA-B", "TCGA-C", "TCGA-D"],
            "type": ["LGG", "LGG", "GBM", "LGG"],
            "age_at_initial_pathologic_diagnosis": [30, "[Not Available]", 60, 40],
            "gender": ["FEMALE", "MALE", "MALE", "[Not Available]"],
            "histological_type": ["Astrocytoma", "Oligodendroglioma", "Treated primary GBM", "Astrocytoma"],
            "histological_grade": ["G2", "[Discrepancy]", "[Not Available]", "G3"],
            "OS": [1, 0, 1, "[Not Available]"],
            "OS.time": [100, 200, "[Not Available]", 50],
        }
    ).to_csv(p, index=False)
    df = sv.load_tcga_cdr(p)
    assert df["patient_id"].tolist() == ["TCGA-A", "TCGA-B"]  # C: no time, D: no event
    assert df["grade"].tolist()[0] == "WHO II" and pd.isna(df["grade"].iloc[1])
    assert math.isnan(df["age_years"].iloc[1])
    assert df["sex"].tolist() == ["female", "male"]


@needs_cdr
def test_median_survival_gbm_matches_lifelines(cdr_os):
    gbm = cdr_os[cdr_os.cancer_type == "GBM"]
    med = sv.median_survival(gbm)
    kmf = KaplanMeierFitter().fit(gbm["time_days"], gbm["event"])
    row = med.iloc[0]
    assert row["median_days"] == kmf.median_survival_time_
    # GBM median OS is ~12-15 months in the literature; TCGA-GBM gives ~14 months (430 days).
    assert 300 <= row["median_days"] <= 550
    assert row["ci_lower_days"] <= row["median_days"] <= row["ci_upper_days"]
    assert row["n"] == 576 and row["events"] == 474


def test_median_not_reached_is_inf():
    df = pd.DataFrame({"time_days": [10.0, 20, 30, 40], "event": [1, 0, 0, 0]})
    med = sv.median_survival(df)
    assert math.isinf(med["median_days"].iloc[0])  # S(t) never drops to 0.5


def test_risk_groups(tmp_path):
    pd.DataFrame(
        {
            "patient_id": list("abcdef"),
            "risk_score": [0.1, 0.2, 0.3, 0.4, 0.9, 0.05],
            "split": ["train", "train", "train", "train", "test", "val"],
            "time_days": [100, 200, 300, 400, 50, 600],
            "event": [1, 0, 1, 0, 1, 0],
            "grade": ["G2", "G3", "G2", "G3", "G3", "G2"],
        }
    ).to_csv(tmp_path / "cohort_risk.csv", index=False)
    df = sv.load_cohort_risk(tmp_path)
    # median of the train scores 0.1, 0.2, 0.3, 0.4 = 0.25 (test/val rows not used)
    assert sv.risk_threshold(df) == pytest.approx(0.25)
    assert df["risk_group"].tolist() == ["low", "low", "high", "high", "high", "low"]
    assert sv.load_cohort_risk(tmp_path / "nope") is None
    assert sv.load_cohort_risk(None) is None


# -------------------------------------------------------------------------------------- figures
def test_km_figure_structure():
    df = _two_groups(seed=3, k=3)
    df.loc[0, "g"] = None  # one row without a group -> dropped and counted
    times = [0, 200, 400]
    fig = sv.km_figure(df, group_col="g", unit="months", at_risk_times=times, highlight_group="g1")
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
    expect = sv.at_risk_table(df.dropna(subset=["g"]), times, "g")
    assert list(risk_traces[0].text) == [str(v) for v in expect[expect.group == "g0"].at_risk]
    assert "censor" in roles and roles.count("ci_lower") == 3
    meta = fig.layout.meta
    assert meta["n_dropped"] == 1 and meta["logrank"]["n_groups"] == 3
    assert "yaxis2" in fig.layout and fig.layout.yaxis2.title.text == "Number at risk"


def test_km_figure_single_group_and_invalid_unit():
    fig = sv.km_figure(_tiny(), unit="years")
    km = [t for t in fig.data if (t.meta or {}).get("role") == "km"]
    assert len(km) == 1 and fig.layout.meta["logrank"] is None
    # lifelines KM on the hand example: S = 0.8 after t=1, 0.8*3/4 = 0.6 after t=2, 0.6*1/2 = 0.3
    assert list(np.round(km[0].y, 6)) == [1.0, 0.8, 0.6, 0.3, 0.3]
    with pytest.raises(ValueError):
        sv.km_figure(_tiny(), unit="weeks")


def test_risk_histogram():
    df = pd.DataFrame({"risk_score": [0.1, 0.2, 0.3, 0.9], "split": ["train"] * 4})
    df["risk_group"] = np.where(df.risk_score > sv.risk_threshold(df), "high", "low")
    fig = sv.risk_histogram(df, study_score=0.5)
    assert fig.layout.meta["threshold"] == pytest.approx(0.25)
    assert [s.x0 for s in fig.layout.shapes] == [pytest.approx(0.25), 0.5]


# ----------------------------------------------------------------------------------------- page
def test_page_runs_default_state():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "pages" / "survival.py"), default_timeout=60)
    at.run()
    assert not at.exception
    assert at.title[0].value == "Survival"
    assert any("Load a study" in i.value for i in at.info)


def test_page_with_prediction_and_strata(tmp_path):
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
    at = AppTest.from_file(str(ROOT / "pages" / "survival.py"), default_timeout=60)
    at.session_state["checkpoint_dir"] = str(tmp_path)
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
