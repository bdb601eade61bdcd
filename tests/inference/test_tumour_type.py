"""Tumour type of a 3D study (model.inference.tumour_type): slices, spacing, aggregation."""

import json

import numpy as np
import pytest
import torch

from model.inference.preprocess import volume_to_slices
from model.inference.tumour_type import (CANVAS, MIN_CROP_PX, TARGET_MM, TumourTypeClassifier,
                                         TumourTypeResult, aggregate, choose_indices,
                                         display_slice, display_spacing, landmarks, mask_on_grid,
                                         picture_to_model_slice, resample_to_canvas, standardise,
                                         tumour_slices)
from synthetic import Stu, Vol, affine  # tests/inference/synthetic.py


def synthetic_study(spacing=(1.0, 1.0, 1.0), shape=(150, 180, 130)):
    rng = np.random.default_rng(0)
    g = np.indices(shape, dtype=np.float32)
    r = sum(((g[i] - shape[i] / 2) / (shape[i] / 2 - 3)) ** 2 for i in range(3))
    data = np.where(r <= 1, 50 + rng.normal(0, 3, shape), 0).astype(np.float32)
    mask = np.zeros(shape, bool)
    c = [s // 2 for s in shape]
    mask[c[0] - 10:c[0] + 10, c[1] - 12:c[1] + 12, c[2] - 8:c[2] + 8] = True
    data[mask] = 150
    return Stu({"T1ce": Vol(data, affine(spacing))}), mask


def test_resampling_gives_the_training_pixel_spacing():
    img = np.ones((100, 50), np.float32)  # 100 rows of 2 mm, 50 columns of 1 mm: 200 x 50 mm
    out = resample_to_canvas(img, (2.0, 1.0))
    assert out.shape == (CANVAS, CANVAS)
    rows, cols = np.nonzero(out > 0.5)
    assert rows.max() - rows.min() + 1 == pytest.approx(200 / TARGET_MM, abs=2)
    assert cols.max() - cols.min() + 1 == pytest.approx(50 / TARGET_MM, abs=2)


def test_fov_matched_when_spacing_unknown():
    out = resample_to_canvas(np.ones((128, 128), np.float32), None)
    rows, cols = np.nonzero(out > 0.5)
    assert rows.max() - rows.min() + 1 == CANVAS and cols.max() - cols.min() + 1 == CANVAS


def test_display_orientation_matches_figshare_convention():
    d = np.zeros((10, 12, 14), np.float32)
    d[9, 11, 5] = 1  # patient right (max x), anterior (max y)
    assert display_slice(d, "axial", 5)[0, 0] == 1  # row 0 anterior, column 0 right
    d = np.zeros((10, 12, 14), np.float32)
    d[9, 4, 13] = 1  # right, superior
    assert display_slice(d, "coronal", 4)[0, 0] == 1
    d = np.zeros((10, 12, 14), np.float32)
    d[3, 11, 13] = 1  # anterior, superior
    assert display_slice(d, "sagittal", 3)[0, 0] == 1
    assert display_spacing((1.0, 2.0, 5.0), "coronal") == (5.0, 1.0)


def test_picture_path_is_the_training_path():
    rng = np.random.default_rng(0)
    img = np.zeros((256, 256), np.float32)
    img[5:250, 8:252] = rng.uniform(50, 200, (245, 244))  # foreground side 245 >= MIN_CROP_PX
    ras = np.ascontiguousarray(img.T[::-1, ::-1])[:, :, None]
    ref, _ = volume_to_slices(ras, z_index=np.array([0]))
    assert torch.allclose(picture_to_model_slice(img), ref)
    assert torch.allclose(picture_to_model_slice(img, MIN_CROP_PX), ref, atol=1e-5)
    small = np.zeros((256, 256), np.float32)
    small[100:160, 100:160] = rng.uniform(100, 200, (60, 60))  # a 60 px 'brain' keeps its scale: about 60/240 of the frame
    t = picture_to_model_slice(small, MIN_CROP_PX)[0]
    frac = (t > 0.05).float().mean().item()
    assert frac == pytest.approx((60 / MIN_CROP_PX) ** 2, rel=0.2)


def test_aggregation_of_known_slice_probabilities():
    p = np.array([[0.2, 0.8, 0.0], [0.6, 0.4, 0.0], [0.1, 0.3, 0.6]])
    np.testing.assert_allclose(aggregate(p), [0.3, 0.5, 0.2])
    with pytest.raises(ValueError):
        aggregate(np.zeros((0, 3)))


def test_slice_choice():
    assert choose_indices(np.array([0, 1, 5, 10, 6, 2])).tolist() == [2, 3, 4]
    assert choose_indices(np.zeros(5)).tolist() == []
    assert len(choose_indices(np.ones(40))) == 5


def test_standardisation_lands_on_the_reference():
    rng = np.random.default_rng(0)
    x = np.zeros((128, 128), np.float32)
    x[20:108, 20:108] = rng.gamma(4, 0.12, (88, 88)).clip(0.06, 1.4)
    ref = np.array([0.06, 0.18, 0.27, 0.33, 0.37, 0.40, 0.43, 0.46, 0.52, 0.66, 0.99])
    y = standardise(x, ref)
    np.testing.assert_allclose(landmarks(y), ref, atol=0.03)
    assert (y[x == 0] == 0).all()


def test_mask_on_another_grid_moves_by_world_coordinates():
    from model.imaging.labelmap import LabelMap

    vol = Vol(np.zeros((20, 20, 20), np.float32), affine((1.0, 1.0, 1.0), (0.0, 0.0, 0.0)))
    arr = np.zeros((10, 10, 10), np.uint8)
    arr[2, 3, 4] = 1  # at world (4, 6, 8) on a 2 mm grid
    lm = LabelMap(arr, affine((2.0, 2.0, 2.0), (0.0, 0.0, 0.0)), "mask")
    m = mask_on_grid(lm, vol)
    assert m[4, 6, 8] and m.sum() >= 1
    with pytest.raises(ValueError):
        mask_on_grid(np.zeros((5, 5, 5), bool), vol)


def test_three_planes_when_geometry_known_axial_only_when_not():
    study, mask = synthetic_study()
    where, x, warns, geom = tumour_slices(study.volumes["T1ce"], mask)
    assert geom == "known" and not warns
    assert {w[0] for w in where} == {"axial", "coronal", "sagittal"}
    assert x.shape[1:] == (1, 128, 128)
    placeholder = Vol(study.volumes["T1ce"].data, np.eye(4))
    where, x, warns, geom = tumour_slices(placeholder, mask)
    assert geom == "fov_matched" and {w[0] for w in where} == {"axial"}
    assert "unknown" in warns[0]


@pytest.fixture(scope="module")
def clf():
    torch.set_num_threads(1)
    return TumourTypeClassifier()


def test_result_and_evidence(clf):
    study, mask = synthetic_study(spacing=(1.0, 1.0, 2.0), shape=(150, 180, 65))
    res = clf.classify(study, mask)
    assert isinstance(res, TumourTypeResult)
    assert sum(res.probabilities.values()) == pytest.approx(1.0)
    assert res.predicted == max(res.probabilities, key=res.probabilities.get)
    assert res.n_slices == len(res.per_slice) == len(res.features)
    for s in res.per_slice:
        assert s.plane in ("axial", "coronal", "sagittal")
        assert sum(s.probabilities.values()) == pytest.approx(1.0)
    ev = res.evidence
    assert 0.8 < ev["cv_accuracy"] < 0.95 and len(ev["cv_accuracy_ci95"]) == 2
    assert ev["cv_n_patients"] == 187 and "meningioma" in ev["note"]
    json.dumps(res.to_dict())  # serialisable, features left out
    from model.core.errors import EmptyStudyError

    with pytest.raises(EmptyStudyError):
        clf.classify(study, np.zeros_like(mask))
    with pytest.raises(EmptyStudyError):
        clf.classify(Stu({"FLAIR": study.volumes["T1ce"]}), mask)


def test_study_eval_sidecar_is_strict_json(repo_root):
    p = repo_root / "model/checkpoints/type_figshare/study_eval.json"
    d = json.loads(p.read_text(), parse_constant=lambda c: pytest.fail(f"non-strict JSON {c}"))
    assert "No 3D meningioma or pituitary" in d["note"]
    assert 0 <= d["glioma_fraction"] <= 1


@pytest.mark.slow
@pytest.mark.needs_shared("demo_cases")
def test_demo_study_is_called_glioma(clf, demo_study):
    """The BraTS glioma demo, through the evaluation's mask (segmenter when available, else the
    FLAIR-hyperintensity stand-in)."""
    from training.type3d import _with_mask

    _, mask, _ = _with_mask(demo_study)
    res = clf.classify(demo_study, mask)
    assert res.geometry == "known" and {s.plane for s in res.per_slice} == {"axial", "coronal", "sagittal"}
    assert res.predicted == "glioma", res.probabilities


@pytest.mark.slow
@pytest.mark.needs_shared("tcga_lgg_flair_seg/labels.csv")
def test_evaluate_cli_type_task(capsys, shared_data):
    from training.evaluate import main

    assert main(["--task", "type", "--data", str(shared_data / "tcga_lgg_flair_seg"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_patients"] == 80 and 0 <= out["glioma_fraction"] <= 1


def test_segmentation_result_is_accepted_as_mask():
    from model.imaging.labelmap import LabelMap

    vol = Vol(np.zeros((8, 8, 8), np.float32), affine((1.0, 1.0, 1.0), (0.0, 0.0, 0.0)))
    arr = np.zeros((8, 8, 8), np.uint8)
    arr[2:4, 2:4, 2:4] = 1

    class Seg:  # the shape of model.inference.segment.SegmentationResult
        labelmap = LabelMap(arr, vol.affine, "predicted")

    assert mask_on_grid(Seg(), vol).sum() == 8


def test_penultimate_features_give_the_network_output(clf):
    """predict_slices (features -> linear classifier) equals the full network on K=1 slices."""
    x = torch.rand(3, 1, 128, 128)
    prob, feats = clf.predict_slices(x)
    with torch.no_grad():
        out = clf.net(x[:, None], torch.ones(3, 1, dtype=torch.bool))
    np.testing.assert_allclose(prob, torch.softmax(out["logits"].double(), 1).numpy(), atol=1e-5)
    assert feats.shape == (3, 128)
