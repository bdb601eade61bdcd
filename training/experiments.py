"""Design comparisons on the shipped checkpoint's own patient split (same seed, same test).

    python -m training.experiments [--variants scratch mse] [--work DIR]

Each variant retrains the grade model with one change against the shipped recipe and is scored
on the same held-out test patients; differences to the shipped model come with paired
percentile-bootstrap 95% CIs over patients (1000 resamples):

* ``scratch``: no pretraining (the shipped model starts from the tumour-type encoder);
* ``mse``: the paper's survival term (MSE on log survival time) instead of the Cox partial
  likelihood, compared by C-index.

Writes ``experiments.json`` next to the shipped checkpoint. The test patients choose nothing:
every variant uses the validation patients for early stopping, as the shipped model did.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from model.checkpoint import DEFAULT_CHECKPOINT, load_checkpoint
from training.data import SHARED_DATA, load_tcga_cases
from training.metrics import harrell_c, roc_auc
from training.train import parse_args, predict_cases, train

VARIANTS = {
    "scratch": {"drop": ["--init-from"], "add": []},
    "mse": {"drop": [], "add": ["--survival-loss", "mse"]},
}


def _shipped_args(card: dict) -> list[str]:
    words = card["training"]["command"].split()
    return words[words.index("training.train") + 1:]


def _variant_argv(base: list[str], variant: str, out: Path) -> list[str]:
    spec = VARIANTS[variant]
    argv, skip = [], False
    for i, a in enumerate(base):
        if skip:
            skip = False
            continue
        if a in spec["drop"] or a == "--out":
            skip = True
            continue
        argv.append(a)
    return argv + spec["add"] + ["--out", str(out)]


def _scores(ck: Path, cases) -> tuple[np.ndarray, np.ndarray]:
    net, _ = load_checkpoint(ck)
    prob, risk = predict_cases(net, cases)
    return prob, risk


def paired_diff(fn, a: tuple, b: tuple, n_boot: int = 1000, seed: int = 0) -> dict:
    """fn(*a) - fn(*b) with a paired percentile bootstrap over the same patients."""
    rng = np.random.default_rng(seed)
    n = len(a[0])
    est = fn(*a) - fn(*b)
    vals = []
    for _ in range(n_boot):
        i = rng.integers(0, n, n)
        d = fn(*(x[i] for x in a)) - fn(*(x[i] for x in b))
        if np.isfinite(d):
            vals.append(d)
    lo, hi = np.percentile(vals, [2.5, 97.5]) if vals else (np.nan, np.nan)
    return {"difference": float(est), "ci95": [float(lo), float(hi)]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.experiments")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--work", default="/tmp/tumorboard_experiments")
    p.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    args = p.parse_args(argv)
    shipped = Path(args.checkpoint)
    card = json.loads((shipped / "model_card.json").read_text())
    split = card["training_data"]["split"]
    cases = load_tcga_cases(SHARED_DATA / "tcga_lgg_flair_seg",
                            SHARED_DATA / "tcga_clinical" / "tcga_lgg_flair_seg_survival.csv",
                            split["test"])
    y = np.array([c.label for c in cases])
    t = np.array([c.time_days for c in cases])
    e = np.array([c.event for c in cases])
    prob0, risk0 = _scores(shipped, cases)
    auc = lambda yy, pp: roc_auc(yy, pp)  # noqa: E731
    result = {"test_patients": len(cases), "shipped": {
        "roc_auc": roc_auc(y, prob0), "c_index": harrell_c(t, e, risk0),
        "command": card["training"]["command"]}}
    for v in args.variants:
        out = Path(args.work) / v
        vcard = train(parse_args(_variant_argv(_shipped_args(card), v, out)))
        prob, risk = _scores(out, cases)
        result[v] = {
            "command": vcard["training"]["command"],
            "seconds": vcard["training"]["seconds"],
            "roc_auc": roc_auc(y, prob), "c_index": harrell_c(t, e, risk),
            "shipped_minus_variant_auc": paired_diff(auc, (y, prob0), (y, prob)),
            "shipped_minus_variant_c_index": paired_diff(harrell_c, (t, e, risk0), (t, e, risk)),
        }
        (shipped / "experiments.json").write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps({v: {k: result[v][k] for k in ("roc_auc", "c_index")}}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
