"""Do the attribution maps mean something? Deletion/insertion curves and a randomisation check
on held-out patients, written next to the checkpoint for the model card and the Model page.

    python -m training.attribution_eval                       # served checkpoint, 4 test patients
    python -m training.attribution_eval --patients 6 --json   # more patients, print the result

Held-out cases: the ``test`` patients of the checkpoint's model card
(``training_data.split.test``), loaded with :func:`training.data.load_tcga_cases` and given
to the model exactly as at evaluation (K evenly spaced slices per sequence, :func:`collate`).

Deletion / insertion (Petsiuk, Das & Saenko, *RISE*, BMVC 2018): the foreground of the model
input (intensity > 0, present sequences) is cut into 8 x 8-pixel blocks per slice, ranked by
their mean absolute attribution (the quantity the app displays, on a common scale across
sequences). Blocks, not single pixels: deleting random single pixels makes salt-and-pepper
noise that collapses the score by itself, which made every method look worse than random at
pixel level (measured; ``--block 1`` reproduces it). Deletion sets the top
fraction f to 0 (the background value, as the IntegratedGradients baseline) for
f = 0, 0.1, ..., 1 and records the probability of the class predicted on the intact input;
insertion starts from the all-background input and restores the top fraction. Area under
each curve (trapezoid over f in [0, 1]): a faithful map has a **lower deletion AUC** and a
**higher insertion AUC** than a random ranking of the same blocks (mean of ``--random``
orderings). Random orders scatter the deleted blocks over the whole study, which also hurts
the score by itself; the second control keeps the map's spatial structure and only puts it in
the wrong place: the same map mirrored left-right (``*_mirrored``; brain anatomy is roughly
symmetric, gliomas are not).

Randomisation sanity check (Adebayo et al., *Sanity Checks for Saliency Maps*, NeurIPS
2018): the maps are recomputed for the same class after re-initialising (a) the heads
(classifier, sequence fusion, slice attention) and (b) every weight; the Spearman rank
correlation of |map| with the trained model's map over the foreground pixels should be low.
A map that barely changes shows the input's edges, not the model's evidence.

Output ``<checkpoint>/attribution_eval.json``: per method ``deletion_auc``, ``insertion_auc``
(means over patients, with per-patient values and mean curves), ``beats_random_deletion``
(patients whose deletion AUC is below random), seconds per case; ``random`` AUCs;
``randomisation`` Spearman correlations per method and level.
"""

from __future__ import annotations

import argparse
import copy
import datetime as _dt
import json
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from model.inference.attribution import METHODS, compute_attribution

#: Fractions of the foreground pixels removed / inserted.
FRACTIONS = np.linspace(0.0, 1.0, 11)
#: In-plane block side (model pixels) of the deletion/insertion ranking.
BLOCK = 8
#: Settings used here (the app's defaults except fewer IntegratedGradients steps).
EVAL_SETTINGS = {"n_steps": 8, "internal_batch_size": 4, "window": 32, "stride": 32}


def class_prob_fn(net, present: torch.Tensor, target: int) -> Callable[[torch.Tensor], np.ndarray]:
    """Callable mapping a batch (B, S, K, H, W) to the softmax probability (B,) of ``target``."""
    def prob(xb: torch.Tensor) -> np.ndarray:
        with torch.inference_mode():
            logits = net(xb, present.expand(xb.shape[0], -1))["logits"]
        return torch.softmax(logits.double(), 1)[:, target].cpu().numpy()
    return prob


def ranking(score: np.ndarray | None, candidates: np.ndarray, rng: np.random.Generator | None = None,
            block: int = 1) -> np.ndarray:
    """Flat indices of the ``candidates`` pixels, most important first.

    Args:
        score: attribution (S, K, H, W) (absolute value used), or None for a random order.
        candidates: bool (S, K, H, W) pixels that may be removed (foreground).
        rng: seeds the random order and the tie breaking.
        block: rank ``block`` x ``block`` in-plane blocks (mean |score| of their candidate
            pixels) instead of single pixels; the pixels of a block stay together. With
            ``block`` > 1 the random order is a random order of blocks, so attributed and random
            deletions corrupt the image in the same way (single random pixels make salt-and-
            pepper noise, an input unlike any the model saw).
    """
    rng = rng or np.random.default_rng(0)
    S, K, H, W = candidates.shape
    if block <= 1:
        idx = np.flatnonzero(candidates.ravel())
        if score is None:
            return rng.permutation(idx)
        s = np.abs(score.ravel()[idx]).astype(np.float64)
        tie = rng.random(idx.size) * 1e-12 * max(float(s.max()), 1e-30)
        return idx[np.argsort(-(s + tie), kind="stable")]
    if H % block or W % block:
        raise ValueError(f"block {block} must divide the slice size {H}x{W}.")
    flat = np.arange(S * K * H * W).reshape(S, K, H // block, block, W // block, block)
    flat = flat.transpose(0, 1, 2, 4, 3, 5).reshape(-1, block * block)  # blocks x pixels
    cand = candidates.reshape(S, K, H // block, block, W // block, block).transpose(0, 1, 2, 4, 3, 5)
    cand = cand.reshape(-1, block * block)
    keep = cand.any(1)
    flat, cand = flat[keep], cand[keep]
    if score is None:
        order = rng.permutation(len(flat))
    else:
        sc = np.abs(score).reshape(S, K, H // block, block, W // block, block).transpose(0, 1, 2, 4, 3, 5)
        sc = sc.reshape(-1, block * block)[keep]
        mean = (sc * cand).sum(1) / cand.sum(1)
        tie = rng.random(len(mean)) * 1e-12 * max(float(mean.max()), 1e-30)
        order = np.argsort(-(mean + tie), kind="stable")
    return np.concatenate([flat[b][cand[b]] for b in order]) if len(order) else np.zeros(0, np.int64)


def deletion_insertion(prob: Callable[[torch.Tensor], np.ndarray], x: torch.Tensor, order: np.ndarray,
                       fractions: np.ndarray = FRACTIONS, baseline: float = 0.0,
                       batch: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Deletion and insertion curves of one input for one pixel ordering.

    Args:
        prob: batch (B, S, K, H, W) -> class probability (B,) (:func:`class_prob_fn`).
        x: (1, S, K, H, W) input.
        order: flat indices into ``x[0]``, most important first (:func:`ranking`).
        fractions: fractions of ``order`` removed / inserted, ascending in [0, 1].
        baseline: value of removed pixels.
    Returns:
        (deletion, insertion): float arrays of ``len(fractions)`` probabilities.
    """
    flat = x[0].reshape(-1)
    n = order.size
    base = flat.clone()
    base[torch.as_tensor(order)] = baseline  # every candidate removed
    dels, inss = [], []
    for f in fractions:
        m = int(round(f * n))
        top = torch.as_tensor(order[:m])
        d = flat.clone()
        d[top] = baseline
        ins = base.clone()
        ins[top] = flat[top]
        dels.append(d)
        inss.append(ins)
    shape = x.shape[1:]
    out = []
    for stack in (dels, inss):
        probs = []
        for i in range(0, len(stack), batch):
            probs.append(prob(torch.stack(stack[i:i + batch]).reshape(-1, *shape)))
        out.append(np.concatenate(probs))
    return out[0], out[1]


def auc(curve: np.ndarray, fractions: np.ndarray = FRACTIONS) -> float:
    """Trapezoid area under a curve sampled at ``fractions`` (in [0, 1])."""
    c, f = np.asarray(curve, float), np.asarray(fractions, float)
    return float(np.sum((c[1:] + c[:-1]) / 2 * np.diff(f)))


def spearman(a: np.ndarray, b: np.ndarray, mask: np.ndarray, max_n: int = 200_000, seed: int = 0) -> float:
    """Spearman rank correlation of |a| and |b| over ``mask`` pixels (subsampled to ``max_n``)."""
    from scipy.stats import spearmanr

    idx = np.flatnonzero(mask.ravel())
    if idx.size > max_n:
        idx = np.random.default_rng(seed).choice(idx, max_n, replace=False)
    va, vb = np.abs(a.ravel()[idx]), np.abs(b.ravel()[idx])
    if va.std() == 0 or vb.std() == 0:
        return float("nan")
    return float(spearmanr(va, vb).statistic)


def randomised(net, level: str, seed: int = 0):
    """Deep copy of ``net`` with re-initialised weights: ``level`` "head" (classifier, fusion,
    slice attention, risk head) or "full" (every layer with ``reset_parameters``)."""
    torch.manual_seed(seed)
    r = copy.deepcopy(net).eval()
    mods = ([r.classifier, r.risk_head, r.fusion, r.slice_pool] if level == "head" else [r])
    for top in mods:
        for m in top.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
    return r


def evaluate_case(net, x: torch.Tensor, present: torch.Tensor, methods=METHODS, n_random: int = 2,
                  randomisation: bool = True, settings: dict | None = None,
                  fractions: np.ndarray = FRACTIONS, block: int = BLOCK, log=print) -> dict:
    """Deletion/insertion AUCs (and optional randomisation correlations) of one case.

    Returns ``{"target", "p_target", "methods": {m: {deletion_auc, insertion_auc, deletion,
    insertion, seconds, randomisation: {head, full}}}, "random": {deletion_auc, insertion_auc,
    deletion, insertion}}``.
    """
    settings = {**EVAL_SETTINGS, **(settings or {})}
    with torch.inference_mode():
        target = int(net(x, present)["logits"][0].argmax())
    prob = class_prob_fn(net, present, target)
    cand = (x[0] > 0).numpy() & present[0].numpy()[:, None, None, None]
    rng = np.random.default_rng(0)
    out = {"target": target, "p_target": float(prob(x)[0]), "methods": {}, "random": {}}
    rd, ri = [], []
    for r in range(n_random):
        d, i = deletion_insertion(prob, x, ranking(None, cand, np.random.default_rng(100 + r), block), fractions)
        rd.append(d)
        ri.append(i)
    out["random"] = {"deletion": np.mean(rd, 0).tolist(), "insertion": np.mean(ri, 0).tolist(),
                     "deletion_auc": float(np.mean([auc(d, fractions) for d in rd])),
                     "insertion_auc": float(np.mean([auc(i, fractions) for i in ri]))}
    for m in methods:
        t0 = time.perf_counter()
        a = compute_attribution(net, x, present, m, target=target, **settings)[0].numpy()
        secs = time.perf_counter() - t0
        d, i = deletion_insertion(prob, x, ranking(a, cand, rng, block), fractions)
        # Control with the same spatial structure: the map mirrored left-right (model columns
        # run patient right -> left), i.e. the right pattern at the wrong place.
        dm, im = deletion_insertion(prob, x, ranking(np.ascontiguousarray(a[..., ::-1]), cand, rng, block),
                                    fractions)
        res = {"deletion": d.tolist(), "insertion": i.tolist(), "deletion_auc": auc(d, fractions),
               "insertion_auc": auc(i, fractions), "deletion_auc_mirrored": auc(dm, fractions),
               "insertion_auc_mirrored": auc(im, fractions), "seconds": secs}
        if randomisation:
            res["randomisation"] = {}
            for level in ("head", "full"):
                ar = compute_attribution(randomised(net, level), x, present, m, target=target, **settings)[0].numpy()
                res["randomisation"][level] = spearman(a, ar, cand)
        out["methods"][m] = res
        log(f"  {m:20s} deletion AUC {res['deletion_auc']:.3f} (random {out['random']['deletion_auc']:.3f}, "
            f"mirrored {res['deletion_auc_mirrored']:.3f}), insertion AUC {res['insertion_auc']:.3f} "
            f"(random {out['random']['insertion_auc']:.3f}, mirrored {res['insertion_auc_mirrored']:.3f}), "
            f"{secs:.1f} s" + (f", Spearman vs randomised head/full "
                               f"{res['randomisation']['head']:.2f}/{res['randomisation']['full']:.2f}"
                               if randomisation else ""))
    return out


def summarise(cases: dict[str, dict], methods, fractions: np.ndarray = FRACTIONS) -> dict:
    """Means over patients of :func:`evaluate_case` results (what the JSON and the Model page
    show)."""
    ids = list(cases)
    rnd = [cases[p]["random"] for p in ids]
    summary = {
        "random": {
            "deletion_auc": float(np.mean([r["deletion_auc"] for r in rnd])),
            "insertion_auc": float(np.mean([r["insertion_auc"] for r in rnd])),
            "deletion_curve": np.mean([r["deletion"] for r in rnd], 0).tolist(),
            "insertion_curve": np.mean([r["insertion"] for r in rnd], 0).tolist(),
        },
        "methods": {},
        "randomisation": {},
    }
    for m in methods:
        rows = [cases[p]["methods"][m] for p in ids]
        summary["methods"][m] = {
            "deletion_auc": float(np.mean([r["deletion_auc"] for r in rows])),
            "insertion_auc": float(np.mean([r["insertion_auc"] for r in rows])),
            "deletion_auc_per_patient": [r["deletion_auc"] for r in rows],
            "insertion_auc_per_patient": [r["insertion_auc"] for r in rows],
            "beats_random_deletion": int(sum(r["deletion_auc"] < cases[p]["random"]["deletion_auc"]
                                             for p, r in zip(ids, rows))),
            "beats_random_insertion": int(sum(r["insertion_auc"] > cases[p]["random"]["insertion_auc"]
                                              for p, r in zip(ids, rows))),
            "deletion_auc_mirrored": float(np.mean([r["deletion_auc_mirrored"] for r in rows])),
            "insertion_auc_mirrored": float(np.mean([r["insertion_auc_mirrored"] for r in rows])),
            "beats_mirrored_deletion": int(sum(r["deletion_auc"] < r["deletion_auc_mirrored"] for r in rows)),
            "beats_mirrored_insertion": int(sum(r["insertion_auc"] > r["insertion_auc_mirrored"] for r in rows)),
            "deletion_curve": np.mean([r["deletion"] for r in rows], 0).tolist(),
            "insertion_curve": np.mean([r["insertion"] for r in rows], 0).tolist(),
            "seconds_per_case": float(np.mean([r["seconds"] for r in rows])),
        }
        rz = [r["randomisation"] for r in rows if "randomisation" in r]
        if rz:
            summary["randomisation"][m] = {
                lvl: float(np.nanmean([z[lvl] for z in rz])) if any(np.isfinite(z[lvl]) for z in rz) else None
                for lvl in ("head", "full")}
    return summary


def main(argv: list[str] | None = None) -> int:
    from model.core.config import DEFAULT_CHECKPOINT
    from model.nets.checkpoint import load_checkpoint
    from training.data import SHARED_DATA, collate, load_tcga_cases

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    ap.add_argument("--data", default=str(SHARED_DATA / "tcga_lgg_flair_seg"))
    ap.add_argument("--survival", default=str(SHARED_DATA / "tcga_clinical" / "tcga_lgg_flair_seg_survival.csv"))
    ap.add_argument("--patients", type=int, default=4, help="held-out patients evaluated (first N of the split)")
    ap.add_argument("--rand-patients", type=int, default=2, help="of those, how many get the randomisation check")
    ap.add_argument("--block", type=int, default=BLOCK, help="block side of the ranking (1 = single pixels)")
    ap.add_argument("--random", type=int, default=1, help="random orderings averaged per patient")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--out", default=None, help="default <checkpoint>/attribution_eval.json")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    ap.add_argument("--json", action="store_true", help="print the result JSON")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    ck = Path(args.checkpoint)
    net, card = load_checkpoint(ck, "cpu")
    methods = [m for m in args.methods.split(",") if m]
    test_ids = list(card.get("training_data", {}).get("split", {}).get("test", []))
    if not test_ids:
        print("The model card lists no test patients.", file=sys.stderr)
        return 2
    cases = load_tcga_cases(Path(args.data), Path(args.survival), test_ids[: args.patients])
    if not cases:
        print(f"No test patient found under {args.data}.", file=sys.stderr)
        return 2
    seqs = list(net.config.sequences)
    k = int(card.get("preprocessing", {}).get("n_slices", 24))
    results = {}
    for n, case in enumerate(cases):
        print(f"{case.patient_id} ({n + 1}/{len(cases)})", file=sys.stderr)
        b = collate([case], seqs, k)
        results[case.patient_id] = evaluate_case(
            net, b["x"], b["present"], methods, n_random=args.random,
            randomisation=n < args.rand_patients, block=args.block, log=lambda s: print(s, file=sys.stderr))
    out = {
        "checkpoint": {"name": card.get("name"), "version": card.get("version"), "sha256": card.get("sha256")},
        "created": _dt.date.today().isoformat(),
        "data": "TCGA-LGG test split of the model card (never used for training or model selection)",
        "patients": [c.patient_id for c in cases],
        "n_patients": len(cases),
        "n_randomisation_patients": min(args.rand_patients, len(cases)),
        "fractions": FRACTIONS.tolist(),
        "settings": {**EVAL_SETTINGS, "random_orderings": args.random, "baseline": 0.0,
                     "ranking": (f"mean absolute attribution of {args.block}x{args.block}-pixel blocks of the "
                                 "foreground (common scale across sequences); random = random block order"),
                     "block": args.block,
                     "score": "softmax probability of the class predicted on the intact input"},
        **summarise(results, methods),
        "per_patient": {p: {"target": r["target"], "p_target": r["p_target"]} for p, r in results.items()},
        "seconds_total": round(time.perf_counter() - t_start, 1),
        "method_note": ("Deletion: lower AUC = the most-attributed blocks matter more (faithful). "
                        "Controls: random block order, and the map mirrored left-right (same "
                        "structure, wrong place). "
                        "Insertion: higher AUC = better. Randomisation: Spearman correlation of the "
                        "map with the map of a re-initialised model; near 1 fails the sanity check."),
    }
    path = Path(args.out) if args.out else ck / "attribution_eval.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path} in {out['seconds_total']} s", file=sys.stderr)
    if args.json:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
