"""Display tables (pandas DataFrames of formatted text) built from results and model cards.

The pages show these with ``st.dataframe``; nothing here computes a statistic, every number
comes from a prediction, a timeline or a file that training wrote.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

__all__ = ["fmt_num", "fmt_ci", "study_summary_table", "alignment_table", "timeline_table",
           "longitudinal_comparison_table", "metrics_table", "cv_table", "attribution_eval_table",
           "CROSS_COHORT_GRID"]


# The cross-cohort table (10 columns) at 1366 px: fixed widths that add up to the page's and
# taller rows, in which Streamlit wraps text (row_height > 64 px), so no column scrolls away.
_CI = "bootstrap 95% CI in brackets"
#: ``st.dataframe`` keyword arguments for :func:`model.survival.clinical_tables.cross_cohort_table`
#: (Survival and Model pages): plain data, no Streamlit import.
CROSS_COHORT_GRID = dict(row_height=66, column_config={
    "inputs": {"width": 120}, "trained \u2192 tested": {"width": 150}, "patients": {"width": 62},
    "deaths": {"width": 55}, "AUC 1y": {"width": 56}, "AUC 2y": {"width": 56}, "AUC 5y": {"width": 56},
    "Harrell C (95% CI)": {"label": "Harrell C", "width": 112, "help": _CI},
    "Uno C (95% CI)": {"label": "Uno C", "width": 112, "help": _CI},
    "calibration slope (95% CI)": {"label": "calibration slope", "width": 112, "help": _CI + "; 1 = ideal"}})


def fmt_num(value: Any, spec: str = ".2f") -> str:
    """A number for display: ``"n/a"`` when missing, None (strict-JSON NaN) or not finite.

    Parameters
    ----------
    value : object
        Anything :func:`float` accepts.
    spec : str
        Format specification, default two decimals.

    Returns
    -------
    str
    """
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "n/a"
    return format(v, spec) if math.isfinite(v) else "n/a"


def fmt_ci(c: float | None, lo: float | None, hi: float | None) -> str:
    """``"0.712 [0.60, 0.81]"``: an estimate with its confidence interval, ``"n/a"`` when the
    estimate is missing or not finite; the interval is left out when ``lo`` is."""
    if c is None or not math.isfinite(c):
        return "n/a"
    ci = f" [{lo:.2f}, {hi:.2f}]" if lo is not None and math.isfinite(lo) else ""
    return f"{c:.3f}{ci}"


#: ``Volume.summary()`` field -> column name on the pages (other fields: underscores as spaces).
SUMMARY_LABELS = {"shape": "voxels", "spacing_mm": "spacing (mm)", "orientation": "orientation",
                  "source_orientation": "as stored", "file": "file", "format": "format",
                  "warnings": "warnings", "geometry_known": "geometry"}


def _summary_cell(key: str, value: Any) -> Any:
    if key == "shape":
        return " x ".join(str(int(n)) for n in value)
    if key == "spacing_mm":
        return " x ".join(fmt_num(x) for x in value)
    if key == "geometry_known":
        return "known" if value else "unknown (placeholder)"
    if isinstance(value, (list, tuple)):
        return "; ".join(map(str, value)) or "none"
    return value


def study_summary_table(study, drop: tuple[str, ...] = ()) -> pd.DataFrame:
    """One row per sequence of ``study.summary()``, in words: ``voxels`` ("240 x 240 x 155"),
    ``spacing (mm)`` ("1.00 x 1.00 x 1.00"), ``orientation``, ``as stored`` (the file's own
    orientation), ``file``, ``format``, ``geometry`` ("known" / "unknown (placeholder)"), ...
    (:data:`SUMMARY_LABELS`), without the fields in ``drop`` (summary names, ignored when
    absent), and ``alignment`` ("reference", "registered (rigid)", "already aligned", "NOT
    aligned: ...") when the sequences were registered (``study.alignment``, not on one grid).
    Index: the sequence, named ``sequence``."""
    rows = {seq: {SUMMARY_LABELS.get(k, k.replace("_", " ")): _summary_cell(k, v)
                  for k, v in info.items() if k not in drop}
            for seq, info in study.summary().items()}
    report = getattr(study, "alignment", None)
    if report is not None and report.sequences and "alignment" not in drop:
        for seq, row in rows.items():
            a = report.get(seq)
            row["alignment"] = "reference" if seq == report.reference else (
                a.row()["result"] if a is not None else "")
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("sequence")


def alignment_table(report) -> pd.DataFrame:
    """The Study page's alignment table: one row per non-reference sequence of an
    :class:`model.imaging.register.AlignmentReport` (``study.alignment``): sequence, onto,
    result, rotation (°), shift (mm, at the reference centre), NMI and head Dice before /
    after (3 decimals; empty where nothing was registered)."""
    return pd.DataFrame(report.rows())


def timeline_table(timeline: pd.DataFrame) -> pd.DataFrame:
    """The visits of one patient's timeline (:func:`model.inference.longitudinal.predict_timeline`).

    Returns
    -------
    DataFrame
        Columns ``time point``, ``week`` (since the first visit), ``RANO`` ("missing" when not
        rated), ``death HR`` (2 decimals) and ``progression HR`` (text; "after progression" once
        a visit was rated PD: nothing is left to predict for that endpoint).
    """
    tl = timeline
    return pd.DataFrame({
        "time point": tl["Timepoint"], "week": tl["week"],
        "RANO": [r if isinstance(r, str) else "missing" for r in tl["rating"]],
        "death HR": tl["os_hr"].round(2),
        "progression HR": [("after progression" if p else f"{h:.2f}")
                           for h, p in zip(tl["ttp_hr"], tl["progressed"])],
    })


_LONGITUDINAL_MODELS = {"network": "LSTM over visits", "cox_baseline": "Cox, baseline visit",
                        "cox_locf": "Cox, last observation (time-varying)"}
_ENDPOINTS = {"os": "overall survival", "ttp": "time to progression"}


def longitudinal_comparison_table(card: dict) -> pd.DataFrame:
    """The longitudinal model card's held-out comparison (``card["comparison"]``, written by
    ``training.longitudinal``): C-index with its 95% bootstrap CI per endpoint, prediction time
    and model, and the paired difference to the LSTM."""
    rows = [{
        "endpoint": _ENDPOINTS.get(r["endpoint"], r["endpoint"]),
        "prediction time": r["prediction_time"], "model": _LONGITUDINAL_MODELS.get(r["model"], r["model"]),
        "patients": r["n_patients"], "events": r["events"],
        "C-index": fmt_ci(r["c_index"], r["ci95_low"], r["ci95_high"]),
        "LSTM minus this": (fmt_ci(r["network_minus_this"], r["delta_ci95_low"], r["delta_ci95_high"])
                            if "network_minus_this" in r else ""),
    } for r in card.get("comparison", [])]
    return pd.DataFrame(rows)


def metrics_table(card: dict) -> pd.DataFrame:
    """Patient-level metrics per split of a classifier's model card (``card["metrics"]``):
    accuracy, ROC AUC, macro F1 and C-index, each with its 95% bootstrap CI when the card has
    one (3 decimals, CI 2)."""
    rows = []
    for split, m in card.get("metrics", {}).items():
        def fmt(k: str, m=m) -> str:
            if m.get(k) is None:
                return "n/a"
            ci = m.get(k + "_ci95")
            return fmt_num(m[k], ".3f") + (f" [{fmt_num(ci[0])}, {fmt_num(ci[1])}]" if ci else "")

        rows.append({"split": split, "patients": m.get("n_patients"), "accuracy": fmt("accuracy"),
                     "ROC AUC": fmt("roc_auc"), "F1 (macro)": fmt("f1_macro"), "C-index": fmt("c_index")})
    return pd.DataFrame(rows)


def cv_table(cv: dict) -> pd.DataFrame:
    """The design comparison of ``cv.json`` (``training.cv``): one row per design with pooled
    out-of-fold AUC and C-index [95% CI], paired differences to the served design, fold means
    ± s.d., folds done and training time; column ``id`` is the design's key in ``cv.json``."""
    def ms(v: dict, k: str) -> str:
        m, sd = v["mean"].get(k), v["sd"].get(k)
        return "n/a" if fmt_num(m) == "n/a" else f"{fmt_num(m)} ± {fmt_num(sd)}"

    def ci(v: dict, k: str) -> str:
        p, c = v["pooled"].get(k), v["pooled"].get(k + "_ci95")
        return (fmt_num(p) + (f" [{fmt_num(c[0])}, {fmt_num(c[1])}]" if c else "")
                if p is not None else "n/a")

    def diff(v: dict, k: str) -> str:
        d = v.get("minus_reference", {}).get(k)
        return "" if not d else f"{d['difference']:+.2f} [{d['ci95'][0]:+.2f}, {d['ci95'][1]:+.2f}]"

    rows = [{"design": v.get("name", name),
             "pooled AUC [95% CI]": ci(v, "roc_auc"), "AUC minus served": diff(v, "roc_auc"),
             "AUC (mean ± sd of folds)": ms(v, "roc_auc"), "accuracy (mean ± sd)": ms(v, "accuracy"),
             "F1 macro (mean ± sd)": ms(v, "f1_macro"), "C-index (mean ± sd)": ms(v, "c_index"),
             "pooled C [95% CI]": ci(v, "c_index"), "C minus served": diff(v, "c_index"),
             "ECE (mean ± sd)": ms(v, "ece"), "folds": len(v.get("folds_done", [])),
             "train s/fold": (f"{sum(v['train_seconds']) / len(v['train_seconds']):.0f}"
                              if v.get("train_seconds") else ""),
             "what": v.get("description", "") + (f" ({v['note']})" if v.get("note") else ""),
             "id": name}
            for name, v in cv["variants"].items()]
    return pd.DataFrame(rows)


def attribution_eval_table(ev: dict) -> pd.DataFrame:
    """The attribution check of ``attribution_eval.json`` (``training.attribution_eval``): per
    method, deletion and insertion AUC against random blocks and the left-right mirrored map,
    the randomisation Spearman correlations and seconds per case."""
    rnd = ev["random"]
    n = ev["n_patients"]

    def fmt(v):
        return "n/a" if v is None else f"{v:.2f}"

    rows = []
    for m, r in ev["methods"].items():
        rz = ev.get("randomisation", {}).get(m, {})
        rows.append({"method": m,
                     "deletion AUC (lower better)": f"{r['deletion_auc']:.3f}",
                     "random": f"{rnd['deletion_auc']:.3f}",
                     "insertion AUC (higher better)": f"{r['insertion_auc']:.3f}",
                     "random ": f"{rnd['insertion_auc']:.3f}",
                     "beats random (deletion)": f"{r['beats_random_deletion']}/{n}",
                     "deletion, map mirrored L-R": (f"{r['deletion_auc_mirrored']:.3f}"
                                                    if "deletion_auc_mirrored" in r else "n/a"),
                     "beats mirrored (del./ins.)": (f"{r['beats_mirrored_deletion']}/{n}, "
                                                    f"{r['beats_mirrored_insertion']}/{n}"
                                                    if "beats_mirrored_deletion" in r else "n/a"),
                     "Spearman vs random head": fmt(rz.get("head")),
                     "vs random weights": fmt(rz.get("full")),
                     "s per case": f"{r['seconds_per_case']:.1f}"})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- segmentation and tumour-type cards
# (Model page, agent J) Every number comes from the cards that training wrote next to the
# checkpoints: segment_lgg/model_card.json, type_figshare/{model_card,cv,study_eval,
# ood_mahalanobis,path_check}.json. Goals and published anchors are the issues' (13, 14).
__all__ += ["SEGMENT_DICE_GOAL", "segment_dice_table", "segment_cv_table",
            "segment_postprocessing_table", "segment_subset_table", "segment_error_table",
            "segment_brats_table", "segment_time_table", "type_cv_summary_table",
            "type_anchor_table", "type_study_table", "type_path_variants_table",
            "type_scope_table", "type_path_check_table"]

#: Issue 13's goal: mean Dice on patients the model never saw.
SEGMENT_DICE_GOAL = 0.85


def _ci(value: Any, ci: Any, spec: str = ".3f") -> str:
    """``"0.732 [0.64, 0.82]"``; the bracket only when ``ci`` is a pair of numbers."""
    text = fmt_num(value, spec)
    if text != "n/a" and isinstance(ci, (list, tuple)) and len(ci) == 2 and fmt_num(ci[0]) != "n/a":
        text += f" [{fmt_num(ci[0])}, {fmt_num(ci[1])}]"
    return text


def _pct(value: Any, spec: str = ".1f") -> str:
    v = fmt_num(value, spec)
    return "n/a" if v == "n/a" else f"{float(value) * 100:{spec}} %"


def segment_dice_table(card: dict, goal: float = SEGMENT_DICE_GOAL) -> pd.DataFrame:
    """Per-patient Dice of the segmentation card next to its anchors and the goal.

    Rows: the held-out test patients, the chosen design's out-of-fold CV, every entry of
    ``card["metrics"]["anchors"]`` (Buda et al. 2019, inter-reader agreement) and the goal;
    columns ``mean Dice [95% CI]``, ``median Dice [95% CI]`` and ``reaches the goal``.
    """
    m = card.get("metrics", {})
    test = m.get("test", {})
    cv = card.get("cv", {})
    chosen = cv.get("chosen_design")
    cvd = cv.get("designs", {}).get(chosen, {})

    def meets(v: Any) -> str:
        return "n/a" if fmt_num(v) == "n/a" else ("yes" if float(v) >= goal else "no")

    rows = [{"what": f"TumorBoard, held-out test patients (never seen), {chosen} design",
             "patients": str(test.get("n_patients", "")),
             "mean Dice [95% CI]": _ci(test.get("dice_mean"), test.get("dice_ci95")),
             "median Dice [95% CI]": _ci(test.get("dice_median"), test.get("dice_median_ci95")),
             "reaches the goal": meets(test.get("dice_mean"))}]
    if cvd:
        rows.append({"what": f"TumorBoard, {cv.get('k')}-fold CV out-of-fold (development patients), {chosen}",
                     "patients": str(cvd.get("n_patients", "")),
                     "mean Dice [95% CI]": _ci(cvd.get("dice_mean"), cvd.get("dice_ci95")),
                     "median Dice [95% CI]": _ci(cvd.get("dice_median"), cvd.get("dice_median_ci95")),
                     "reaches the goal": meets(cvd.get("dice_mean")) + " (not held out)"})
    for name, a in m.get("anchors", {}).items():
        rows.append({"what": name, "patients": None,
                     "mean Dice [95% CI]": fmt_num(a.get("dice_mean"), ".3f"),
                     "median Dice [95% CI]": fmt_num(a.get("dice_median"), ".3f"),
                     "reaches the goal": "anchor"})
    rows.append({"what": "Project goal: mean Dice on patients never seen", "patients": None,
                 "mean Dice [95% CI]": f">= {goal:.2f}", "median Dice [95% CI]": "",
                 "reaches the goal": ""})
    return pd.DataFrame(rows).astype(str).replace({"None": "", "nan": ""})


def segment_cv_table(card: dict, cv_file: dict | None = None) -> pd.DataFrame:
    """The segmentation design comparison (``card["cv"]``): one row per design with out-of-fold
    mean / median Dice [95% CI], median volume error, tumour-free slices with any predicted
    voxel, seconds per training run (from ``cv_file``, the checkpoint's ``cv.json``, when given)
    and whether it was served; then the paired difference."""
    cv = card.get("cv", {})
    secs = (cv_file or {}).get("train_seconds_per_run", cv.get("train_seconds_per_run", {}))
    rows = [{"design": name, "patients": str(d.get("n_patients", "")),
             "mean Dice [95% CI]": _ci(d.get("dice_mean"), d.get("dice_ci95")),
             "median Dice [95% CI]": _ci(d.get("dice_median"), d.get("dice_median_ci95")),
             "volume error (median)": (fmt_num(d.get("volume_error_pct_median"), ".1f") + " %"
                                       if d.get("volume_error_pct_median") is not None else "n/a"),
             "tumour-free slices with a prediction": _pct(d.get("share_tumour_free_slices_with_prediction")),
             "train s/run": fmt_num(secs.get(name), ".0f"),
             "served": "yes" if name == cv.get("chosen_design") else "no"}
            for name, d in cv.get("designs", {}).items()]
    diff = cv.get("flair_minus_stacked")
    if diff:
        lo, hi = diff.get("ci95", [None, None])
        rows.append({"design": "flair minus stacked (paired bootstrap)", "patients": None,
                     "mean Dice [95% CI]": f"{diff['mean_diff']:+.3f} [{lo:+.3f}, {hi:+.3f}]",
                     "median Dice [95% CI]": "",
                     "volume error (median)": "", "tumour-free slices with a prediction": "",
                     "train s/run": "",
                     "served": "CI excludes 0" if diff.get("excludes_0") else "CI includes 0"})
    return pd.DataFrame(rows).astype(str).replace({"None": "", "nan": ""})


def segment_postprocessing_table(card: dict) -> pd.DataFrame:
    """Post-processing candidates of the chosen design (``card["cv"]["postprocessing"]``):
    out-of-fold mean Dice after it, paired difference [95% CI] and whether it was chosen."""
    cv = card.get("cv", {})
    rows = []
    for name, p in cv.get("postprocessing", {}).items():
        lo, hi = p.get("ci95", [math.nan, math.nan])
        rows.append({"post-processing": name, "mean Dice after": fmt_num(p.get("dice_mean"), ".3f"),
                     "difference [95% CI]": f"{p['mean_diff']:+.4f} [{lo:+.4f}, {hi:+.4f}]",
                     "CI excludes 0": "yes" if p.get("excludes_0") else "no",
                     "served": "yes" if name == cv.get("chosen_postprocessing") else "no"})
    return pd.DataFrame(rows)


def segment_subset_table(card: dict) -> pd.DataFrame:
    """Held-out test Dice per available-sequence subset (``card["metrics"]["test_per_subset"]``:
    the same patients with the other sequences removed)."""
    rows = [{"sequences given": name, "patients": s.get("n_patients"),
             "mean Dice [95% CI]": _ci(s.get("dice_mean"), s.get("dice_ci95")),
             "median Dice": fmt_num(s.get("dice_median"), ".3f")}
            for name, s in card.get("metrics", {}).get("test_per_subset", {}).items()]
    return pd.DataFrame(rows)


def segment_error_table(card: dict) -> pd.DataFrame:
    """Volume error, tumour-free slices and HD95 on the held-out test patients and in CV
    (chosen design). HD95 is shown as unknown where the card has null (placeholder geometry)."""
    test = card.get("metrics", {}).get("test", {})
    cv = card.get("cv", {})
    cvd = cv.get("designs", {}).get(cv.get("chosen_design"), {})

    def hd(v: Any) -> str:
        return "unknown: placeholder geometry (TCGA voxel sizes not known)" if v is None else f"{v:.1f} mm"

    quantities = [
        ("median absolute volume error (voxel count ratio)",
         lambda d: fmt_num(d.get("volume_error_pct_median"), ".1f") + " %"),
        ("slices without tumour (ground truth)", lambda d: str(d.get("tumour_free_slices", "n/a"))),
        ("of these, slices with any predicted voxel", lambda d: _pct(d.get("share_tumour_free_slices_with_prediction"))),
        ("false-positive voxels per tumour-free slice", lambda d: fmt_num(d.get("fp_voxels_per_tumour_free_slice"), ".1f")),
        ("HD95 (median)", lambda d: hd(d.get("hd95_mm_median"))),
    ]
    return pd.DataFrame([{"quantity": q, f"held-out test ({test.get('n_patients')} patients)": f(test),
                          f"CV out-of-fold ({cvd.get('n_patients')} patients)": f(cvd)}
                         for q, f in quantities])


def segment_brats_table(card: dict) -> pd.DataFrame:
    """Transfer to BraTS 2018 (``card["metrics"]["brats_transfer"]``): per case and setting
    (plane mode / sequences given) Dice, HD95 and predicted vs ground-truth volume; then the
    mean of the cases per setting, the served plane mode marked."""
    m = card.get("metrics", {})
    served = card.get("plane_mode")
    rows = []
    for case, settings in m.get("brats_transfer", {}).items():
        for setting, r in settings.items():
            rows.append({"case": case, "setting": setting, "Dice": fmt_num(r.get("dice"), ".3f"),
                         "HD95 (mm)": fmt_num(r.get("hd95_mm"), ".1f"),
                         "predicted mL": fmt_num(r.get("pred_volume_ml"), ".1f"),
                         "ground truth mL": fmt_num(r.get("gt_volume_ml"), ".1f"),
                         "served plane mode": "yes" if setting.split(" / ")[0] == served else "no"})
    for setting, s in m.get("brats_transfer_summary", {}).items():
        rows.append({"case": "mean of the cases", "setting": setting,
                     "Dice": fmt_num(s.get("dice_mean"), ".3f"),
                     "HD95 (mm)": fmt_num(s.get("hd95_mm_mean"), ".1f"), "predicted mL": "",
                     "ground truth mL": "",
                     "served plane mode": "yes" if setting.split(" / ")[0] == served else "no"})
    return pd.DataFrame(rows)


def segment_time_table(card: dict) -> pd.DataFrame:
    """Training times of the segmentation card (``card["training"]``), seconds and minutes."""
    t = card.get("training", {})
    cv = card.get("cv", {})
    rows = [("final model: " + f"{t.get('steps')} steps of {t.get('batch')} slices, {t.get('threads')} thread",
             t.get("train_seconds")),
            ("final model including its held-out evaluation", t.get("total_seconds_incl_evaluation")),
            (f"design cross-validation ({cv.get('k')} folds x {len(cv.get('designs', {}))} designs, "
             f"{cv.get('steps_per_run')} steps each)", t.get("cv_seconds"))]
    return pd.DataFrame([{"run": r, "seconds": fmt_num(s, ".0f"),
                          "minutes": fmt_num(None if s is None else s / 60, ".1f")} for r, s in rows])


def type_cv_summary_table(cv: dict) -> pd.DataFrame:
    """Tumour-type cross-validation (``type_figshare/cv.json``): per design pooled out-of-fold
    accuracy [95% CI], macro F1, ROC AUC [95% CI], ECE, and the fold mean ± sd of each (the file
    has no bootstrap CI for macro F1: its fold spread is shown)."""
    def ms(v: dict, k: str) -> str:
        m, sd = v.get("mean", {}).get(k), v.get("sd", {}).get(k)
        return "n/a" if fmt_num(m) == "n/a" else f"{fmt_num(m, '.3f')} ± {fmt_num(sd, '.3f')}"

    rows = []
    for name, v in cv.get("variants", {}).items():
        p = v.get("pooled", {})
        rows.append({"design": v.get("name", name), "patients": p.get("n_patients"),
                     "accuracy [95% CI]": _ci(p.get("accuracy"), p.get("accuracy_ci95")),
                     "accuracy (mean ± sd of folds)": ms(v, "accuracy"),
                     "F1 macro": fmt_num(p.get("f1_macro"), ".3f"),
                     "F1 macro (mean ± sd of folds)": ms(v, "f1_macro"),
                     "ROC AUC [95% CI]": _ci(p.get("roc_auc"), p.get("roc_auc_ci95")),
                     "ECE": fmt_num(p.get("ece"), ".3f"), "folds": len(v.get("folds_done", [])),
                     "id": name})
    return pd.DataFrame(rows)


#: Published anchors of issue 14 (patient-level 5-fold CV on the same figshare data).
TYPE_ANCHORS = (("Swati et al. 2019 (VGG19, ImageNet transfer)", "0.948"),
                ("Deepak & Ameer 2019 (GoogLeNet, ImageNet transfer)", "about 0.97"),
                ("Badža & Barjaktarović 2020 (from scratch, subject-wise)", "0.885"))


def type_anchor_table(cv: dict, card: dict) -> pd.DataFrame:
    """Our tumour-type accuracy (CV pooled and the held-out test split of ``card``) next to the
    published anchors and issue 14's goal (accuracy and macro F1 >= 0.95, ECE <= 0.05)."""
    v = cv.get("variants", {}).get("2d", {})
    p = v.get("pooled", {})
    test = card.get("metrics", {}).get("test", {})
    ok = (p.get("accuracy") is not None and p["accuracy"] >= 0.95 and (p.get("f1_macro") or 0) >= 0.95
          and p.get("ece") is not None and p["ece"] <= 0.05)
    rows = [{"what": f"TumorBoard, 5-fold CV on the published folds ({p.get('n_patients')} patients)",
             "patient accuracy": _ci(p.get("accuracy"), p.get("accuracy_ci95")),
             "macro F1": fmt_num(p.get("f1_macro"), ".3f"), "ECE": fmt_num(p.get("ece"), ".3f")},
            {"what": f"TumorBoard served checkpoint, held-out test ({test.get('n_patients')} patients)",
             "patient accuracy": _ci(test.get("accuracy"), test.get("accuracy_ci95")),
             "macro F1": fmt_num(test.get("f1_macro"), ".3f"), "ECE": fmt_num(test.get("ece"), ".3f")}]
    rows += [{"what": name, "patient accuracy": acc, "macro F1": "", "ECE": ""} for name, acc in TYPE_ANCHORS]
    rows.append({"what": "Project goal: accuracy and macro F1 >= 0.95, ECE <= 0.05 "
                         f"({'met' if ok else 'not met'} in CV)",
                 "patient accuracy": ">= 0.95", "macro F1": ">= 0.95", "ECE": "<= 0.05"})
    return pd.DataFrame(rows)


def type_study_table(study_eval: dict, goal: float = 0.90) -> pd.DataFrame:
    """Share of 3D glioma studies called glioma (``study_eval.json``): before (the old 3D path),
    each data set with the served slice path, all together, with the scope rule; ``goal`` is
    issue 14's (0.90)."""
    before = study_eval.get("before", {}).get("glioma_fraction_tcga_lgg")
    rows = []
    if before:
        rows.append({"studies": "before: " + study_eval["before"].get("what", "old 3D path"), "n": "",
                     "called glioma": "", "glioma fraction": f"{before[0]:.2f}-{before[1]:.2f}"})
    for name, d in study_eval.get("datasets", {}).items():
        rows.append({"studies": name, "n": d.get("n_studies"), "called glioma": d.get("n_glioma"),
                     "glioma fraction": fmt_num(d.get("glioma_fraction"))})
    if "n_studies" in study_eval:
        rows.append({"studies": "all 3D gliomas", "n": study_eval["n_studies"],
                     "called glioma": study_eval.get("n_glioma"),
                     "glioma fraction": fmt_num(study_eval.get("glioma_fraction"))})
    sr = study_eval.get("with_scope_rule")
    if sr:
        rows.append({"studies": "kept by the scope rule", "n": sr.get("n_kept"), "called glioma": "",
                     "glioma fraction": fmt_num(sr.get("glioma_fraction_kept"))})
        rows.append({"studies": "refused by the scope rule", "n": sr.get("n_refused"), "called glioma": "",
                     "glioma fraction": fmt_num(sr.get("glioma_fraction_refused"))})
    frac = study_eval.get("glioma_fraction")
    rows.append({"studies": f"Project goal: glioma fraction >= {goal:.2f}"
                            + ("" if frac is None else f" ({'met' if frac >= goal else 'not met'})"),
                 "n": "", "called glioma": "", "glioma fraction": f">= {goal:.2f}"})
    return pd.DataFrame(rows).astype(str).replace({"None": "", "nan": ""})


def type_path_variants_table(study_eval: dict) -> pd.DataFrame:
    """The three slice-path variants measured on the same 3D gliomas (``study_eval["variants"]``):
    glioma fraction per data set; the served variant marked."""
    served = study_eval.get("variant")
    rows = []
    for variant, sets in study_eval.get("variants", {}).items():
        for name, d in sets.items():
            rows.append({"slice path": variant, "studies": name, "n": d.get("n_studies"),
                         "glioma fraction": fmt_num(d.get("glioma_fraction")),
                         "served": "yes" if variant == served else "no"})
    return pd.DataFrame(rows)


_SCOPE_GROUPS = {"in_distribution_3d": "3D gliomas (in scope)",
                 "figshare_out_of_fold": "figshare patients, out of fold (in scope)",
                 "metastasis": "BraTS metastasis (out of scope)",
                 "non_brain": "non-brain MR pictures (out of scope)",
                 "tumour_free": "tumour-free slices of the 3D gliomas (out of scope)"}


def type_scope_table(ood: dict) -> pd.DataFrame:
    """Separation of the scope rule (``ood_mahalanobis.json``, ``meta.separation``): per group
    its count, how many the rule refuses, median score and AUROC against the in-scope 3D studies.
    """
    sep = ood.get("meta", {}).get("separation", {})
    rows = []
    for key in ("in_distribution_3d", "figshare_out_of_fold"):
        g = sep.get(key)
        if g:
            rows.append({"group": _SCOPE_GROUPS[key], "n": g.get("n"),
                         "refused / flagged": g.get("refused"),
                         "median score": fmt_num(g.get("median_score"), ".1f"),
                         "AUROC vs 3D gliomas": ""})
    for key, g in sep.get("out_of_scope", {}).items():
        rows.append({"group": _SCOPE_GROUPS.get(key, key), "n": g.get("n"),
                     "refused / flagged": g.get("flagged"), "median score": "",
                     "AUROC vs 3D gliomas": fmt_num(g.get("auroc_vs_in_3d"))})
    for key, label in (("auroc_all_out_vs_in_3d", "all out-of-scope vs 3D gliomas"),
                       ("auroc_all_out_vs_figshare_oof", "all out-of-scope vs figshare out of fold")):
        if key in sep:
            rows.append({"group": label, "n": "", "refused / flagged": "", "median score": "",
                         "AUROC vs 3D gliomas": fmt_num(sep[key])})
    return pd.DataFrame(rows).astype(str).replace({"None": "", "nan": ""})


def type_path_check_table(path_check: dict, served: str | None = None) -> pd.DataFrame:
    """The slice paths on the served model's own held-out figshare patients (``path_check.json``):
    patient accuracy [95% CI], macro F1, slice accuracy; ``served`` marks the 3D path served."""
    rows = [{"slice path": name, "patients": v.get("n_patients"),
             "accuracy [95% CI]": _ci(v.get("accuracy"), v.get("accuracy_ci95")),
             "macro F1": fmt_num(v.get("f1_macro"), ".3f"),
             "slice accuracy": fmt_num(v.get("slice_accuracy"), ".3f"), "slices": v.get("n_slices"),
             "served for 3D studies": "yes" if name == served else "no"}
            for name, v in path_check.get("variants", {}).items()]
    return pd.DataFrame(rows)


__all__ += ["inputs_table", "settings_text"]


def inputs_table(inputs: dict) -> pd.DataFrame:
    """A model card's ``inputs`` (``sequences_used``, ``sequences_ignored``, ``format``...) as
    two columns, lists joined with commas, keys in words."""
    return pd.DataFrame([{"input": str(k).replace("_", " "),
                          "value": ", ".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)}
                         for k, v in (inputs or {}).items()])


def settings_text(settings: dict) -> str:
    """``"n steps 8; window 32; ..."``: a settings dict in words for a caption."""
    return "; ".join(f"{str(k).replace('_', ' ')} {v}" for k, v in (settings or {}).items())
