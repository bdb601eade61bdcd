"""Evaluate a checkpoint on a labelled folder, at patient level.

    python -m training.evaluate --data DIR [--survival CSV] [--checkpoint DIR] [--json]
                                [--patients ID ...] [--report DIR]

``DIR`` is laid out like ``shared/data/tcga_lgg_flair_seg`` (``labels.csv`` + one folder per
patient with ``t1_pre``, ``t1_post``, ``flair`` NIfTI files); ``CSV`` like
``tcga_clinical/tcga_lgg_flair_seg_survival.csv``. The default checkpoint is the one the app
serves. Preprocessing is the app's (:func:`model.inference.preprocess.volume_to_slices`).

Output (JSON): ``n_patients, labels, accuracy, precision_macro, recall_macro, f1_macro,
roc_auc, confusion_matrix`` (+ bootstrap ``*_ci95``) and ``c_index`` when survival is given,
with ``c_index_prognosis`` / ``c_index_age_only`` (+ ``_ci95``) of the served clinical
prognosis beside it (:func:`prognosis_c_index`).
A folder laid out like ``figshare_cheng`` (2D T1ce tumour-type slices) is evaluated with the
tumour-type checkpoint (``model/checkpoints/type_figshare`` by default): patient-level metrics
from the mean of each patient's slice probabilities, and the same metrics per slice under
``per_slice``. A checkpoint whose classes do not fit the folder is refused (exit code 2).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from model.core.config import DEFAULT_CHECKPOINT
from model.nets.checkpoint import load_checkpoint
from model.core.errors import CheckpointError
from training.data import GRADE_CLASSES, TYPE_CLASSES, load_figshare_cases, load_tcga_cases
from training.metrics import classification_report, reliability_curve
from training.train import patient_mean, predict_cases

TYPE_CHECKPOINT = DEFAULT_CHECKPOINT.parent / "type_figshare"


def is_slice_dataset(data: Path) -> bool:
    """True for a figshare_cheng-style folder (``labels.csv`` with ``label_name``, ``images/``)."""
    labels = Path(data) / "labels.csv"
    return labels.exists() and "label_name" in labels.open().readline() and (Path(data) / "images").is_dir()


def evaluate(data: Path, survival: Path | None = None, checkpoint: Path | None = None,
             patients: list[str] | None = None, n_boot: int = 1000) -> dict:
    """Patient-level metrics of a checkpoint on a TCGA-LGG- or figshare-style folder.

    Probabilities are temperature-scaled with the card's ``temperature``. The result also
    holds ``_curves`` (ROC points and reliability diagram) for :func:`write_report`.

    Raises:
        CheckpointError: checkpoint invalid, or its classes do not fit the folder's labels.
        FileNotFoundError: ``labels.csv`` missing.
    """
    data = Path(data)
    slices = is_slice_dataset(data)
    default = TYPE_CHECKPOINT if slices else DEFAULT_CHECKPOINT
    net, card = load_checkpoint(Path(checkpoint or default))
    expected = TYPE_CLASSES if slices else GRADE_CLASSES
    if card["classes"] != expected:
        raise CheckpointError(
            f"{data.name} is labelled {', '.join(expected)}; checkpoint '{card.get('name')}' "
            f"predicts {', '.join(card['classes'])}. Give a matching checkpoint with --checkpoint."
        )
    if slices:
        cases = load_figshare_cases(data, patients)
        if not cases:
            raise FileNotFoundError(f"No labelled slice found in {data}.")
        prob, _ = predict_cases(net, cases, k=1, batch_size=64,
                                temperature=float(card.get("temperature", 1.0)))
        ids, y, pprob = patient_mean(cases, prob)
        out = classification_report(y, pprob, card["classes"], n_boot=n_boot)
        out["per_slice"] = classification_report(np.array([c.label for c in cases]), prob,
                                                 card["classes"], n_boot=n_boot)
        out["checkpoint"] = card.get("name")
        out["patients"] = ids
        out["_curves"] = _curves(y, pprob)
        return out
    cases = load_tcga_cases(data, survival, patients)
    if not cases:
        raise FileNotFoundError(f"No labelled patient found in {data}.")
    prob, risk = predict_cases(net, cases, temperature=float(card.get("temperature", 1.0)))
    y = np.array([c.label for c in cases])
    out = classification_report(
        y, prob, card["classes"],
        np.array([c.time_days for c in cases]) if survival else None,
        np.array([c.event for c in cases]) if survival else None,
        risk if survival else None, n_boot=n_boot)
    out["checkpoint"] = card.get("name")
    out["patients"] = [c.patient_id for c in cases]
    out["_curves"] = _curves(y, prob)
    if survival:
        out.update(prognosis_c_index(survival, out["patients"], n_boot))
    return out


def prognosis_c_index(survival: Path, patients: list[str], n_boot: int = 1000,
                      checkpoint: Path | None = None) -> dict:
    """Harrell C of the served clinical prognosis (:mod:`model.survival.clinical`) on ``patients``.

    Each patient gets the served prediction from the TCGA-CDR columns of ``survival`` (age at
    diagnosis, gender, histological grade; ``type`` LGG/GBM as the tumour type), as the app
    would make it; the risk is 1 - S(2 years) (within one input set this ranks as the Cox
    linear predictor). ``c_index_age_only`` uses the served age-only model. CIs: percentile
    bootstrap over patients. Patients the model refuses (e.g. children) are left out and
    counted. Note: the 88 ``tcga_lgg_flair_seg`` patients were held out of every TCGA fit.

    Returns ``c_index_prognosis``, ``c_index_prognosis_ci95``, ``c_index_age_only``,
    ``c_index_age_only_ci95``, ``prognosis_n``, ``prognosis_refused``, ``prognosis_inputs``.
    """
    import pandas as pd

    from model.survival.clinical import OutOfScopeError, load
    from model.survival.cohorts import load_tcga_cdr
    from training.metrics import bootstrap_ci, harrell_c

    model = load(checkpoint)
    cdr = load_tcga_cdr(survival).set_index("patient_id")
    cdr.index = cdr.index.str.replace("-", "_")
    t, e, r, a, used, refused = [], [], [], [], {}, 0
    for pid in patients:
        if pid not in cdr.index:
            continue
        row = cdr.loc[pid]
        try:
            res = model.predict({"tumour_type": row["cancer_type"], "age_years": row["age_years"],
                                 "sex": row["sex"], "grade": row["grade"]})
        except OutOfScopeError:
            refused += 1
            continue
        t.append(row["time_days"]); e.append(row["event"])
        r.append(1.0 - res.at(2).survival)
        a.append(float(model.risk(pd.DataFrame([{"age_years": row["age_years"]}]), ("age_years",))[0]))
        k = "+".join(res.input_set)
        used[k] = used.get(k, 0) + 1
    t, e, r, a = (np.asarray(v, float) for v in (t, e, r, a))
    return {"c_index_prognosis": harrell_c(t, e, r),
            "c_index_prognosis_ci95": bootstrap_ci(harrell_c, (t, e, r), n_boot),
            "c_index_age_only": harrell_c(t, e, a),
            "c_index_age_only_ci95": bootstrap_ci(harrell_c, (t, e, a), n_boot),
            "prognosis_n": int(len(t)), "prognosis_refused": refused, "prognosis_inputs": used}


def _curves(y: np.ndarray, prob: np.ndarray) -> dict:
    """ROC points (one-vs-rest per class, scikit-learn) and the reliability diagram."""
    from sklearn.metrics import roc_curve

    roc = {}
    for c in range(prob.shape[1]):
        if 0 < (y == c).sum() < len(y):
            fpr, tpr, _ = roc_curve(y == c, prob[:, c])
            roc[c] = {"fpr": fpr.tolist(), "tpr": tpr.tolist()}
    return {"roc": roc, "reliability": reliability_curve(y, prob)}


def write_report(result: dict, folder: Path) -> list[str]:
    """Write ``metrics.json`` and PNG figures (confusion matrix, ROC, reliability diagram).

    Figures use Plotly + kaleido (which needs a Chrome such as Debian's chromium); when it is
    missing the JSON is still written. Returns the file names written.
    """
    import plotly.graph_objects as go

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.json").write_text(json.dumps(result, indent=2))
    written = ["metrics.json"]
    labels = result["labels"]
    curves = result.get("_curves", {})
    figs = {
        "confusion_matrix.png": go.Figure(go.Heatmap(
            z=result["confusion_matrix"], x=labels, y=labels, colorscale="Blues",
            text=result["confusion_matrix"], texttemplate="%{text}")).update_layout(
            xaxis_title="predicted", yaxis_title="true", yaxis_autorange="reversed"),
        "roc.png": go.Figure([go.Scatter(x=v["fpr"], y=v["tpr"], name=labels[int(c)])
                              for c, v in curves.get("roc", {}).items()]
                             + [go.Scatter(x=[0, 1], y=[0, 1], line=dict(dash="dot"), name="chance")]
                             ).update_layout(xaxis_title="1 - specificity", yaxis_title="sensitivity"),
        "reliability.png": go.Figure([
            go.Scatter(x=curves.get("reliability", {}).get("confidence", []),
                       y=curves.get("reliability", {}).get("accuracy", []), mode="lines+markers",
                       name="model"),
            go.Scatter(x=[0, 1], y=[0, 1], line=dict(dash="dot"), name="perfect calibration")]
        ).update_layout(xaxis_title="confidence", yaxis_title="accuracy"),
    }
    for name, fig in figs.items():
        try:
            fig.update_layout(width=520, height=440, title=name[:-4].replace("_", " "))
            fig.write_image(str(folder / name))
            written.append(name)
        except Exception as exc:  # no Chrome for kaleido: the JSON is the report of record
            print(f"note: {name} not written ({type(exc).__name__})", file=sys.stderr)
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--survival", default=None)
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--patients", nargs="*", default=None, help="only these patient IDs")
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument("--report", default=None, help="folder for metrics.json and figures")
    p.add_argument("--json", action="store_true")
    p.add_argument("--include-training", action="store_true",
                   help="segment: also evaluate patients the segmentation model trained on")
    p.add_argument("--task", choices=["auto", "type", "segment"], default="auto",
                   help="type: tumour type of 3D studies in a tcga_lgg_flair_seg-layout folder "
                        "(training.type3d: n_patients with T1ce, glioma_fraction)")
    args = p.parse_args(argv)
    if args.task == "segment":  # tumour segmentation (training.segment_final, agent D)
        from training.segment_final import evaluate_cli
        return evaluate_cli(args)
    if args.task == "type" and not is_slice_dataset(Path(args.data)):
        from training.type3d import evaluate_type_studies  # tumour type on 3D studies (agent F)
        result = evaluate_type_studies(Path(args.data), Path(args.checkpoint) if args.checkpoint else None)
        print(json.dumps(result, indent=2) if args.json else
              f"n_patients: {result['n_patients']}\nglioma_fraction: {result['glioma_fraction']}")
        return 0
    try:
        result = evaluate(Path(args.data), Path(args.survival) if args.survival else None,
                          Path(args.checkpoint) if args.checkpoint else None, args.patients,
                          args.n_boot)
    except (CheckpointError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.report:
        write_report(result, Path(args.report))
    result.pop("_curves", None)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for k in ("n_patients", "accuracy", "f1_macro", "roc_auc", "c_index"):
            if k in result:
                print(f"{k}: {result[k]}")
        print("confusion_matrix:", result["confusion_matrix"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
