"""5-fold patient-level cross-validation of the grade model's designs next to baselines, and of
the tumour-type model on figshare's published folds.

    python -m training.cv                        # all variants, all folds, then the summary
    python -m training.cv --only 2d:0 3d:0       # some runs (resumable; run two in parallel)
    python -m training.cv --summarise            # only rebuild cv.json from finished runs
    python -m training.cv --task type            # the type model on figshare's published folds

Patients: the shipped checkpoint's development patients (its train + validation split, 70 of
TCGA-LGG); its 18 test patients are never used here, so the card's held-out numbers stay
held out and no design choice sees them. The development patients are split by
``StratifiedKFold(5, shuffle=True, random_state=seed)`` on grade; in each fold 15 % of the
remaining patients (stratified) are set aside as validation for early stopping and the
temperature, the rest train. Every variant and baseline sees the same folds.

Variants (the shipped command with the changes listed in :data:`VARIANTS`):

* ``2d``: the shipped design: 2D slice branches pretrained on our figshare tumour-type task,
  slice attention supervised by the masks, Cox partial likelihood;
* ``2d_scratch``: the same from random initialisation (the transfer-learning gain);
* ``2d_mse``: the survival term of the 2025 multi-modal paper TumorBoard follows (MSE on log
  survival time) instead of the Cox term (compared by C-index);
* ``3d``: a 3D MONAI ``DenseNet`` per sequence branch on the 64³ foreground cube, same
  sequence fusion and heads. Necessarily also from scratch (the pretrained encoder is 2D) and
  without the mask supervision of slice attention (a cube has no slices): it compares the
  3D design as it can be trained here, not the encoder alone.

Baselines in the same folds: majority class, and logistic regression on mask features
(:func:`training.baselines.tumour_features`), fitted on each fold's train + validation patients.

Reported per variant: mean ± s.d. over the 5 folds of accuracy, macro precision/recall/F1, ROC
AUC, ECE and Harrell's C; the pooled out-of-fold predictions with percentile-bootstrap 95% CIs
(1000 resamples over patients) and their confusion matrix; differences to ``2d`` as paired
bootstrap CIs over the pooled patients and as per-fold mean ± s.d. A predictor that is constant
within each fold (the majority class) has no pooled AUC or C-index: pooling the folds' different
constants would rank patients by fold, an artefact of stratified splitting (Parker et al., BMC
Bioinformatics 2007;8:326), which also pulls the pooled AUC of uninformative models below 0.5.

Decision rule, fixed before the runs: the served design changes only if an alternative's
pooled AUC (C-index for the loss) beats the shipped one with a paired 95% CI that excludes 0;
otherwise the shipped 2D design stays (its maps are computed in slice space and mapped back to
the study, which the app is built on).

Writes, next to the shipped checkpoint: ``cv.json`` (the Model page shows it),
``cv_predictions.csv`` (the out-of-fold predictions behind it) and a ``cross_validation`` block
in ``model_card.json`` (the Prediction page and the PDF read its warning; weights and sha256
untouched). ``--out`` writes the summary elsewhere and leaves the checkpoint alone. Per-run
checkpoints stay under ``--work`` (default ``/tmp/tumorboard_cv``; keep it to resume or
re-summarise). ``--summarise`` refuses (exit 2) when the shipped design's runs are not all there.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedKFold, train_test_split

from model.core.config import DEFAULT_CHECKPOINT
from model.core.jsonio import json_safe, write_card
from model.nets.checkpoint import load_checkpoint, read_card
from training.baselines import logistic_mask, majority_prior, tumour_features
from training.data import (GRADE_CLASSES, SHARED_DATA, TYPE_CLASSES, load_figshare_cases,
                           load_tcga_cases)
from training.metrics import classification_report, harrell_c, paired_diff, roc_auc
from training.train import parse_args, predict_patients, shipped_args, train

#: One change each against the shipped training command: flags dropped (with their value),
#: flags added.
VARIANTS: dict[str, dict[str, list[str]]] = {
    "2d": {"drop": [], "add": []},
    "2d_scratch": {"drop": ["--init-from"], "add": []},
    "2d_mse": {"drop": [], "add": ["--survival-loss", "mse"]},
    "3d": {"drop": ["--init-from", "--attn-sup"], "add": ["--encoder", "3d"]},
}
REFERENCE = "2d"
#: Names a clinician reads (Model page, decision sentence).
NAMES = {
    "2d": "2D slices, pretrained (served)", "2d_scratch": "2D slices, from scratch",
    "2d_mse": "2D slices, MSE survival loss", "3d": "3D DenseNet per sequence",
    "majority": "Baseline: majority class",
    "logistic_mask_features": "Baseline: logistic regression on tumour-mask features",
}
DESCRIPTIONS = {
    "2d": "2D slice branches, transfer from figshare type task, Cox (shipped design)",
    "2d_scratch": "2D slice branches from scratch, Cox",
    "2d_mse": "2D slice branches, transfer, MSE on log survival time (paper)",
    "3d": "3D MONAI DenseNet branches (64³ cube), from scratch, Cox",
    "majority": "majority class of the fold's training patients",
    "logistic_mask_features": "logistic regression on mask volume and intensity features",
}
METRICS = ("accuracy", "precision_macro", "recall_macro", "f1_macro", "roc_auc", "ece", "c_index")


def make_folds(ids: list[str], labels: list[int], n_folds: int = 5, seed: int = 0,
               val_frac: float = 0.15, assignment: list[int] | None = None
               ) -> list[dict[str, list[str]]]:
    """Patient-level stratified folds: each a ``{"train", "val", "test"}`` dict of patient ids.

    Every patient is in exactly one ``test``: scikit-learn ``StratifiedKFold`` (seeded), or the
    given per-patient fold ``assignment`` (e.g. the published figshare folds, values
    0..n_folds-1). ``val`` is a stratified ``val_frac`` of the others (``train_test_split``).

    Raises:
        ValueError: fewer patients of a class than ``n_folds`` (scikit-learn).
    """
    ids, labels = np.asarray(ids), np.asarray(labels)
    if assignment is None:
        splits = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed).split(ids, labels)
    else:
        a = np.asarray(assignment)
        splits = [(np.flatnonzero(a != k), np.flatnonzero(a == k)) for k in range(n_folds)]
    folds = []
    for rest, test in splits:
        tr, va = train_test_split(ids[rest], test_size=val_frac, stratify=labels[rest],
                                  random_state=seed)
        folds.append({"train": sorted(tr.tolist()), "val": sorted(va.tolist()),
                      "test": sorted(ids[test].tolist())})
    return folds


def variant_argv(base: list[str], variant: str) -> list[str]:
    """The shipped command's arguments with the variant's change (``--out`` removed)."""
    spec = VARIANTS[variant]
    argv, skip = [], False
    for a in base:
        if skip:
            skip = False
            continue
        if a in spec["drop"] or a == "--out":
            skip = True
            continue
        argv.append(a)
    return argv + spec["add"]


def _write_oof(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def _read_oof(path: Path) -> list[dict]:
    with open(path) as fh:
        return list(csv.DictReader(fh))


def run_fold(variant: str, fold: int, split: dict, base: list[str], work: Path, cases,
             threads: int = 0, extra: list[str] | None = None) -> Path:
    """Train one variant on one fold and write its out-of-fold predictions.

    Returns the path of ``oof.csv``: one row per test patient with patient_id, fold, label,
    ``prob_<i>`` (class probabilities after the fold's temperature; for the slice-level type
    task the mean over the patient's slices), risk, time_days, event. Skipped when it exists.
    """
    out = work / variant / f"fold{fold}"
    oof = out / "oof.csv"
    if oof.exists():
        return oof
    out.mkdir(parents=True, exist_ok=True)
    (out / "split.json").write_text(json.dumps(split))
    argv = variant_argv(base, variant) + ["--split-file", str(out / "split.json"),
                                           "--out", str(out / "checkpoint"), "--n-boot", "0"]
    if threads:
        argv += ["--threads", str(threads)]
    argv += extra or []
    t0 = time.time()
    keep = set().union(*split.values())
    args = parse_args(argv)
    card = train(args, [c for c in cases if c.patient_id in keep])
    net, _ = load_checkpoint(out / "checkpoint")
    test = [c for c in cases if c.patient_id in set(split["test"])]
    # Patient level, as training.train scores its own splits (type: mean over slices).
    ids, y, prob, t, e, risk, _ = predict_patients(net, test, args.task, float(card.get("temperature", 1.0)))
    _write_oof(oof, [{"patient_id": p, "label": int(lab), "risk": float(r), "time_days": float(ti),
                      "event": int(ev), "fold": fold,
                      **{f"prob_{i}": float(q) for i, q in enumerate(pr)}}
                     for p, lab, pr, r, ti, ev in zip(ids, y, prob, risk, t, e)])
    (out / "run.json").write_text(json.dumps({
        "seconds": round(time.time() - t0, 1), "epochs_run": card["training"]["epochs_run"],
        "temperature": card.get("temperature"), "command": card["training"]["command"]}))
    return oof


def baseline_oof(folds: list[dict], data: Path, labels: dict[str, int], times: dict,
                 events: dict) -> dict[str, list[dict]]:
    """Out-of-fold predictions of the majority-class and mask-feature logistic baselines.

    The risk of a baseline is its P(grade III) (a higher grade is the worse prognosis), so it
    has a C-index too. Fitted on each fold's train + validation patients.
    """
    feats = {p: tumour_features(data / p) for f in folds for p in f["test"]}
    out: dict[str, list[dict]] = {"majority": [], "logistic_mask_features": []}
    for i, f in enumerate(folds):
        fit = f["train"] + f["val"]
        y_fit = np.array([labels[p] for p in fit])
        probs = {"majority": majority_prior(y_fit, 2, len(f["test"])),
                 "logistic_mask_features": logistic_mask(np.stack([feats[p] for p in fit]), y_fit,
                                                         np.stack([feats[p] for p in f["test"]]))}
        for name, prob in probs.items():
            out[name] += [{"patient_id": p, "fold": i, "label": labels[p], "time_days": times[p],
                           "event": events[p], "risk": float(q[1]),
                           **{f"prob_{j}": float(v) for j, v in enumerate(q)}}
                          for p, q in zip(f["test"], prob)]
    return out


def _arrays(rows: list[dict]):
    y = np.array([int(r["label"]) for r in rows])
    n_class = sum(k.startswith("prob_") for k in rows[0])
    prob = np.array([[float(r[f"prob_{i}"]) for i in range(n_class)] for r in rows])
    risk = np.array([float(r["risk"]) for r in rows])
    t = np.array([float(r["time_days"]) for r in rows])
    e = np.array([int(float(r["event"])) for r in rows])
    fold = np.array([int(r["fold"]) for r in rows])
    return y, prob, risk, t, e, fold


def _nan_stat(fn, vals: list) -> float:
    vals = np.asarray(vals, dtype=float)
    vals = vals[np.isfinite(vals)]
    return float(fn(vals)) if len(vals) else float("nan")


def summarise(oof: dict[str, list[dict]], n_folds: int, n_boot: int = 1000,
              classes: list[str] = GRADE_CLASSES) -> dict:
    """Per-variant fold mean ± s.d., pooled out-of-fold metrics with CIs, paired differences.

    ``oof``: variant -> out-of-fold rows (see :func:`run_fold`), each patient once per variant.
    Variants with a missing fold are reported as incomplete and not compared.
    """
    result: dict = {}
    order = {}
    for name, rows in oof.items():
        rows = sorted(rows, key=lambda r: r["patient_id"])
        y, prob, risk, t, e, fold = _arrays(rows)
        done = sorted(set(fold.tolist()))
        entry = {"name": NAMES.get(name, name), "description": DESCRIPTIONS.get(name, name),
                 "folds_done": done,
                 "n_patients": int(len(y))}
        per_fold = []
        for k in done:
            m = fold == k
            rep = classification_report(y[m], prob[m], classes, t[m], e[m], risk[m], n_boot=0)
            per_fold.append({x: rep.get(x) for x in METRICS})
        entry["per_fold"] = per_fold
        entry["mean"] = {x: _nan_stat(np.mean, [f[x] for f in per_fold]) for x in METRICS}
        entry["sd"] = {x: _nan_stat(lambda v: np.std(v, ddof=1) if len(v) > 1 else np.nan,
                                    [f[x] for f in per_fold]) for x in METRICS}
        pooled = classification_report(y, prob, classes, t, e, risk, n_boot=n_boot)
        entry["pooled"] = {k: v for k, v in pooled.items() if k != "labels"}
        constant = all(np.ptp(prob[fold == k], axis=0).max() == 0 for k in done)
        if constant:
            for k in ("roc_auc", "roc_auc_ci95", "c_index", "c_index_ci95"):
                entry["pooled"][k] = None
            entry["note"] = ("constant within each fold: no pooled ranking metric (AUC, C-index); "
                             "its per-fold AUC and C are 0.5 by definition")
        result[name] = entry
        order[name] = (rows, y, prob, risk, t, e, fold)
    ref = order.get(REFERENCE)
    if ref is not None and len(result[REFERENCE]["folds_done"]) == n_folds:
        _, y0, p0, r0, t0, e0, _ = ref
        ids0 = [r["patient_id"] for r in ref[0]]
        for name, (rows, y, prob, risk, t, e, fold) in order.items():
            if (name == REFERENCE or len(result[name]["folds_done"]) != n_folds
                    or "note" in result[name]):
                continue
            assert [r["patient_id"] for r in rows] == ids0, "variants must cover the same patients"
            result[name]["minus_reference"] = {
                "roc_auc": paired_diff(roc_auc, (y, prob), (y0, p0), n_boot),
                "c_index": paired_diff(harrell_c, (t, e, risk), (t0, e0, r0), n_boot),
            }
            for k in ("roc_auc", "c_index"):
                d = [a[k] - b[k] for a, b in zip(result[name]["per_fold"],
                                                 result[REFERENCE]["per_fold"])]
                result[name]["minus_reference"][f"{k}_per_fold_mean"] = _nan_stat(np.mean, d)
                result[name]["minus_reference"][f"{k}_per_fold_sd"] = _nan_stat(
                    lambda v: np.std(v, ddof=1) if len(v) > 1 else np.nan, d)
    return result


def decide(summary: dict) -> str:
    """Apply the module's decision rule to a :func:`summarise` result: a plain headline, then
    one sentence per comparison (image designs and the mask-feature baseline)."""
    ref = summary[REFERENCE]["pooled"]
    lo = ref["roc_auc_ci95"][0]
    lines = [f"Served design: pooled AUC {ref['roc_auc']:.2f} [{lo:.2f}, {ref['roc_auc_ci95'][1]:.2f}]"
             + (" - not shown to beat chance (0.50)." if lo <= 0.5 else ".")]
    for name, crit in (("3d", "roc_auc"), ("2d_scratch", "roc_auc"), ("2d_mse", "c_index"),
                       ("logistic_mask_features", "roc_auc")):
        d = summary.get(name, {}).get("minus_reference", {}).get(crit)
        if d is None:
            lines.append(f"{name}: not run on all folds.")
            continue
        better = d["ci95"][0] > 0
        verdict = ("better, with a CI excluding 0" if better else "not shown better")
        if crit == "c_index":
            verdict += " (a survival loss, so judged by how well its risk orders survival)"
        if name == "logistic_mask_features":
            verdict += (" (it needs expert tumour masks, which the app does not have, so it "
                        "cannot be served)") if better else ""
        elif better:
            verdict += ": the served design should change"
        metric = "AUC" if crit == "roc_auc" else "C-index"
        lines.append(f"{NAMES[name]}: pooled {metric} {d['difference']:+.2f} "
                     f"[{d['ci95'][0]:+.2f}, {d['ci95'][1]:+.2f}] against the served design, "
                     f"{verdict}.")
    if not any("served design should change" in x for x in lines):
        lines.append("By the rule fixed before the runs the served design stays.")
    return " ".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m training.cv", formatter_class=argparse.RawDescriptionHelpFormatter,
        description=__doc__.split("\n\n")[0], epilog="\n\n".join(__doc__.split("\n\n")[1:3]))
    p.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT),
                   help="shipped checkpoint: its command and development patients (with --task "
                        "type: model/checkpoints/type_figshare)")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS),
                   help="designs to run (grade task only)")
    p.add_argument("--folds", type=int, default=5, help="number of folds (grade task; type uses "
                   "the 5 published folds)")
    p.add_argument("--only", nargs="+", default=None, metavar="VARIANT:FOLD",
                   help="run just these (variant:fold, e.g. 3d:2; with --task type only the fold "
                        "counts) and skip the summary")
    p.add_argument("--summarise", action="store_true", help="only summarise finished runs")
    p.add_argument("--work", default="/tmp/tumorboard_cv",
                   help="per-run checkpoints and predictions (resumable)")
    p.add_argument("--threads", type=int, default=0, help="torch threads per run (0: default)")
    p.add_argument("--max-patients", type=int, default=0, help="first N patients only (tests)")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for the CIs")
    p.add_argument("--seed", type=int, default=0, help="fold and validation split seed")
    p.add_argument("--out", default=None, help="summary JSON (default: <checkpoint>/cv.json)")
    p.add_argument("--train-args", default="", help="extra training arguments (tests)")
    p.add_argument("--task", choices=["grade", "type"], default="grade",
                   help="type: the figshare model on the published patient-wise folds")
    args = p.parse_args(argv)
    if args.task == "type":
        return _main_type(args)
    ck = Path(args.checkpoint)
    card = read_card(ck)
    base = shipped_args(card)
    split = card["training_data"]["split"]
    dev = sorted(split["train"] + split["val"])
    if args.max_patients:
        dev = dev[: args.max_patients]
    data = SHARED_DATA / "tcga_lgg_flair_seg"
    survival = SHARED_DATA / "tcga_clinical" / "tcga_lgg_flair_seg_survival.csv"
    work = Path(args.work)

    from training.data import load_tcga_labels
    lab = load_tcga_labels(data, survival).loc[dev]
    folds = make_folds(dev, lab["label"].tolist(), args.folds, args.seed)

    if not args.summarise:
        work.mkdir(parents=True, exist_ok=True)
        (work / "folds.json").write_text(json.dumps(folds, indent=1))
        todo = ([tuple(x.split(":")) for x in args.only] if args.only
                else [(v, str(i)) for v in args.variants for i in range(args.folds)])
        cases = load_tcga_cases(data, survival, dev)
        for v, i in todo:
            print(f"== {v} fold {i}", flush=True)
            run_fold(v, int(i), folds[int(i)], base, work, cases, args.threads,
                     args.train_args.split())
        if args.only:
            return 0

    oof = _finished(work, args.folds)
    if _incomplete(oof, args.folds, work):
        return 2
    oof.update(baseline_oof(folds, data, lab["label"].to_dict(), lab["time_days"].to_dict(),
                            lab["event"].to_dict()))
    summary = _with_runs(summarise(oof, args.folds, args.n_boot), work, args.folds)
    result = {
        "created": time.strftime("%Y-%m-%d"),
        "shipped_command": card["training"]["command"],
        "patients": {"pool": "shipped checkpoint's train + validation patients (test untouched)",
                     "n": len(dev), "folds": [{k: len(v) for k, v in f.items()} for f in folds]},
        "method": (f"{args.folds}-fold StratifiedKFold by grade (seed {args.seed}), 15% of each "
                   "fold's rest as validation (early stopping, temperature). Pooled: out-of-fold "
                   f"predictions, percentile bootstrap 95% CI ({args.n_boot} resamples). "
                   "Differences: variant minus shipped design, paired bootstrap over patients."),
        "decision": decide(summary),
        "variants": summary,
    }
    return _write(result, Path(args.out) if args.out else ck / "cv.json",
                  None if args.out else ck, oof)


def _incomplete(oof: dict, n_folds: int, work: Path) -> bool:
    """True (and says why on stderr) when the shipped design lacks a fold: nothing is written."""
    import sys

    done = sorted({int(r["fold"]) for r in oof.get(REFERENCE, [])})
    if done != list(range(n_folds)):
        print(f"error: no summary: the served design ({REFERENCE}) has finished folds {done or 'none'} of "
              f"{n_folds} in {work}; run them first (see --only).", file=sys.stderr)
        return True
    return False


def _finished(work: Path, n_folds: int) -> dict[str, list[dict]]:
    oof = {v: [r for i in range(n_folds) if (work / v / f"fold{i}" / "oof.csv").exists()
               for r in _read_oof(work / v / f"fold{i}" / "oof.csv")] for v in VARIANTS}
    return {v: rows for v, rows in oof.items() if rows}


def _with_runs(summary: dict, work: Path, n_folds: int) -> dict:
    for v in VARIANTS:
        rs = [json.loads((work / v / f"fold{i}" / "run.json").read_text())
              for i in range(n_folds) if (work / v / f"fold{i}" / "run.json").exists()]
        if v in summary and rs:
            summary[v]["train_seconds"] = [r["seconds"] for r in rs]
            summary[v]["epochs_run"] = [r["epochs_run"] for r in rs]
            summary[v]["command"] = rs[0]["command"]
    return summary


def _main_type(args) -> int:
    """Tumour-type model on the figshare dataset's published patient-wise folds
    (``source_cv_fold``, Cheng et al. 2015): all patients, shipped recipe, majority baseline."""
    import pandas as pd

    ck = Path(args.checkpoint if args.checkpoint != str(DEFAULT_CHECKPOINT)
              else DEFAULT_CHECKPOINT.parent / "type_figshare")
    card = read_card(ck)
    base = shipped_args(card)
    data = SHARED_DATA / "figshare_cheng"
    lab = pd.read_csv(data / "labels.csv", dtype={"patient_id": str}).drop_duplicates("patient_id")
    lab = lab.sort_values("patient_id")
    if args.max_patients:
        lab = lab.iloc[: args.max_patients]
    ids, y = lab["patient_id"].tolist(), (lab["label"] - 1).tolist()
    folds = make_folds(ids, y, 5, args.seed, assignment=(lab["source_cv_fold"] - 1).tolist())
    work = Path(args.work)
    if not args.summarise:
        work.mkdir(parents=True, exist_ok=True)
        (work / "folds.json").write_text(json.dumps(folds, indent=1))
        cases = load_figshare_cases(data, ids)
        for i in ([int(x.split(":")[1]) for x in args.only] if args.only else range(5)):
            print(f"== type fold {i}", flush=True)
            run_fold("2d", i, folds[i], base, work, cases, args.threads, args.train_args.split())
        if args.only:
            return 0
    oof = {k: v for k, v in _finished(work, 5).items() if k == "2d"}
    if _incomplete(oof, 5, work):
        return 2
    labels = dict(zip(ids, y))
    oof["majority"] = []
    for i, f in enumerate(folds):
        prior = majority_prior(np.array([labels[p] for p in f["train"] + f["val"]]), 3, 1)[0]
        oof["majority"] += [{"patient_id": p, "fold": i, "label": labels[p], "risk": "nan",
                             "time_days": "nan", "event": -1,
                             **{f"prob_{j}": float(q) for j, q in enumerate(prior)}}
                            for p in f["test"]]
    summary = _with_runs(summarise(oof, 5, args.n_boot, TYPE_CLASSES), work, 5)
    summary["2d"]["name"] = "2D T1ce slice encoder (type model)"
    summary["2d"]["description"] = "2D T1ce slice encoder, shipped type recipe (patient = mean of its slices)"
    return _write({
        "created": time.strftime("%Y-%m-%d"),
        "shipped_command": card["training"]["command"],
        "patients": {"pool": "all figshare patients, published patient-wise folds",
                     "n": len(ids), "folds": [{k: len(v) for k, v in f.items()} for f in folds]},
        "method": ("figshare source_cv_fold as the 5 test folds; 15% of each fold's rest as "
                   "validation (early stopping, temperature). Metrics per patient (mean of its "
                   f"slices); pooled percentile bootstrap 95% CI ({args.n_boot} resamples)."),
        "decision": "One design (the type task has only T1ce slices); reported, not compared.",
        "variants": summary,
    }, Path(args.out) if args.out else ck / "cv.json", None if args.out else ck, oof)


def _write(result: dict, out: Path, checkpoint: Path | None = None,
           oof: dict[str, list[dict]] | None = None) -> int:
    """Write the summary (and the out-of-fold predictions behind it, ``<out>_predictions.csv``,
    one row per design and patient); with ``checkpoint``, also its headline into that model
    card (the weights and their sha256 are untouched)."""
    out.write_text(json.dumps(json_safe(result), indent=1) + "\n")
    if oof:
        rows = [{"design": d, **r} for d, rs in oof.items() for r in sorted(rs, key=lambda r: r["patient_id"])]
        fields = list(dict.fromkeys(k for r in rows for k in r))
        with open(out.with_name(out.stem + "_predictions.csv"), "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=fields)
            w.writeheader()
            w.writerows(rows)
    if checkpoint is not None:
        card = read_card(checkpoint)
        card["cross_validation"] = {
            "file": out.name, "patients": result["patients"]["pool"],
            "n_patients": result["patients"]["n"], "decision": result["decision"],
            "n_folds": len(result["patients"]["folds"]),
            "shipped_pooled_roc_auc": [result["variants"][REFERENCE]["pooled"]["roc_auc"],
                                       *result["variants"][REFERENCE]["pooled"]["roc_auc_ci95"]],
            "mean_sd": {v: {k: [s["mean"][k], s["sd"][k]] for k in ("roc_auc", "accuracy",
                                                                    "f1_macro", "c_index")}
                        for v, s in result["variants"].items()},
        }
        write_card(checkpoint, card)
    print(result["decision"])
    for v, s in result["variants"].items():
        m, sd = s["mean"], s["sd"]
        print(f"{v:24s} AUC {m['roc_auc']:.3f}±{sd['roc_auc']:.3f}  acc {m['accuracy']:.3f}±"
              f"{sd['accuracy']:.3f}  C {m['c_index']:.3f}±{sd['c_index']:.3f}  folds {s['folds_done']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
