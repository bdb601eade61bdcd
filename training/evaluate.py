"""Evaluate a checkpoint on a labelled folder, at patient level.

    python -m training.evaluate --data DIR [--survival CSV] [--checkpoint DIR] [--json]
                                [--patients ID ...] [--report DIR]

``DIR`` is laid out like ``shared/data/tcga_lgg_flair_seg`` (``labels.csv`` + one folder per
patient with ``t1_pre``, ``t1_post``, ``flair`` NIfTI files); ``CSV`` like
``tcga_clinical/tcga_lgg_flair_seg_survival.csv``. The default checkpoint is the one the app
serves. Preprocessing is the app's (:func:`model.preprocess.volume_to_slices`).

Output (JSON): ``n_patients, labels, accuracy, precision_macro, recall_macro, f1_macro,
roc_auc, confusion_matrix`` (+ bootstrap ``*_ci95``) and ``c_index`` when survival is given.
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

from model.checkpoint import DEFAULT_CHECKPOINT, load_checkpoint
from model.errors import CheckpointError
from training.data import GRADE_CLASSES, TYPE_CLASSES, load_figshare_cases, load_tcga_cases
from training.metrics import classification_report
from training.train import patient_mean, predict_cases

TYPE_CHECKPOINT = DEFAULT_CHECKPOINT.parent / "type_figshare"


def is_slice_dataset(data: Path) -> bool:
    """True for a figshare_cheng-style folder (``labels.csv`` with ``label_name``, ``images/``)."""
    labels = Path(data) / "labels.csv"
    return labels.exists() and "label_name" in labels.open().readline() and (Path(data) / "images").is_dir()


def evaluate(data: Path, survival: Path | None = None, checkpoint: Path | None = None,
             patients: list[str] | None = None, n_boot: int = 1000) -> dict:
    """Patient-level metrics of a checkpoint on a TCGA-LGG-style folder.

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
        prob, _ = predict_cases(net, cases, k=1, batch_size=64)
        ids, y, pprob = patient_mean(cases, prob)
        out = classification_report(y, pprob, card["classes"], n_boot=n_boot)
        out["per_slice"] = classification_report(np.array([c.label for c in cases]), prob,
                                                 card["classes"], n_boot=n_boot)
        out["checkpoint"] = card.get("name")
        out["patients"] = ids
        return out
    cases = load_tcga_cases(data, survival, patients)
    if not cases:
        raise FileNotFoundError(f"No labelled patient found in {data}.")
    prob, risk = predict_cases(net, cases)
    y = np.array([c.label for c in cases])
    out = classification_report(
        y, prob, card["classes"],
        np.array([c.time_days for c in cases]) if survival else None,
        np.array([c.event for c in cases]) if survival else None,
        risk if survival else None, n_boot=n_boot)
    out["checkpoint"] = card.get("name")
    out["patients"] = [c.patient_id for c in cases]
    return out


def write_report(result: dict, folder: Path) -> None:
    """Write ``metrics.json`` and a confusion-matrix PNG (Plotly + kaleido) to ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.json").write_text(json.dumps(result, indent=2))
    try:
        import plotly.figure_factory as ff

        cm = result["confusion_matrix"]
        fig = ff.create_annotated_heatmap(cm, x=result["labels"], y=result["labels"],
                                          colorscale="Blues")
        fig.update_layout(xaxis_title="predicted", yaxis_title="true", width=500, height=450)
        fig.write_image(str(folder / "confusion_matrix.png"))
    except Exception as exc:  # kaleido needs a Chrome; the JSON is the report of record
        print(f"note: figure not written ({type(exc).__name__})", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--survival", default=None)
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--patients", nargs="*", default=None, help="only these patient IDs")
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument("--report", default=None, help="folder for metrics.json and figures")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    try:
        result = evaluate(Path(args.data), Path(args.survival) if args.survival else None,
                          Path(args.checkpoint) if args.checkpoint else None, args.patients,
                          args.n_boot)
    except (CheckpointError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.report:
        write_report(result, Path(args.report))
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
