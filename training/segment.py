"""Train and validate the tumour (FLAIR-abnormality) segmentation model on TCGA-LGG.

Commands::

    python -m training.train --task segment --stage cv      # design comparison (K-fold CV)
    python -m training.train --task segment --stage final   # train the chosen design, test once
    (same as ``python -m training.segment ...``)

Data: ``shared/data/tcga_lgg_flair_seg`` (88 patients, FLAIR / T1 pre / T1 post + manual FLAIR
abnormality mask; Buda et al. 2019, TCIA TCGA-LGG). Volumes are 128 x 128 x Z uint8 with a
placeholder (identity) affine; they are flipped to RAS like :mod:`training.data` does and each
sequence is normalised per volume (:func:`model.inference.segment.normalise_intensity`). A
channel that ``labels.csv`` marks missing (``has_t1_pre`` / ``has_t1_post`` = 0, a FLAIR copy at
source) is treated as missing (zeros, presence 0), never as T1.

Protocol (fixed before any run)
-------------------------------
1. **Held-out test patients**: 20 % of the 88 patients, stratified by tumour-volume tertile
   (``labels.csv`` ``tumor_voxels``), seed 13. They are used once, by ``--stage final``, after
   every choice below is made; never for selection.
2. **Design comparison**: on the other (development) patients, a patient-level 3-fold CV
   (stratified the same way, seed 13) of the ``stacked`` design (FLAIR + T1 + T1ce channels with
   presence planes and sequence dropout) and the ``flair`` design (FLAIR alone), same U-Net, same
   steps, same augmentation, same seeds. Metric: per-patient 3D Dice at threshold 0.5 on the
   out-of-fold predictions (all available sequences given).
3. **Decision rule**: serve ``stacked`` unless ``flair``'s mean out-of-fold Dice is higher and
   the paired bootstrap 95 % CI (patients resampled, 2000 draws) of (flair - stacked) excludes 0.
   (``stacked`` is preferred at equal evidence because it is the design that can use T1 / T1ce
   when a study has them and still runs on FLAIR alone.)
4. **Post-processing**: of (a) keep the largest 3D connected component, (b) drop 3D components
   smaller than 10 % of the largest, (c) fill holes per axial slice, one is applied only if it
   raises the chosen design's mean out-of-fold Dice with a paired bootstrap 95 % CI excluding 0;
   if several do, the one with the highest mean. Otherwise none.
5. **Final model**: the chosen design trained on all development patients with the same recipe,
   evaluated once on the test patients: per-patient Dice (mean, median, bootstrap 95 % CI),
   absolute volume error % (median), tumour-free slices (false-positive voxels per tumour-free
   slice, share of tumour-free slices with any predicted voxel), Dice per available-sequence
   subset. HD95 in mm is null for TCGA (placeholder geometry). Transfer: Dice and HD95 (mm) on
   the two BraTS 2018 cases of ``shared/data/brats_extra`` (1 mm, skull-stripped, whole-tumour
   ground truth), mapped to the TCGA field of view (1.875 mm / pixel) and, for comparison, with
   the brain's bounding box scaled like a TCGA head.

Recipe: MONAI 2D ``UNet`` (:mod:`model.nets.segmentation`), ``DiceCELoss`` (sigmoid, batch
Dice), AdamW, cosine learning rate with warm-up, batches of 16 axial slices drawn 60 % from
slices with tumour and 40 % from any slice; MONAI augmentation: random flips on both in-plane
axes, ``RandAffine`` (rotation +-15 deg, scale +-15 %, shift +-8 px), ``RandScaleIntensity``,
``RandShiftIntensity``, ``RandGaussianNoise``. Sequence dropout (stacked): each available T1 /
T1ce is dropped with probability 0.3. One CPU thread (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import torch
from monai.data import set_track_meta
from monai.losses import DiceCELoss
from monai.metrics import DiceMetric
from monai.transforms import (Compose, RandAffined, RandFlipd, RandGaussianNoised,
                              RandScaleIntensityd, RandShiftIntensityd)

from model.core.config import DATA_DIR
from model.core.jsonio import json_safe
from model.inference.segment import POSTPROCESS, normalise_intensity, postprocess
from model.nets.segmentation import SegNetConfig, build_segmentation_net, stack_inputs
from training.metrics import bootstrap_ci

LGG_DIR = DATA_DIR / "tcga_lgg_flair_seg"
BRATS_DIR = DATA_DIR / "brats_extra"
OUT_DIR = Path("model/checkpoints/segment_lgg")
FILES = {"FLAIR": "flair.nii.gz", "T1": "t1_pre.nii.gz", "T1ce": "t1_post.nii.gz"}
SEED = 13
TEST_FRACTION = 0.2
SUBSETS = {"FLAIR only": (), "FLAIR+T1": ("T1",), "FLAIR+T1ce": ("T1ce",), "all": ("T1", "T1ce")}
N_BOOT = 2000


# ============================================================================ data

def load_patients(data_dir: Path = LGG_DIR, patients: list[str] | None = None) -> list[dict]:
    """Load and normalise TCGA-LGG patients once (kept in memory).

    Returns a list of dicts: ``pid``; ``img`` float16 (3, Z, 128, 128) FLAIR, T1, T1ce in RAS
    axial planes (zeros for a sequence missing at source); ``has`` {"T1": bool, "T1ce": bool};
    ``mask`` uint8 (Z, 128, 128); ``tumor_voxels``.
    """
    data_dir = Path(data_dir)
    labels = pd.read_csv(data_dir / "labels.csv", dtype={"patient_id": str}).set_index("patient_id")
    ids = [p for p in (patients or labels.index) if (data_dir / p).is_dir()]
    out = []
    for pid in ids:
        row = labels.loc[pid]
        has = {"T1": bool(row.get("has_t1_pre", 1)), "T1ce": bool(row.get("has_t1_post", 1))}
        planes = []
        for seq, fname in FILES.items():
            arr = np.asarray(nib.load(data_dir / pid / fname).dataobj, dtype=np.float32)[::-1, ::-1]
            if seq != "FLAIR" and not has[seq]:
                planes.append(np.zeros((arr.shape[2],) + arr.shape[:2], np.float16))
                continue
            planes.append(np.moveaxis(normalise_intensity(arr), 2, 0).astype(np.float16))
        mask = np.asarray(nib.load(data_dir / pid / "mask.nii.gz").dataobj)[::-1, ::-1] > 0
        out.append({"pid": pid, "img": np.stack(planes), "has": has,
                    "mask": np.ascontiguousarray(np.moveaxis(mask, 2, 0)).astype(np.uint8),
                    "tumor_voxels": int(mask.sum())})
    return out


def _strata(patients: list[dict]) -> np.ndarray:
    vox = np.array([p["tumor_voxels"] for p in patients], dtype=float)
    return np.searchsorted(np.quantile(vox, [1 / 3, 2 / 3]), vox, side="right")


def split_patients(patients: list[dict], seed: int = SEED, test_fraction: float = TEST_FRACTION,
                   k: int = 3) -> tuple[list[str], list[list[str]]]:
    """Held-out test ids and K development folds (ids), stratified by tumour-volume tertile."""
    rng = np.random.default_rng(seed)
    strata = _strata(patients)
    test, folds = [], [[] for _ in range(k)]
    for s in np.unique(strata):
        ids = sorted(p["pid"] for p, t in zip(patients, strata) if t == s)
        ids = [ids[i] for i in rng.permutation(len(ids))]
        n_test = int(round(test_fraction * len(ids)))
        test += ids[:n_test]
        for i, pid in enumerate(ids[n_test:]):
            folds[(i + s) % k].append(pid)
    return sorted(test), [sorted(f) for f in folds]


# ============================================================================ training

def _augment() -> Compose:
    keys = ["img", "seg"]
    return Compose([
        RandFlipd(keys, prob=0.5, spatial_axis=0),
        RandFlipd(keys, prob=0.5, spatial_axis=1),
        RandAffined(keys, prob=0.6, rotate_range=(0.26,), scale_range=(0.15, 0.15),
                    translate_range=(8, 8), mode=("bilinear", "nearest"), padding_mode="zeros"),
        RandScaleIntensityd("img", factors=0.15, prob=0.5),
        RandShiftIntensityd("img", offsets=0.1, prob=0.5),
        RandGaussianNoised("img", prob=0.3, std=0.03),
    ])


def _sample_batch(patients, design, rng, aug, batch, seq_dropout):
    xs, ys = [], []
    for _ in range(batch):
        p = patients[rng.integers(len(patients))]
        per_z = p["mask"].reshape(len(p["mask"]), -1).sum(1)
        tum = np.flatnonzero(per_z)
        z = int(rng.choice(tum)) if (rng.random() < 0.6 and len(tum)) else int(rng.integers(len(per_z)))
        img = p["img"][:, z].astype(np.float32)
        keep = {s: p["has"][s] and rng.random() >= seq_dropout for s in ("T1", "T1ce")}
        d = aug({"img": img, "seg": p["mask"][z][None].astype(np.float32)})
        im = np.asarray(d["img"], dtype=np.float32)
        x = stack_inputs(design, im[0], im[1] if keep["T1"] else None, im[2] if keep["T1ce"] else None)
        xs.append(x)
        ys.append(np.asarray(d["seg"], dtype=np.float32))
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys))


def train_net(patients: list[dict], design: str, steps: int, seed: int = SEED, batch: int = 16,
              lr: float = 3e-3, seq_dropout: float = 0.3, log=print) -> torch.nn.Module:
    """Train one U-Net of ``design`` for ``steps`` steps on ``patients``; returns it in eval mode."""
    set_track_meta(False)  # plain tensors through the MONAI transforms (faster, no metadata)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    aug = _augment()
    aug.set_random_state(seed=seed)
    net = build_segmentation_net(SegNetConfig(design=design))
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    warm = max(1, min(100, steps // 10))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else 0.5 * (1 + np.cos(np.pi * (s - warm) / max(1, steps - warm))))
    loss_fn = DiceCELoss(sigmoid=True, batch=True)
    net.train()
    t0, run = time.time(), []
    for step in range(steps):
        x, y = _sample_batch(patients, design, rng, aug, batch, seq_dropout)
        opt.zero_grad()
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
        sched.step()
        run.append(float(loss.detach()))
        if (step + 1) % 100 == 0 or step + 1 == steps:
            log(f"  {design} step {step + 1}/{steps} loss {np.mean(run[-100:]):.4f} "
                f"({time.time() - t0:.0f} s)")
    net.eval()
    return net


@torch.no_grad()
def predict_probs(net, design: str, img: np.ndarray, use: tuple[str, ...] = ("T1", "T1ce"),
                  chunk: int = 32) -> np.ndarray:
    """Tumour probability (Z, H, W) of a normalised (3, Z, H, W) stack, giving the network
    FLAIR plus the sequences in ``use`` (others as missing)."""
    x = stack_inputs(design, img[0], img[1] if "T1" in use else None, img[2] if "T1ce" in use else None)
    out = []
    for i in range(0, len(x), chunk):
        out.append(torch.sigmoid(net(torch.from_numpy(np.ascontiguousarray(x[i:i + chunk])))[:, 0]).numpy())
    return np.concatenate(out)


# ============================================================================ metrics

_DICE = DiceMetric(include_background=True, reduction="none")


def dice(pred: np.ndarray, gt: np.ndarray) -> float:
    """3D Dice of two binary masks (MONAI ``DiceMetric``); 1.0 when both are empty."""
    if not pred.any() and not gt.any():
        return 1.0
    p = torch.from_numpy(pred.astype(np.float32))[None, None]
    g = torch.from_numpy(gt.astype(np.float32))[None, None]
    return float(_DICE(p, g)[0, 0])


def patient_metrics(pred: np.ndarray, gt: np.ndarray) -> dict:
    """Dice, voxel counts, absolute volume error % and tumour-free-slice behaviour
    (slices are axis 0)."""
    pred, gt = pred.astype(bool), gt.astype(bool)
    free = ~gt.reshape(len(gt), -1).any(1)
    fp_free = pred[free].reshape(int(free.sum()), -1).sum(1) if free.any() else np.zeros(0)
    gv, pv = int(gt.sum()), int(pred.sum())
    return {"dice": dice(pred, gt), "gt_voxels": gv, "pred_voxels": pv,
            "volume_error_pct": abs(pv - gv) / gv * 100 if gv else None,
            "tumour_free_slices": int(free.sum()),
            "tumour_free_slices_with_prediction": int((fp_free > 0).sum()),
            "fp_voxels_tumour_free": int(fp_free.sum())}


def summarise(rows: list[dict], seed: int = SEED) -> dict:
    """Mean / median / bootstrap 95 % CI of per-patient Dice, median volume error, tumour-free
    slice rates over ``rows`` (from :func:`patient_metrics`)."""
    d = np.array([r["dice"] for r in rows], dtype=float)
    ve = np.array([r["volume_error_pct"] for r in rows if r["volume_error_pct"] is not None], float)
    n_free = sum(r["tumour_free_slices"] for r in rows)
    return {
        "n_patients": len(rows),
        "dice_mean": float(d.mean()), "dice_median": float(np.median(d)),
        "dice_ci95": list(bootstrap_ci(np.mean, (d,), n_boot=N_BOOT, seed=seed)),
        "dice_median_ci95": list(bootstrap_ci(np.median, (d,), n_boot=N_BOOT, seed=seed)),
        "volume_error_pct_median": float(np.median(ve)) if ve.size else None,
        "tumour_free_slices": n_free,
        "fp_voxels_per_tumour_free_slice": (sum(r["fp_voxels_tumour_free"] for r in rows) / n_free
                                            if n_free else None),
        "share_tumour_free_slices_with_prediction": (
            sum(r["tumour_free_slices_with_prediction"] for r in rows) / n_free if n_free else None),
    }


def paired(a: np.ndarray, b: np.ndarray, seed: int = SEED) -> dict:
    """Mean of (a - b) with its paired bootstrap 95 % CI (patients resampled)."""
    diff = np.asarray(a, float) - np.asarray(b, float)
    lo, hi = bootstrap_ci(np.mean, (diff,), n_boot=N_BOOT, seed=seed)
    return {"mean_diff": float(diff.mean()), "ci95": [lo, hi], "excludes_0": bool(lo > 0 or hi < 0)}


# ============================================================================ stages

def run_cv(args, log=print) -> dict:
    torch.set_num_threads(args.threads)
    t_start = time.time()
    patients = load_patients(Path(args.data), args.patients)
    log(f"loaded {len(patients)} patients in {time.time() - t_start:.0f} s")
    test_ids, folds = split_patients(patients, k=args.folds)
    by_id = {p["pid"]: p for p in patients}
    designs = args.designs
    oof = {d: {} for d in designs}          # design -> pid -> metrics row (per post-processing)
    fold_rows, times = [], {}
    for k, val_ids in enumerate(folds):
        train = [by_id[i] for f, ids in enumerate(folds) if f != k for i in ids]
        for design in designs:
            t0 = time.time()
            net = train_net(train, design, args.steps, seed=SEED + k, log=log)
            times.setdefault(design, []).append(time.time() - t0)
            fd = []
            for pid in val_ids:
                p = by_id[pid]
                prob = predict_probs(net, design, p["img"])
                oof[design][pid] = {how: patient_metrics(postprocess(prob > 0.5, how), p["mask"])
                                    for how in POSTPROCESS}
                fd.append(oof[design][pid]["none"]["dice"])
            fold_rows.append({"fold": k, "design": design, "n_val": len(val_ids),
                              "dice_mean": float(np.mean(fd)), "seconds": time.time() - t0})
            log(f"fold {k} {design}: mean Dice {np.mean(fd):.3f} ({time.time() - t0:.0f} s)")
    pids = sorted(oof[designs[0]])
    table = {d: summarise([oof[d][p]["none"] for p in pids]) for d in designs}
    cmp = None
    chosen = "stacked"
    if "stacked" in designs and "flair" in designs:
        cmp = paired([oof["flair"][p]["none"]["dice"] for p in pids],
                     [oof["stacked"][p]["none"]["dice"] for p in pids])
        if cmp["mean_diff"] > 0 and cmp["excludes_0"]:
            chosen = "flair"
    elif len(designs) == 1:
        chosen = designs[0]
    post = {}
    base = [oof[chosen][p]["none"]["dice"] for p in pids]
    for how in POSTPROCESS[1:]:
        post[how] = dict(paired([oof[chosen][p][how]["dice"] for p in pids], base),
                         dice_mean=float(np.mean([oof[chosen][p][how]["dice"] for p in pids])))
    helps = [h for h, r in post.items() if r["mean_diff"] > 0 and r["excludes_0"]]
    chosen_post = max(helps, key=lambda h: post[h]["mean_diff"]) if helps else "none"
    result = {
        "protocol": "patient-level stratified K-fold CV on the development patients; held-out "
                    "test patients never used (see training/segment.py docstring)",
        "decision_rule": ("serve 'stacked' unless 'flair' has a higher mean out-of-fold Dice with a "
                          "paired bootstrap 95% CI of the difference excluding 0; post-processing "
                          "only if it raises the chosen design's mean out-of-fold Dice with a CI "
                          "excluding 0"),
        "k": args.folds, "steps_per_run": args.steps, "batch": 16, "seed": SEED,
        "test_patients": test_ids, "folds": folds,
        "designs": table, "per_fold": fold_rows,
        "flair_minus_stacked": cmp, "chosen_design": chosen,
        "postprocessing": post, "chosen_postprocessing": chosen_post,
        "train_seconds_per_run": {d: float(np.mean(t)) for d, t in times.items()},
        "cv_seconds_total": time.time() - t_start,
        "per_patient_dice": {d: {p: oof[d][p]["none"]["dice"] for p in pids} for d in designs},
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "cv.json").write_text(json.dumps(json_safe(result), indent=2) + "\n")
    log(f"chosen design: {chosen}; post-processing: {chosen_post}; wrote {out / 'cv.json'}")
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--stage", choices=["cv", "final", "time"], default="final")
    p.add_argument("--data", default=str(LGG_DIR))
    p.add_argument("--out", default=str(OUT_DIR))
    p.add_argument("--designs", nargs="+", default=["stacked", "flair"])
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--steps", type=int, default=1500, help="training steps per CV run")
    p.add_argument("--final-steps", type=int, default=2500, help="training steps of the final model")
    p.add_argument("--patients", nargs="*", default=None, help="only these patients (tests)")
    p.add_argument("--brats", default=str(BRATS_DIR), help="BraTS transfer cases ('none' to skip)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    args.argv = list(argv if argv is not None else sys.argv[1:])
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.stage == "cv":
        return run_cv(args)
    if args.stage == "time":
        torch.set_num_threads(args.threads)
        t0 = time.time()
        patients = load_patients(Path(args.data), args.patients)
        print(f"load {time.time() - t0:.1f} s, {sum(len(p['mask']) for p in patients)} slices")
        t0 = time.time()
        train_net(patients, args.designs[0], args.steps)
        print(f"{args.steps} steps: {(time.time() - t0) / args.steps:.3f} s/step")
        return {}
    from training.segment_final import run_final
    return run_final(args)


if __name__ == "__main__":
    main()
