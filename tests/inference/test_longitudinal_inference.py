"""Longitudinal inference (model.inference.longitudinal): the served checkpoint, no look-ahead,
visit-table (CSV) validation."""

import numpy as np
import pandas as pd
import pytest
import torch

from model.core.config import CHECKPOINTS_DIR
from model.core.errors import StudyError, VisitTableError
from model.inference import longitudinal as lg
from model.nets.longitudinal import LongitudinalConfig, LongitudinalEnsemble

CKPT = CHECKPOINTS_DIR / "longitudinal_lumiere"


@pytest.fixture(scope="module")
def served():
    return lg.load_longitudinal(CKPT)


@pytest.fixture(scope="module")
def held_out():
    return lg.load_held_out_visits(CKPT)


@pytest.fixture(scope="module")
def raw_rows():
    """The first held-out patient's rows as stored (not validated)."""
    raw = pd.read_csv(CKPT / lg.HELD_OUT_VISITS)
    return raw[raw["Patient"] == raw["Patient"].iloc[0]]


def _csv(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False).encode()


def test_served_checkpoint_card_and_split(served, held_out):
    card = served.card
    train = set(card["training_data"]["train_patients"])
    test = set(card["training_data"]["test_patients"])
    assert not train & test
    assert set(held_out["Patient"]) == test
    assert {r["prediction_time"] for r in card["comparison"]} >= {"dynamic", "baseline"}
    for r in card["comparison"]:
        assert r["ci95_low"] <= r["c_index"] <= r["ci95_high"]


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
        cfg = LongitudinalConfig(n_inputs=served.spec.n_inputs, hidden=6, n_members=2)
        model = lg.LongitudinalModel(LongitudinalEnsemble(cfg).eval(), served.spec, [0.0, 0.0])
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


def test_good_csv_round_trip(raw_rows):
    rows = raw_rows
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
def test_bad_csv_is_refused_with_a_typed_error(mutate, message, raw_rows):
    with pytest.raises(VisitTableError, match=message) as info:
        lg.load_visit_table(mutate(raw_rows))
    assert isinstance(info.value, StudyError) and isinstance(info.value, ValueError)


def test_missing_radiomics_and_ratings_are_allowed(served, raw_rows):
    rows = raw_rows.copy()
    rows.loc[rows.index[1], list(lg.RADIOMIC_FEATURES)] = np.nan
    rows.loc[rows.index[0], "Rating"] = np.nan
    tl = lg.predict_timeline(served, lg.load_visit_table(_csv(rows)))
    assert np.isfinite(tl["os_log_hr"]).all()
