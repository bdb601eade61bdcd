"""Training the longitudinal LUMIERE model (training.longitudinal): a short real run, the
patient split, the concordance and the visit used at a prediction time."""

import numpy as np
import pandas as pd
import pytest

from model.core.errors import CheckpointError
from model.inference import longitudinal as lg
from model.nets import checkpoint as ckpt


# ----------------------------------------------------------------------------- training
@pytest.mark.slow
@pytest.mark.needs_shared("lumiere_longitudinal")
def test_short_training_run_writes_a_loadable_checkpoint(tmp_path, shared_data):
    from training.longitudinal import main

    out = tmp_path / "ckpt"
    assert main(["--data", str(shared_data), "--out", str(out), "--epochs", "3", "--folds", "2",
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
# ----------------------------------------------------------------------------- CSV validation
# ----------------------------------------------------------------------------- page
