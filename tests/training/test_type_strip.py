"""Skull-stripped copies of figshare slices (training.type_strip) and the --strip-aug option."""

import json

import numpy as np
import pytest


def _head(n=256, r_head=100, r_brain=86, scalp=200.0, brain=80.0):
    """A disk 'head': a bright ring (scalp/skull) from r_brain to r_head around a darker brain."""
    yy, xx = np.mgrid[:n, :n]
    r = np.hypot(yy - n / 2 + 0.5, xx - n / 2 + 0.5)
    img = np.zeros((n, n), np.float32)
    img[r <= r_head] = scalp
    img[r <= r_brain] = brain
    return img, r


def test_strip_removes_the_outer_ring_and_keeps_the_brain():
    from training.type_strip import STRIP_PX, strip_skull

    img, r = _head()
    out = strip_skull(img)
    assert out.shape == img.shape and out.dtype == np.float32 and STRIP_PX == 12
    # scipy erodes with a 3x3 cross: 12 iterations remove a diamond (city-block) margin, so a
    # point of the radius-100 disk survives iff its diamond of radius 12 stays inside: up to
    # radius 88 along the axes and 91.1 on the diagonals ((a + 12)^2 + a^2 = 100^2, a = 64.4).
    assert (out[r > 91.5] == 0).all() and (out[(r > 91.5) & (r <= 100)] == 0).all()
    keep = r <= 87.5
    np.testing.assert_array_equal(out[keep], img[keep])
    assert (out[r <= 86] == 80.0).all()  # the whole brain is kept


def test_strip_needs_a_positive_erosion():
    from training.type_strip import strip_skull

    img, _ = _head()
    with pytest.raises(ValueError):
        strip_skull(img, 0)  # scipy's iterations=0 would erode until nothing is left


def test_stripped_slice_is_a_model_slice_at_the_3d_paths_scale():
    from model.inference.tumour_type import MIN_CROP_PX, picture_to_model_slice
    from training.type_strip import strip_skull, stripped_slice

    img, _ = _head()
    x = stripped_slice(img)
    assert tuple(x.shape) == (1, 128, 128) and float(x.min()) >= 0.0 and float(x.max()) <= 1.5
    np.testing.assert_array_equal(x.numpy(), picture_to_model_slice(strip_skull(img), MIN_CROP_PX).numpy())


@pytest.mark.slow
@pytest.mark.needs_shared("figshare_cheng")
def test_short_type_training_with_skull_strip_augmentation(tmp_path, shared_data):
    import pandas as pd

    from training.train import parse_args, train

    lab = pd.read_csv(shared_data / "figshare_cheng" / "labels.csv", dtype={"patient_id": str})
    per_class = [sorted(lab.loc[lab["label"] == k, "patient_id"].unique())[:3] for k in (1, 2, 3)]
    split = {"train": [p[0] for p in per_class], "val": [p[1] for p in per_class],
             "test": [p[2] for p in per_class]}
    (tmp_path / "split.json").write_text(json.dumps(split))
    card = train(parse_args(["--task", "type", "--split-file", str(tmp_path / "split.json"),
                             "--epochs", "1", "--max-steps", "2", "--batch-size", "8",
                             "--n-boot", "10", "--strip-aug", "1.0", "--threads", "1",
                             "--out", str(tmp_path / "ck")]))
    aug = card["training"]["skull_strip_augmentation"]
    assert aug["probability"] == 1.0 and aug["code"] == "training/type_strip.py"
    m = card["metrics"]
    assert m["test_skull_stripped"]["n_patients"] == m["test"]["n_patients"] == \
        len(card["training_data"]["split"]["test"])
    assert "both versions" in card["training"]["model_selection"]
    json.dumps(card, allow_nan=False)


def test_strip_check_sidecar_records_the_measured_drop(repo_root):
    """The shipped measurement (python -m training.type_strip): the served model loses accuracy
    on skull-stripped copies of its own held-out patients, and the out-of-fold OOD score rises."""
    p = repo_root / "model/checkpoints/type_figshare/strip_check.json"
    d = json.loads(p.read_text())
    served = d["models"]["served"]
    a, s = served["test_as_is_3d_path"], served["test_stripped_3d_path"]
    assert a["n_patients"] == s["n_patients"] == 38
    assert s["accuracy"] < a["accuracy"]
    # accuracy = trace of the confusion matrix / patients (recomputed here)
    for r in (a, s):
        cm = np.array(r["confusion_matrix"])
        assert cm.sum() == 38 and np.trace(cm) / 38 == pytest.approx(r["accuracy"])
    ood = served["ood_figshare_out_of_fold"]
    assert ood["stripped"]["median"] > ood["as_is"]["median"]
    assert ood["stripped"]["refused"] > ood["as_is"]["refused"]
