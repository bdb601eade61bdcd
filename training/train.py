"""Train the served checkpoint: WHO grade II vs III + overall-survival risk on TCGA-LGG.

    python -m training.train --out model/checkpoints/grade_lgg

Data: ``../shared/data/tcga_lgg_flair_seg`` (T1, T1ce, FLAIR volumes) with OS from TCGA-CDR.
Patients are split once, stratified by grade, into train / validation / test (seeded); the
test patients are never used for training, early stopping or any choice, and give the metrics
of the model card. Loss: ``alpha * cross-entropy + beta * Cox negative partial log-likelihood``
(Efron ties, torchsurv ``neg_partial_log_likelihood``; Cox, J R Stat Soc B 1972).
AdamW with a cosine schedule, MONAI augmentation, sequence dropout, early stopping on the
validation loss. Writes safetensors weights, ``model_card.json`` and ``cohort_risk.csv``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from monai.transforms import (Compose, RandAffine, RandFlip, RandGaussianNoise,
                              RandScaleIntensity, RandShiftIntensity)
from sklearn.model_selection import train_test_split
from torchsurv.loss.cox import neg_partial_log_likelihood

from model.checkpoint import save_checkpoint
from model.network import MultiSequenceNet, NetConfig
from model.preprocess import N_SLICES, SLICE_SIZE
from training.data import GRADE_CLASSES, SHARED_DATA, collate, load_tcga_cases
from training.metrics import classification_report

TCGA_CITATION = (
    "Images: Pedano N et al., Radiology Data from The Cancer Genome Atlas Low Grade Glioma "
    "[TCGA-LGG] collection, TCIA 2016, doi:10.7937/K9/TCIA.2016.L4LTD3TK; masks and slices: "
    "Buda M, Saha A, Mazurowski MA, Comput Biol Med 2019;109:218-225 (Kaggle lgg-mri-"
    "segmentation). Survival: Liu J et al., Cell 2018;173(2):400-416 (TCGA-CDR)."
)
TCGA_LICENCE = (
    "TCIA TCGA-LGG images CC BY 3.0; Kaggle derivative believed CC BY-NC-SA 4.0 "
    "(non-commercial); TCGA-CDR open access."
)


def augmentation(seed: int) -> Compose:
    """MONAI augmentation of one sequence's slice stack (K, H, W), same transform for all K."""
    aug = Compose([
        RandFlip(prob=0.5, spatial_axis=1),  # left-right
        RandAffine(prob=0.7, rotate_range=(math.radians(12),), scale_range=(0.1, 0.1),
                   translate_range=(6, 6), padding_mode="zeros"),
        RandScaleIntensity(factors=0.1, prob=0.5),
        RandShiftIntensity(offsets=0.1, prob=0.5),
        RandGaussianNoise(prob=0.3, std=0.02),
    ])
    aug.set_random_state(seed)
    return aug


def split_patients(ids: list[str], labels: list[int], seed: int, test_frac: float = 0.2,
                   val_frac: float = 0.15) -> dict[str, list[str]]:
    """Patient-level train/val/test split stratified by label (scikit-learn)."""
    rest, test = train_test_split(ids, test_size=test_frac, stratify=labels, random_state=seed)
    lab = dict(zip(ids, labels))
    train, val = train_test_split(rest, test_size=val_frac, stratify=[lab[i] for i in rest],
                                  random_state=seed)
    return {"train": sorted(train), "val": sorted(val), "test": sorted(test)}


def joint_loss(out: dict, batch: dict, alpha: float, beta: float) -> torch.Tensor:
    """``alpha * CE + beta * Cox partial likelihood`` (Cox term only with >= 1 event, 2 cases)."""
    loss = alpha * F.cross_entropy(out["logits"], batch["label"])
    ok = torch.isfinite(batch["time"])
    if beta > 0 and batch["event"][ok].any() and ok.sum() >= 2:
        loss = loss + beta * neg_partial_log_likelihood(
            out["risk"][ok], batch["event"][ok], batch["time"][ok], ties_method="efron")
    return loss


@torch.no_grad()
def predict_cases(net: MultiSequenceNet, cases, k: int = N_SLICES, batch_size: int = 8):
    """Eval-mode probabilities (N, C) and risks (N,) with evenly spaced slices."""
    net.eval()
    probs, risks = [], []
    for i in range(0, len(cases), batch_size):
        b = collate(cases[i:i + batch_size], net.config.sequences, k)
        out = net(b["x"], b["present"])
        probs.append(torch.softmax(out["logits"], 1))
        risks.append(out["risk"])
    return torch.cat(probs).numpy(), torch.cat(risks).numpy()


def train(args: argparse.Namespace) -> dict:
    """Run training and write the checkpoint. Returns the model card."""
    t_start = time.time()
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    if args.threads:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    data_dir = Path(args.data)
    cases = load_tcga_cases(data_dir, Path(args.survival) if args.survival else None)
    if args.max_patients:
        cases = sorted(cases, key=lambda c: c.patient_id)[: args.max_patients]
    by_id = {c.patient_id: c for c in cases}
    split = split_patients([c.patient_id for c in cases], [c.label for c in cases], args.seed)
    tr = [by_id[i] for i in split["train"]]
    va = [by_id[i] for i in split["val"]]
    te = [by_id[i] for i in split["test"]]
    print(f"patients: train {len(tr)}, val {len(va)}, test {len(te)}; "
          f"load {time.time() - t_start:.1f}s", flush=True)

    config = NetConfig(sequences=["T1", "T1ce", "FLAIR"], classes=list(GRADE_CLASSES),
                       dropout=args.dropout)
    net = MultiSequenceNet(config)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    steps_per_epoch = max(1, math.ceil(len(tr) / args.batch_size))
    total = args.max_steps or args.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=total,
                                                pct_start=0.1)
    aug = augmentation(args.seed)
    best, best_state, bad, step, history = float("inf"), None, 0, 0, []
    for epoch in range(args.epochs):
        net.train()
        order = rng.permutation(len(tr))
        losses = []
        for i in range(0, len(tr), args.batch_size):
            batch = collate([tr[j] for j in order[i:i + args.batch_size]], config.sequences,
                            args.slices, rng, aug, args.seq_dropout)
            out = net(batch["x"], batch["present"])
            loss = joint_loss(out, batch, args.alpha, args.beta)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(float(loss))
            step += 1
            if step >= total:
                break
        net.eval()
        with torch.no_grad():
            vb = collate(va, config.sequences, N_SLICES)
            vo = net(vb["x"], vb["present"])
            vloss = float(joint_loss(vo, vb, args.alpha, args.beta))
            vacc = float((vo["logits"].argmax(1) == vb["label"]).float().mean())
        history.append({"epoch": epoch, "train_loss": float(np.mean(losses)),
                        "val_loss": vloss, "val_accuracy": vacc})
        print(f"epoch {epoch:3d} train {np.mean(losses):.4f} val {vloss:.4f} acc {vacc:.3f} "
              f"({time.time() - t_start:.0f}s)", flush=True)
        if vloss < best - 1e-4:
            best, bad = vloss, 0
            best_state = {k: v.clone() for k, v in net.state_dict().items()}
        else:
            bad += 1
        if bad >= args.patience or step >= total:
            break
    if best_state is not None:
        net.load_state_dict(best_state)
    train_seconds = time.time() - t_start

    metrics = {}
    cohort_rows = []
    train_risk = None
    for name, group in (("train", tr), ("val", va), ("test", te)):
        if not group:
            continue
        prob, risk = predict_cases(net, group)
        if name == "train":
            train_risk = risk
        y = np.array([c.label for c in group])
        t = np.array([c.time_days for c in group])
        e = np.array([c.event for c in group])
        metrics[name] = classification_report(y, prob, config.classes, t, e, risk,
                                              n_boot=args.n_boot)
        for c, r in zip(group, risk):
            cohort_rows.append((c.patient_id, float(r), name, c.time_days, c.event,
                                config.classes[c.label]))

    card = {
        "name": "grade_lgg",
        "version": "0.1.0",
        "created": dt.date.today().isoformat(),
        "task": "WHO grade II vs III of lower-grade glioma, with an overall-survival risk score",
        "intended_use": (
            "Research and teaching: shows how a multi-sequence MRI model reaches a grade and a "
            "risk score. Not a medical device; not for diagnosis or treatment decisions."
        ),
        "inputs": {
            "sequences_used": config.sequences,
            "sequences_ignored": ["T2 (not in the training data)"],
            "format": "3D NIfTI per sequence, any orientation (reoriented to RAS)",
        },
        "preprocessing": {
            "description": (
                "Per sequence: foreground box (voxels above 5% of the 1st-99th percentile "
                "range), N axial slices evenly spaced over its superior-inferior extent, square "
                "in-plane crop resized to SxS (bilinear, antialiased), radiological display "
                "orientation, intensities scaled so the foreground 1st/99th percentiles are 0/1."
            ),
            "n_slices": N_SLICES, "slice_size": SLICE_SIZE,
            "code": "model/preprocess.py::volume_to_slices",
        },
        "training_data": {
            "dataset": "TCGA-LGG (shared/data/tcga_lgg_flair_seg) with OS from TCGA-CDR",
            "citation": TCGA_CITATION,
            "licence": TCGA_LICENCE,
            "n_patients": {k: len(v) for k, v in split.items()},
            "split": split,
            "split_method": f"patient-level, stratified by grade, seed {args.seed}",
        },
        "training": {
            "loss": f"{args.alpha} * cross-entropy + {args.beta} * Cox partial likelihood (Efron, torchsurv)",
            "optimizer": f"AdamW lr {args.lr} wd {args.weight_decay}, one-cycle schedule",
            "epochs_run": len(history), "batch_size": args.batch_size,
            "slices_per_sequence": args.slices, "sequence_dropout": args.seq_dropout,
            "seed": args.seed, "seconds": round(train_seconds, 1),
            "device": "cpu", "torch_threads": torch.get_num_threads(),
            "history": history,
            "command": "python -m training.train " + " ".join(args.argv),
        },
        "metrics": metrics,
        "metrics_note": (
            "Patient-level; 'test' patients were never used for training or model selection. "
            "95% CIs: percentile bootstrap over patients (1000 resamples). C-index: Harrell's, "
            "on TCGA-CDR overall survival."
        ),
        "risk_threshold": float(np.median(train_risk)) if train_risk is not None else 0.0,
        "limitations": [
            "Trained on 3 sequences of TCGA-LGG exports (8-bit, skull not stripped, unknown "
            "spacing); skull-stripped BraTS-style studies are out of distribution.",
            "Only WHO grade II and III gliomas: grade IV (glioblastoma), metastases and other "
            "tumours are outside the training data and still get a II/III answer.",
            "The held-out test set is small; see the confidence intervals.",
        ],
        "changelog": ["0.1.0: first model (2D slice branches, slice and sequence attention)."],
    }
    out_dir = Path(args.out)
    card = save_checkpoint(out_dir, net, card)
    import csv
    with open(out_dir / "cohort_risk.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["patient_id", "risk_score", "split", "time_days", "event", "grade"])
        w.writerows(cohort_rows)
    print(json.dumps({k: {m: v[m] for m in ("accuracy", "roc_auc") if m in v}
                      | {"c_index": v.get("c_index")} for k, v in metrics.items()}))
    return card


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=str(SHARED_DATA / "tcga_lgg_flair_seg"))
    p.add_argument("--survival", default=str(SHARED_DATA / "tcga_clinical" / "tcga_lgg_flair_seg_survival.csv"))
    p.add_argument("--out", default="model/checkpoints/grade_lgg")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (tests)")
    p.add_argument("--max-patients", type=int, default=0, help="use only the first N patients (tests)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--slices", type=int, default=12, help="random slices per sequence in training")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=1e-2)
    p.add_argument("--dropout", type=float, default=0.3)
    p.add_argument("--alpha", type=float, default=1.0)
    p.add_argument("--beta", type=float, default=0.5)
    p.add_argument("--seq-dropout", type=float, default=0.25)
    p.add_argument("--patience", type=int, default=10)
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args(argv)
    import sys
    args.argv = list(argv if argv is not None else sys.argv[1:])
    return args


if __name__ == "__main__":
    train(parse_args())
