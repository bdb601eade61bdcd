"""Longitudinal LUMIERE model: training run, checkpoint, no look-ahead, CSV validation, page."""


import numpy as np
import pandas as pd
import pytest
import torch
from streamlit.testing.v1 import AppTest

from conftest import ROOT, SHARED, needs_shared
from model.nets import checkpoint as ckpt
from model import longitudinal as lg
from model.core.errors import CheckpointError, StudyError

LUMIERE = SHARED / "lumiere_longitudinal"
CKPT = ROOT / "model" / "checkpoints" / "longitudinal_lumiere"
PAGE = str(ROOT / "pages" / "longitudinal.py")


@pytest.fixture(scope="module")
def served():
    return lg.load_longitudinal(CKPT)


@pytest.fixture(scope="module")
def held_out():
    return lg.load_held_out_visits(CKPT)


def _csv(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False).encode()


# ----------------------------------------------------------------------------- training
@needs_shared(LUMIERE)
def test_short_training_run_writes_a_loadable_checkpoint(tmp_path):
    from training.longitudinal import main

    out = tmp_path / "ckpt"
    assert main(["--data", str(SHARED), "--out", str(out), "--epochs", "3", "--folds", "2",
                 "--max-patients", "24", "--n-boot", "20"]) == 0
    model = lg.load_longitudinal(out)
    card = model.card
    assert card["sha256"] == ckpt.sha256_file(out / ckpt.WEIGHTS)
    assert "not images" in card["inputs"]["kind"].lower()
    assert "non-commercial" in card["training_data"]["licence"].lower()
    assert "Sci Data 2022;9:768" in card["training_data"]["citation"]
    assert "10.5281/zenodo.17818439" in card["training_data"]["citation"]
    assert len(card["features"]["mean"]) == len(lg.RADIOMIC_FEATURES)
    models = {r["model"] for r in card["comparison"]}
    assert models == {"network", "cox_baseline", "cox_locf"}
    train, test = set(card["training_data"]["train_patients"]), set(card["training_data"]["test_patients"])
    assert train and test and not train & test
    held = lg.load_held_out_visits(out)
    assert set(held["Patient"]) == test
    tl = lg.predict_timeline(model, held)
    assert len(tl) == len(held) and np.isfinite(tl[["os_log_hr", "ttp_log_hr"]].to_numpy()).all()

    # a modified weights file is refused
    data = bytearray((out / ckpt.WEIGHTS).read_bytes())
    data[-1] ^= 0xFF
    (out / ckpt.WEIGHTS).write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256"):
        lg.load_longitudinal(out)


def test_served_checkpoint_card_and_split(served, held_out):
    card = served.card
    train = set(card["training_data"]["train_patients"])
    test = set(card["training_data"]["test_patients"])
    assert not train & test
    assert set(held_out["Patient"]) == test
    assert {r["prediction_time"] for r in card["comparison"]} >= {"dynamic", "baseline"}
    for r in card["comparison"]:
        assert r["ci95_low"] <= r["c_index"] <= r["ci95_high"]


def test_stratified_split_is_seeded_and_disjoint():
    from training.longitudinal import stratified_folds, stratified_split

    strata = pd.Series(["1/1"] * 30 + ["1/0"] * 10 + ["0/1"] * 4, index=[f"P{i:02d}" for i in range(44)])
    a = stratified_split(strata, 0.3, 7)
    assert a == stratified_split(strata, 0.3, 7)
    train, test = a
    assert not set(train) & set(test) and len(train) + len(test) == 44
    assert (strata[test] == "0/1").sum() == 1  # every stratum represented
    folds = stratified_folds(strata[train], 3, 1)
    assert set(folds.values()) == {0, 1, 2}


def test_concordance_matches_lifelines_for_static_risks():
    from lifelines.utils import concordance_index

    from training.longitudinal import concordance

    rng = np.random.default_rng(0)
    t = rng.integers(5, 100, 40).astype(float)
    e = (rng.random(40) < 0.7).astype(float)
    r = rng.normal(size=40)
    D = np.tile(r[:, None], (1, 40))  # D[j, i] = r_j
    assert concordance(D, t, e) == pytest.approx(concordance_index(t, -r, e), abs=1e-9)


def test_risk_at_a_time_uses_only_earlier_visits():
    from training.longitudinal import visit_at

    weeks = np.array([[0, 0, 10, 20, np.inf], [0, 5, np.inf, np.inf, np.inf]])
    idx = visit_at(weeks, np.array([1, 10, 11, 30]))
    # at week 10 the visit of week 10 is not yet used (strictly before)
    assert idx.tolist() == [[1, 1, 2, 3], [0, 1, 1, 1]]


# ----------------------------------------------------------------------------- no look-ahead
def _alter_after(rows: pd.DataFrame, k: int, rng) -> pd.DataFrame:
    """Visits after index k get other features, ratings and dates, plus one extra visit."""
    v = rows.copy().reset_index(drop=True)
    later = v.index > k
    for c in lg.RADIOMIC_FEATURES:
        v.loc[later, c] = v.loc[later, c] * rng.uniform(0.2, 5.0, later.sum()) + rng.normal(size=later.sum())
    v.loc[later, "Rating"] = rng.choice(["PD", "CR", "SD"], later.sum())
    last_week = int(lg.validate_visits(v)["week_int"].max())
    extra = v.iloc[[-1]].copy()
    extra["Timepoint"] = f"week-{last_week + 7:03d}"
    extra["Rating"] = "PD"
    return pd.concat([v, extra], ignore_index=True)


@pytest.mark.parametrize("which", ["served", "random"])
def test_risk_after_visit_k_ignores_later_visits(which, served, held_out):
    if which == "served":
        model = served
    else:  # an untrained ensemble: causality is a property of the architecture
        torch.manual_seed(1)
        cfg = lg.LongitudinalConfig(n_inputs=served.spec.n_inputs, hidden=6, n_members=2)
        model = lg.LongitudinalModel(lg.LongitudinalEnsemble(cfg).eval(), served.spec, [0.0, 0.0])
    rng = np.random.default_rng(0)
    counts = held_out.groupby("Patient").size()
    pid = counts[counts >= 5].index[0]
    rows = held_out[held_out["Patient"] == pid]
    base = lg.predict_timeline(model, rows)
    for k in range(len(rows) - 1):
        alt = lg.predict_timeline(model, _alter_after(rows, k, rng))
        cols = ["os_log_hr", "ttp_log_hr"]
        np.testing.assert_allclose(alt[cols].to_numpy()[: k + 1], base[cols].to_numpy()[: k + 1],
                                   rtol=0, atol=1e-6)
        assert not np.allclose(alt[cols].to_numpy()[k + 1:len(rows)], base[cols].to_numpy()[k + 1:])
    # padding with another, longer patient in the same batch changes nothing either
    other = held_out[held_out["Patient"] == counts.idxmax()]
    both = lg.predict_timeline(model, pd.concat([rows, other]))
    np.testing.assert_allclose(both[both["Patient"] == pid][["os_log_hr", "ttp_log_hr"]].to_numpy(),
                               base[["os_log_hr", "ttp_log_hr"]].to_numpy(), rtol=0, atol=1e-6)


# ----------------------------------------------------------------------------- CSV validation
def test_good_csv_round_trip(held_out):
    pid = held_out["Patient"].iloc[0]
    raw = pd.read_csv(CKPT / lg.HELD_OUT_VISITS)
    rows = raw[raw["Patient"] == pid]
    v = lg.load_visit_table(_csv(rows))
    assert len(v) == len(rows) and v["visit_index"].tolist() == list(range(len(rows)))
    assert v["weeks_from_first_visit"].iloc[0] == 0
    # only the required columns, no Patient column, rows shuffled: still one valid patient
    minimal = rows[list(lg.REQUIRED_COLUMNS)].sample(frac=1, random_state=0)
    v2 = lg.load_visit_table(_csv(minimal))
    assert set(v2["Patient"]) == {lg.DEFAULT_PATIENT}
    assert v2["Timepoint"].tolist() == v["Timepoint"].tolist()


@pytest.mark.parametrize("mutate, message", [
    (lambda d: b"", "empty"),
    (lambda d: b"\x89PNG\r\n\x1a\n\x00\x00\x00", "not a CSV"),
    (lambda d: "Timepoint;Rating\nweek-001;PD\n".encode(), "lacks"),
    (lambda d: _csv(d.drop(columns=["original_glcm_Imc1"])), "original_glcm_Imc1"),
    (lambda d: _csv(d.assign(Timepoint="visit one")), "Timepoint"),
    (lambda d: _csv(pd.concat([d, d.iloc[[0]]])), "twice"),
    (lambda d: _csv(d.assign(Rating="progressing")), "Unknown RANO"),
    (lambda d: _csv(d.assign(original_shape_Sphericity="high")), "must hold numbers"),
    (lambda d: _csv(d.assign(original_shape_Sphericity=np.inf)), "infinite"),
    (lambda d: "Timepoint,Rating\nweek-001,é\n".encode("latin-1"), "UTF-8"),
])
def test_bad_csv_is_refused_with_a_typed_error(mutate, message, held_out):
    raw = pd.read_csv(CKPT / lg.HELD_OUT_VISITS)
    rows = raw[raw["Patient"] == raw["Patient"].iloc[0]]
    with pytest.raises(lg.VisitTableError, match=message) as info:
        lg.load_visit_table(mutate(rows))
    assert isinstance(info.value, StudyError) and isinstance(info.value, ValueError)


def test_missing_radiomics_and_ratings_are_allowed(served, held_out):
    raw = pd.read_csv(CKPT / lg.HELD_OUT_VISITS)
    rows = raw[raw["Patient"] == raw["Patient"].iloc[0]].copy()
    rows.loc[rows.index[1], list(lg.RADIOMIC_FEATURES)] = np.nan
    rows.loc[rows.index[0], "Rating"] = np.nan
    tl = lg.predict_timeline(served, lg.load_visit_table(_csv(rows)))
    assert np.isfinite(tl["os_log_hr"]).all()


# ----------------------------------------------------------------------------- page
def test_page_runs_selects_patients_and_handles_uploads(held_out):
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    assert not at.exception and not at.error
    assert len(at.get("plotly_chart")) == 1
    patients = at.selectbox(key="long_patient").options
    assert len(patients) == held_out["Patient"].nunique()
    at.selectbox(key="long_patient").set_value(patients[-1])
    at.run()
    assert not at.exception and not at.error

    upload = at.get("file_uploader")[0]
    upload.set_value([("bad.csv", b"Patient,week\nX,3\n", "text/csv")])
    at.run()
    assert not at.exception
    assert len(at.error) == 1 and "lacks" in at.error[0].value
    assert len(at.get("plotly_chart")) == 1  # the held-out timeline still shows

    raw = pd.read_csv(CKPT / lg.HELD_OUT_VISITS)
    two = raw[raw["Patient"].isin(raw["Patient"].unique()[:2])]
    at.get("file_uploader")[0].set_value([("two.csv", _csv(two), "text/csv")])
    at.run()
    assert not at.exception and not at.error
    assert len(at.get("plotly_chart")) == 2
    assert at.selectbox(key="long_upload_patient").options == list(two["Patient"].unique())
