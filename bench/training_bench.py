"""Benchmark 5: training throughput (cases/s) of the shipped grade configuration.

Rebuilds what ``training/train.py`` does per step for ``--task grade`` with the served model
card's settings (batch size, random slices per sequence, sequence dropout; the rest from
``training.train.parse_args`` defaults): collate with MONAI augmentation, forward, joint loss,
backward, AdamW step, on a few real TCGA-LGG patients. Data loading (preprocessing every
patient once) is timed apart; an epoch does it once, not per step.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.common import median, say, table


def run(steps: int = 4, n_patients: int = 8) -> dict:
    import numpy as np
    import torch

    from model.core.config import DEFAULT_CHECKPOINT
    from model.nets.checkpoint import read_card
    from model.nets.classifier import MultiSequenceNet, NetConfig
    from training import train as tr
    from training.data import SHARED_DATA, collate, load_tcga_cases

    data_dir = SHARED_DATA / "tcga_lgg_flair_seg"
    if not data_dir.exists():
        say(f"\n## 5. training throughput: skipped ({data_dir} not available)")
        return {"training_cases_per_second": None}
    card = read_card(Path(DEFAULT_CHECKPOINT))
    card_train = card["training"]
    args = tr.parse_args(tr.shipped_args(card))  # the served checkpoint's own recipe
    batch_size, k, seq_dropout, gamma = args.batch_size, args.slices, args.seq_dropout, args.attn_sup
    survival = Path(args.survival) if args.survival else None

    t0 = time.perf_counter()
    ids = sorted(p.name for p in data_dir.iterdir() if p.is_dir())[: n_patients * 2]
    cases = load_tcga_cases(data_dir, survival, patients=ids)[:n_patients]
    t_load = time.perf_counter() - t0

    # Training runs with its own thread setting (--threads, default torch's: physical cores).
    threads_before = torch.get_num_threads()
    train_threads = args.threads or int(card_train.get("torch_threads", 0))
    if train_threads:
        torch.set_num_threads(train_threads)
    torch.manual_seed(0)
    config = NetConfig(**card["architecture"])
    net = MultiSequenceNet(config).train()
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    aug = tr.augmentation(args.seed, config.encoder)
    rng = np.random.default_rng(0)

    def step() -> tuple[float, float]:
        idx = rng.choice(len(cases), size=batch_size, replace=len(cases) < batch_size)
        t = time.perf_counter()
        batch = collate([cases[j] for j in idx], config.sequences, k, rng, aug, seq_dropout)
        t_coll = time.perf_counter() - t
        out = net(batch["x"], batch["present"])
        loss = tr.joint_loss(out, batch, args.alpha, args.beta, gamma, args.survival_loss)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return time.perf_counter() - t, t_coll

    try:
        step()  # warm-up
        res = [step() for _ in range(steps)]
        used_threads = torch.get_num_threads()
    finally:
        torch.set_num_threads(threads_before)
    t_step = median(r[0] for r in res)
    t_coll = median(r[1] for r in res)
    cps = batch_size / t_step
    table("5. training throughput (grade task, shipped config)", [
        (f"step (batch {batch_size}, {k} slices x 3 sequences)", t_step, min(r[0] for r in res), steps),
        ("  of which collate + augmentation", t_coll, min(r[1] for r in res), steps),
        (f"preprocess {len(cases)} patients once (per epoch load)", t_load, t_load, 1),
    ])
    say(f"{cps:.2f} cases/s, {cps * k * 3:.0f} slices/s (torch threads {used_threads})")
    return {"training_cases_per_second": cps, "training_slices_per_second": cps * k * 3,
            "training_step_seconds": t_step, "training_batch_size": batch_size,
            "training_slices_per_sequence": k, "training_torch_threads": used_threads}
