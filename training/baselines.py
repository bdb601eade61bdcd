"""Baselines on the same patient split as a checkpoint: majority class and logistic regression
on simple tumour features, plus the checkpoint's own test metrics per sequence subset.

    python -m training.baselines [--checkpoint model/checkpoints/grade_lgg]

Features per patient (from the expert mask, which the image model never sees at inference):
tumour volume (voxels) and, per sequence, the tumour's mean, s.d. and 90th percentile
intensity relative to the mean of the head (voxels above 5 % of the maximum). scikit-learn
``LogisticRegression`` (L2, C=0.3) on standardised features, fitted on the train + validation
patients, scored on the test patients. Writes ``baselines.json`` next to the checkpoint and
adds its summary, the per-subset metrics and the survival validation of the risk score
(:func:`model.survival.validation.validate_risk`: Harrell/Uno C, time-dependent AUC, calibration, next to
age-only and clinical Cox models, on the held-out patients) to ``model_card.json``. The weights
and their sha256 are untouched.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import nibabel as nib
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from model.core.config import DEFAULT_CHECKPOINT
from model.core.jsonio import write_card
from model.nets.checkpoint import load_checkpoint, read_card
from training.data import SHARED_DATA, load_tcga_cases, load_tcga_labels
from training.metrics import classification_report
from training.train import predict_cases

FEATURE_FILES = ("flair", "t1_post", "t1_pre")


def tumour_features(folder: Path) -> np.ndarray:
    """(10,) float64 features of one TCGA-LGG patient folder (see the module docstring)."""
    mask = np.asarray(nib.load(folder / "mask.nii.gz").dataobj) > 0
    feats = [float(mask.sum())]
    for name in FEATURE_FILES:
        a = np.asarray(nib.load(folder / f"{name}.nii.gz").dataobj, dtype=np.float64)
        head = a[a > 0.05 * a.max()].mean()
        t = a[mask]
        feats += [t.mean() / head, t.std() / head, np.percentile(t, 90) / head]
    return np.array(feats)


def majority_prior(y_fit: np.ndarray, n_classes: int, n_test: int) -> np.ndarray:
    """Majority-class baseline as probabilities (n_test, n_classes): every patient gets the
    fitting patients' class frequencies (its argmax is the majority class; calibrated)."""
    prior = np.bincount(y_fit, minlength=n_classes) / len(y_fit)
    return np.tile(prior, (n_test, 1))


def logistic_mask(X_fit: np.ndarray, y_fit: np.ndarray, X_test: np.ndarray) -> np.ndarray:
    """Logistic-regression baseline on :func:`tumour_features`: (n_test, C) probabilities.

    scikit-learn ``LogisticRegression`` (L2, C=0.3) on standardised features.
    """
    lr = make_pipeline(StandardScaler(), LogisticRegression(C=0.3, max_iter=1000))
    return lr.fit(X_fit, y_fit).predict_proba(X_test)


def run(checkpoint: Path, data: Path, survival: Path, n_boot: int = 1000) -> dict:
    """Baselines and per-subset metrics for a grade checkpoint; returns the JSON dict."""
    net, card = load_checkpoint(checkpoint)
    split = card["training_data"]["split"]
    labels = load_tcga_labels(data, survival)
    classes = card["classes"]

    def xy(ids):
        return (np.stack([tumour_features(data / p) for p in ids]),
                np.array([int(labels.loc[p, "label"]) for p in ids]))

    fit_ids = split["train"] + split["val"]
    Xtr, ytr = xy(fit_ids)
    Xte, yte = xy(split["test"])
    out = {"test_patients": len(yte)}
    out["majority_class"] = classification_report(
        yte, majority_prior(ytr, len(classes), len(yte)), classes, n_boot=n_boot)
    out["logistic_regression_mask_features"] = classification_report(
        yte, logistic_mask(Xtr, ytr, Xte), classes, n_boot=n_boot)

    cases = load_tcga_cases(data, survival, split["test"])
    seqs = list(card["sequences"])
    temperature = float(card.get("temperature", 1.0))
    subsets = {}
    for r in range(1, len(seqs) + 1):
        for subset in itertools.combinations(seqs, r):
            sub = [type(c)(c.patient_id, {s: v for s, v in c.slices.items() if s in subset},
                           c.label, c.time_days, c.event) for c in cases]
            sub = [c for c in sub if c.slices]
            prob, risk = predict_cases(net, sub, temperature=temperature)
            y = np.array([c.label for c in sub])
            rep = classification_report(y, prob, classes,
                                        np.array([c.time_days for c in sub]),
                                        np.array([c.event for c in sub]), risk, n_boot=n_boot)
            subsets["+".join(subset)] = {k: rep[k] for k in (
                "n_patients", "accuracy", "accuracy_ci95", "roc_auc", "roc_auc_ci95", "c_index")}
    out["model_by_sequence_subset"] = subsets
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.baselines")
    p.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    p.add_argument("--data", default=str(SHARED_DATA / "tcga_lgg_flair_seg"))
    p.add_argument("--survival", default=str(SHARED_DATA / "tcga_clinical" / "tcga_lgg_flair_seg_survival.csv"))
    p.add_argument("--n-boot", type=int, default=1000)
    args = p.parse_args(argv)
    import pandas as pd

    from model.survival.cohorts import load_tcga_cdr
    from model.survival.validation import validate_risk

    ck = Path(args.checkpoint)
    card = read_card(ck)
    result = run(ck, Path(args.data), Path(args.survival), args.n_boot)
    (ck / "baselines.json").write_text(json.dumps(result, indent=2) + "\n")
    card["baselines"] = {k: {m: v[m] for m in ("n_patients", "accuracy", "accuracy_ci95", "roc_auc",
                                                "roc_auc_ci95", "f1_macro")}
                         for k, v in result.items() if isinstance(v, dict) and "accuracy" in v}
    card["metrics_by_sequence_subset"] = result["model_by_sequence_subset"]
    if (ck / "cohort_risk.csv").exists():
        card["survival_validation"] = validate_risk(pd.read_csv(ck / "cohort_risk.csv"),
                                                    load_tcga_cdr(), n_boot=args.n_boot)
    write_card(ck, card)
    print(json.dumps({k: (v.get("accuracy"), v.get("roc_auc")) if isinstance(v, dict) and "accuracy" in v
                      else v for k, v in result.items() if k != "model_by_sequence_subset"}))
    for k, v in result["model_by_sequence_subset"].items():
        print(f"{k:16s} acc {v['accuracy']:.3f} auc {v['roc_auc']:.3f} c {v['c_index']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
