"""Train and evaluate the longitudinal LUMIERE model (recurrent network over visits).

    python -m training.longitudinal --out model/checkpoints/longitudinal_lumiere

Data: ``lumiere_longitudinal/visits.csv`` and ``patients.csv`` under ``--data`` (default
``$TUMORBOARD_DATA`` or ``../shared/data``): 72 glioblastoma patients, 469 visits, per visit the
expert RANO rating and 32 FLAIR radiomics features; overall survival in weeks (LUMIERE, Suter Y
et al., Sci Data 2022;9:768; derived table doi:10.5281/zenodo.17818439; non-commercial).

Time 0 of each patient is the first visit. Targets:

* OS: ``Survival - first week`` (weeks), event 1 (the source codes every known survival as a
  death); the 4 patients with unknown survival are left out of OS training and evaluation.
* Time to progression (TTP): first visit rated PD (``Post-Op/PD`` counts) is the event, at its
  week; patients never rated PD are censored at their last visit (last known progression-free
  time; deaths without PD are censored there too).

Split: patients, stratified by (OS known, any PD), seeded; ``--test-frac`` of them are held out
and used only for the final metrics. Inside the training patients, ``--folds`` stratified folds:
member ``k`` of the ensemble is trained on the other folds; all members stop at the epoch that
minimises the validation loss averaged over the folds (early stopping by inner CV); the same folds choose the Cox penalisers. Feature standardisation uses the
training patients' visits only.

One network per endpoint and inner fold (ensemble = mean per endpoint).
Loss: extended (time-varying) Cox negative partial log-likelihood, torchsurv
``neg_partial_log_likelihood`` with an (n, n) log-hazard matrix: the hazard of patient ``j`` at
the event time of patient ``i`` is the network's output after ``j``'s last visit **strictly
before** that time, so no visit after a time point is ever used to predict at that time. Loss =
NPLL(OS) for the OS networks, NPLL(TTP) for the TTP networks.

Evaluation on the held-out patients, Harrell-type C-index with 1000-resample patient bootstrap
95% CIs (paired for differences), against penalised lifelines Cox models on the same patients:
(a) ``CoxPHFitter`` on the baseline (first) visit's features, (b) ``CoxTimeVaryingFitter`` on
the last observation carried forward (features of the most recent visit). "dynamic" C-indexes
compare, at each event time, the patient with the event against those still at risk using
each model's risk from visits before that time (time-dependent concordance).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from lifelines import CoxPHFitter, CoxTimeVaryingFitter
from torchsurv.loss.cox import neg_partial_log_likelihood

from model.core.config import DATA_DIR
from model.core.jsonio import write_card
from model.inference.longitudinal import (HELD_OUT_VISITS, FeatureSpec, LongitudinalModel,
                                          batch_features, fit_feature_spec, patient_features,
                                          save_longitudinal, validate_visits)
from model.nets.longitudinal import LongitudinalConfig, LongitudinalEnsemble, LongitudinalNet
from training.metrics import bootstrap_ci

SHARED_DATA = DATA_DIR
CITATION = ("Suter Y, Knecht U, Valenzuela W, et al. The LUMIERE dataset: Longitudinal "
            "Glioblastoma MRI with expert RANO evaluation. Sci Data 2022;9:768, "
            "doi:10.1038/s41597-022-01881-7. Derived table: Sarirchi S., "
            "GBM-LUMIERE-Radiomics-Survival (2025), doi:10.5281/zenodo.17818439.")
LICENCE = ("LUMIERE (Figshare doi:10.6084/m9.figshare.c.5904905): non-commercial research use "
           "only, believed CC BY-NC 4.0 (not verified offline). Derived table's code: MIT. "
           "These weights and the stored held-out visit rows inherit the non-commercial terms.")
HEADS = ("os", "ttp")
SPLIT_SEED = 20240601
PENALIZERS = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0)


# ----------------------------------------------------------------------------- data
def load_lumiere(data_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Raw visits, validated visits and the per-patient target table.

    Returns:
        ``(raw, visits, patients)``; ``patients`` is indexed by ``Patient`` with
        ``os_time`` (weeks from first visit, NaN unknown), ``os_event`` (1.0/NaN),
        ``ttp_time`` (weeks from first visit), ``ttp_event`` (0/1), ``any_pd``, ``stratum``.
    """
    folder = Path(data_dir) / "lumiere_longitudinal"
    raw = pd.read_csv(folder / "visits.csv")
    visits = validate_visits(raw)
    pt = pd.read_csv(folder / "patients.csv").set_index("Patient")
    g = visits.groupby("Patient", sort=False)
    first = g["week_int"].min()
    last = g["week_int"].max()
    is_pd = visits["rating_clean"].map(lambda s: isinstance(s, str) and "PD" in s)
    first_pd = visits[is_pd].groupby("Patient")["week_int"].min()
    out = pd.DataFrame(index=first.index)
    out["first_week"] = first
    out["os_time"] = pt["survival_weeks"].reindex(out.index) - first
    out["os_event"] = pt["os_event"].reindex(out.index)
    out["any_pd"] = out.index.isin(first_pd.index).astype(int)
    out["ttp_time"] = np.where(out["any_pd"] == 1, first_pd.reindex(out.index) - first, last - first)
    out["ttp_event"] = out["any_pd"].astype(float)
    out["stratum"] = out["os_time"].notna().astype(int).astype(str) + "/" + out["any_pd"].astype(str)
    return raw, visits, out


def stratified_split(strata: pd.Series, test_frac: float, seed: int) -> tuple[list[str], list[str]]:
    """Patient-level split, stratum by stratum (``round(test_frac * n)`` to test, seeded)."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for s in sorted(strata.unique()):
        ids = sorted(strata.index[strata == s])
        rng.shuffle(ids)
        k = int(round(test_frac * len(ids)))
        test += ids[:k]
        train += ids[k:]
    return sorted(train), sorted(test)


def stratified_folds(strata: pd.Series, k: int, seed: int) -> dict[str, int]:
    """Fold number (0..k-1) of every patient, round-robin within each shuffled stratum."""
    rng = np.random.default_rng(seed)
    fold, start = {}, 0
    for s in sorted(strata.unique()):
        ids = sorted(strata.index[strata == s])
        rng.shuffle(ids)
        for i, p in enumerate(ids):
            fold[p] = (start + i) % k
        start += len(ids)
    return fold


@dataclass
class Batch:
    """Padded inputs and targets of a set of patients (row order = ``patients``)."""

    patients: list[str]
    x: torch.Tensor        # (B, T, F) float32
    lengths: np.ndarray    # (B,) int
    weeks: np.ndarray      # (B, T) weeks since first visit, inf on padding
    time: dict             # head -> (B,) float weeks
    event: dict            # head -> (B,) float 0/1, NaN unknown
    ok: dict               # head -> (B,) bool: usable for that head
    idx: dict              # head -> (n_ok, n_ok) int: visit of row j used at the time of row i


def visit_at(weeks: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Index of each patient's last visit strictly before each time.

    Args:
        weeks: (B, T) visit weeks, inf on padding; times: (N,) weeks.
    Returns:
        int64 (B, N); 0 (the first visit) when no visit precedes the time.
    """
    cnt = (weeks[:, :, None] < np.asarray(times, dtype=float)[None, None, :]).sum(1)
    return np.clip(cnt - 1, 0, None).astype(np.int64)


def make_batch(visits: pd.DataFrame, targets: pd.DataFrame, patients: list[str],
               spec: FeatureSpec) -> Batch:
    sub = visits[visits["Patient"].isin(patients)]
    pats, x, lengths, weeks = batch_features(sub, spec)
    t = targets.loc[pats]
    time_, event, ok, idx = {}, {}, {}, {}
    for h in HEADS:
        tt = t[f"{h}_time"].to_numpy(dtype=float)
        ee = t[f"{h}_event"].to_numpy(dtype=float)
        good = np.isfinite(tt) & np.isfinite(ee) & (tt > 0)
        time_[h], event[h], ok[h] = tt, ee, good
        idx[h] = visit_at(weeks[good], tt[good])
    return Batch(pats, x, lengths.numpy(), weeks, time_, event, ok, idx)


# ----------------------------------------------------------------------------- loss / metrics
def tv_cox_loss(risk: torch.Tensor, b: Batch, head: str) -> torch.Tensor:
    """Extended-Cox NPLL of one head; ``risk`` (B, T) log hazards after each visit."""
    ok = torch.from_numpy(b.ok[head])
    ev = b.event[head][b.ok[head]]
    if ok.sum() < 2 or ev.sum() == 0:
        return risk.sum() * 0.0
    m = torch.gather(risk[ok], 1, torch.from_numpy(b.idx[head]))  # (n, n): row j at time of i
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return neg_partial_log_likelihood(m, torch.from_numpy(ev).bool(),
                                          torch.from_numpy(b.time[head][b.ok[head]]).float(),
                                          ties_method="efron")


def risk_matrix(visit_risk: np.ndarray, weeks: np.ndarray, times: np.ndarray) -> np.ndarray:
    """``D[j, i]``: risk of patient j after its last visit strictly before ``times[i]``.

    ``visit_risk`` (B, T) per-visit risk (a static risk: shape (B, 1) with weeks (B, 1) = 0).
    """
    idx = visit_at(weeks, times)
    return np.take_along_axis(visit_risk, idx, axis=1)


def concordance(D: np.ndarray, time: np.ndarray, event: np.ndarray) -> float:
    """Harrell-type C-index of (possibly time-varying) risks; higher risk = earlier event.

    Pairs (i, j) with an event for i and ``time[j] > time[i]`` (or equal time and j censored)
    are comparable; concordant when ``D[i, i] > D[j, i]`` (ties count 1/2). With static risks
    this is Harrell's C. NaN when no pair is comparable.
    """
    t, e = np.asarray(time, float), np.asarray(event, float) > 0
    comp = e[None, :] & ((t[:, None] > t[None, :]) | ((t[:, None] == t[None, :]) & ~e[:, None]))
    n = comp.sum()
    if n == 0:
        return float("nan")
    own = np.diag(D)[None, :]
    score = (own > D).astype(float) + 0.5 * (own == D)
    return float((score * comp).sum() / n)


def c_with_ci(D: np.ndarray, time: np.ndarray, event: np.ndarray, n_boot: int, seed: int = 0
              ) -> dict:
    f = lambda ix: concordance(D[np.ix_(ix, ix)], time[ix], event[ix])  # noqa: E731
    ix = np.arange(len(time))
    lo, hi = bootstrap_ci(f, (ix,), n_boot=n_boot, seed=seed)
    return {"c_index": f(ix), "ci95": [lo, hi]}


def delta_ci(D1, D2, time, event, n_boot: int, seed: int = 0) -> dict:
    """Paired bootstrap of ``C(D1) - C(D2)`` on the same patients."""
    def f(ix):
        return (concordance(D1[np.ix_(ix, ix)], time[ix], event[ix])
                - concordance(D2[np.ix_(ix, ix)], time[ix], event[ix]))
    ix = np.arange(len(time))
    lo, hi = bootstrap_ci(f, (ix,), n_boot=n_boot, seed=seed)
    return {"delta": f(ix), "ci95": [lo, hi]}


# ----------------------------------------------------------------------------- network
def train_member(cfg: LongitudinalConfig, tr: Batch, va: Batch, head: str, args, seed: int) -> dict:
    """Train one network for ``head`` on ``tr`` (full batch), recording the loss on ``va``.

    Returns ``net`` (last state), ``states`` (state dict after each epoch), ``val`` (val loss
    per epoch) and ``train`` (train loss per epoch). The caller chooses the epoch.
    """
    torch.manual_seed(seed)
    net = LongitudinalNet(cfg)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    states, val, trn = [], [], []
    for _ in range(args.epochs):
        net.train()
        loss = tv_cox_loss(net(tr.x)[:, :, 0], tr, head)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
        net.eval()
        with torch.no_grad():
            val.append(float(tv_cox_loss(net(va.x)[:, :, 0], va, head)))
        trn.append(loss.item())
        states.append({k: v.detach().clone() for k, v in net.state_dict().items()})
    return {"net": net, "states": states, "val": np.array(val), "train": np.array(trn)}


def choose_epoch(val_curves: list[np.ndarray], smooth: int = 5) -> int:
    """Epoch (0-based) minimising the fold-averaged validation loss (moving average of ``smooth``)."""
    m = np.mean(np.stack(val_curves), axis=0)
    if smooth > 1 and len(m) > smooth:
        m = np.convolve(np.pad(m, (smooth // 2, smooth // 2), mode="edge"), np.ones(smooth) / smooth,
                        mode="valid")
    return int(np.argmin(m))


# ----------------------------------------------------------------------------- Cox baselines
def _design(visits: pd.DataFrame, spec: FeatureSpec, patients: list[str]) -> dict:
    """Per-patient visit feature matrices (Cox designs use the same features as the network)."""
    out = {}
    for p in patients:
        rows = visits[visits["Patient"] == p]
        out[p] = (patient_features(rows, spec).astype(float), rows["weeks_from_first_visit"].to_numpy(float))
    return out


def _baseline_frame(design: dict, patients, cols: list[int]) -> np.ndarray:
    return np.stack([design[p][0][0, cols] for p in patients])


def _tv_frame(design: dict, targets: pd.DataFrame, patients, head: str, cols: list[int],
              names: list[str]) -> pd.DataFrame:
    """Counting-process rows (start, stop] with the most recent visit's features (LOCF)."""
    rows = []
    for pid, p in enumerate(patients):
        T, E = targets.at[p, f"{head}_time"], targets.at[p, f"{head}_event"]
        if not (np.isfinite(T) and np.isfinite(E) and T > 0):
            continue
        X, w = design[p]
        for k in range(len(w)):
            if k + 1 < len(w) and w[k + 1] == w[k]:
                continue  # a later scan the same week supersedes this one
            start = w[k]
            later = w[w > start]
            stop = min(later[0] if len(later) else T, T)
            if start >= stop:
                continue
            rows.append([pid, start, stop, float(E) if stop == T else 0.0, *X[k, cols]])
    return pd.DataFrame(rows, columns=["id", "start", "stop", "event", *names])


def _cox_visit_risk(beta: np.ndarray, design: dict, patients, cols, static: bool
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Per-visit linear predictors padded to (B, T) (+ weeks); static: first visit only."""
    if static:
        r = np.array([[design[p][0][0, cols] @ beta] for p in patients])
        return r, np.zeros_like(r)
    tmax = max(len(design[p][1]) for p in patients)
    r = np.zeros((len(patients), tmax))
    w = np.full((len(patients), tmax), np.inf)
    for i, p in enumerate(patients):
        X, wk = design[p]
        r[i, : len(wk)] = X[:, cols] @ beta
        w[i, : len(wk)] = wk
    return r, w


def fit_cox(kind: str, head: str, design: dict, targets: pd.DataFrame, patients: list[str],
            cols: list[int], names: list[str], penalizer: float) -> np.ndarray | None:
    """Fit a penalised (ridge) lifelines Cox model; returns the coefficient vector or None."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if kind == "baseline":
                t = targets.loc[patients]
                keep = np.isfinite(t[f"{head}_time"]) & np.isfinite(t[f"{head}_event"]) & (t[f"{head}_time"] > 0)
                pats = list(t.index[keep])
                df = pd.DataFrame(_baseline_frame(design, pats, cols), columns=names)
            else:
                df = _tv_frame(design, targets, patients, head, cols, names)
            varying = [n for n in names if df[n].std() > 1e-8]  # constant here: coefficient 0
            if kind == "baseline":
                df = df[varying].assign(T=t.loc[pats, f"{head}_time"].to_numpy(),
                                        E=t.loc[pats, f"{head}_event"].to_numpy())
                m = CoxPHFitter(penalizer=penalizer, l1_ratio=0.0).fit(df, "T", "E")
            else:
                df = df[["id", "start", "stop", "event", *varying]]
                m = CoxTimeVaryingFitter(penalizer=penalizer, l1_ratio=0.0).fit(
                    df, id_col="id", start_col="start", stop_col="stop", event_col="event")
            beta = m.params_.reindex(names).fillna(0.0).to_numpy(dtype=float)
            return beta if np.all(np.isfinite(beta)) else None
        except Exception:  # lifelines ConvergenceError and friends on tiny folds
            return None


def eval_targets(targets: pd.DataFrame, patients: list[str], head: str):
    t = targets.loc[patients]
    ok = (np.isfinite(t[f"{head}_time"]) & np.isfinite(t[f"{head}_event"]) & (t[f"{head}_time"] > 0)).to_numpy()
    return ok, t[f"{head}_time"].to_numpy(float), t[f"{head}_event"].to_numpy(float)


def cox_risk_matrix(kind, beta, design, patients, cols, times) -> np.ndarray:
    r, w = _cox_visit_risk(beta, design, patients, cols, static=(kind == "baseline"))
    return risk_matrix(r, w, times)


# ----------------------------------------------------------------------------- main
def train(args: argparse.Namespace) -> dict:
    t0 = time.time()
    torch.set_num_threads(1)  # tiny model: more threads only add OpenMP contention
    raw, visits, targets = load_lumiere(Path(args.data))
    if args.max_patients:
        keep, _ = stratified_split(targets["stratum"], 1 - args.max_patients / len(targets), args.seed)
        keep = keep[: args.max_patients]
        targets = targets.loc[keep]
        visits = visits[visits["Patient"].isin(keep)].reset_index(drop=True)
    train_ids, test_ids = stratified_split(targets["stratum"], args.test_frac, args.seed)
    folds = stratified_folds(targets.loc[train_ids, "stratum"], args.folds, args.seed + 1)
    assert not set(train_ids) & set(test_ids)

    spec = fit_feature_spec(visits[visits["Patient"].isin(train_ids)], args.radiomics_pcs)
    cfg = LongitudinalConfig(n_inputs=spec.n_inputs, hidden=args.hidden, cell=args.cell,
                             dropout=args.dropout, n_members=args.folds, outputs=HEADS,
                             skip=not args.no_skip)

    # --- network: one member per inner fold
    ens = LongitudinalEnsemble(cfg)
    member_info, oof, chosen = {}, {}, {}
    batches = []
    for k in range(args.folds):
        tr_ids = [p for p in train_ids if folds[p] != k]
        va_ids = [p for p in train_ids if folds[p] == k]
        batches.append((tr_ids, va_ids, *(make_batch(visits, targets, ids, spec) for ids in (tr_ids, va_ids))))
    for j, h in enumerate(HEADS):
        runs = [train_member(cfg, tr, va, h, args, seed=args.seed * 100 + 10 * j + k)
                for k, (_, _, tr, va) in enumerate(batches)]
        # early stopping by cross-validation: one epoch count per endpoint, from the averaged
        # validation curves (a single fold of ~10 patients is too noisy to stop on)
        best = choose_epoch([r["val"] for r in runs])
        chosen[h] = best + 1
        member_info[h] = []
        for k, ((tr_ids, va_ids, _, va), res) in enumerate(zip(batches, runs)):
            ens.endpoints[h][k].load_state_dict(res["states"][best])
            member_info[h].append({"fold": k, "n_train": len(tr_ids), "n_val": len(va_ids),
                                   "val_loss": float(res["val"][best]),
                                   "own_best_epoch": int(np.argmin(res["val"])) + 1})
            with torch.no_grad():
                out = ens.endpoints[h][k].eval()(va.x).numpy()[:, :, 0]
            for i, p in enumerate(va.patients):
                oof.setdefault(p, [va.weeks[i, : va.lengths[i]], {}])[1][h] = out[i, : va.lengths[i]]
        print(f"{h}: members stopped at epoch {best + 1} of {args.epochs} (mean validation loss "
              f"{np.mean([r['val'][best] for r in runs]):.3f})", flush=True)
    ens.eval()
    trb = make_batch(visits, targets, train_ids, spec)
    with torch.no_grad():
        tr_out = ens(trb.x).numpy()
    valid = np.arange(tr_out.shape[1])[None, :] < trb.lengths[:, None]
    offsets = [float(tr_out[:, :, j][valid].mean()) for j in range(len(HEADS))]
    model = LongitudinalModel(ens, spec, offsets)
    train_time = time.time() - t0

    # --- Cox baselines; penalisers chosen on the same inner folds (dynamic C on the held-out fold)
    design = _design(visits, spec, list(targets.index))
    names_all = spec.names
    cox = {}
    for kind in ("baseline", "locf"):
        drop = {"years_since_previous_visit"} | ({"years_since_first_visit"} if kind == "baseline" else set())
        cand = [i for i, n in enumerate(names_all) if n not in drop]
        for h in HEADS:
            # keep the columns that vary in the rows this model is fitted on (train patients)
            if kind == "baseline":
                ok, _, _ = eval_targets(targets, train_ids, h)
                Xb = _baseline_frame(design, [p for p, o in zip(train_ids, ok) if o], cand)
            else:
                Xb = _tv_frame(design, targets, train_ids, h, cand, [names_all[i] for i in cand]
                               ).iloc[:, 4:].to_numpy()
            cols = [c for c, sd in zip(cand, np.std(Xb, axis=0)) if sd > 1e-8]
            names = [names_all[i] for i in cols]
            scores = {}
            for pen in PENALIZERS:
                cs = []
                for k in range(args.folds):
                    tr_ids = [p for p in train_ids if folds[p] != k]
                    va_ids = [p for p in train_ids if folds[p] == k]
                    beta = fit_cox(kind, h, design, targets, tr_ids, cols, names, pen)
                    ok, tt, ee = eval_targets(targets, va_ids, h)
                    vok = [p for p, o in zip(va_ids, ok) if o]
                    if beta is None or len(vok) < 2:
                        continue
                    D = cox_risk_matrix(kind, beta, design, vok, cols, tt[ok])
                    c = concordance(D, tt[ok], ee[ok])
                    if np.isfinite(c):
                        cs.append(c)
                scores[pen] = float(np.mean(cs)) if cs else float("nan")
            finite = {p: s for p, s in scores.items() if np.isfinite(s)}
            pen = max(finite, key=finite.get) if finite else 1.0
            beta = fit_cox(kind, h, design, targets, train_ids, cols, names, pen)
            if beta is None:
                beta = np.zeros(len(cols))
            cox[(kind, h)] = {"penalizer": pen, "inner_cv_c": scores, "beta": beta, "cols": cols,
                              "names": names}
            print(f"cox {kind}/{h}: penalizer {pen} (inner-CV C {scores.get(pen, float('nan')):.3f})",
                  flush=True)

    # --- inner-CV (out-of-fold) estimate of the network, train patients only
    inner = {}
    for j, h in enumerate(HEADS):
        ok, tt, ee = eval_targets(targets, train_ids, h)
        pats = [p for p, o in zip(train_ids, ok) if o]
        tmax = max(len(oof[p][0]) for p in pats)
        r = np.zeros((len(pats), tmax))
        w = np.full((len(pats), tmax), np.inf)
        for i, p in enumerate(pats):
            r[i, : len(oof[p][0])] = oof[p][1][h]
            w[i, : len(oof[p][0])] = oof[p][0]
        inner[h] = {"dynamic_c_oof": concordance(risk_matrix(r, w, tt[ok]), tt[ok], ee[ok]),
                    "baseline_c_oof": concordance(risk_matrix(r[:, :1], w[:, :1], tt[ok]), tt[ok], ee[ok]),
                    "n_patients": len(pats), "cox_baseline_inner_cv_c": cox[("baseline", h)]["inner_cv_c"][
                        cox[("baseline", h)]["penalizer"]],
                    "cox_locf_inner_cv_c": cox[("locf", h)]["inner_cv_c"][cox[("locf", h)]["penalizer"]]}
        print(f"inner CV {h}: network dynamic C {inner[h]['dynamic_c_oof']:.3f}, baseline C "
              f"{inner[h]['baseline_c_oof']:.3f}; Cox baseline {inner[h]['cox_baseline_inner_cv_c']:.3f},"
              f" Cox LOCF {inner[h]['cox_locf_inner_cv_c']:.3f}", flush=True)
    if args.dev:
        return {"inner_cv": inner, "members": member_info, "chosen_epoch": chosen, "train_time_s": train_time}

    # --- held-out test patients
    teb = make_batch(visits, targets, test_ids, spec)
    with torch.no_grad():
        te_out = ens(teb.x).numpy()
    comparison, metrics = [], {}
    for j, h in enumerate(HEADS):
        ok, tt, ee = eval_targets(targets, teb.patients, h)
        pats = [p for p, o in zip(teb.patients, ok) if o]
        T, E = tt[ok], ee[ok]
        r, w = te_out[ok][:, :, j], teb.weeks[ok]
        last = teb.lengths[ok] - 1
        D = {
            ("dynamic", "network"): risk_matrix(r, w, T),
            ("dynamic", "cox_baseline"): cox_risk_matrix("baseline", cox[("baseline", h)]["beta"], design,
                                                         pats, cox[("baseline", h)]["cols"], T),
            ("dynamic", "cox_locf"): cox_risk_matrix("locf", cox[("locf", h)]["beta"], design, pats,
                                                     cox[("locf", h)]["cols"], T),
            ("baseline", "network"): risk_matrix(r[:, :1], np.zeros((len(T), 1)), T),
        }
        D[("baseline", "cox_baseline")] = D[("dynamic", "cox_baseline")]
        if h == "os":  # for TTP the last visit is usually the progression itself: not a prediction
            rl, _ = _cox_visit_risk(cox[("locf", h)]["beta"], design, pats, cox[("locf", h)]["cols"], False)
            zero = np.zeros((len(T), 1))
            D[("last_visit", "network")] = risk_matrix(r[np.arange(len(T)), last][:, None], zero, T)
            D[("last_visit", "cox_locf")] = risk_matrix(rl[np.arange(len(T)), last][:, None], zero, T)
        metrics[h] = {"n_patients": int(len(T)), "events": int(E.sum())}
        for (when, who), Dm in D.items():
            res = c_with_ci(Dm, T, E, args.n_boot)
            metrics[h][f"{when}/{who}"] = res
            row = {"endpoint": h, "prediction_time": when, "model": who, "n_patients": int(len(T)),
                   "events": int(E.sum()), "c_index": res["c_index"], "ci95_low": res["ci95"][0],
                   "ci95_high": res["ci95"][1]}
            if who != "network":
                d = delta_ci(D[(when, "network")], Dm, T, E, args.n_boot)
                row.update({"network_minus_this": d["delta"], "delta_ci95_low": d["ci95"][0],
                            "delta_ci95_high": d["ci95"][1]})
            comparison.append(row)
    for row in comparison:
        print(f"{row['endpoint']:4s} {row['prediction_time']:10s} {row['model']:13s} "
              f"C {row['c_index']:.3f} [{row['ci95_low']:.3f}, {row['ci95_high']:.3f}]", flush=True)

    # --- checkpoint
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    held = raw[raw["Patient"].isin(test_ids)]
    held.to_csv(out / HELD_OUT_VISITS, index=False)
    cox_card = {f"{k}/{h}": {"penalizer": v["penalizer"], "inner_cv_c_by_penalizer": v["inner_cv_c"],
                             "features": v["names"], "coefficients": dict(zip(v["names"], map(float, v["beta"])))}
                for (k, h), v in cox.items()}
    card = {
        "name": "longitudinal_lumiere",
        "version": "1.0",
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "task": ("Survival risk (overall survival) and time-to-progression risk after each imaging "
                 "visit of a glioblastoma patient, from the visits so far."),
        "intended_use": ("Research use only: not a medical device, not a diagnosis. Small "
                         "single-centre cohort; risks are relative (log hazard ratio vs. an average "
                         "training visit), not calibrated probabilities."),
        "inputs": {
            "kind": "Tabular features per visit, NOT images. No MRI volumes are read by this model.",
            "per_visit": ["weeks since the patient's first visit (and since the previous visit)",
                          "expert RANO rating (PD, SD, PR, CR, Pre-Op, Post-Op, Post-Op/PD, missing)",
                          "32 FLAIR pyradiomics features of the DeepBraTumIA segmentation (as in visits.csv), "
                          "signed-log, z-scored and compressed to "
                          f"{len(spec.components or []) or 32} principal components with "
                          "statistics of the training visits only"],
            "sequence": "all visits of one patient in time order; risk after visit k uses visits 0..k only",
            "not_used": "Survival, age, sex, IDH, MGMT, start/stop/event and Rating2/Rating3 columns",
            "table_columns_required": ["Timepoint", "Rating", *spec.radiomics],
        },
        "outputs": {"os": "log hazard ratio of death after the visit (extended Cox)",
                    "ttp": "log hazard ratio of progression (first PD rating) after the visit; "
                           "meaningless once the patient has progressed"},
        "targets": {"time_origin": "each patient's first visit",
                    "os": "Survival (weeks) - first visit week; event = death (all known survivals are "
                          "deaths in the source); 4 patients with unknown survival excluded",
                    "ttp": "week of the first visit rated PD (incl. Post-Op/PD) - first visit week, event 1;"
                           " otherwise censored at the last visit (deaths without PD censored there)"},
        "training_data": {
            "dataset": "LUMIERE longitudinal glioblastoma (lumiere_longitudinal: visits.csv, patients.csv)",
            "citation": CITATION, "licence": LICENCE,
            "n_patients": int(len(targets)), "n_visits": int(len(visits)),
            "split_method": (f"patient-level, stratified by (OS known, any PD), seed {args.seed}, "
                             f"test fraction {args.test_frac}; {args.folds} stratified inner folds of "
                             "the training patients for early stopping (one ensemble member per fold) "
                             "and Cox penaliser choice; test patients never used for training or "
                             "model selection"),
            "train_patients": train_ids, "test_patients": test_ids,
            "held_out_visits_file": HELD_OUT_VISITS,
        },
        "training": {"loss": "NPLL(OS) resp. NPLL(TTP) per endpoint network, extended Cox with time-varying log hazards "
                             "(torchsurv neg_partial_log_likelihood, Efron ties)",
                     "optimizer": f"AdamW lr {args.lr}, weight decay {args.weight_decay}, full batch",
                     "epochs": args.epochs, "chosen_epoch": chosen, "members": member_info,
                     "train_time_s": round(train_time, 1), "total_time_s": None,
                     "device": "cpu", "torch_threads": torch.get_num_threads(),
                     "command": "python -m training.longitudinal " + " ".join(args.argv)},
        "metrics": {"test": metrics, "inner_cv": inner, "n_boot": args.n_boot,
                    "ci": "percentile bootstrap over test patients, paired for differences"},
        "metrics_note": (
            "Harrell-type C-index on the held-out test patients. 'dynamic': at each event time the "
            "patient with the event is compared with those still at risk, each scored from visits "
            "strictly before that time (network: output after the last such visit; cox_locf: "
            "time-varying Cox on the last observation carried forward; cox_baseline: first-visit "
            "features only). 'baseline': risk after the first visit. 'last_visit': risk after each "
            "patient's last visit ranked against time from the FIRST visit (OS only); optimistic for "
            "both models, since the last visit's date reveals that the patient was alive then."),
        "comparison": comparison,
        "cox_baselines": cox_card,
        "limitations": [
            "72 patients from one centre (LUMIERE, Bern); test set of about 20 patients, so the "
            "confidence intervals are wide and differences between models are not significant "
            "unless the difference CI excludes 0.",
            "Radiomics are means over 3 DeepBraTumIA label regions according to the data README "
            "(not verified); visit weeks are whole weeks.",
            "No clinical covariates (age, IDH, MGMT, resection) are used; they are strong "
            "prognostic factors in glioblastoma.",
            "Progression is the first PD rating (a surrogate); pseudo-progression is not modelled.",
            "Risks are relative, not calibrated absolute survival probabilities.",
        ],
    }
    card = save_longitudinal(out, model, card)
    card["training"]["total_time_s"] = round(time.time() - t0, 1)
    card = write_card(out, card)
    print(f"wrote {out} in {card['training']['total_time_s']} s", flush=True)
    return card


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m training.longitudinal", description=__doc__.split("\n")[0])
    p.add_argument("--data", default=str(SHARED_DATA), help="shared data folder (holds lumiere_longitudinal/)")
    p.add_argument("--out", default="model/checkpoints/longitudinal_lumiere")
    p.add_argument("--epochs", type=int, default=200, help="epochs (full-batch steps) run per member; "
                   "the served epoch is chosen from the mean inner-fold validation loss")
    p.add_argument("--folds", type=int, default=5, help="inner folds = ensemble members")
    p.add_argument("--hidden", type=int, default=8)
    p.add_argument("--cell", choices=("lstm", "gru"), default="lstm")
    p.add_argument("--dropout", type=float, default=0.5)
    p.add_argument("--radiomics-pcs", type=int, default=4,
                   help="principal components of the 32 radiomics kept as inputs (0 = all 32)")
    p.add_argument("--no-skip", action="store_true", help="no linear skip path to the heads")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--weight-decay", type=float, default=1e-2)
    p.add_argument("--test-frac", type=float, default=0.3)
    p.add_argument("--seed", type=int, default=SPLIT_SEED)
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument("--max-patients", type=int, default=0, help="use a stratified subset (tests)")
    p.add_argument("--dev", action="store_true",
                   help="stop after the inner-CV estimates; no test evaluation, nothing written")
    args = p.parse_args(argv)
    args.argv = list(argv) if argv is not None else sys.argv[1:]
    return args


def main(argv: list[str] | None = None) -> int:
    train(parse_args(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
