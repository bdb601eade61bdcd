"""Train TumorBoard checkpoints.

    python -m training.train --task type --out model/checkpoints/type_figshare
    python -m training.train --task grade --init-from model/checkpoints/type_figshare \
        --out model/checkpoints/grade_lgg

``--task type``: tumour type (meningioma / glioma / pituitary) on figshare T1ce slices (Cheng
et al. 2015), one slice per sample, split by patient; its encoder is the pretraining of the
grade model (transfer learning from our own real data; no downloaded weights).
``--task grade`` (the served checkpoint): WHO grade II vs III + overall-survival risk on TCGA-LGG.

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
import hashlib
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from monai.transforms import (Compose, Rand2DElastic, Rand3DElastic, RandAffine,
                              RandBiasField, RandFlip, RandGaussianNoise, RandScaleIntensity,
                              RandShiftIntensity)
from sklearn.model_selection import train_test_split
from torchsurv.loss.cox import neg_partial_log_likelihood

from model.core.config import world_size
from model.nets.checkpoint import save_checkpoint
from model.nets.classifier import MultiSequenceNet, NetConfig
from model.inference.preprocess import N_SLICES, SLICE_SIZE
from safetensors.torch import load_file

from training.data import (GRADE_CLASSES, SHARED_DATA, TYPE_CLASSES, collate,
                           load_figshare_cases, load_manifest_cases, load_tcga_cases,
                           load_tcga_labels)
from training.metrics import (apply_temperature, classification_report,
                              expected_calibration_error, fit_temperature)

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


def augmentation(seed: int, encoder: str = "2d") -> Compose:
    """MONAI augmentation: left-right flip, rotation/scaling/shift, elastic deformation,
    MR bias field, intensity scale and shift, Gaussian noise.

    ``"2d"``: one sequence's slice stack (K, H, W), the slices taken as channels so every slice
    gets the same spatial transform and bias field. ``"3d"``: one cube (1, D, H, W), rotation
    about the superior-inferior axis only (the stacks are axial).
    """
    if encoder == "2d":
        spatial = [
            RandFlip(prob=0.5, spatial_axis=1),  # left-right
            RandAffine(prob=0.7, rotate_range=(math.radians(12),), scale_range=(0.1, 0.1),
                       translate_range=(6, 6), padding_mode="zeros"),
            Rand2DElastic(spacing=(24, 24), magnitude_range=(0.5, 1.5), prob=0.2,
                          padding_mode="zeros"),
        ]
    else:
        spatial = [
            RandFlip(prob=0.5, spatial_axis=2),  # left-right (column axis of the cube)
            RandAffine(prob=0.7, rotate_range=(math.radians(12), 0, 0),
                       scale_range=(0.1, 0.1, 0.1), translate_range=(3, 3, 3),
                       padding_mode="zeros"),
            Rand3DElastic(sigma_range=(4, 6), magnitude_range=(20, 60), prob=0.2,
                          padding_mode="zeros"),
        ]
    aug = Compose(spatial + [
        RandBiasField(degree=3, coeff_range=(0.0, 0.1), prob=0.3),
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


def attention_supervision(slice_weights: torch.Tensor, area: torch.Tensor,
                          present: torch.Tensor) -> torch.Tensor:
    """KL(tumour-area distribution || slice attention), mean over present sequences with tumour.

    slice_weights, area: (B, S, K); present: (B, S). Teaches the slice attention to look at the
    slices that hold the expert-segmented abnormality (masks exist in training only).
    """
    tot = area.sum(-1, keepdim=True)
    ok = present & (tot.squeeze(-1) > 0)
    if not ok.any():
        return slice_weights.sum() * 0.0
    t = area[ok] / tot[ok]
    a = slice_weights[ok].clamp_min(1e-8)
    return (torch.xlogy(t, t) - t * torch.log(a)).sum(-1).mean()


#: Scale of log(days) in the MSE survival loss (log of ~3 years).
LOG_TIME_CENTRE = math.log(1000.0)


def mse_survival(risk: torch.Tensor, time: torch.Tensor, event: torch.Tensor) -> torch.Tensor:
    """The paper's survival term: MSE between ``-risk`` and centred log survival time, on
    uncensored patients only (censored times are lower bounds, not targets)."""
    ok = event & torch.isfinite(time) & (time > 0)
    if not ok.any():
        return risk.sum() * 0.0
    return F.mse_loss(-risk[ok], torch.log(time[ok]) - LOG_TIME_CENTRE)


def joint_loss(out: dict, batch: dict, alpha: float, beta: float, gamma: float = 0.0,
               survival_loss: str = "cox") -> torch.Tensor:
    """``alpha * CE + beta * survival + gamma * attention supervision``.

    survival_loss "cox": Cox partial likelihood (needs >= 1 event and 2 cases in the batch);
    "mse": :func:`mse_survival`. The attention term needs masks.
    """
    loss = alpha * F.cross_entropy(out["logits"], batch["label"])
    if gamma > 0 and "tumor_area" in batch:
        loss = loss + gamma * attention_supervision(out["slice_weights"], batch["tumor_area"],
                                                    batch["present"])
    ok = torch.isfinite(batch["time"])
    if beta > 0 and survival_loss == "mse":
        loss = loss + beta * mse_survival(out["risk"], batch["time"], batch["event"])
    elif beta > 0 and batch["event"][ok].any() and ok.sum() >= 2:
        loss = loss + beta * neg_partial_log_likelihood(
            out["risk"][ok], batch["event"][ok], batch["time"][ok], ties_method="efron")
    else:
        # Keep the risk head in the graph: DistributedDataParallel averages gradients only
        # when every parameter takes part in the backward pass.
        loss = loss + 0.0 * out["risk"].sum()
    return loss


FIGSHARE_CITATION = (
    "Cheng J et al., PLoS One 2015;10(10):e0140381 and 2016;11(6):e0157112; Cheng J, brain "
    "tumor dataset, figshare 2017, doi:10.6084/m9.figshare.1512427.v5."
)


def init_from(net: MultiSequenceNet, folder: Path) -> list[str]:
    """Copy a pretrained checkpoint's T1ce slice encoder into every branch of ``net``.

    Returns the names of the branches initialised.
    """
    state = load_file(str(Path(folder) / "model.safetensors"))
    enc = {k[len("branches.T1ce."):]: v for k, v in state.items() if k.startswith("branches.T1ce.")}
    for name, branch in net.branches.items():
        branch.load_state_dict(enc, strict=True)
    return list(net.branches)


def patient_mean(cases, prob: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Average slice probabilities per patient: (patient ids, labels (P,), probs (P, C))."""
    ids = sorted({c.patient_id for c in cases})
    pos = {p: i for i, p in enumerate(ids)}
    acc = np.zeros((len(ids), prob.shape[1]))
    cnt = np.zeros(len(ids))
    lab = np.zeros(len(ids), dtype=int)
    for c, pr in zip(cases, prob):
        acc[pos[c.patient_id]] += pr
        cnt[pos[c.patient_id]] += 1
        lab[pos[c.patient_id]] = c.label
    return ids, lab, acc / cnt[:, None]


def cube_size(config: NetConfig) -> int:
    """Cube edge for :func:`training.data.collate`: 0 for the 2D design."""
    return config.volume_size if config.encoder == "3d" else 0


@torch.no_grad()
def predict_cases(net: MultiSequenceNet, cases, k: int = N_SLICES, batch_size: int = 16,
                  temperature: float = 1.0):
    """Eval-mode probabilities (N, C) and risks (N,) with evenly spaced slices; probabilities
    scaled by ``temperature`` (a checkpoint's ``card["temperature"]``, Guo et al. 2017)."""
    net.eval()
    probs, risks = [], []
    for i in range(0, len(cases), batch_size):
        b = collate(cases[i:i + batch_size], net.config.sequences, k, cube=cube_size(net.config))
        out = net(b["x"], b["present"])
        probs.append(torch.softmax(out["logits"], 1))
        risks.append(out["risk"])
    prob = torch.cat(probs).numpy()
    return (apply_temperature(prob, temperature) if temperature != 1.0 else prob,
            torch.cat(risks).numpy())


def _load(args, cases=None):
    """Cases and patient split of the task. Returns (groups, split).

    ``cases``: already loaded cases (cross-validation reuses them); ``args.split_file``: a JSON
    ``{"train": [...], "val": [...], "test": [...]}`` of patient ids instead of the seeded split.
    """
    data_dir = Path(args.data)
    if cases is None and args.manifest:
        cases, args.manifest_sequences, args.manifest_classes = load_manifest_cases(Path(args.manifest))
    elif cases is None and args.task == "type":
        cases = load_figshare_cases(data_dir)
    elif cases is None:
        survival = Path(args.survival) if args.survival else None
        wanted = None
        if args.max_patients:  # preprocess only the patients used (the labels are cheap)
            labels = load_tcga_labels(data_dir, survival)
            wanted = sorted(labels.index[labels["label"] >= 0])[: args.max_patients]
        cases = load_tcga_cases(data_dir, survival, wanted)
    patient_label = {}
    for c in cases:
        patient_label.setdefault(c.patient_id, c.label)
    ids = sorted(patient_label)
    if args.max_patients:
        ids = ids[: args.max_patients]
    if args.split_file:
        split = {k: sorted(v) for k, v in json.loads(Path(args.split_file).read_text()).items()}
        unknown = set().union(*split.values()) - set(patient_label)
        if unknown:
            raise ValueError(f"split file names {len(unknown)} patients without data")
    else:
        split = split_patients(ids, [patient_label[i] for i in ids], args.seed)
    groups = {k: [c for c in cases if c.patient_id in set(v)] for k, v in split.items()}
    return groups, split


def predict_patients(net, cases, task, temperature: float = 1.0):
    """Patient-level (ids, y, prob, time, event, risk) and, for slices, per-slice (y, prob)."""
    k = 1 if task == "type" else N_SLICES
    prob, risk = predict_cases(net, cases, k, temperature=temperature)
    if task == "type":
        ids, y, pprob = patient_mean(cases, prob)
        nan = np.full(len(ids), np.nan)
        return ids, y, pprob, nan, np.full(len(ids), -1), nan, (np.array([c.label for c in cases]), prob)
    return ([c.patient_id for c in cases], np.array([c.label for c in cases]), prob,
            np.array([c.time_days for c in cases]), np.array([c.event for c in cases]), risk, None)


def init_distributed() -> tuple[int, int]:
    """(rank, world size); starts a process group when launched by ``torchrun``.

    Backend: NCCL on CUDA, gloo on CPU (PyTorch DistributedDataParallel).
    """
    world = world_size()
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def parameters_sha256(net: torch.nn.Module) -> str:
    """sha256 of all parameters (not buffers), in state-dict order: equal weights, equal hash."""
    h = hashlib.sha256()
    for name, p in net.named_parameters():
        h.update(name.encode())
        h.update(p.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def train(args: argparse.Namespace, cases=None) -> dict:
    """Run training and write the checkpoint (rank 0). Returns the model card.

    ``cases``: preloaded cases of the task (see :func:`_load`), else read from ``args.data``.

    Under ``torchrun --nproc_per_node=N`` each rank trains on its shard of every epoch's
    patient order (same seeded permutation on all ranks) with DistributedDataParallel.
    """
    t_start = time.time()
    rank, world = init_distributed()
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    if args.threads:
        torch.set_num_threads(args.threads)
    order_rng = np.random.default_rng(args.seed)  # identical on every rank
    rng = np.random.default_rng(args.seed + 1000 * rank)  # slices, augmentation, dropout
    groups, split = _load(args, cases)
    tr, va, te = groups["train"], groups["val"], groups["test"]
    strip = args.task == "type" and getattr(args, "strip_aug", 0.0) > 0 and not args.manifest
    if strip:
        # Skull-stripped copies (training.type_strip), paired with the cases by position:
        # both lists are in labels.csv order and filtered by the same split.
        from training.type_strip import load_figshare_stripped

        stripped = load_figshare_stripped(Path(args.data), sorted(set().union(*split.values())))
        sgroups = {k: [c for c in stripped if c.patient_id in set(v)] for k, v in split.items()}
        for k in groups:
            assert [c.patient_id for c in groups[k]] == [c.patient_id for c in sgroups[k]]
        tr_s = sgroups["train"]
        va_sel = va + sgroups["val"]  # selection and temperature: both versions of each slice
    else:
        va_sel = va
    print(f"patients: {', '.join(f'{k} {len(v)}' for k, v in split.items())}; samples: train "
          f"{len(tr)}, val {len(va)}, test {len(te)}; load {time.time() - t_start:.1f}s", flush=True)

    if args.manifest:
        config = NetConfig(sequences=list(args.manifest_sequences),
                           classes=list(args.manifest_classes), dropout=args.dropout)
        k_train, beta, gamma = args.slices, args.beta, 0.0
    elif args.task == "type":
        config = NetConfig(sequences=["T1ce"], classes=list(TYPE_CLASSES), dropout=args.dropout)
        k_train, beta, gamma = 1, 0.0, 0.0
    else:
        config = NetConfig(sequences=["T1", "T1ce", "FLAIR"], classes=list(GRADE_CLASSES),
                           dropout=args.dropout, encoder=args.encoder,
                           volume_size=args.volume_size)
        # Mask-supervised slice attention exists only in the 2D design (3D has no slices).
        k_train, beta = args.slices, args.beta
        gamma = args.attn_sup if args.encoder == "2d" else 0.0
    net = MultiSequenceNet(config)
    if args.init_from:
        print("initialised from", args.init_from, init_from(net, Path(args.init_from)), flush=True)
    model = torch.nn.parallel.DistributedDataParallel(net) if world > 1 else net
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    per_rank = len(tr) // world
    steps_per_epoch = max(1, math.ceil(per_rank / args.batch_size))
    total = args.max_steps or args.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=total,
                                                pct_start=0.1)
    if args.init_from and config.encoder != "2d":
        raise ValueError("--init-from copies a 2D slice encoder; it cannot start a 3D branch")
    aug = augmentation(args.seed, config.encoder)
    best, best_state, bad, step, history = float("inf"), None, 0, 0, []
    for epoch in range(args.epochs):
        net.train()
        order = order_rng.permutation(len(tr))[rank::world][:per_rank]
        losses = []
        for i in range(0, per_rank, args.batch_size):
            picked = [tr_s[j] if strip and rng.random() < args.strip_aug else tr[j]
                      for j in order[i:i + args.batch_size]]
            batch = collate(picked, config.sequences,
                            k_train, rng, aug, args.seq_dropout, cube=cube_size(config))
            out = model(batch["x"], batch["present"])
            loss = joint_loss(out, batch, args.alpha, beta, gamma, args.survival_loss)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
            step += 1
            if step >= total:
                break
        # Model selection on the validation patients' cross-entropy only (the Cox term on a
        # dozen patients is too noisy to select on); the test patients are never looked at.
        _, vy, vprob, *_ = predict_patients(net, va_sel, args.task)
        vce = float(F.nll_loss(torch.log(torch.as_tensor(vprob).clamp_min(1e-7)), torch.as_tensor(vy)))
        vacc = float((vprob.argmax(1) == vy).mean())
        history.append({"epoch": epoch, "train_loss": float(np.mean(losses)),
                        "val_cross_entropy": vce, "val_accuracy": vacc})
        print(f"epoch {epoch:3d} train {np.mean(losses):.4f} val CE {vce:.4f} acc {vacc:.3f} "
              f"({time.time() - t_start:.0f}s)", flush=True)
        if vce < best - 1e-4:
            best, bad = vce, 0
            best_state = {k: v.clone() for k, v in net.state_dict().items()}
        elif epoch >= args.min_epochs:
            bad += 1
        if bad >= args.patience or step >= total:
            break
    if best_state is not None:
        net.load_state_dict(best_state)
    train_seconds = time.time() - t_start
    if args.rank_hash_dir:
        Path(args.rank_hash_dir).mkdir(parents=True, exist_ok=True)
        (Path(args.rank_hash_dir) / f"rank{rank}.txt").write_text(parameters_sha256(net))
    if world > 1:
        dist.barrier()
        if rank != 0:
            dist.destroy_process_group()
            return {}

    # Temperature scaling on the validation patients (Guo et al. 2017); the app applies it.
    _, vy, vprob, *_ = predict_patients(net, va_sel, args.task)
    temperature = fit_temperature(vprob, vy)
    metrics, cohort_rows, train_risk = {}, [], None
    calibration = {"temperature": temperature}
    evals = [("train", tr), ("val", va), ("test", te)]
    if strip:  # the same test patients, skull-stripped (training.type_strip)
        evals.append(("test_skull_stripped", sgroups["test"]))
    for name, group in evals:
        if not group:
            continue
        ids, y, raw_prob, t, e, risk, per_slice = predict_patients(net, group, args.task)
        prob = apply_temperature(raw_prob, temperature)
        calibration[f"{name}_ece_before"] = expected_calibration_error(y, raw_prob)
        calibration[f"{name}_ece_after"] = expected_calibration_error(y, prob)
        surv = args.task == "grade" or bool(args.manifest)
        metrics[name] = classification_report(y, prob, config.classes, t if surv else None,
                                              e if surv else None, risk if surv else None,
                                              n_boot=args.n_boot)
        if per_slice is not None:
            metrics[name]["per_slice"] = classification_report(
                per_slice[0], apply_temperature(per_slice[1], temperature), config.classes,
                n_boot=args.n_boot)
        if surv:
            if name == "train":
                train_risk = risk
            for pid, r, ti, ev, lab in zip(ids, risk, t, e, y):
                cohort_rows.append((pid, float(r), name, ti, int(ev), config.classes[lab]))

    if args.manifest:
        card = {
            "name": Path(args.out).name,
            "task": f"{', '.join(config.classes)} from {args.manifest}",
            "training_data": {"dataset": f"manifest {Path(args.manifest).name}",
                              "citation": "given by the site", "licence": "given by the site"},
            "inputs": {"sequences_used": config.sequences, "format": "3D NIfTI per sequence"},
            "limitations": ["Trained on a site manifest; see the site's data description."],
        }
    elif args.task == "type":
        card = {
            "name": "type_figshare",
            "task": "Tumour type (meningioma / glioma / pituitary tumour) from T1ce slices",
            "training_data": {
                "dataset": "figshare brain tumour dataset (shared/data/figshare_cheng), 2D T1ce slices",
                "citation": FIGSHARE_CITATION, "licence": "CC BY 4.0 (figshare dataset)",
            },
            "inputs": {"sequences_used": ["T1ce"], "format": "T1ce; each slice a sample"},
            "limitations": [
                "Slices are 8-bit JPEG exports with axial, coronal and sagittal planes mixed.",
                "Used as the pretrained encoder of the grade model; not served by the app.",
            ],
        }
    else:
        card = {
            "name": "grade_lgg",
            "task": "WHO grade II vs III of lower-grade glioma, with an overall-survival risk score",
            "training_data": {
                "dataset": "TCGA-LGG (shared/data/tcga_lgg_flair_seg) with OS from TCGA-CDR",
                "citation": TCGA_CITATION, "licence": TCGA_LICENCE,
            },
            "inputs": {
                "sequences_used": config.sequences,
                "sequences_ignored": ["T2 (not in the training data)"],
                "format": "3D NIfTI per sequence, any orientation (reoriented to RAS)",
            },
            "limitations": [
                "Trained on 3 sequences of TCGA-LGG exports (8-bit, skull not stripped, unknown "
                "spacing); skull-stripped BraTS-style studies are out of distribution.",
                "Only WHO grade II and III gliomas: grade IV (glioblastoma), metastases and other "
                "tumours are outside the training data and still get a II/III answer.",
                "The held-out test set is small; see the confidence intervals.",
            ],
        }
    card["training_data"].update({
        "n_patients": {k: len(v) for k, v in split.items()}, "split": split,
        "split_method": f"patient-level, stratified by label, seed {args.seed}",
    })
    card.update({
        "version": "0.2.0" if args.task == "grade" and not args.manifest else "0.1.0",
        "created": dt.date.today().isoformat(),
        "intended_use": (
            "Research and teaching: shows how a multi-sequence MRI model reaches its answer. "
            "Not a medical device; not for diagnosis or treatment decisions."
        ),
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
        "training": {
            "loss": (f"{args.alpha} * cross-entropy + {beta} * "
                     + ("Cox partial likelihood (Efron, torchsurv)" if args.survival_loss == "cox"
                        else "MSE on centred log survival time (uncensored)")
                     + f" + {gamma} * KL(tumour-mask slice distribution || slice attention)"),
            "optimizer": f"AdamW lr {args.lr} wd {args.weight_decay}, one-cycle schedule",
            "model_selection": "lowest validation cross-entropy (patient level)"
                               + (" over both versions (as is + skull-stripped) of each validation "
                                  "slice" if strip else ""),
            "skull_strip_augmentation": ({"probability": args.strip_aug,
                                          "what": "each training slice replaced by its skull-"
                                                  "stripped copy with this probability per epoch",
                                          "code": "training/type_strip.py"} if strip else None),
            "init_from": args.init_from or None,
            "epochs_run": len(history), "batch_size": args.batch_size,
            "slices_per_sequence": k_train, "sequence_dropout": args.seq_dropout,
            "seed": args.seed, "seconds": round(train_seconds, 1),
            "device": "cpu", "torch_threads": torch.get_num_threads(), "world_size": world,
            "history": history,
            "command": "python -m training.train " + " ".join(args.argv),
        },
        "metrics": metrics,
        "temperature": temperature,
        "calibration": calibration,
        "metrics_note": (
            "Patient-level; 'test' patients were never used for training or model selection. "
            "95% CIs: percentile bootstrap over patients (1000 resamples). C-index: Harrell's, "
            "on TCGA-CDR overall survival."
        ),
        "changelog": ([
            "0.2.0: elastic deformation and MR bias-field augmentation (MONAI); the 2D design "
            "kept after 5-fold cross-validation against a 3D MONAI DenseNet design, training "
            "from scratch and the MSE survival loss (cv.json, training.cv).",
        ] if args.task == "grade" and not args.manifest else []) + [
            "0.1.0: first model (2D slice branches, slice and sequence attention)."],
    })
    if train_risk is not None:
        card["risk_threshold"] = float(np.median(train_risk))
    out_dir = Path(args.out)
    card = save_checkpoint(out_dir, net, card)
    if world > 1:
        dist.destroy_process_group()
    if cohort_rows:
        import csv
        with open(out_dir / "cohort_risk.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["patient_id", "risk_score", "split", "time_days", "event", "grade"])
            w.writerows(cohort_rows)
    print(json.dumps({k: {m: v.get(m) for m in ("accuracy", "roc_auc", "c_index")}
                      for k, v in metrics.items()}))
    return card


def shipped_args(card: dict) -> list[str]:
    """The ``training.train`` arguments a checkpoint was trained with (from its card's
    ``training.command``), to retrain it or a variant of it."""
    words = card["training"]["command"].split()
    return words[words.index("training.train") + 1:]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--task", choices=["grade", "type"], default="grade")
    p.add_argument("--manifest", default=None,
                   help="CSV: patient_id, T1/T1ce/T2/FLAIR paths, label, [time_days, event]")
    p.add_argument("--rank-hash-dir", default=None, help="write each rank's weight hash here (tests)")
    p.add_argument("--data", default=None, help="default: the task's folder in shared/data")
    p.add_argument("--split-file", default=None,
                   help='JSON {"train": [ids], "val": [ids], "test": [ids]} instead of the seeded split')
    p.add_argument("--encoder", choices=["2d", "3d"], default="2d",
                   help="grade task: 2D slice branches (served) or 3D MONAI DenseNet branches")
    p.add_argument("--volume-size", type=int, default=64, help="3D encoder: cube edge (voxels)")
    p.add_argument("--init-from", default=None, help="checkpoint whose T1ce encoder starts every branch")
    p.add_argument("--min-epochs", type=int, default=8, help="no early stop before this epoch")
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
    p.add_argument("--survival-loss", choices=["cox", "mse"], default="cox")
    p.add_argument("--attn-sup", type=float, default=0.5,
                   help="weight of the slice-attention supervision by tumour masks (grade task)")
    p.add_argument("--patience", type=int, default=10)
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--strip-aug", type=float, default=0.0,
                   help="type task: probability of replacing a training slice by its skull-"
                        "stripped copy (training.type_strip); 0 = off")
    args = p.parse_args(argv)
    if args.data is None:
        args.data = str(SHARED_DATA / ("figshare_cheng" if args.task == "type" else "tcga_lgg_flair_seg"))
    import sys
    args.argv = list(argv if argv is not None else sys.argv[1:])
    return args


def _segment_argv(argv: list[str]) -> list[str] | None:
    """``argv`` without ``--task segment`` when the task is segmentation (:mod:`training.segment`
    has its own options), else None."""
    for i, a in enumerate(argv):
        if a == "--task=segment":
            return argv[:i] + argv[i + 1:]
        if a == "--task" and argv[i + 1:i + 2] == ["segment"]:
            return argv[:i] + argv[i + 2:]
    return None


if __name__ == "__main__":
    import sys
    seg_argv = _segment_argv(sys.argv[1:])
    if seg_argv is not None:
        from training.segment import main as segment_main
        segment_main(seg_argv)
    else:
        train(parse_args())
