"""Command line: load a study and predict, with the same code the app uses.

    python -m model.predict [SEQ=]PATH... [--checkpoint DIR] [--json] [--save-study DIR]

PATH is a file (NIfTI-1/2, MGH/MGZ, Analyze .hdr with its .img beside it, DICOM, PNG/JPEG), a
DICOM folder or a .zip (one series or a whole study). ``SEQ=`` (T1, T1ce, T2, FLAIR) overrides
the sequence recognised from the file name or DICOM series description; for a file or folder
holding several volumes (4D channels, several series) give one per volume in order, e.g.
``FLAIR,T1,T1ce,T2=brats.nii.gz`` (``-`` skips one). Each sequence is reported as loaded: RAS,
on its own grid, before any resampling for the model. ``--save-study DIR`` writes each loaded
sequence as ``DIR/<SEQ>.nii.gz`` (RAS NIfTI) so what the app saw can be checked and reused.

On input it cannot use, it prints one line saying why and exits with code 2. Patient details
are never printed (only file names, series descriptions scrubbed of identifiers, and technical
fields).
"""

from __future__ import annotations

import argparse
import json
import sys

from model.core.errors import CheckpointError, StudyError


def _parse_item(item: str) -> tuple[str, str | None]:
    head, sep, tail = item.partition("=")
    if sep and head and "/" not in head and "\\" not in head:
        return tail, head
    return item, None


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 unusable input or checkpoint)."""
    p = argparse.ArgumentParser(prog="python -m model.predict", description=__doc__.split("\n")[0])
    p.add_argument("inputs", nargs="+", metavar="[SEQ=]PATH",
                   help="file, DICOM folder or zip; SEQ may be a comma list for several volumes")
    p.add_argument("--checkpoint", default=None, help="checkpoint folder (default: the app's)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--save-study", metavar="DIR", default=None,
                   help="write each loaded sequence as DIR/<SEQ>.nii.gz (RAS)")
    args = p.parse_args(argv)

    from model.inference.classify import Predictor
    from model.imaging.study import Study

    saved: list[str] = []
    try:
        items = [_parse_item(i) for i in args.inputs]
        study = Study.from_paths([path for path, _ in items], [seq for _, seq in items])
        if args.save_study:
            try:
                saved = [str(p) for p in study.save(args.save_study)]
            except OSError as exc:
                print(f"error: cannot write to {args.save_study}: {exc.strerror or exc}.", file=sys.stderr)
                return 2
        predictor = Predictor(args.checkpoint)
        pred = predictor.predict(study)
    except (StudyError, CheckpointError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = {
        "sequences": study.summary(),
        "checkpoint": predictor.card.get("name"),
        "probabilities": pred.probabilities,
        "predicted_class": pred.predicted_class,
        "sequence_weights": pred.sequence_weights,
        "risk_score": pred.risk_score,
        "risk_percentile": pred.risk_percentile,
        "risk_group": pred.risk_group,
        "warnings": pred.warnings,
    }
    if args.save_study:
        result["saved"] = saved
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for seq, s in result["sequences"].items():
            print(f"{seq:6s} {s['file']}: shape {tuple(s['shape'])}, spacing {tuple(s['spacing_mm'])} mm, "
                  f"{s['orientation']} (file {s['source_orientation']})")
        print("prediction:", pred.predicted_class)
        for c, v in pred.probabilities.items():
            print(f"  {c}: {v:.3f}")
        print("sequence weights:", ", ".join(f"{k} {v:.2f}" for k, v in pred.sequence_weights.items()))
        print(f"risk score {pred.risk_score:.3f} ({pred.risk_group} risk, "
              f"percentile {pred.risk_percentile:.0f} of training patients)")
        for w in pred.warnings:
            print("warning:", w)
        for path in saved:
            print("saved:", path)
    return 0


if __name__ == "__main__":
    import warnings

    from model.core.warnings import TumorBoardWarning

    # The study's warnings are printed as "warning:" lines; a refusal stays exactly one line.
    warnings.simplefilter("ignore", TumorBoardWarning)
    sys.exit(main())
