"""Cohorts (model/survival/cohorts/): one schema, TCGA-CDR loading, explicit unit conversion,
the registry."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from model.survival import cohorts as co
from model.survival.risk import risk_threshold


def test_load_tcga_cdr_counts(cdr_os, cdr_path):
    assert list(cdr_os.columns) == co.tcga.COHORT_COLUMNS
    assert cdr_os["event"].dtype.kind == "i" and set(cdr_os["event"].unique()) <= {0, 1}
    assert cdr_os["time_days"].dtype == float and (cdr_os["time_days"] >= 0).all()
    by = cdr_os.groupby("cancer_type")["event"].agg(["size", "sum"])
    # Data README: GBM 576 rows / 474 deaths, LGG 492 / 120. One LGG patient (TCGA-CS-5390,
    # alive, censored) has no OS.time in the CDR and is dropped, so LGG is 491 rows, still
    # 120 deaths (the dropped row is not a death).
    assert by.loc["GBM", "size"] == 576 and by.loc["GBM", "sum"] == 474
    assert by.loc["LGG", "size"] == 491 and by.loc["LGG", "sum"] == 120
    assert "TCGA-CS-5390" not in set(cdr_os["patient_id"])
    raw = pd.read_csv(cdr_path)
    assert (raw["type"] == "LGG").sum() == 492
    # grade: GBM = WHO IV by definition; LGG G2/G3 -> WHO II/III; the [Discrepancy] one -> NaN
    assert (cdr_os.loc[cdr_os.cancer_type == "GBM", "grade"] == "WHO IV").all()
    lgg = cdr_os[cdr_os.cancer_type == "LGG"]
    assert set(lgg["grade"].dropna()) == {"WHO II", "WHO III"}
    assert lgg["grade"].isna().sum() == 1
    assert set(cdr_os["sex"].dropna()) == {"female", "male"}
    assert not cdr_os["histology"].astype(str).str.startswith("[").any()


def test_load_tcga_cdr_pfi_and_errors(cdr_os, cdr_path, tmp_path):
    pfi = co.load_tcga_cdr(endpoint="PFI")
    assert len(pfi) == 1067  # same single missing-time row as OS
    raw = pd.read_csv(cdr_path).dropna(subset=["PFI", "PFI.time"])
    assert pfi["event"].sum() == int(raw["PFI"].sum())
    with pytest.raises(ValueError):
        co.load_tcga_cdr(endpoint="DSS-typo")
    with pytest.raises(FileNotFoundError, match="TCGA-CDR"):
        co.load_tcga_cdr(tmp_path / "missing.csv")


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
    df = co.load_tcga_cdr(p)
    assert df["patient_id"].tolist() == ["TCGA-A", "TCGA-B"]  # C: no time, D: no event
    assert df["grade"].tolist()[0] == "WHO II" and pd.isna(df["grade"].iloc[1])
    assert math.isnan(df["age_years"].iloc[1])
    assert df["sex"].tolist() == ["female", "male"]


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
    df = co.load_cohort_risk(tmp_path)
    # median of the train scores 0.1, 0.2, 0.3, 0.4 = 0.25 (test/val rows not used)
    assert risk_threshold(df) == pytest.approx(0.25)
    assert df["risk_group"].tolist() == ["low", "low", "high", "high", "high", "low"]
    assert co.load_cohort_risk(tmp_path / "nope") is None
    assert co.load_cohort_risk(None) is None


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


def test_islp_months_and_lumiere_weeks_to_days(tmp_path, repo_root):
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
    raw = pd.read_csv(repo_root / "data" / "cohorts" / "lumiere_patients.csv").dropna(subset=["survival_weeks"])
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


@pytest.mark.parametrize("key, numeric", [
    ("tcga", ["age_years"]),
    ("islp", ["karnofsky", "tumor_volume_cm3"]),
    ("lumiere", ["age_years", "n_visits"]),
])
def test_adjusters_and_references(key, numeric):
    df = co.load_cohort(key)
    adj = co.adjusters(df, key)
    assert adj[:len(numeric)] == numeric and "split" not in adj
    assert adj[len(numeric):] == co.stratifiable(df, key)
    assert co.adjusters(None, key) == []
    refs = co.cox_references(adj)
    assert all(refs[c] == co.COVARIATES[c].levels[0] for c in refs)
    assert co.covariate_label("age_years") == "age" and co.covariate_label("nope") == "nope"


@pytest.mark.parametrize("key, text", [
    ("islp", "converted from months (x 30.4375 days)"),
    ("lumiere", "converted from weeks (x 7 days)"),
    ("brats19", "days; 'ALIVE (N days later)' = censored at N"),
    ("tcga", "days"),
])
def test_time_conversion_text(key, text):
    assert co.time_conversion_text(co.COHORTS[key]) == text


def test_cohorts_import_no_statistics():
    """The cohorts package needs neither the statistics modules nor plotly / torch."""
    import subprocess
    import sys

    code = ("import sys, model.survival.cohorts; "
            "bad = [m for m in ('model.survival.km', 'model.survival.cox', 'plotly', 'torch', "
            "'streamlit') if m in sys.modules]; print(bad); sys.exit(bool(bad))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
