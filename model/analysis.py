"""One results path from a study to what the Prediction page, the PDF and the CLI show.

:func:`analyse` turns a study (and the clinical inputs entered for the patient, if any) into a
:class:`StudyAnalysis`; the Prediction page, :func:`model.views.report.build_report` and
``python -m model.predict --json`` all draw that one object, so they show the same numbers.
It sits above :mod:`model.inference` and :mod:`model.survival` and below :mod:`model.cached`
(no Streamlit, no Plotly).

Order (what is validated first):

1. **Tumour** (:func:`find_tumour`): the segmenter's FLAIR-abnormality mask on FLAIR's grid and
   its size (:func:`model.imaging.measure.tumour_size`: volume mL, extent mm, RANO
   bidimensional product mm², centroid mm, side); a typed note instead when the study has no
   FLAIR, the segmentation model is not available, or nothing was found. Sizes are None (and
   said to be unknown) where the geometry is a placeholder.
2. **Scope and tumour type** (:func:`assess_type`): :func:`model.inference.scope.assess` (field of
   view, a tumour found, Mahalanobis out-of-distribution score), then the type with its held-out
   evidence only when in scope; otherwise ``None`` and "Outside what this model knows: ...".
3. **Prognosis** (:func:`clinical_prognosis`): the clinical-molecular Cox model
   (:mod:`model.survival.clinical`) from the inputs given (age, sex, tumour type / WHO grade,
   IDH, 1p/19q, MGMT, Karnofsky, resection); a "not covered" reason otherwise (metastasis,
   meningioma, unknown type, no inputs). It uses the clinical inputs only, never the images.
4. **Experimental WHO grade II/III** (:func:`grade_finding`): the image classifier, shown only
   for a study inside the scope check of step 2 (field of view, tumour found, out-of-distribution
   score: an out-of-scope study gets no grade whatever the clinical inputs say), imaged with
   every sequence it was trained on, and a glioma (the type model says glioma, or the clinical
   tumour type is a diffuse glioma of grade 2-3 / not given); always with its cross-validated
   AUC and the "not shown to beat chance" warning. Its Cox image risk score is kept only as a labelled experimental number with its
   held-out C-index, never as a risk group. MC-dropout uncertainty comes with it.

Each step is a function of its inputs so :mod:`model.cached` can cache it per study (the
segmentation is computed once and shared by every page and the PDF); :func:`analyse` accepts
any step already computed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from model.core.errors import CheckpointError, StudyError
from model.core.jsonio import json_safe

__all__ = ["TumourFinding", "TypeFinding", "GradeFinding", "PrognosisFinding", "StudyAnalysis",
           "find_tumour", "assess_type", "grade_finding", "clinical_prognosis", "analyse",
           "load_segmenter", "clean_clinical", "CLINICAL_KEYS", "OUTSIDE", "NOTICE"]

OUTSIDE = "Outside what this model knows: "
NOTICE = "Research use only - not a medical device, not a diagnosis."
#: Clinical inputs the page, the Survival page and the CLI collect (keys of
#: :mod:`model.survival.clinical`).
CLINICAL_KEYS = ("age_years", "sex", "tumour_type", "grade", "idh", "codeletion_1p19q", "mgmt",
                 "karnofsky", "resection")
_GLIOMA_TYPES = {"diffuse glioma", "glioma", "adult diffuse glioma", "lgg", "lower-grade glioma",
                 "astrocytoma", "oligodendroglioma", "oligoastrocytoma"}


def clean_clinical(clinical: dict | None) -> dict:
    """The given clinical inputs (:data:`CLINICAL_KEYS`), dropping empty / "unknown" values; age and
    Karnofsky as float, a numeric grade as int."""
    out = {}
    for k, v in (clinical or {}).items():
        if v is None or (isinstance(v, str) and v.strip().lower() in ("", "unknown", "not given")):
            continue
        if k in ("age_years", "karnofsky") or (k == "grade" and str(v).strip().isdigit()):
            try:  # one spelling whoever entered it (page: 3, CLI: "3")
                v = int(str(v).strip()) if k == "grade" else float(v)
            except ValueError:
                pass  # the prognosis says it cannot read it
        out[k] = v
    return out


# ============================================================================ 1. tumour
@dataclass
class TumourFinding:
    """The tumour of a study.

    Attributes:
        status: ``"found"``, ``"none_found"`` (no abnormality found), ``"no_flair"``,
            ``"unavailable"`` (no segmentation model).
        message: one line for the user.
        segmentation: :class:`model.inference.segment.SegmentationResult` (None unless segmented).
        size: :class:`model.imaging.measure.TumourSize` (None unless segmented).
        source: ``"model"`` or ``"uploaded mask <name>"``.
    """

    status: str
    message: str
    segmentation: Any = None
    size: Any = None
    source: str = "model"

    @property
    def labelmap(self):
        return None if self.segmentation is None else self.segmentation.labelmap

    def to_dict(self) -> dict:
        s, seg = self.size, self.segmentation
        d = {"status": self.status, "message": self.message, "source": self.source,
             "geometry_known": None, "n_voxels": None, "volume_ml": None, "extent_mm": None,
             "longest_diameter_mm": None, "perpendicular_diameter_mm": None,
             "bidimensional_mm2": None, "axial_slice": None, "centroid_mm": None, "side": None,
             "sequences_used": list(seg.sequences_used) if seg is not None else [],
             "reference_sequence": seg.reference_sequence if seg is not None else None,
             "warnings": list(seg.warnings) if seg is not None else []}
        if s is not None:
            d.update({k: getattr(s, k) for k in (
                "geometry_known", "n_voxels", "volume_ml", "extent_mm", "longest_diameter_mm",
                "perpendicular_diameter_mm", "bidimensional_mm2", "axial_slice", "centroid_mm",
                "side")})
        return d


def load_segmenter(checkpoint_dir=None):
    """``(Segmenter, None)`` or ``(None, reason)`` when the checkpoint is missing or invalid."""
    from model.core.jsonio import CARD
    from model.inference.segment import SEGMENT_CHECKPOINT, Segmenter

    from pathlib import Path

    folder = Path(checkpoint_dir or SEGMENT_CHECKPOINT)
    if not (folder / CARD).is_file():
        return None, ("The tumour segmentation model is not available (no trained checkpoint in "
                      f"{folder.name}), so the tumour is not outlined or measured.")
    try:
        return Segmenter(folder), None
    except CheckpointError as exc:
        return None, f"The tumour segmentation model could not be loaded: {exc}"


def find_tumour(study, segmenter=None, unavailable_reason: str | None = None) -> TumourFinding:
    """Segment and measure the tumour of ``study`` (see the module docstring, step 1).

    ``segmenter`` None: the study's own (uploaded) mask is used when it has one, else the
    finding is ``"unavailable"`` with ``unavailable_reason``.
    """
    from model.imaging.measure import tumour_size
    from model.inference.segment import SegmentationResult

    if segmenter is None:
        masks = getattr(study, "masks", None) or {}
        if masks:
            name, lm = next(iter(masks.items()))
            seg = SegmentationResult(lm, "uploaded", (), ("Tumour from the mask uploaded with the "
                                                         "study, not from the model.",))
            size = tumour_size(lm)
            return TumourFinding("none_found" if size.empty else "found", size.message, seg, size,
                                 f"uploaded mask {name}")
        return TumourFinding("unavailable", unavailable_reason or
                             "The tumour segmentation model is not available.")
    if "FLAIR" not in study.volumes:
        return TumourFinding("no_flair", "No FLAIR: the tumour is outlined on FLAIR (the model "
                             "segments the FLAIR abnormality), which this study does not have "
                             f"({', '.join(study.volumes) or 'none'}).")
    try:
        seg = segmenter.segment(study)
    except StudyError as exc:
        return TumourFinding("no_flair", str(exc))
    size = tumour_size(seg.labelmap)
    if size.empty:
        return TumourFinding("none_found", "No abnormality found: the model labelled no FLAIR "
                             "abnormality in this study.", seg, size)
    return TumourFinding("found", size.message, seg, size)


# ============================================================================ 2. scope + type
@dataclass
class TypeFinding:
    """The tumour type: ``result`` (TumourTypeResult) only when in scope, else ``reason``.
    ``refused`` keeps the classifier's output when the OOD check refused it (its slices, for
    the page to show why), never to be shown as the answer."""

    result: Any = None
    reason: str | None = None
    refused: Any = None

    def to_dict(self) -> dict:
        r = self.result
        d = {"shown": r is not None, "reason": self.reason}
        if r is not None:
            d.update(predicted=r.predicted, probabilities=r.probabilities, n_slices=r.n_slices,
                     evidence=r.evidence, warnings=list(r.warnings), geometry=r.geometry,
                     per_slice=[vars(s) for s in r.per_slice])
        return d


_NO_TUMOUR = {
    "unavailable": "no tumour was outlined (the segmentation model is not available), so there is "
                   "nothing to type.",
    "none_found": "no abnormality was found, so there is no tumour to type.",
    "no_flair": "no tumour was outlined (the study has no FLAIR), so there is nothing to type.",
}


def assess_type(study, tumour: TumourFinding, type_model=None, scorer=None):
    """``(ScopeDecision, TypeFinding)``: scope first, then the type (step 2)."""
    from model.inference.scope import assess

    decision, result = assess(study, tumour.labelmap, type_model, scorer)
    if decision.in_scope and result is not None:
        return decision, TypeFinding(result)
    reasons = [r for r in decision.reasons if r]
    fov_ok = (decision.checks.get("field_of_view") or {}).get("passed")
    if fov_ok and tumour.status != "found":
        reasons = [OUTSIDE + _NO_TUMOUR.get(tumour.status, "no tumour was found to type.")]
    reason = " ".join(dict.fromkeys(r if r.startswith(OUTSIDE) else OUTSIDE + r[0].lower() + r[1:]
                                    for r in reasons)) or OUTSIDE + "the scope checks did not pass."
    return decision, TypeFinding(None, reason, result)


# ============================================================================ 3. prognosis
@dataclass
class PrognosisFinding:
    """``result`` (ClinicalPrognosisResult) or ``reason`` it is not given; ``inputs`` as entered."""

    result: Any = None
    reason: str | None = None
    inputs: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = {"shown": self.result is not None, "reason": self.reason, "inputs_given": self.inputs}
        if self.result is not None:
            r = self.result.as_dict()
            d.update({k: r[k] for k in ("inputs_used", "inputs_ignored", "input_set",
                                        "training_cohort", "n_patients", "n_events", "survival_at",
                                        "median_days", "median_ci_days", "max_followup_days",
                                        "c_index", "band", "notes")})
            d["curve"] = {k: r[k] for k in ("time_days", "survival", "lower", "upper")}
        return d


def clinical_prognosis(clinical: dict | None, model=None) -> PrognosisFinding:
    """The clinical-molecular prognosis of the inputs given (step 3); ``model`` default
    :func:`model.survival.clinical.load`."""
    from model.survival.clinical import OutOfScopeError, load

    given = clean_clinical(clinical)
    if not given:
        return PrognosisFinding(None, "No clinical inputs entered: the prognosis needs at least "
                                "age and tumour type (Prediction or Survival page; --age / --type on the command line).", {})
    try:
        model = model or load()
        sc = model.scope(given)
        if not sc.covered:
            return PrognosisFinding(None, sc.reason, given)
        return PrognosisFinding(model.predict(given), None, given)
    except OutOfScopeError as exc:
        return PrognosisFinding(None, exc.reason, given)
    except (ValueError, CheckpointError) as exc:
        return PrognosisFinding(None, str(exc), given)


# ============================================================================ 4. grade
@dataclass
class GradeFinding:
    """The experimental WHO grade II/III output: ``prediction`` only when in scope."""

    prediction: Any = None
    reason: str | None = None
    cv_auc: list | None = None          # [AUC, lo, hi], pooled out-of-fold
    warning: str | None = None          # "Not shown to beat chance ..."
    risk: dict | None = None            # experimental image risk score + held-out C
    label: str = "Experimental: WHO grade II/III"

    def to_dict(self) -> dict:
        p = self.prediction
        d = {"shown": p is not None, "label": self.label, "reason": self.reason,
             "cv_roc_auc": self.cv_auc, "warning": self.warning, "risk_score": self.risk}
        if p is not None:
            d.update(predicted_class=p.predicted_class, probabilities=p.probabilities,
                     sequence_weights=p.sequence_weights, warnings=list(p.warnings))
        return d


def _grade_evidence(card: dict) -> tuple[list | None, str | None]:
    from model.nets.checkpoint import evidence_warning

    auc = (card.get("cross_validation") or {}).get("shipped_pooled_roc_auc")
    return (list(auc) if auc else None), evidence_warning(card)


def grade_scope(study, decision, type_finding: TypeFinding, clinical: dict | None,
                card: dict) -> str | None:
    """None when the grade model may speak for ``study``, else the one-line reason."""
    trained = list(card.get("sequences") or [])
    missing = [s for s in trained if s not in study.volumes]
    fov = (decision.checks.get("field_of_view") or {}) if decision is not None else {}
    if fov.get("passed") is False:
        return fov.get("reason") or OUTSIDE + "the images do not cover a head."
    if decision is None or "field_of_view" not in decision.checks:
        return OUTSIDE + "the study has no T1ce, so its field of view and tumour type were not checked."
    if missing:
        return (OUTSIDE + f"the grade model was trained on {', '.join(trained)}; this study lacks "
                f"{', '.join(missing)}.")
    c = clean_clinical(clinical)
    try:
        age = float(c["age_years"]) if c.get("age_years") not in (None, "") else None
    except (TypeError, ValueError):
        age = None
    if age is not None and age < 18:
        return OUTSIDE + f"the grade model was trained on adults (TCGA-LGG); age {age:g} given."
    t = str(c.get("tumour_type", "")).strip().lower()
    g = str(c.get("grade", "")).strip().upper().replace("WHO", "").replace("GRADE", "").strip()
    if g in ("4", "IV", "G4") or t in ("glioblastoma", "gbm"):
        return OUTSIDE + "the grade model knows only WHO grade II and III gliomas (grade 4 given)."
    if t and t not in _GLIOMA_TYPES:
        return OUTSIDE + f"the grade model knows only WHO grade II/III gliomas (tumour type {t!r} given)."
    if not decision.in_scope:
        # The model's own scope refusal wins over the user's "glioma": the grade model was
        # never checked on images the scope check calls unlike its training images.
        return (OUTSIDE + "the experimental grade is shown only for studies inside the "
                "tumour-type scope check (see the tumour type), whatever the clinical inputs say.")
    if t in _GLIOMA_TYPES:
        return None
    r = type_finding.result
    if r is not None and r.predicted == "glioma":
        return None
    if r is not None:
        return OUTSIDE + f"the grade model knows only gliomas; the type model says {r.predicted}."
    return (OUTSIDE + "the grade model knows only gliomas, and neither the tumour type model nor "
            "the clinical inputs say this is a glioma.")


def grade_finding(study, decision, type_finding: TypeFinding, clinical: dict | None, predictor,
                  prediction=None) -> GradeFinding:
    """The experimental grade output (step 4); runs ``predictor`` only when in scope (or uses
    ``prediction`` when given: a Prediction, or a callable returning one, called only then)."""
    card = predictor.card
    auc, warning = _grade_evidence(card)
    reason = grade_scope(study, decision, type_finding, clinical, card)
    if reason is not None:
        return GradeFinding(None, reason, auc, warning)
    try:
        pred = (prediction() if callable(prediction) else prediction) if prediction is not None \
            else predictor.predict(study)
    except StudyError as exc:
        return GradeFinding(None, str(exc), auc, warning)
    img = ((card.get("survival_validation") or {}).get("models") or {})
    risk = {"value": pred.risk_score, "label": "experimental image risk score (Cox log-risk); "
            "not a risk group",
            "heldout_harrell_c": (img.get("image") or {}).get("harrell_c"),
            "age_only_harrell_c": (img.get("age") or {}).get("harrell_c"),
            "n_heldout": (card.get("survival_validation") or {}).get("n_heldout")}
    return GradeFinding(pred, None, auc, warning, risk)


# ============================================================================ the analysis
@dataclass
class StudyAnalysis:
    """Everything the Prediction page, the PDF and the CLI show for one study."""

    study_key: str
    sequences: dict
    tumour: TumourFinding
    scope: Any
    tumour_type: TypeFinding
    prognosis: PrognosisFinding
    grade: GradeFinding
    uncertainty: dict | None
    caveats: list[str]

    def to_dict(self) -> dict:
        """Strict-JSON dict (``json.dumps(..., allow_nan=False)`` works)."""
        return json_safe({
            "study_key": self.study_key, "sequences": self.sequences,
            "tumour": self.tumour.to_dict(),
            "scope": self.scope.to_dict() if self.scope is not None else None,
            "tumour_type": self.tumour_type.to_dict(), "prognosis": self.prognosis.to_dict(),
            "grade": self.grade.to_dict(), "uncertainty": self.uncertainty,
            "caveats": self.caveats, "warnings": self.caveats})


def _uncertainty(grade: GradeFinding) -> dict | None:
    from model.inference.classify import uncertainty

    p = grade.prediction
    if p is None:
        return None
    return {"of": "experimental WHO grade II/III model", **uncertainty(p.probabilities),
            "mc_dropout": p.uncertainty}


def collect_caveats(study, tumour: TumourFinding, decision, type_finding: TypeFinding,
                    prognosis: PrognosisFinding, grade: GradeFinding) -> list[str]:
    """Every caveat the page shows, in page order, once each."""
    out = [NOTICE, *getattr(study, "warnings", [])]
    seg = tumour.segmentation
    out += list(seg.warnings) if seg is not None else []
    if tumour.status != "found" or (tumour.size is not None and not tumour.size.geometry_known):
        out.append(tumour.message)
    r = type_finding.result
    if r is not None:
        out += list(r.warnings)
        if r.evidence.get("note"):
            out.append(r.evidence["note"])
    else:
        out.append(type_finding.reason)
    if prognosis.result is not None:
        out += list(prognosis.result.notes)
        out += [f"{k} not used: {v}." for k, v in prognosis.result.inputs_ignored.items()]
        out.append("The prognosis comes from the clinical inputs only, not from the images.")
    else:
        out.append(prognosis.reason)
    if r is not None and r.predicted != "glioma" and prognosis.result is not None:
        out.append(f"The tumour type model says {r.predicted}, but the prognosis was computed "
                   "for the glioma entered in the clinical inputs.")
    out.append("WHO grade II/III is experimental" + (f": {grade.warning}" if grade.warning else "."))
    if grade.prediction is not None:
        out += list(grade.prediction.warnings)
    elif grade.reason:
        out.append(grade.reason)
    return [c for c in dict.fromkeys(out) if c]


def analyse(study, clinical: dict | None = None, *, segmenter=None, type_model=None,
            predictor=None, prognosis_model=None, scorer=None, segmenter_reason: str | None = None,
            tumour: TumourFinding | None = None, type_assessment: tuple | None = None,
            prediction=None, prognosis: PrognosisFinding | None = None) -> StudyAnalysis:
    """The :class:`StudyAnalysis` of ``study`` with the patient's ``clinical`` inputs.

    Args:
        study: :class:`model.imaging.study.Study`.
        clinical: clinical inputs (:data:`CLINICAL_KEYS`; None = none entered).
        segmenter, type_model, predictor, prognosis_model: the served models (a missing
            segmenter gives an "unavailable" tumour with ``segmenter_reason``; ``predictor``
            is required; the others default to their served checkpoints).
        tumour, type_assessment, prediction, prognosis: steps already computed (cached).
    """
    if predictor is None:
        raise ValueError("analyse needs the grade predictor (model.inference.classify.Predictor).")
    tumour = tumour or find_tumour(study, segmenter, segmenter_reason)
    decision, type_finding = type_assessment or assess_type(study, tumour, type_model, scorer)
    prognosis = prognosis or clinical_prognosis(clinical, prognosis_model)
    grade = grade_finding(study, decision, type_finding, clinical, predictor, prediction)
    geometry = {s: {k: v for k, v in info.items() if k in ("shape", "spacing_mm", "orientation")}
                for s, info in study.summary().items()}
    return StudyAnalysis(study.key, geometry, tumour, decision, type_finding, prognosis, grade,
                         _uncertainty(grade),
                         collect_caveats(study, tumour, decision, type_finding, prognosis, grade))
