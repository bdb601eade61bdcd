"""Cross-validation of the designs (training.cv) and the 3D branch it compares."""

import csv
import json

import numpy as np
import pytest
import torch
from lifelines.utils import concordance_index
from sklearn.metrics import roc_auc_score

from model.core.config import DEFAULT_CHECKPOINT


def test_folds_are_patient_disjoint_and_cover_every_patient_once():
    from training.cv import make_folds

    ids = [f"P{i:02d}" for i in range(40)]
    labels = [int(i % 3 == 0) for i in range(40)]  # 14 positives
    folds = make_folds(ids, labels, 5, seed=0)
    tests = [p for f in folds for p in f["test"]]
    assert sorted(tests) == ids  # each patient tested exactly once
    for f in folds:
        tr, va, te = set(f["train"]), set(f["val"]), set(f["test"])
        assert not (tr & va or tr & te or va & te)
        assert tr | va | te == set(ids)
        # stratified: 14 positives over 5 folds -> 2 or 3 per test fold
        assert sum(labels[ids.index(p)] for p in te) in (2, 3)
        assert va and all(labels[ids.index(p)] in (0, 1) for p in va)
    assert make_folds(ids, labels, 5, seed=0) == folds  # seeded


def test_variant_arguments_change_one_thing_each():
    from training.cv import variant_argv

    base = ["--task", "grade", "--init-from", "ck/type", "--lr", "5e-4", "--attn-sup", "0.5",
            "--out", "ck/grade"]
    assert variant_argv(base, "2d") == base[:-2]
    assert variant_argv(base, "2d_scratch") == ["--task", "grade", "--lr", "5e-4", "--attn-sup", "0.5"]
    assert variant_argv(base, "2d_mse")[-2:] == ["--survival-loss", "mse"]
    assert variant_argv(base, "3d") == ["--task", "grade", "--lr", "5e-4", "--encoder", "3d"]


def _rows(prob, fold, y, t, e, risk):
    return [{"patient_id": f"P{i:02d}", "fold": f, "label": int(a), "prob_0": 1 - float(p), "prob_1": float(p),
             "risk": float(r), "time_days": float(tt), "event": int(ee)}
            for i, (p, f, a, tt, ee, r) in enumerate(zip(prob, fold, y, t, e, risk))]


def test_summary_matches_sklearn_and_lifelines_per_fold_and_pooled():
    from training.cv import summarise

    rng = np.random.default_rng(3)
    n = 30
    y = np.array([0, 1] * 15)
    fold = np.repeat(np.arange(3), 10)
    t = rng.uniform(100, 3000, n)
    e = rng.integers(0, 2, n)
    p_ref = np.clip(0.5 + 0.3 * (2 * y - 1) + rng.normal(0, 0.25, n), 0.01, 0.99)
    p_bad = 1 - p_ref  # the reversed score: AUC 1 - AUC(ref) in every fold
    r_ref = rng.normal(size=n)
    oof = {"2d": _rows(p_ref, fold, y, t, e, r_ref), "3d": _rows(p_bad, fold, y, t, e, -r_ref)}
    s = summarise(oof, n_folds=3, n_boot=200)
    aucs = [roc_auc_score(y[fold == k], p_ref[fold == k]) for k in range(3)]
    assert s["2d"]["mean"]["roc_auc"] == pytest.approx(np.mean(aucs))
    assert s["2d"]["sd"]["roc_auc"] == pytest.approx(np.std(aucs, ddof=1))
    assert s["3d"]["mean"]["roc_auc"] == pytest.approx(1 - np.mean(aucs))
    assert s["2d"]["pooled"]["roc_auc"] == pytest.approx(roc_auc_score(y, p_ref))
    c = concordance_index(t, -r_ref, e)
    assert s["2d"]["pooled"]["c_index"] == pytest.approx(c)
    assert s["3d"]["pooled"]["c_index"] == pytest.approx(1 - c, abs=1e-9)
    d = s["3d"]["minus_reference"]["roc_auc"]
    assert d["difference"] == pytest.approx(1 - 2 * roc_auc_score(y, p_ref))
    assert d["ci95"][0] <= d["difference"] <= d["ci95"][1] < 0
    acc = [np.mean((p_ref[fold == k] > 0.5) == y[fold == k]) for k in range(3)]
    assert s["2d"]["mean"]["accuracy"] == pytest.approx(np.mean(acc))
    assert np.sum(s["2d"]["pooled"]["confusion_matrix"]) == n


@pytest.mark.parametrize("encoder,shape", [("2d", (12, 64, 64)), ("3d", (1, 24, 24, 24))])
def test_augmentation_keeps_shape_and_is_seeded(encoder, shape):
    from training.train import augmentation

    x = torch.rand(*shape)
    a = [augmentation(7, encoder) for _ in range(2)]
    outs = [[torch.as_tensor(aug(x.clone())) for _ in range(4)] for aug in a]
    for o1, o2 in zip(*outs):
        assert o1.shape == x.shape
        assert torch.allclose(o1, o2)
    assert any(not torch.allclose(o, x) for o in outs[0])


@pytest.mark.slow
@pytest.mark.needs_shared("tcga_lgg_flair_seg")
def test_cross_validation_end_to_end_on_real_patients(tmp_path):
    """Two folds of the 2D and 3D designs for one step each, on 16 real development patients:
    every patient gets exactly one out-of-fold prediction per design and the summary's pooled
    AUC is the one scikit-learn computes from those predictions."""
    from model.inference.classify import Predictor
    from model.core.errors import CheckpointError
    from training.cv import main

    out = tmp_path / "cv.json"
    assert main(["--max-patients", "16", "--folds", "2", "--variants", "2d", "3d",
                 "--work", str(tmp_path / "work"), "--out", str(out), "--n-boot", "20",
                 "--threads", "2", "--train-args",
                 "--max-steps 1 --epochs 1 --batch-size 4 --slices 4"]) == 0
    res = json.loads(out.read_text())
    folds = json.loads((tmp_path / "work" / "folds.json").read_text())
    dev = sorted(p for f in folds for p in f["test"])
    assert len(dev) == 16 and len(set(dev)) == 16
    for v in ("2d", "3d"):
        rows = [r for i in range(2) for r in
                csv.DictReader(open(tmp_path / "work" / v / f"fold{i}" / "oof.csv"))]
        assert sorted(r["patient_id"] for r in rows) == dev
        y = np.array([int(r["label"]) for r in rows])
        p = np.array([float(r["prob_1"]) for r in rows])
        assert res["variants"][v]["pooled"]["roc_auc"] == pytest.approx(roc_auc_score(y, p))
        assert res["variants"][v]["folds_done"] == [0, 1]
    assert "minus_reference" in res["variants"]["3d"]
    # The majority baseline predicts each fold's training-patient class frequencies.
    import pandas as pd
    pred = pd.read_csv(tmp_path / "cv_predictions.csv", dtype={"patient_id": str})
    label = dict(zip(pred["patient_id"], pred["label"]))
    maj = pred[pred["design"] == "majority"].set_index("patient_id")
    for f in folds:
        fit = [label[p] for p in f["train"] + f["val"]]
        for p in f["test"]:
            assert maj.loc[p, "prob_1"] == pytest.approx(np.mean(fit))
    # the shipped checkpoint's test patients are never in a fold
    card = json.loads((DEFAULT_CHECKPOINT / "model_card.json").read_text())
    assert not set(dev) & set(card["training_data"]["split"]["test"])
    with pytest.raises(CheckpointError, match="2D"):
        Predictor(tmp_path / "work" / "3d" / "fold0" / "checkpoint")


def test_committed_cross_validation_matches_its_predictions():
    """cv.json's pooled numbers are recomputed from the committed out-of-fold predictions with
    scikit-learn and lifelines; every design covers the same development patients once, and
    none of the served checkpoint's test patients."""
    import pandas as pd

    cv = json.loads((DEFAULT_CHECKPOINT / "cv.json").read_text())
    pred = pd.read_csv(DEFAULT_CHECKPOINT / "cv_predictions.csv", dtype={"patient_id": str})
    card = json.loads((DEFAULT_CHECKPOINT / "model_card.json").read_text())
    dev = set(card["training_data"]["split"]["train"]) | set(card["training_data"]["split"]["val"])
    assert set(pred["design"]) == set(cv["variants"])
    for design, g in pred.groupby("design"):
        assert sorted(g["patient_id"]) == sorted(dev)
        v = cv["variants"][design]
        folds = [roc_auc_score(f["label"], f["prob_1"]) for _, f in g.groupby("fold")]
        assert v["mean"]["roc_auc"] == pytest.approx(np.mean(folds))
        if design == "majority":  # constant per fold: pooling would rank patients by fold
            assert v["pooled"]["roc_auc"] is None and v["pooled"]["c_index"] is None
            continue
        assert v["pooled"]["roc_auc"] == pytest.approx(roc_auc_score(g["label"], g["prob_1"]))
        c = concordance_index(g["time_days"], -g["risk"], g["event"])
        assert v["pooled"]["c_index"] == pytest.approx(c)
    assert card["cross_validation"]["shipped_pooled_roc_auc"][0] == pytest.approx(
        cv["variants"]["2d"]["pooled"]["roc_auc"])


def test_committed_type_cross_validation_matches_its_predictions(shared_data):
    """The type model's CV on figshare's published folds: macro one-vs-rest AUC and accuracy
    recomputed with scikit-learn from the committed predictions; folds are the published ones."""
    import pandas as pd
    from sklearn.metrics import accuracy_score

    ck = DEFAULT_CHECKPOINT.parent / "type_figshare"
    cv = json.loads((ck / "cv.json").read_text())
    pred = pd.read_csv(ck / "cv_predictions.csv", dtype={"patient_id": str})
    g = pred[pred["design"] == "2d"]
    prob = g[["prob_0", "prob_1", "prob_2"]].to_numpy()
    v = cv["variants"]["2d"]
    assert v["pooled"]["roc_auc"] == pytest.approx(
        roc_auc_score(g["label"], prob, multi_class="ovr", average="macro"))
    assert v["pooled"]["accuracy"] == pytest.approx(accuracy_score(g["label"], prob.argmax(1)))
    assert g["patient_id"].is_unique and len(g) == cv["patients"]["n"]
    labels = shared_data / "figshare_cheng" / "labels.csv"
    if labels.exists():
        published = pd.read_csv(labels, dtype={"patient_id": str}).drop_duplicates("patient_id")
        fold_of = dict(zip(published["patient_id"], published["source_cv_fold"] - 1))
        assert all(fold_of[p] == f for p, f in zip(g["patient_id"], g["fold"]))
