"""Final segmentation model: train the cross-validated choice, test once, write the checkpoint;
and the folder evaluation behind ``python -m training.evaluate --task segment``.

Test and folder evaluation go through the served path (:class:`model.inference.segment.Segmenter`
on a :class:`model.imaging.study.Study` read from the NIfTI files), not through the training
arrays, so the numbers are those of the app.
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import torch
from monai.metrics import HausdorffDistanceMetric

from model.core.jsonio import json_safe
from model.imaging.study import Study
from model.inference.segment import SEGMENT_CHECKPOINT, Segmenter
from model.nets.checkpoint import write_checkpoint
from model.nets.segmentation import SegNetConfig
from training.segment import (BRATS_DIR, FILES, SEED, SUBSETS, load_patients, paired,
                              patient_metrics, split_patients, summarise, train_net)

ANCHORS = {"Buda et al. 2019 (same data, 22-fold CV)": {"dice_mean": 0.836, "dice_median": 0.873},
           "inter-reader agreement (Buda et al. 2019)": {"dice_mean": 0.84}}


# ============================================================================ studies

def tcga_study(folder: Path, has: dict) -> tuple[Study, np.ndarray]:
    """A TCGA-LGG patient folder as the app would load it (sequences missing at source left
    out) and its ground-truth mask as a (X, Y, Z) bool array on the same grid."""
    names = [("FLAIR", FILES["FLAIR"])] + [(s, FILES[s]) for s in ("T1", "T1ce") if has.get(s, True)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = Study.from_paths([folder / f for _, f in names], sequences=[s for s, _ in names])
    img = nib.as_closest_canonical(nib.load(folder / "mask.nii.gz"))
    gt = np.asarray(img.dataobj) > 0
    if gt.shape != study.volumes["FLAIR"].shape:
        raise ValueError(f"{folder.name}: mask shape {gt.shape} differs from FLAIR's")
    return study, gt


def hd95_mm(pred: np.ndarray, gt: np.ndarray, spacing) -> float | None:
    """95th-percentile Hausdorff distance (mm, MONAI) of two (X, Y, Z) masks; None if one is
    empty."""
    if not pred.any() or not gt.any():
        return None
    m = HausdorffDistanceMetric(include_background=True, percentile=95)
    v = m(torch.from_numpy(pred[None, None].astype(np.float32)),
          torch.from_numpy(gt[None, None].astype(np.float32)), spacing=list(map(float, spacing)))
    return float(v[0, 0])


def _zfirst(a: np.ndarray) -> np.ndarray:
    return np.moveaxis(a, 2, 0)


def evaluate_folder(data_dir: Path, segmenter: Segmenter, patients: list[str] | None = None,
                    subsets: bool = False) -> dict:
    """Per-patient metrics of ``segmenter`` on a folder in the ``tcga_lgg_flair_seg`` layout.

    Returns the :func:`training.segment.summarise` fields plus ``hd95_mm_median`` (None
    without known spacing), ``per_patient`` and, with ``subsets``, ``per_subset`` (Dice by
    available-sequence subset, on the patients that have the subset's sequences).
    """
    data_dir = Path(data_dir)
    labels = pd.read_csv(data_dir / "labels.csv", dtype={"patient_id": str}).set_index("patient_id")
    ids = [p for p in (patients or list(labels.index)) if (data_dir / p).is_dir()]
    rows, sub_rows = [], {k: [] for k in SUBSETS}
    for pid in ids:
        r = labels.loc[pid]
        has = {"T1": bool(r.get("has_t1_pre", 1)), "T1ce": bool(r.get("has_t1_post", 1))}
        study, gt = tcga_study(data_dir / pid, has)
        res = segmenter.segment(study)
        pred = res.labelmap.array > 0
        m = patient_metrics(_zfirst(pred), _zfirst(gt))
        known = res.labelmap.geometry_known
        m.update(patient_id=pid, sequences_used=list(res.sequences_used),
                 hd95_mm=hd95_mm(pred, gt, res.labelmap.spacing_mm) if known else None,
                 pred_volume_ml=res.labelmap.volume_ml, geometry_known=known)
        rows.append(m)
        if subsets:
            for name, use in SUBSETS.items():
                if all(has[s] for s in use):
                    sp = segmenter.segment(study, use=use).labelmap.array > 0
                    sub_rows[name].append(patient_metrics(_zfirst(sp), _zfirst(gt))["dice"])
    out = summarise(rows) if rows else {"n_patients": 0}
    hd = [r["hd95_mm"] for r in rows if r["hd95_mm"] is not None]
    out["hd95_mm_median"] = float(np.median(hd)) if hd else None
    out["per_patient"] = rows
    if subsets:
        from training.metrics import bootstrap_ci
        out["per_subset"] = {
            k: {"n_patients": len(v), "dice_mean": float(np.mean(v)) if v else None,
                "dice_median": float(np.median(v)) if v else None,
                "dice_ci95": list(bootstrap_ci(np.mean, (np.array(v),), n_boot=2000, seed=SEED)) if v else None}
            for k, v in sub_rows.items()}
    return out


def evaluate_brats(segmenter: Segmenter, brats_dir: Path = BRATS_DIR) -> dict:
    """Dice and HD95 (mm) on the BraTS 2018 cases (1 mm, skull-stripped), by plane mode
    (``fov``: TCGA field of view; ``bbox``: brain box scaled like a TCGA head) and by sequences
    (FLAIR only / FLAIR + T1)."""
    out = {}
    for case in sorted(p for p in Path(brats_dir).iterdir() if p.is_dir()):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            study = Study.from_paths([case / "flair.nii.gz", case / "t1.nii.gz"], sequences=["FLAIR", "T1"])
        gt = np.asarray(nib.as_closest_canonical(nib.load(case / "seg_whole_tumor.nii.gz")).dataobj) > 0
        res_case = {}
        for mode in ("fov", "bbox"):
            for name, use in (("FLAIR only", ()), ("FLAIR+T1", ("T1",))):
                res = segmenter.segment(study, plane_mode=mode, use=use)
                pred = res.labelmap.array > 0
                res_case[f"{mode} / {name}"] = {
                    "dice": patient_metrics(_zfirst(pred), _zfirst(gt))["dice"],
                    "hd95_mm": hd95_mm(pred, gt, res.labelmap.spacing_mm),
                    "pred_volume_ml": res.labelmap.volume_ml,
                    "gt_volume_ml": float(gt.sum()) * res.labelmap.voxel_volume_ml}
        out[case.name] = res_case
    return out


# ============================================================================ final stage

def run_final(args, log=print) -> dict:
    torch.set_num_threads(args.threads)
    out_dir = Path(args.out)
    cv_path = out_dir / "cv.json"
    if not cv_path.exists():
        raise SystemExit(f"{cv_path} is missing: run --stage cv first (the design is chosen there).")
    cv = json.loads(cv_path.read_text())
    design, post = cv["chosen_design"], cv["chosen_postprocessing"]
    t0 = time.time()
    patients = load_patients(Path(args.data), args.patients)
    test_ids, folds = split_patients(patients, k=cv["k"])
    if sorted(test_ids) != sorted(cv["test_patients"]):
        raise SystemExit("The test split differs from cv.json's: refusing to mix splits.")
    dev = [p for p in patients if p["pid"] not in set(test_ids)]
    log(f"final: {design} on {len(dev)} development patients, {args.final_steps} steps")
    t_train = time.time()
    net = train_net(dev, design, args.final_steps, seed=SEED, log=log)
    train_seconds = time.time() - t_train
    config = SegNetConfig(design=design)
    card = {"kind": "segmentation", "architecture": config.to_dict(), "threshold": 0.5,
            "postprocessing": post}
    write_checkpoint(out_dir, net, card)          # provisional card so the Segmenter can load it
    seg = Segmenter(out_dir, device="cpu")
    log("testing on the held-out patients")
    test = evaluate_folder(Path(args.data), seg, patients=test_ids, subsets=True)
    log(f"test Dice mean {test['dice_mean']:.3f} median {test['dice_median']:.3f} "
        f"CI {test['dice_ci95']}")
    brats = evaluate_brats(seg, Path(args.brats)) if args.brats != "none" else {}
    log(f"BraTS: {json.dumps(json_safe(brats))}")
    card = build_card(args, cv, design, post, config, test, brats, train_seconds,
                      time.time() - t0, len(dev), test_ids)
    card = write_checkpoint(out_dir, net, card)
    (out_dir / "test_per_patient.json").write_text(json.dumps(json_safe(test["per_patient"]), indent=1) + "\n")
    log(f"wrote {out_dir} (sha256 {card['sha256'][:12]})")
    return card


def _brats_summary(brats: dict) -> dict:
    keys = next(iter(brats.values())).keys() if brats else []
    return {k: {"dice_mean": float(np.mean([c[k]["dice"] for c in brats.values()])),
                "hd95_mm_mean": (float(np.mean([c[k]["hd95_mm"] for c in brats.values()]))
                                 if all(c[k]["hd95_mm"] is not None for c in brats.values()) else None)}
            for k in keys}


def build_card(args, cv, design, post, config, test, brats, train_seconds, total_seconds,
               n_dev, test_ids) -> dict:
    test_metrics = {k: v for k, v in test.items() if k not in ("per_patient", "per_subset")}
    return {
        "kind": "segmentation",
        "name": "TumorBoard FLAIR-abnormality segmentation (TCGA-LGG)",
        "version": "0.1.0",
        "task": "Voxel-wise FLAIR abnormality (tumour + oedema) of lower-grade glioma, 2D axial U-Net",
        "architecture": config.to_dict(),
        "design": design,
        "sequences": list(config.sequences),
        "required_sequences": ["FLAIR"],
        "threshold": 0.5,
        "postprocessing": post,
        "preprocessing": (
            "Per sequence: foreground 1st/99th percentiles -> 0/1, clipped to [0, 1.5]. Axial RAS "
            "planes resampled (bilinear) to a 128x128 model plane centred on FLAIR's foreground box: "
            "1.875 mm/pixel when the geometry is known (the TCGA-LGG field of view), else the "
            "foreground box's longer side over 127 pixels. Probabilities resampled back onto "
            "FLAIR's grid, threshold 0.5. Missing T1/T1ce: zeros + presence plane 0."),
        "data": {
            "training": (f"shared/data/tcga_lgg_flair_seg: {n_dev} development patients (of 88) "
                         "with manual FLAIR-abnormality masks; 128x128 slices, placeholder geometry"),
            "held_out_test_patients": test_ids,
            "citation": [
                "Buda M, Saha A, Mazurowski MA. Association of genomic subtypes of lower-grade gliomas "
                "with shape features automatically extracted by a deep learning algorithm. Comput Biol "
                "Med 2019;109:218-225.",
                "Pedano N et al. Radiology Data from The Cancer Genome Atlas Low Grade Glioma [TCGA-LGG] "
                "collection. TCIA 2016, doi:10.7937/K9/TCIA.2016.L4LTD3TK."],
            "licence": ("Images: TCIA TCGA-LGG, CC BY 3.0. Masks / Kaggle 'lgg-mri-segmentation' "
                        "dataset: believed CC BY-NC-SA 4.0 (non-commercial), not verified offline."),
            "transfer": "shared/data/brats_extra: 2 BraTS 2018 HGG cases, whole-tumour GT, 1 mm (BraTS terms)",
        },
        "training": {
            "command": "python -m training.train --task segment " + " ".join(args.argv),
            "steps": args.final_steps, "batch": 16, "threads": args.threads,
            "train_seconds": train_seconds, "total_seconds_incl_evaluation": total_seconds,
            "cv_seconds": cv.get("cv_seconds_total"),
            "recipe": "see training/segment.py docstring (DiceCE, AdamW, cosine LR, MONAI augmentation, "
                      "sequence dropout 0.3)",
        },
        "metrics": {
            "test": test_metrics,
            "test_per_subset": test.get("per_subset"),
            "test_note": ("Held-out TCGA-LGG patients, evaluated once through the served Segmenter. "
                          "HD95 in mm is null: the TCGA volumes have placeholder geometry. Volume "
                          "error in voxels (ratio, geometry-free)."),
            "brats_transfer": brats,
            "brats_transfer_summary": _brats_summary(brats),
            "anchors": ANCHORS,
        },
        "cv": {"k": cv["k"], "steps_per_run": cv["steps_per_run"],
               "designs": cv["designs"], "flair_minus_stacked": cv["flair_minus_stacked"],
               "decision_rule": cv["decision_rule"], "chosen_design": design,
               "postprocessing": cv["postprocessing"], "chosen_postprocessing": post,
               "file": "cv.json"},
        "limitations": [
            "Trained on 2D axial slices of one data set (TCGA-LGG, lower-grade glioma FLAIR "
            "abnormality); transfer to other scanners, high-grade glioma or metastases is measured "
            "on 2 BraTS cases only.",
            "The paper's design (one encoder per sequence + attention fusion) was not compared: the "
            "CPU budget (~70 min of one core) allowed two designs.",
            "No brain extraction (deepbet not installed; TCGA volumes have no real geometry).",
            "Short CPU training (a few thousand steps); Dice is below Buda et al.'s 22-fold result.",
        ],
        "intended_use": "Research and teaching only; not a medical device.",
    }


def paired_designs(cv: dict) -> dict:
    """Re-derive the CV comparison from cv.json's per-patient Dice (for tests / readers)."""
    d = cv["per_patient_dice"]
    ids = sorted(d["stacked"])
    return paired([d["flair"][i] for i in ids], [d["stacked"][i] for i in ids])


def default_segmenter(checkpoint: str | Path | None = None) -> Segmenter:
    return Segmenter(checkpoint or SEGMENT_CHECKPOINT)


def trained_patients(card: dict, cv: dict | None) -> set[str]:
    """Patient IDs the served model (or its CV runs) trained on: every development patient."""
    test = set(card.get("data", {}).get("held_out_test_patients", []))
    dev = {p for f in (cv or {}).get("folds", []) for p in f}
    return dev - test


def evaluate_cli(args) -> int:
    """``python -m training.evaluate --task segment --data DIR [--checkpoint DIR] [--json]
    [--patients ID ...] [--include-training]``: per-patient Dice, HD95 (mm, null without
    known spacing), volume error. Patients the model trained on are skipped (with a warning)
    unless ``--include-training``."""
    import sys

    from model.core.errors import CheckpointError

    folder = Path(args.checkpoint) if args.checkpoint else SEGMENT_CHECKPOINT
    try:
        seg = Segmenter(folder)
    except CheckpointError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    cv_file = folder / "cv.json"
    cv = json.loads(cv_file.read_text()) if cv_file.exists() else None
    data = Path(args.data)
    if not (data / "labels.csv").exists():
        print(f"error: {data} has no labels.csv (tcga_lgg_flair_seg layout expected)", file=sys.stderr)
        return 2
    ids = list(args.patients) if args.patients else sorted(
        pd.read_csv(data / "labels.csv", dtype={"patient_id": str})["patient_id"])
    ids = [p for p in ids if (data / p / "mask.nii.gz").exists()]
    seen = sorted(set(ids) & trained_patients(seg.card, cv))
    skipped = []
    if seen and not args.include_training:
        skipped = seen
        ids = [p for p in ids if p not in set(seen)]
        print(f"warning: {len(seen)} patient(s) in {data.name} were used to train the segmentation "
              "model and are left out (pass --include-training to evaluate them anyway; their "
              "numbers would be optimistic).", file=sys.stderr)
    elif seen:
        print(f"warning: {len(seen)} evaluated patient(s) were used in training: optimistic numbers.",
              file=sys.stderr)
    if not ids:
        print("error: no patient left to evaluate.", file=sys.stderr)
        return 2
    res = evaluate_folder(data, seg, patients=ids)
    res["checkpoint"] = seg.card.get("name")
    res["skipped_training_patients"] = skipped
    res["evaluated_training_patients"] = seen if args.include_training else []
    res = json_safe(res)
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        for k in ("n_patients", "dice_mean", "dice_median", "dice_ci95", "hd95_mm_median",
                  "volume_error_pct_median"):
            print(f"{k}: {res.get(k)}")
    return 0
