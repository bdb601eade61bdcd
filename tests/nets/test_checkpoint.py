"""Checkpoints (model.nets.checkpoint): verified before serving, the card agrees with its
weights, the cross-validation warning follows the card."""

import json
import shutil

import numpy as np
import pytest

from model.core.config import DEFAULT_CHECKPOINT
from model.core.errors import CheckpointError
from model.nets.checkpoint import CARD, WEIGHTS, evidence_warning, load_checkpoint


def _flip_last_byte(ck):
    raw = bytearray((ck / WEIGHTS).read_bytes())
    raw[-10] ^= 0xFF
    (ck / WEIGHTS).write_bytes(bytes(raw))


def _edit_card(**changes):
    def edit(ck):
        card = json.loads((ck / CARD).read_text())
        card.update(changes)
        (ck / CARD).write_text(json.dumps(card))
    return edit


def _delete(name):
    return lambda ck: (ck / name).unlink()


def _write(name, text):
    return lambda ck: (ck / name).write_text(text)


@pytest.mark.parametrize("damage, message", [
    (_flip_last_byte, "do not match"),
    (_edit_card(classes=["a", "b", "c"]), "disagree"),
    (_edit_card(architecture={"channels": "many"}), "do not fit|no valid architecture"),
    (_edit_card(architecture=None), "no valid architecture"),
    (_delete(WEIGHTS), "missing"),
    (_delete(CARD), "No model card"),
    (_write(CARD, "{not json"), "not valid JSON"),
], ids=["weights-modified", "classes", "architecture-values", "no-architecture",
        "weights-missing", "card-missing", "card-not-json"])
def test_damaged_checkpoint_is_refused(tmp_path, damage, message):
    dst = tmp_path / "ck"
    shutil.copytree(DEFAULT_CHECKPOINT, dst)
    damage(dst)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(dst)


def test_card_records_held_out_metrics():
    card = json.loads((DEFAULT_CHECKPOINT / "model_card.json").read_text())
    split = card["training_data"]["split"]
    assert not set(split["test"]) & set(split["train"])
    assert not set(split["test"]) & set(split["val"])
    test = card["metrics"]["test"]
    assert test["n_patients"] == len(split["test"])
    cm = np.array(test["confusion_matrix"])
    assert cm.sum() == test["n_patients"]
    assert test["accuracy"] == pytest.approx(np.trace(cm) / cm.sum())


@pytest.mark.parametrize("auc,warn", [([0.39, 0.26, 0.53], True), ([0.70, 0.50, 0.85], True),
                                      ([0.80, 0.66, 0.91], False), (None, False)])
def test_evidence_warning_follows_the_cross_validated_ci(auc, warn):
    card = {"cross_validation": {"n_patients": 70, "n_folds": 5, "shipped_pooled_roc_auc": auc}}
    msg = evidence_warning(card)
    assert (msg is not None) == warn
    if warn:
        assert f"{auc[0]:.2f}" in msg and f"{auc[1]:.2f}-{auc[2]:.2f}" in msg and "70 patients" in msg
    assert evidence_warning({}) is None
