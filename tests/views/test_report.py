"""The one-page PDF report: a PDF, exactly one page, no patient fields."""

import gzip
import re
import zlib

import nibabel as nib
import numpy as np
import pytest

from model.survival.prognosis import image_prognosis_summary
from model.views.report import NOTICE, DeferredReport, build_report, deidentified_summary
from model.imaging.study import Study

FAKE_NAME = "Jonathan Q. Doeberman"
FILE_NAME = "DOEBERMAN_JONATHAN_1961-02-03_flair.nii.gz"


def _named_study() -> Study:
    """A small FLAIR study whose file name and NIfTI header carry a (fake) patient's name."""
    shape = (40, 48, 24)
    ii, jj, kk = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    data = (((ii - 20) / 16) ** 2 + ((jj - 24) / 20) ** 2 + ((kk - 12) / 10) ** 2 <= 1).astype(np.float32) * 100
    data[22:28, 20:26, 10:14] = 300
    img = nib.Nifti1Image(data, np.diag([1.2, 1.2, 3.0, 1.0]))
    img.header["descrip"] = f"Patient {FAKE_NAME}".encode()[:79]
    img.header["db_name"] = b"DOEBERMAN"
    study = Study.from_bytes([(FILE_NAME, gzip.compress(img.to_bytes()), None)])
    assert FILE_NAME in str(study.summary())  # the summary has it: the report must drop it
    return study


def _pdf_text(pdf: bytes) -> str:
    """Every stream of the PDF inflated, plus the uncompressed parts, as latin-1 text."""
    parts = [pdf.decode("latin-1")]
    for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            parts.append(zlib.decompress(m.group(1)).decode("latin-1"))
        except zlib.error:
            pass
    return "\n".join(parts)


def _n_pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf))


@pytest.fixture(scope="module")
def named(predictor):
    study = _named_study()
    return study, predictor.predict(study)


def _prognosis(predictor, pred):
    """What the caller gives the PDF (the report itself never fits)."""
    return image_prognosis_summary(pred.risk_score, predictor.checkpoint_dir)


@pytest.mark.parametrize("with_map", [False, True])
def test_report_is_one_page_pdf_without_patient_fields(predictor, named, with_map):
    study, pred = named
    maps = None
    if with_map:
        d = study.volumes["FLAIR"].data
        maps = {"FLAIR": (d / d.max()).astype(np.float32)}
    pdf = build_report(study, pred, predictor.card, maps=maps, method="Saliency" if with_map else None,
                       checkpoint_dir=predictor.checkpoint_dir, prognosis=_prognosis(predictor, pred))
    assert pdf[:5] == b"%PDF-"
    assert _n_pages(pdf) == 1
    text = _pdf_text(pdf).lower()
    for token in ("doeberman", "jonathan", "1961", FILE_NAME.lower(), ".nii"):
        assert token not in text, token
    # What it must say.
    assert "research use only" in text and "not a diagnosis" in text
    assert pred.predicted_class.lower() in text
    assert "survival" in text and "model card" in text
    assert predictor.card["name"].lower() in text


def test_report_without_cohort_says_so(predictor, named, tmp_path):
    study, pred = named
    pdf = build_report(study, pred, predictor.card, checkpoint_dir=tmp_path,
                       prognosis=image_prognosis_summary(pred.risk_score, tmp_path))
    assert _n_pages(pdf) == 1
    assert "no cohort survival data" in _pdf_text(pdf).lower()


def test_deferred_report_prints_an_unusable_cohort_instead_of_failing(predictor, named):
    study, pred = named

    def broken():
        raise ValueError("cohort_risk.csv lacks a column")

    pdf = DeferredReport(study, pred, predictor.card, prognosis=broken)()
    assert _n_pages(pdf) == 1
    text = _shown_text(pdf).lower()
    assert "cohort not available (valueerror)" in text and "no cohort survival data" in text


def test_demo_report_one_page(predictor, demo_study):
    pred = predictor.predict(demo_study)
    pdf = build_report(demo_study, pred, predictor.card, checkpoint_dir=predictor.checkpoint_dir,
                       prognosis=_prognosis(predictor, pred))
    assert pdf.startswith(b"%PDF") and _n_pages(pdf) == 1
    assert "brats-gli-00001" not in _pdf_text(pdf).lower()  # file names of the demo are left out too


def test_notice_says_research_use_only():
    assert NOTICE.startswith("Research use only")


def test_deidentified_summary_keeps_geometry_only(named):
    study, _ = named
    rows = deidentified_summary(study)
    assert rows == [{"sequence": "FLAIR", "shape": [40, 48, 24], "spacing_mm": [1.2, 1.2, 3.0],
                     "orientation": "RAS", "source_orientation": "RAS"}]


def _shown_text(pdf: bytes) -> str:
    """The strings the page shows (``(...) Tj`` operators), unescaped and joined by spaces."""
    text = _pdf_text(pdf)
    shown = re.findall(r"\(((?:\\.|[^\\)])*)\)\s*Tj", text)
    return " ".join(re.sub(r"\\(.)", r"\1", s) for s in shown)


def test_report_carries_the_whole_evidence_warning_and_limitations(predictor, demo_study):
    """Long card lines are wrapped, not cut: the cross-validation warning and every limitation
    appear word for word (a shortened safety sentence can change its meaning)."""
    from model.nets.checkpoint import evidence_warning
    from model.views.report import _t

    card = dict(predictor.card)
    card["cross_validation"] = {"n_patients": 70, "n_folds": 5,
                                "shipped_pooled_roc_auc": [0.39, 0.26, 0.53]}
    pred = predictor.predict(demo_study)
    pdf = build_report(demo_study, pred, card, checkpoint_dir=predictor.checkpoint_dir,
                       prognosis=_prognosis(predictor, pred))
    assert _n_pages(pdf) == 1
    shown = " ".join(_shown_text(pdf).split())
    for sentence in [evidence_warning(card)] + [f"Limitation: {x}" for x in card["limitations"][:4]]:
        assert " ".join(_t(sentence).split()) in shown, sentence[:60]


def test_deferred_report_builds_on_call_and_does_not_keep_the_study(predictor):
    """The Prediction page's download callable: a one-page PDF when called; once the study is
    replaced (no strong reference left) it is released and the callable says so."""
    import gc
    import weakref

    study = _named_study()
    pred = predictor.predict(study)
    score = pred.risk_score
    job = DeferredReport(study, pred, predictor.card, checkpoint_dir=predictor.checkpoint_dir,
                         prognosis=lambda: image_prognosis_summary(score, predictor.checkpoint_dir))
    pdf = job()
    assert pdf.startswith(b"%PDF") and _n_pages(pdf) == 1
    probe = weakref.ref(study)
    del study, pred
    gc.collect()
    assert probe() is None
    with pytest.raises(RuntimeError, match="no longer loaded"):
        job()
