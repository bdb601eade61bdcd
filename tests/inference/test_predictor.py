"""Predictions and attributions on the real demo study with the served checkpoint."""

import numpy as np
import pytest

from model.core.errors import EmptyStudyError
from model.imaging.study import Study
from model.inference.classify import Predictor, uncertainty


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


@pytest.mark.parametrize("method", ["Saliency", pytest.param("IntegratedGradients", marks=pytest.mark.slow)])
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


def test_no_prediction_on_a_single_slice(predictor, demo_study):
    """A 2D picture (shoulder, abdomen or one brain slice) must not get a grade or a risk."""
    from model.imaging.volume import Volume

    v = demo_study.volumes["FLAIR"]
    one = Volume(sequence="FLAIR", data=v.data[:, :, 70:71].copy(), affine=v.affine,
                 source_name="slice.png", source_orientation="RAS", content_hash="x")
    with pytest.raises(EmptyStudyError, match="No prediction"):
        predictor.predict(Study(volumes={"FLAIR": one}))
    # With a usable volume beside it, the slice is left out with a warning.
    p = predictor.predict(Study(volumes={"FLAIR": one, "T1ce": demo_study.volumes["T1ce"]}))
    assert set(p.sequence_weights) == {"T1ce"}
    assert any("fewer than" in w for w in p.warnings)


@pytest.mark.parametrize("probs, entropy, margin", [
    ({"a": 0.5, "b": 0.5}, 1.0, 0.0),
    ({"a": 0.99, "b": 0.01}, 0.0808, 0.98),
    ({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}, 1.0, 0.0),
    ({"a": 1.0}, 0.0, 1.0),
])
def test_uncertainty_entropy_and_margin(probs, entropy, margin):
    u = uncertainty(probs)
    assert u["entropy"] == pytest.approx(entropy, abs=1e-3)
    assert u["margin"] == pytest.approx(margin, abs=1e-9)
