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
    at.session_state["survival_n_boot"] = 20  # keep the validation bootstrap short in tests
    at.run()
    assert not at.exception
    assert at.title[0].value == "Survival"
    assert any("Load a study" in i.value for i in at.info)


def test_page_with_prediction_and_strata(tmp_path, monkeypatch):
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


# ================================================================================================
# Cohorts (model/cohorts.py): one schema, explicit unit conversion
# ================================================================================================
from model.survival import cohorts as co  # noqa: E402


def test_parse_brats_survival_text_is_censored():
    assert co.parse_brats_survival("ALIVE (1029 days later)") == (1029.0, 0.0)
    assert co.parse_brats_survival("  alive (12 day later) ") == (12.0, 0.0)
    assert co.parse_brats_survival("616") == (616.0, 1.0)
    assert co.parse_brats_survival(464) == (464.0, 1.0)
    t, e = co.parse_brats_survival(float("nan"))
    assert math.isnan(t) and math.isnan(e)
    with pytest.raises(ValueError, match="BraTS survival"):
        co.parse_brats_survival("dead, date unknown")
    with pytest.raises(ValueError):
        co.parse_brats_survival("-3")


def test_brats19_loader_alive_row_becomes_censored(tmp_path):
    p = tmp_path / "survival_data.csv"
    p.write_text(
        "BraTS19ID,Age,Survival,ResectionStatus\n"
        "A,52.3,616,GTR\n"
        "B,70.7,ALIVE (1029 days later),STR\n"
        "C,40.0,,\n"  # no survival -> dropped, not an error
    )
    m = tmp_path / "name_mapping.csv"
    m.write_text("Grade,BraTS_2019_subject_ID\nHGG,A\nHGG,B\nLGG,C\n")
    df = co.load_brats19(p, m)
    co.validate_cohort(df)
    assert df["patient_id"].tolist() == ["A", "B"]
    assert df["time_days"].tolist() == [616.0, 1029.0]
    assert df["event"].tolist() == [1, 0]
    assert df["resection"].tolist() == ["GTR", "STR"]
    assert df["brats_grade"].tolist() == ["HGG", "HGG"]


def test_islp_months_and_lumiere_weeks_to_days(tmp_path):
    p = tmp_path / "BrainCancer.csv"
    p.write_text(
        "sex,diagnosis,loc,ki,gtv,stereo,status,time\n"
        "Female,Meningioma,Infratentorial,90,6.11,SRS,0,12\n"
        "Male,HG glioma,Supratentorial,70,19.35,SRT,1,8.98\n"
    )
    df = co.load_islp_braincancer(p)
    co.validate_cohort(df)
    assert df["time_days"].tolist() == pytest.approx([12 * 30.4375, 8.98 * 30.4375])
    assert df["time_days"].iloc[0] == pytest.approx(365.25)  # 12 months = one Julian year
    assert df["event"].tolist() == [0, 1]
    assert df["karnofsky"].tolist() == [90.0, 70.0]
    assert df["karnofsky_group"].tolist() == ["KPS >= 80", "KPS < 80"]
    assert df["patient_id"].tolist() == ["ISLP-001", "ISLP-002"]
    # LUMIERE: weeks x 7, and equal to the table's own approximate-days column
    lum = co.load_lumiere()
    raw = pd.read_csv(ROOT / "data" / "cohorts" / "lumiere_patients.csv").dropna(subset=["survival_weeks"])
    assert lum["time_days"].to_numpy() == pytest.approx(raw["survival_weeks"].to_numpy() * 7.0)
    assert lum["time_days"].to_numpy() == pytest.approx(raw["os_days_approx"].to_numpy())
    assert co.weeks_to_days(89.0) == 623.0 and co.months_to_days(1.0) == 30.4375


def test_committed_cohorts_schema_and_counts():
    expected = {  # (patients, events) after dropping rows without survival
        "tcga": (1067, 594), "ucsf_pdgm": (400, 191), "brats19": (169, 168),
        "brats20": (194, 194), "islp": (71, 29), "lumiere": (68, 68),
    }
    for key, (n, ev) in expected.items():
        df = co.load_cohort(key)
        co.validate_cohort(df)
        assert (len(df), int(df["event"].sum())) == (n, ev), key
        assert set(co.COHORTS[key].strata) <= set(co.COVARIATES)
        assert len(co.stratifiable(df, key)) >= 2, key
    brats = co.load_cohort("brats19")
    alive = brats[brats["patient_id"] == "BraTS19_CBICA_BFP_1"].iloc[0]
    assert (alive["time_days"], alive["event"]) == (1029.0, 0)
    islp = co.load_cohort("islp")
    assert islp["time_days"].iloc[0] == pytest.approx(57.64 * 30.4375)
    ucsf = co.load_cohort("ucsf_pdgm")
    assert set(ucsf["idh"].dropna()) == {"wildtype", "mutant"}
    assert set(ucsf["mgmt"].dropna()) == {"methylated", "unmethylated"}
    with pytest.raises(ValueError):
        co.load_cohort("ucsf_pdgm", endpoint="PFI")
    with pytest.raises(KeyError):
        co.load_cohort("nope")
    assert co.load_cohort("tcga_image", checkpoint_dir=None) is None


# ================================================================================================
# Pairwise tests with a multiple-comparison correction
# ================================================================================================
def test_adjust_pvalues_by_hand():
    p = [0.01, 0.04, 0.03, 0.20]
    # Holm: sorted 0.01, 0.03, 0.04, 0.20 -> 4*0.01 = 0.04, 3*0.03 = 0.09, 2*0.04 = 0.08 -> running
    # max 0.09, 1*0.20 = 0.20; back in input order:
    assert sv.adjust_pvalues(p, "holm") == pytest.approx([0.04, 0.09, 0.09, 0.20])
    # BH: m/j * p_(j) = 0.04, 0.06, 0.0533, 0.20 -> running min from the largest: 0.04, 0.0533,
    # 0.0533, 0.20; back in input order:
    assert sv.adjust_pvalues(p, "bh") == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.20])
    assert sv.adjust_pvalues([0.6, 0.9], "holm").tolist() == [1.0, 1.0]  # capped at 1
    with pytest.raises(ValueError):
        sv.adjust_pvalues([0.1], "bonferroni-typo")
    with pytest.raises(ValueError):
        sv.adjust_pvalues([1.2], "holm")


def test_pairwise_logrank_holm_matches_hand_computation():
    df = _two_groups(seed=7, k=3)
    pw = sv.pairwise_logrank(df, "g", "holm")
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
    bh = sv.pairwise_logrank(df, "g", "bh")
    assert (bh["p_adjusted"] <= pw["p_adjusted"] + 1e-15).all()  # BH never exceeds Holm
    assert (pw["p_adjusted"] >= pw["p_value"]).all()


# ================================================================================================
# Figure tables, Cox, forest plot, PNG export
# ================================================================================================
def test_km_figure_events_and_censored_rows_match_hand_counts():
    df = _tiny().assign(g=["a", "b", "a", "b", "b"])
    # a: (1, e), (2, e)        b: (2, c), (3, e), (5, c)
    fig = sv.km_figure(df, "g", at_risk_times=[0, 2, 4], table_rows=("at_risk", "events", "censored"))
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
        sv.km_figure(df, "g", table_rows=("deaths",))


def _cox_data(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.choice(["a", "b"], n)
    age = rng.uniform(30, 80, n)
    lp = np.log(2.0) * (g == "b") + np.log(1.5) * (age - 55) / 10
    t = rng.exponential(1000 * np.exp(-lp))
    c = rng.uniform(0, 3000, n)
    return pd.DataFrame({"time_days": np.minimum(t, c).round(1), "event": (t <= c).astype(int),
                         "g": g, "age_years": age})


def test_cox_hazard_ratios_and_forest():
    df = _cox_data()
    df.loc[0, "age_years"] = np.nan
    hr, info = sv.cox_hazard_ratios(df, ["g", "age_years"], references={"g": "a"})
    assert info["n_missing"] == 1 and info["n"] == 299 and info["penalizer"] == 0.0
    row_g = hr[hr.covariate == "g"].iloc[0]
    assert row_g["reference"] == "a" and row_g["level"] == "b"
    assert row_g["ci_lower"] < 2.0 < row_g["ci_upper"] and row_g["hr"] > 1.3
    row_age = hr[hr.covariate == "age_years"].iloc[0]
    assert row_age["level"] == "per 10 years" and row_age["ci_lower"] < 1.5 < row_age["ci_upper"]
    fig = sv.forest_figure(hr)
    pts = [t for t in fig.data if (t.meta or {}).get("role") == "hr"][0]
    assert list(pts.y) == list(hr["term"]) and fig.layout.xaxis.type == "log"
    with pytest.raises(ValueError):
        sv.cox_hazard_ratios(df.assign(g="a"), ["g"])  # no covariate varies


def test_numpy_cox_matches_lifelines():
    df = _cox_data(150, seed=3)
    m = sv.fit_cox_model(df, ["g", "age_years"])
    X = m.data[m.terms].to_numpy(float)
    t, e = m.data["time_days"].to_numpy(float), m.data["event"].to_numpy(int)
    assert sv._cox_efron_fit(X, t, e) == pytest.approx(m.beta, rel=1e-5)
    pen = sv._fit_cph(m.data, 0.1).params_.reindex(m.terms).to_numpy()
    assert sv._cox_efron_fit(X, t, e, 0.1) == pytest.approx(pen, rel=1e-4)
    ev = np.unique(t[e == 1])[:20]
    ours = m.survival_at(df.iloc[[5]], ev)[0]
    ref = m.cph.predict_survival_function(m.data[m.terms].iloc[[5]], times=ev).to_numpy()[:, 0]
    assert ours == pytest.approx(ref, rel=1e-9)  # equal at event times (lifelines interpolates between)


def test_figure_png_failure_is_typed(monkeypatch):
    import plotly.graph_objects as go

    def boom(*a, **k):
        raise RuntimeError("no chrome here")

    fig = go.Figure()
    monkeypatch.setattr(go.Figure, "to_image", boom)
    with pytest.raises(sv.FigureExportError, match="no chrome"):
        sv.figure_png(fig)


# ================================================================================================
# Individual prognosis and validation
# ================================================================================================
def _image_cohort(n: int = 120, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Synthetic cohort_risk.csv rows + matching CDR covariates (informative risk score)."""
    rng = np.random.default_rng(seed)
    ids = [f"TCGA-XX-{i:04d}" for i in range(n)]
    age = rng.uniform(25, 75, n)
    sex = rng.choice(["female", "male"], n)
    grade = rng.choice(["WHO II", "WHO III"], n)
    risk = rng.normal(size=n)
    lp = 0.8 * risk + 0.4 * (age - 50) / 10 + 0.5 * (grade == "WHO III")
    t = rng.exponential(1500 * np.exp(-lp))
    c = rng.uniform(200, 4000, n)
    split = np.array(["train"] * int(n * 0.6) + ["val"] * int(n * 0.15) + ["test"] * (n - int(n * 0.6) - int(n * 0.15)))
    risk_df = pd.DataFrame({
        "patient_id": [i.replace("-", "_") for i in ids], "risk_score": risk, "split": split,
        "time_days": np.minimum(t, c).round(), "event": (t <= c).astype(int), "grade": grade,
    })
    cdr = pd.DataFrame({"patient_id": ids, "age_years": age.round(), "sex": sex, "grade": grade,
                        "histology": "Astrocytoma"})
    return risk_df, cdr


def test_individual_curve_monotone_with_ordered_horizons():
    risk_df, cdr = _image_cohort()
    img = sv.join_image_covariates(risk_df, cdr)
    assert img["patient_id"].iloc[0] == "TCGA-XX-0000" and img["age_years"].notna().all()
    model = sv.fit_prognostic_model(img)
    assert model.inputs == ["risk_score", "age_years", "sex"] and model.n == 72
    prog = sv.individual_survival(model, {"risk_score": 0.5, "age_years": 60, "sex": "male"}, n_boot=60)
    c = prog.curve
    assert c["survival"].iloc[0] == 1.0
    assert np.all(np.diff(c["survival"]) <= 1e-12)  # monotone non-increasing
    assert np.all(np.diff(c["lower"]) <= 1e-12) and np.all(np.diff(c["upper"]) <= 1e-12)
    assert np.all(c["lower"] <= c["survival"] + 1e-9) and np.all(c["survival"] <= c["upper"] + 1e-9)
    s1, s2, s5 = prog.horizons["survival"]
    assert 1.0 >= s1 >= s2 >= s5 >= 0.0
    assert prog.horizons["years"].tolist() == [1.0, 2.0, 5.0]
    assert prog.n_boot_ok >= 55 and 0 <= prog.percentile <= 100
    worse = sv.individual_survival(model, {"risk_score": 2.0, "age_years": 75, "sex": "male"}, n_boot=0)
    assert (worse.horizons["survival"] < prog.horizons["survival"]).all()  # higher risk, lower S
    with pytest.raises(ValueError):
        sv.individual_survival(model, {"risk_score": 0.5, "age_years": 60, "sex": "other"}, n_boot=0)


def test_uno_equals_harrell_without_censoring():
    rng = np.random.default_rng(4)
    n = 80
    t = rng.exponential(500, n) + rng.uniform(0, 1e-3, n)  # untied
    e = np.ones(n, int)
    risk = -np.log(t) + rng.normal(0, 1.0, n)
    h = sv.harrell_c(t, e, risk)
    u = sv.uno_c(t, e, risk, train_time=t, train_event=e)
    assert 0.6 < h < 0.95
    assert u == pytest.approx(h, abs=1e-9)
    # with censoring the two differ but stay in [0, 1]
    c = rng.uniform(0, 800, n)
    tc, ec = np.minimum(t, c), (t <= c).astype(int)
    uc = sv.uno_c(tc, ec, risk, train_time=tc, train_event=ec, tau_days=600)
    assert 0.5 < uc <= 1.0
    auc = sv.time_auc(tc, ec, risk, tc, ec, [200.0, 1e9])
    assert 0.5 < auc[0] <= 1.0 and math.isnan(auc[1])  # no controls after 1e9 days


def test_validate_risk_returns_json_dict():
    import json

    risk_df, cdr = _image_cohort(200, seed=1)
    res = sv.validate_risk(risk_df, cdr, n_boot=30, seed=0)
    json.dumps(res, allow_nan=False)  # model-card ready
    assert res["n_train"] == 120 and res["n_heldout"] == 80
    assert set(res["models"]) == {"image", "age", "clinical", "prognostic"}
    img = res["models"]["image"]
    for key in ("harrell_c", "uno_c"):
        d = img[key]
        assert d["ci_lower"] <= d["estimate"] <= d["ci_upper"]
        assert d["estimate"] > 0.6  # the synthetic risk score is informative
    assert [a["time_days"] for a in img["auc"]] == [365.25, 730.5]
    cal = img["calibration"][0]
    assert 0 <= cal["predicted_mean"] <= 1 and len(cal["groups"]) == 2
    assert {r["term"] for r in res["models"]["clinical"]["ph_test"]} == {
        "age_years (per 10 years)", "sex=male", "grade=WHO III"}
    assert set(res["differences"]) == {"image_minus_age", "image_minus_clinical",
                                       "prognostic_minus_age", "prognostic_minus_clinical"}
    tab = sv.validation_table(res)
    assert list(tab["model"]) == ["image", "age", "clinical", "prognostic"]
    fig = sv.calibration_figure(res)
    assert any((t.meta or {}).get("role") == "calibration" for t in fig.data)
    with pytest.raises(ValueError):
        sv.validate_risk(risk_df.assign(split="train"), cdr, n_boot=0)


# ================================================================================================
# Page: fake prediction, individual prognosis, validation, PNG failure message
# ================================================================================================
def _real_ids_checkpoint(tmp_path: Path, n: int = 90) -> Path:
    """A cohort_risk.csv over real TCGA-LGG patients of the committed CDR (covariates join)."""
    cdr = sv.load_tcga_cdr()
    lgg = cdr[(cdr.cancer_type == "LGG") & cdr.grade.notna()].head(n)
    rng = np.random.default_rng(2)
    split = ["train"] * 60 + ["val"] * 15 + ["test"] * (len(lgg) - 75)
    pd.DataFrame({
        "patient_id": lgg["patient_id"].str.replace("-", "_"),
        "risk_score": 0.02 * rng.normal(size=len(lgg)) + 0.01 * (lgg["age_years"] - 45) / 10,
        "split": split, "time_days": lgg["time_days"], "event": lgg["event"], "grade": lgg["grade"],
    }).to_csv(tmp_path / "cohort_risk.csv", index=False)
    return tmp_path


@needs_cdr
def test_page_individual_prognosis_and_validation(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    ck = _real_ids_checkpoint(tmp_path)
    at = AppTest.from_file(str(ROOT / "pages" / "survival.py"), default_timeout=90)
    at.session_state["survival_n_boot"] = 20
    monkeypatch.setattr("model.nets.checkpoint.DEFAULT_CHECKPOINT", ck)
    at.session_state["prediction"] = SimpleNamespace(risk_score=0.01, risk_percentile=60.0, risk_group="high")
    at.session_state["survival_age"] = 52  # entered covariates (widget keys), one run
    at.session_state["survival_sex"] = "female"
    at.session_state["survival_idh"] = "mutant"
    at.run()
    assert not at.exception
    surv = {m.label: float(m.value.rstrip("%")) for m in at.metric if m.label.endswith("survival")}
    assert list(surv) == ["1-year survival", "2-year survival", "5-year survival"]
    assert surv["1-year survival"] >= surv["2-year survival"] >= surv["5-year survival"]
    usage = [d for d in at.dataframe if "used by the fitted model" in d.value.columns][0].value
    used = dict(zip(usage["covariate"], usage["used by the fitted model"]))
    assert used == {"image risk score": True, "age": True, "sex": True, "Karnofsky": False,
                    "resection": False, "IDH": False, "MGMT": False}
    assert any("Harrell C (95% CI)" in d.value.columns for d in at.dataframe)  # validation table
    # the image cohort offers the predicted risk group; a 3-group stratum (histology) gives the
    # multivariate log-rank p and the pairwise table with its correction
    at.session_state["survival_cohort"] = "tcga_image"
    at.session_state["survival_correction"] = "bh"
    at.run()  # the strata options depend on the cohort
    assert "predicted risk group" in at.selectbox(key="survival_strata").options
    at.selectbox(key="survival_strata").set_value("histology")
    at.run()
    assert not at.exception and any(m.label == "p-value" for m in at.metric)
    assert any("p_adjusted" in d.value.columns for d in at.dataframe)
    assert any("Benjamini-Hochberg" in c.value for c in at.caption)
    # kaleido failing -> a message instead of the download button, page keeps working
    monkeypatch.setattr(sv, "figure_png", lambda *a, **k: (_ for _ in ()).throw(sv.FigureExportError("no Chrome")))
    at.button(key="survival_png_prepare").click()
    at.run()
    assert not at.exception
    assert any("PNG export is not available" in w.value for w in at.warning)
    assert not any(getattr(b, "label", "") == "Download figure (PNG)" for b in at.get("download_button"))
