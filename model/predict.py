"""Command line: load a study and analyse it, with the same code the app uses.

    python -m model.predict [SEQ=]PATH... [--checkpoint DIR] [--json] [--save-study DIR]
        [--save-mask DIR] [--age Y --sex F|M --type T --grade G --idh S --codeletion S
         --mgmt S --kps N --resection R]

PATH is a file (NIfTI-1/2, MGH/MGZ, Analyze .hdr with its .img beside it, DICOM, PNG/JPEG), a
DICOM folder or a .zip (one series or a whole study). ``SEQ=`` (T1, T1ce, T2, FLAIR) overrides
the sequence recognised from the file name or DICOM series description; for a file or folder
holding several volumes (4D channels, several series) give one per volume in order, e.g.
``FLAIR,T1,T1ce,T2=brats.nii.gz`` (``-`` skips one). Each sequence is reported as loaded: RAS,
on its own grid, before any resampling for the model. ``--save-study DIR`` writes each loaded
sequence as ``DIR/<SEQ>.nii.gz`` (RAS NIfTI) so what the app saw can be checked and reused.

What is printed is :class:`model.analysis.StudyAnalysis` (``--json``: its ``to_dict()``), the
same as the Prediction page and the PDF: ``tumour`` (``volume_ml``, ``extent_mm``,
``bidimensional_mm2``, ``centroid_mm``, ``side``, ``sequences_used``), ``scope``,
``tumour_type`` with its evidence, ``prognosis`` from the clinical flags, the experimental
``grade`` with ``uncertainty``, and ``caveats`` (= ``warnings``: every caveat the page shows).
``--save-mask DIR`` writes the tumour mask as ``DIR/tumour_mask.nii.gz`` (uint8 RAS NIfTI on
the reference sequence's grid: mask voxels x voxel volume = ``volume_ml``).
``--save-seg DIR`` (DICOM studies) writes it as a DICOM Segmentation ``DIR/tumour_seg.dcm`` (highdicom)
referencing the source series, with no patient details.

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


#: flag -> clinical input key (model.analysis.CLINICAL_KEYS).
CLINICAL_FLAGS = {"age": "age_years", "sex": "sex", "type": "tumour_type", "grade": "grade",
                  "idh": "idh", "codeletion": "codeletion_1p19q", "mgmt": "mgmt", "kps": "karnofsky",
                  "resection": "resection"}
MASK_FILE = "tumour_mask.nii.gz"
SEG_FILE = "tumour_seg.dcm"


def build_models(checkpoint: str | None = None) -> dict:
    """The served models :func:`model.analysis.analyse` needs (the CLI's; tests replace it).

    Raises CheckpointError when the grade checkpoint fails verification."""
    from model.analysis import load_segmenter
    from model.inference.classify import Predictor
    from model.inference.tumour_type import TumourTypeClassifier

    segmenter, why = load_segmenter()
    return {"predictor": Predictor(checkpoint), "segmenter": segmenter, "segmenter_reason": why,
            "type_model": TumourTypeClassifier()}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m model.predict", description=__doc__.split("\n")[0])
    p.add_argument("inputs", nargs="+", metavar="[SEQ=]PATH",
                   help="file, DICOM folder or zip; SEQ may be a comma list for several volumes")
    p.add_argument("--checkpoint", default=None, help="grade checkpoint folder (default: the app's)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--save-study", metavar="DIR", default=None,
                   help="write each loaded sequence as DIR/<SEQ>.nii.gz (RAS)")
    p.add_argument("--save-mask", metavar="DIR", default=None,
                   help=f"write the tumour mask as DIR/{MASK_FILE} (RAS, reference grid)")
    p.add_argument("--save-seg", metavar="DIR", default=None,
                   help=f"DICOM studies: write the mask as a DICOM Segmentation DIR/{SEG_FILE} "
                        "referencing the source series (no patient details)")
    g = p.add_argument_group("clinical inputs (for the prognosis)")
    g.add_argument("--age", type=float, help="age at diagnosis, years")
    g.add_argument("--sex", help="female / male")
    g.add_argument("--type", help="tumour type, e.g. glioma, glioblastoma, astrocytoma, metastasis")
    g.add_argument("--grade", help="WHO CNS grade 2 / 3 / 4")
    g.add_argument("--idh", help="mutant / wildtype")
    g.add_argument("--codeletion", help="1p/19q: codeleted / intact")
    g.add_argument("--mgmt", help="methylated / unmethylated")
    g.add_argument("--kps", type=float, help="Karnofsky performance score 0-100")
    g.add_argument("--resection", help="GTR / STR / biopsy")
    return p


def main(argv: list[str] | None = None, models: dict | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 unusable input or checkpoint).

    ``models``: what :func:`build_models` returns (tests pass their own)."""
    args = _parser().parse_args(argv)

    from model.analysis import analyse
    from model.imaging.study import Study

    clinical = {key: getattr(args, flag) for flag, key in CLINICAL_FLAGS.items()
                if getattr(args, flag) is not None}
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
        models = models or build_models(args.checkpoint)
        analysis = analyse(study, clinical, **models)
    except (StudyError, CheckpointError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = analysis.to_dict()
    result["checkpoint"] = models["predictor"].card.get("name")
    if args.save_mask:
        lm = analysis.tumour.labelmap
        if lm is None:
            result["caveats"].append(f"No mask written: {analysis.tumour.message}")
        else:
            from pathlib import Path

            from model.views.export_mask import labelmap_to_nifti_bytes

            try:
                out = Path(args.save_mask)
                out.mkdir(parents=True, exist_ok=True)
                (out / MASK_FILE).write_bytes(labelmap_to_nifti_bytes(lm))
            except OSError as exc:
                print(f"error: cannot write to {args.save_mask}: {exc.strerror or exc}.", file=sys.stderr)
                return 2
            saved.append(str(out / MASK_FILE))
    if args.save_seg:
        lm = analysis.tumour.labelmap
        from model.views.export_mask import labelmap_to_dicom_seg, study_reference

        ref = study_reference(study, lm) if lm is not None else None
        if lm is None:
            result["caveats"].append(f"No DICOM SEG written: {analysis.tumour.message}")
        elif ref is None:
            result["caveats"].append("No DICOM SEG written: the study did not come as DICOM "
                                     "(use --save-mask for a NIfTI mask).")
        else:
            from pathlib import Path

            try:
                out = Path(args.save_seg)
                out.mkdir(parents=True, exist_ok=True)
                (out / SEG_FILE).write_bytes(labelmap_to_dicom_seg(lm, ref))
            except OSError as exc:
                print(f"error: cannot write to {args.save_seg}: {exc.strerror or exc}.", file=sys.stderr)
                return 2
            saved.append(str(out / SEG_FILE))
    if saved:
        result["saved"] = saved
    if args.json:
        print(json.dumps(result, indent=2, allow_nan=False))
        return 0
    from model.views import prediction_figures as pf

    for seq, s in study.summary().items():
        print(f"{seq:6s} {s['file']}: shape {tuple(s['shape'])}, spacing {tuple(s['spacing_mm'])} mm, "
              f"{s['orientation']} (file {s['source_orientation']})")
    for title, lines in (("tumour", pf.tumour_lines(analysis)), ("tumour type", pf.type_lines(analysis)),
                         ("scope", pf.scope_lines(analysis)),
                         ("prognosis", pf.prognosis_lines(analysis)),
                         ("experimental WHO grade II/III", pf.grade_lines(analysis))):
        print(f"{title}:")
        for line in lines:
            print("  " + line)
    for w in result["caveats"]:
        print("caveat:", w)
    for path in saved:
        print("saved:", path)
    return 0


if __name__ == "__main__":
    import warnings

    from model.core.warnings import TumorBoardWarning

    # The study's warnings are printed as "caveat:" lines; a refusal stays exactly one line.
    warnings.simplefilter("ignore", TumorBoardWarning)
    sys.exit(main())
