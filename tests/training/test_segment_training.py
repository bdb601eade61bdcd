"""training.segment: split, metrics, and a tiny end-to-end CV + final run (slow)."""

import json

import numpy as np
import pytest

from training.segment import paired, patient_metrics, split_patients, summarise

NINE = ["TCGA_CS_4942", "TCGA_CS_4944", "TCGA_CS_5393", "TCGA_CS_5395", "TCGA_CS_5396",
        "TCGA_CS_5397", "TCGA_CS_6186", "TCGA_CS_6188", "TCGA_CS_6290"]


def test_split_is_patient_level_and_stratified():
    pats = [{"pid": f"P{i:02d}", "tumor_voxels": i * 100} for i in range(30)]
    test, folds = split_patients(pats, k=3)
    assert len(test) == 6                                   # 20 % of each tertile (10 -> 2)
    dev = [p for f in folds for p in f]
    assert len(dev) == len(set(dev)) == 24 and not set(dev) & set(test)
    assert split_patients(pats, k=3) == (test, folds)       # fixed seed
    vox = {p["pid"]: p["tumor_voxels"] for p in pats}
    assert sorted(int(vox[t] >= 1000) + int(vox[t] >= 2000) for t in test) == [0, 0, 1, 1, 2, 2]


def test_patient_metrics_hand_checked():
    gt = np.zeros((4, 10, 10), bool)
    gt[1:3, 2:6, 2:6] = True                                # 32 voxels on slices 1, 2
    pred = np.zeros_like(gt)
    pred[1:3, 2:6, 2:4] = True                              # 16 voxels, all inside
    pred[0, 0, 0] = True                                    # 1 false positive on a free slice
    m = patient_metrics(pred, gt)
    assert m["dice"] == pytest.approx(2 * 16 / (17 + 32))
    assert m["volume_error_pct"] == pytest.approx(abs(17 - 32) / 32 * 100)
    assert m["tumour_free_slices"] == 2
    assert m["tumour_free_slices_with_prediction"] == 1 and m["fp_voxels_tumour_free"] == 1
    s = summarise([m, dict(m, dice=1.0)])
    assert s["dice_mean"] == pytest.approx((m["dice"] + 1) / 2)
    assert s["share_tumour_free_slices_with_prediction"] == pytest.approx(0.5)


def test_paired_bootstrap():
    a = np.linspace(0.7, 0.9, 20)
    r = paired(a + 0.05, a)
    assert r["mean_diff"] == pytest.approx(0.05) and r["excludes_0"]
    r = paired(a, a)
    assert r["mean_diff"] == 0 and not r["excludes_0"]


@pytest.mark.slow
@pytest.mark.needs_shared("tcga_lgg_flair_seg")
def test_tiny_cv_and_final(tmp_path, shared_data, capsys):
    from training import evaluate as ev
    from training.segment import main
    from model.inference.segment import Segmenter

    data = shared_data / "tcga_lgg_flair_seg"
    common = ["--data", str(data), "--out", str(tmp_path), "--patients", *NINE, "--folds", "2"]
    cv = main(["--stage", "cv", "--steps", "2", *common])
    assert set(cv["designs"]) == {"stacked", "flair"}
    assert cv["chosen_design"] in ("stacked", "flair")
    assert len(cv["test_patients"]) == 3
    assert not set(cv["test_patients"]) & {p for f in cv["folds"] for p in f}
    assert (tmp_path / "cv.json").exists()
    card = main(["--stage", "final", "--final-steps", "2", "--brats", "none", *common])
    assert card["sha256"] and card["design"] == cv["chosen_design"]
    assert card["metrics"]["test"]["n_patients"] == 3
    assert set(card["metrics"]["test_per_subset"]) == {"FLAIR only", "FLAIR+T1", "FLAIR+T1ce", "all"}
    assert card["metrics"]["test"]["hd95_mm_median"] is None      # placeholder geometry
    seg = Segmenter(tmp_path)                                      # sha256-verified
    assert seg.design == card["design"]

    # evaluate: training patients are left out unless asked for.
    test_id, train_id = cv["test_patients"][0], cv["folds"][0][0]
    capsys.readouterr()
    rc = ev.main(["--task", "segment", "--data", str(data), "--checkpoint", str(tmp_path),
                  "--patients", test_id, train_id, "--json"])
    out = capsys.readouterr()
    assert rc == 0
    res = json.loads(out.out)
    assert res["n_patients"] == 1 and res["per_patient"][0]["patient_id"] == test_id
    assert res["skipped_training_patients"] == [train_id]
    assert "used to train" in out.err
    for k in ("dice_mean", "dice_median", "dice_ci95", "hd95_mm_median", "volume_error_pct_median"):
        assert k in res
    assert res["hd95_mm_median"] is None
