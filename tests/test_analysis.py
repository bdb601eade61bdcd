"""One results path (model.analysis): the Prediction page, the PDF and ``model.predict --json``
give the same numbers for the same study and clinical inputs; out-of-scope studies (the BraTS
metastasis, a 64x64x10 DICOM crop) get "outside what this model knows" and no type, grade or
prognosis, even when the user enters "glioma"; clinical inputs entered once (the Survival
page's accessor) reach the PDF.

The tests about one path giving the same numbers (page = PDF = CLI) need a grade to compare;
they run with ``plumbing`` models whose scope rule admits every study
(:func:`tests.inference.synthetic.admitting_scorer`: the served statistics, threshold 1e12).
What a real study gets is decided by the served rule (``models``).

Until the segmentation checkpoint exists (``model/checkpoints/segment_lgg/model_card.json``,
agent D) most tests use a stand-in segmenter (the FLAIR voxels above the 99th foreground
percentile, largest component): the pinning is about one path giving the same numbers, not
about the mask's quality. Tests of the served segmenter skip with that reason.
"""

import json
import re

import numpy as np
import pytest

from model.core.config import DEMO_STUDY_DIR, REPO_ROOT
from model.imaging.labelmap import LabelMap
from model.inference.segment import SEGMENT_CHECKPOINT, SegmentationResult
from tests.inference.synthetic import admit_every_study, admitting_scorer

MET = "demo_cases/brats_met_aurora_example"
CROP = "dicom_mr_samples/single/emri_small.dcm"
CLINICAL = {"age_years": 52.0, "sex": "female", "tumour_type": "astrocytoma", "grade": 3,
            "idh": "mutant", "mgmt": "methylated", "karnofsky": 80.0, "resection": "STR"}
CLI_FLAGS = ["--age", "52", "--sex", "female", "--type", "astrocytoma", "--grade", "3", "--idh",
             "mutant", "--mgmt", "methylated", "--kps", "80", "--resection", "STR"]
needs_segmenter = pytest.mark.skipif(not (SEGMENT_CHECKPOINT / "model_card.json").is_file(),
                                     reason="segmentation checkpoint not trained yet "
                                            "(model/checkpoints/segment_lgg/model_card.json missing)")


class StandInSegmenter:
    """FLAIR voxels above the 99th foreground percentile, largest 3D component."""

    def segment(self, study):
        from scipy import ndimage

        f = study.volumes["FLAIR"]
        d = np.asarray(f.data)
        m = d > np.percentile(d[d > 0], 99.0)
        lab, n = ndimage.label(m)
        if n:
            m = lab == 1 + int(np.argmax(np.bincount(lab.ravel())[1:]))
        return SegmentationResult(LabelMap.on_grid_of(f, m.astype(np.uint8), "stand-in"), "FLAIR",
                                  ("FLAIR",))


@pytest.fixture(scope="module")
def models(predictor):
    from model.inference.tumour_type import TumourTypeClassifier

    return {"predictor": predictor, "segmenter": StandInSegmenter(),
            "type_model": TumourTypeClassifier()}


@pytest.fixture(scope="module")
def plumbing(models):
    """``models`` with a scope rule that admits every study (see the module docstring)."""
    return {**models, "scorer": admitting_scorer()}


@pytest.fixture(scope="module")
def demo_analysis(demo_study, plumbing):
    from model.analysis import analyse

    return analyse(demo_study, CLINICAL, **plumbing)


def _pdf_text(pdf: bytes) -> str:
    """The text of an uncompressed fpdf2 page (the strings of its Tj operators)."""
    parts = re.findall(rb"\((.*?)\) Tj", pdf)
    return " ".join(p.decode("latin-1").replace("\\(", "(").replace("\\)", ")") for p in parts)


def _cli_json(capsys, args, models) -> dict:
    from model.predict import main

    assert main([*args, "--json"], models=models) == 0
    return json.loads(capsys.readouterr().out)


def _demo_files():
    return sorted(str(p) for p in DEMO_STUDY_DIR.glob("*.nii.gz"))


# ------------------------------------------------------------------ the analysis itself
def test_demo_analysis_is_strict_json_and_leads_with_the_tumour(demo_analysis):
    d = demo_analysis.to_dict()
    json.dumps(d, allow_nan=False)
    t = d["tumour"]
    assert t["status"] == "found" and t["volume_ml"] > 0 and t["bidimensional_mm2"] > 0
    assert len(t["extent_mm"]) == 3 and len(t["centroid_mm"]) == 3 and t["side"] in ("left", "right", "midline")
    assert t["sequences_used"] == ["FLAIR"]
    assert d["caveats"] == d["warnings"] and d["caveats"][0].startswith("Research use only")
    # the prognosis is from the clinical inputs; Karnofsky is recorded by no cohort: said so
    p = d["prognosis"]
    assert p["shown"] and "karnofsky" in p["inputs_ignored"]
    assert any(c.startswith("karnofsky not used") for c in d["caveats"])
    # the grade is experimental, shown for a grade-3 astrocytoma with its CV AUC and warning
    g = d["grade"]
    assert g["shown"] and g["cv_roc_auc"][0] == pytest.approx(0.392, abs=1e-3)
    assert "Not shown to beat chance" in g["warning"]
    assert g["risk_score"]["label"].endswith("not a risk group") and "risk_group" not in g
    assert d["uncertainty"]["mc_dropout"]["samples"] > 0


def test_components_are_reused_not_recomputed(demo_study, models, demo_analysis):
    from model.analysis import analyse

    class Boom:
        def segment(self, study):
            raise AssertionError("segmented twice")

    again = analyse(demo_study, CLINICAL, predictor=models["predictor"], segmenter=Boom(),
                    tumour=demo_analysis.tumour,
                    type_assessment=(demo_analysis.scope, demo_analysis.tumour_type),
                    prediction=lambda: demo_analysis.grade.prediction)
    assert again.to_dict() == demo_analysis.to_dict()


@pytest.mark.parametrize("clinical, reason", [
    (None, "No clinical inputs entered"),
    ({"age_years": 60, "tumour_type": "metastasis"}, "brain metastases"),
    ({"age_years": 60, "tumour_type": "meningioma"}, "meningioma"),
    ({"age_years": 60}, "Tumour type not given"),
    ({"age_years": 60, "tumour_type": "glioma", "idh": "maybe"}, "not understood"),
], ids=["none", "metastasis", "meningioma", "no-type", "unreadable"])
def test_prognosis_not_covered_says_why(clinical, reason):
    from model.analysis import clinical_prognosis

    p = clinical_prognosis(clinical)
    assert p.result is None and reason in p.reason


def test_the_grade_model_speaks_only_for_gliomas(demo_study, models, demo_analysis):
    from model.analysis import TypeFinding, analyse

    assert demo_analysis.scope.in_scope and demo_analysis.grade.prediction is not None
    no_type = (demo_analysis.scope, TypeFinding(None, "not typed"))
    for clinical, assessment, words in (
            ({"age_years": 60, "tumour_type": "glioblastoma"}, None, "grade 4"),
            ({"age_years": 60, "tumour_type": "meningioma"}, None, "meningioma"),
            (None, no_type, "neither the tumour type model")):
        a = analyse(demo_study, clinical, predictor=models["predictor"], tumour=demo_analysis.tumour,
                    type_assessment=assessment or (demo_analysis.scope, demo_analysis.tumour_type))
        assert a.grade.prediction is None and words in a.grade.reason and a.uncertainty is None


# ------------------------------------------------------------------ out of scope
@pytest.mark.needs_shared(MET)
def test_metastasis_is_outside_what_the_models_know(shared_data, models, capsys):
    folder = shared_data / MET
    args = [f"{s}={folder / f}.nii.gz" for s, f in (("T1", "t1"), ("T1ce", "t1c"), ("T2", "t2"),
                                                    ("FLAIR", "flair"))]
    d = _cli_json(capsys, [*args, "--age", "61", "--type", "metastasis"], models)
    assert d["scope"]["in_scope"] is False
    assert not d["tumour_type"]["shown"] and d["tumour_type"]["reason"].startswith("Outside what this model knows")
    assert not d["grade"]["shown"] and not d["prognosis"]["shown"]
    assert "brain metastases" in d["prognosis"]["reason"]
    assert d["uncertainty"] is None


@pytest.mark.needs_shared(CROP)
def test_tissue_crop_is_outside_what_the_models_know(shared_data, models, capsys):
    d = _cli_json(capsys, [f"T1ce={shared_data / CROP}"], models)
    assert d["sequences"]["T1ce"]["shape"] == [64, 64, 10]
    assert d["scope"]["in_scope"] is False and d["scope"]["checks"]["field_of_view"]["passed"] is False
    reason = d["tumour_type"]["reason"]
    assert reason.startswith("Outside what this model knows") and "64 x 64 x 10" in reason
    assert d["tumour"]["status"] == "no_flair" and d["tumour"]["volume_ml"] is None
    assert not d["grade"]["shown"] and not d["prognosis"]["shown"] and d["uncertainty"] is None
    assert any("64 x 64 x 10" in c for c in d["caveats"])


# ------------------------------------------------------------------ one truth: CLI, PDF, page
def test_cli_json_is_the_analysis(capsys, plumbing, demo_analysis):
    d = _cli_json(capsys, [*_demo_files(), *CLI_FLAGS], plumbing)
    assert d.pop("checkpoint") == plumbing["predictor"].card["name"]
    assert d == json.loads(json.dumps(demo_analysis.to_dict()))


def test_cli_save_mask_is_a_ras_nifti_on_the_reference_grid(tmp_path, capsys, models, demo_study):
    import nibabel as nib

    d = _cli_json(capsys, [*_demo_files(), "--save-mask", str(tmp_path)], models)
    img = nib.load(tmp_path / "tumour_mask.nii.gz")
    flair = demo_study.volumes["FLAIR"]
    assert nib.aff2axcodes(img.affine) == ("R", "A", "S")
    assert np.allclose(img.affine, flair.affine) and img.shape == flair.shape
    voxel_ml = abs(np.linalg.det(img.affine[:3, :3])) / 1000.0
    n = int((np.asarray(img.dataobj) > 0).sum())
    assert n == d["tumour"]["n_voxels"]
    assert n * voxel_ml == pytest.approx(d["tumour"]["volume_ml"], rel=1e-9)
    assert d["saved"] == [str(tmp_path / "tumour_mask.nii.gz")]


def _expected_lines(d: dict) -> list[str]:
    """The numbers of the JSON, formatted independently of the views' formatters."""
    t, p, g = d["tumour"], d["prognosis"], d["grade"]
    ext = " x ".join(f"{e:.0f}" for e in t["extent_mm"])
    out = [f"Volume {t['volume_ml']:.1f} mL", f"Extent {ext} mm",
           f"= {t['bidimensional_mm2']:.0f} mm2", f"side: {t['side']}"]
    for a in p["survival_at"]:
        out.append(f"{a['years']:g}-year survival {a['survival']:.0%} ({a['lower']:.0%}-{a['upper']:.0%})")
    c = p["c_index"]
    out.append(f"Validated C-index {c['value']:.2f}")
    out.append(f"{g['predicted_class']} (p = {g['probabilities'][g['predicted_class']]:.2f}); "
               f"cross-validated ROC AUC {g['cv_roc_auc'][0]:.2f}")
    return out


def test_pdf_prints_the_analysis_numbers(demo_study, demo_analysis):
    from model.views.report import build_report

    pdf = build_report(demo_study, demo_analysis, compress=False)
    assert pdf[:4] == b"%PDF" and pdf.count(b"/Type /Page\n") + pdf.count(b"/Type /Page ") <= 1
    text = _pdf_text(pdf)
    for line in _expected_lines(demo_analysis.to_dict()):
        assert line in text, line
    assert "WHO grade" not in text[:120]  # the title no longer says the grade
    assert text.index("Tumour (predicted") < text.index("Tumour type") < text.index("Prognosis") \
        < text.index("Experimental: WHO grade")


@pytest.mark.slow
def test_page_pdf_and_cli_agree_and_survival_inputs_reach_the_pdf(monkeypatch, capsys, plumbing):
    """The Survival page's accessor (set_clinical_inputs) -> the Prediction page's numbers ->
    the PDF it offers (the same StudyAnalysis) == ``model.predict --json`` with the same flags."""
    from streamlit.testing.v1 import AppTest

    import model.analysis as an
    import model.cached.analysis as cached  # the package module that owns the cache
    import model.views.report as report

    monkeypatch.setattr(an, "load_segmenter", lambda folder=None: (StandInSegmenter(), None))
    admit_every_study(monkeypatch)  # the grade is what is compared (module docstring)
    cached._segmenter.clear()
    made = []

    class Recording(report.DeferredReport):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            made.append(self)

    monkeypatch.setattr(report, "DeferredReport", Recording)
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=300)
    at.run()
    at.session_state["clinical_inputs"] = dict(CLINICAL)  # what set_clinical_inputs stores
    at.switch_page("app_pages/prediction.py")
    at.run()
    assert not at.exception, at.exception
    cached._segmenter.clear()

    d = _cli_json(capsys, [*_demo_files(), *CLI_FLAGS], plumbing)
    assert d["grade"]["shown"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Volume"] == f"{d['tumour']['volume_ml']:.1f} mL"
    assert metrics["RANO bidimensional"] == f"{d['tumour']['bidimensional_mm2']:.0f} mm²"
    for a in d["prognosis"]["survival_at"]:
        assert metrics[f"{a['years']:g}-year survival"] == f"{a['survival']:.0%}"
    shown = " ".join(c.value for c in at.caption) + " ".join(w.value for w in at.warning)
    g = d["grade"]
    assert f"cross-validated ROC AUC {g['cv_roc_auc'][0]:.2f}" in shown
    pdf = report.build_report(made[-1]._study(), made[-1].analysis, compress=False)
    text = _pdf_text(pdf)
    for line in _expected_lines(d):
        assert line in text, line
    assert made[-1].analysis.to_dict() == {k: v for k, v in d.items() if k != "checkpoint"}


# ------------------------------------------------------------------ the served segmenter
@needs_segmenter
def test_served_segmenter_measures_the_demo_tumour(demo_study, models):
    from model.analysis import analyse, load_segmenter

    seg, why = load_segmenter()
    assert why is None
    a = analyse(demo_study, None, predictor=models["predictor"], segmenter=seg,
                type_model=models["type_model"])
    t = a.to_dict()["tumour"]
    assert t["status"] == "found" and t["volume_ml"] > 1 and t["sequences_used"][0] == "FLAIR"


@needs_segmenter
@pytest.mark.needs_shared(MET)
def test_served_segmenter_metastasis_is_outside_what_the_models_know(shared_data, models):
    from model.analysis import analyse, load_segmenter
    from model.imaging.study import Study

    folder = shared_data / MET
    study = Study.from_paths([folder / f"{f}.nii.gz" for f in ("t1", "t1c", "t2", "flair")],
                             ["T1", "T1ce", "T2", "FLAIR"])
    a = analyse(study, None, predictor=models["predictor"], segmenter=load_segmenter()[0],
                type_model=models["type_model"])
    assert a.tumour.status == "found" and not a.scope.in_scope
    assert a.tumour_type.result is None and a.tumour_type.reason.startswith("Outside what this model knows")
    assert a.grade.prediction is None and a.prognosis.result is None


def test_missing_segmenter_says_so_and_types_nothing(demo_study, models, tmp_path):
    from model.analysis import analyse, load_segmenter

    seg, why = load_segmenter(tmp_path)
    assert seg is None and "not available" in why
    a = analyse(demo_study, None, predictor=models["predictor"], segmenter=None,
                segmenter_reason=why, type_model=models["type_model"])
    assert a.tumour.status == "unavailable" and a.tumour_type.result is None
    assert a.tumour_type.reason.startswith("Outside what this model knows: no tumour was outlined")


def test_grade_scope_refuses_children_and_every_out_of_scope_study(demo_study):
    """The grade model was trained on adults: a child gets a reason, an adult glioma inside the
    scope check is let through; outside it the user's "glioma" does not open the grade, and
    the grade model is never run."""
    from types import SimpleNamespace

    from model.analysis import OUTSIDE, TypeFinding, grade_finding, grade_scope

    card = {"sequences": ["T1", "T1ce", "FLAIR"]}
    inside = SimpleNamespace(in_scope=True, checks={"field_of_view": {"passed": True}})
    outside = SimpleNamespace(in_scope=False, checks={"field_of_view": {"passed": True}},
                              reasons=[OUTSIDE + "its tumour slices look unlike the training images."])
    none = TypeFinding(None, "outside")
    glioma = {"age_years": 45, "tumour_type": "glioma"}
    child = grade_scope(demo_study, inside, none, {"age_years": 12, "tumour_type": "glioma"}, card)
    assert child is not None and "adults" in child and "12" in child
    assert grade_scope(demo_study, inside, none, glioma, card) is None
    refused = grade_scope(demo_study, outside, none, glioma, card)
    assert refused.startswith(OUTSIDE) and "scope check" in refused and "whatever the clinical" in refused

    class _Pred:  # the predictor must not run when the grade is refused
        card = {"sequences": ["T1", "T1ce", "FLAIR"]}

        def predict(self, study):
            raise AssertionError("the grade model ran for an out-of-scope study")

    def never():
        raise AssertionError("the prediction was computed for an out-of-scope study")

    g = grade_finding(demo_study, outside, none, glioma, _Pred(), prediction=never)
    assert g.prediction is None and g.reason == refused and g.cv_auc is None
    fake = SimpleNamespace(risk_score=0.0)
    g = grade_finding(demo_study, inside, none, glioma, _Pred(), prediction=fake)
    assert g.prediction is fake and g.reason is None


@pytest.mark.needs_shared(MET)
def test_metastasis_with_the_users_glioma_gets_no_grade(shared_data, models, capsys):
    """The user's "glioma" does not override the scope refusal: the BraTS metastasis, entered
    as a glioma, gets no experimental grade, on the CLI as on the page and PDF (one analysis)."""
    folder = shared_data / MET
    args = [f"{s}={folder / f}.nii.gz" for s, f in (("T1", "t1"), ("T1ce", "t1c"), ("T2", "t2"),
                                                    ("FLAIR", "flair"))]
    d = _cli_json(capsys, [*args, "--age", "45", "--type", "glioma"], models)
    assert d["scope"]["in_scope"] is False and not d["tumour_type"]["shown"]
    assert not d["grade"]["shown"] and "scope check" in d["grade"]["reason"]
    assert d["uncertainty"] is None and d["prognosis"]["shown"]  # the prognosis is clinical only
    assert not any("Shown only because" in c for c in d["caveats"])
