"""Predictions and attributions on the real demo study with the served checkpoint."""

import json
import shutil

import numpy as np
import pytest

from model.core.config import DEFAULT_CHECKPOINT
from model.nets.checkpoint import load_checkpoint
from model.core.errors import CheckpointError, EmptyStudyError
from model.inference.classify import Predictor
from model.study import Study


def test_prediction_is_a_distribution_and_deterministic(predictor, demo_study):
    p1 = predictor.predict(demo_study)
    p2 = predictor.predict(demo_study)
    assert set(p1.probabilities) == set(predictor.classes)
    assert sum(p1.probabilities.values()) == pytest.approx(1.0, abs=1e-9)
    assert all(0 <= v <= 1 for v in p1.probabilities.values())
    assert p1.probabilities == p2.probabilities and p1.risk_score == p2.risk_score
    assert p1.predicted_class == max(p1.probabilities, key=p1.probabilities.get)
    # T2 is present but the model does not use it; the other three are fused.
    assert set(p1.sequence_weights) == {"T1", "T1ce", "FLAIR"}
    assert sum(p1.sequence_weights.values()) == pytest.approx(1.0, abs=1e-5)
    assert any("T2 not used" in w for w in p1.warnings)
    for seq, pairs in p1.slice_weights.items():
        assert sum(w for _, w in pairs) == pytest.approx(1.0, abs=1e-5)
        assert all(0 <= z < demo_study.volumes[seq].shape[2] for z, _ in pairs)
    assert p1.risk_group == ("high" if p1.risk_score > predictor.card["risk_threshold"] else "low")
    assert 0 <= p1.risk_percentile <= 100


def test_any_subset_of_sequences_predicts(predictor, demo_study):
    flair_only = Study(volumes={"FLAIR": demo_study.volumes["FLAIR"]})
    p = predictor.predict(flair_only)
    assert p.sequence_weights == {"FLAIR": pytest.approx(1.0)}
    assert any("missing" in w for w in p.warnings)
    with pytest.raises(EmptyStudyError):
        predictor.predict(Study(volumes={"T2": demo_study.volumes["T2"]}))


@pytest.mark.parametrize("method", ["Saliency", "IntegratedGradients"])
def test_attribution_maps_on_the_volume_grid(predictor, demo_study, method):
    maps = predictor.attribution(demo_study, method, n_steps=8)
    assert set(maps) == {"T1", "T1ce", "FLAIR"}
    for seq, m in maps.items():
        assert m.shape == demo_study.volumes[seq].shape
        assert m.dtype == np.float32 and m.min() >= 0 and m.max() <= 1
        assert (m > 0).any()
        # Nothing attributed outside the head: background voxels (zero intensity in this
        # skull-stripped study) far from the brain carry no attribution.
        assert m[:5, :5, :].max() == 0


def test_attribution_changes_with_randomised_weights(predictor, demo_study, tmp_path):
    """Adebayo et al. 2018 sanity check: maps of a randomised model must differ."""
    import torch

    maps = predictor.attribution(demo_study, "Saliency")
    rand = Predictor(predictor.checkpoint_dir)
    torch.manual_seed(1)
    for p in rand.net.classifier.parameters():
        torch.nn.init.normal_(p, std=1.0)
    rmaps = rand.attribution(demo_study, "Saliency")
    r = np.corrcoef(maps["FLAIR"].ravel()[::97], rmaps["FLAIR"].ravel()[::97])[0, 1]
    assert r < 0.95


def test_tampered_checkpoint_is_refused(tmp_path):
    dst = tmp_path / "ck"
    shutil.copytree(DEFAULT_CHECKPOINT, dst)
    raw = bytearray((dst / "model.safetensors").read_bytes())
    raw[-10] ^= 0xFF
    (dst / "model.safetensors").write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="do not match"):
        load_checkpoint(dst)


def test_card_classes_must_match_architecture(tmp_path):
    dst = tmp_path / "ck"
    shutil.copytree(DEFAULT_CHECKPOINT, dst)
    card = json.loads((dst / "model_card.json").read_text())
    card["classes"] = ["a", "b", "c"]
    (dst / "model_card.json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="disagree"):
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


def test_no_prediction_on_a_single_slice(predictor, demo_study):
    """A 2D picture (shoulder, abdomen or one brain slice) must not get a grade or a risk."""
    from model.study import Volume

    v = demo_study.volumes["FLAIR"]
    one = Volume(sequence="FLAIR", data=v.data[:, :, 70:71].copy(), affine=v.affine,
                 source_name="slice.png", source_orientation="RAS", content_hash="x")
    with pytest.raises(EmptyStudyError, match="No prediction"):
        predictor.predict(Study(volumes={"FLAIR": one}))
    # With a usable volume beside it, the slice is left out with a warning.
    p = predictor.predict(Study(volumes={"FLAIR": one, "T1ce": demo_study.volumes["T1ce"]}))
    assert set(p.sequence_weights) == {"T1ce"}
    assert any("fewer than" in w for w in p.warnings)
