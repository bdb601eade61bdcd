"""The one-page PDF report of a StudyAnalysis: a PDF, exactly one page, no patient fields, the
analysis' numbers in the page's order ("no abnormality found", "sizes unknown" when so)."""

import gzip
import re
import zlib

import nibabel as nib
import numpy as np
import pytest

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


class _Seg:
    """A segmenter stand-in: the bright block of the study (or nothing)."""

    def __init__(self, empty=False):
        self.empty = empty

    def segment(self, study):
        from model.imaging.labelmap import LabelMap
        from model.inference.segment import SegmentationResult

        f = study.volumes["FLAIR"]
        m = np.zeros(f.shape, np.uint8) if self.empty else (f.data > 200).astype(np.uint8)
        return SegmentationResult(LabelMap.on_grid_of(f, m, "stand-in"), "FLAIR", ("FLAIR",))


def _analysis(study, predictor, empty=False, clinical=None, scorer=None):
    from model.analysis import analyse

    return analyse(study, clinical, predictor=predictor, segmenter=_Seg(empty), scorer=scorer)


@pytest.fixture(scope="module")
def named(predictor):
    study = _named_study()
    return study, _analysis(study, predictor)


def test_report_is_one_page_pdf_without_patient_fields(predictor, named):
    study, analysis = named
    pdf = build_report(study, analysis, checkpoint_dir=predictor.checkpoint_dir)
    assert pdf[:5] == b"%PDF-"
    assert _n_pages(pdf) == 1
    text = _pdf_text(pdf).lower()
    for token in ("doeberman", "jonathan", "1961", FILE_NAME.lower(), ".nii"):
        assert token not in text, token
    shown = _shown_text(pdf)
    assert "Research use only" in shown and "not a diagnosis" in shown
    size = analysis.tumour.size
    assert f"Volume {size.volume_ml:.1f} mL" in shown
    assert "No clinical inputs entered" in shown and "Experimental: WHO grade II/III" in shown


@pytest.mark.parametrize("empty, placeholder, words", [
    (True, False, "No abnormality found"),
    (False, True, "sizes unknown"),
], ids=["nothing-found", "placeholder-geometry"])
def test_report_says_what_is_not_known(predictor, empty, placeholder, words):
    study = _named_study()
    if placeholder:
        import dataclasses

        v = study.volumes["FLAIR"]
        study = dataclasses.replace(study, volumes={"FLAIR": dataclasses.replace(v, geometry_known=False)})
    analysis = _analysis(study, predictor, empty=empty)
    shown = _shown_text(build_report(study, analysis))
    assert words in shown
    assert "mL" not in shown.split("Tumour type")[0].split("Tumour (predicted")[1] or empty


def test_demo_report_one_page(predictor, demo_study):
    analysis = _analysis(demo_study, predictor, clinical={"age_years": 40, "tumour_type": "glioma"})
    pdf = build_report(demo_study, analysis, checkpoint_dir=predictor.checkpoint_dir)
    assert pdf.startswith(b"%PDF") and _n_pages(pdf) == 1
    assert "brats-gli-00001" not in _pdf_text(pdf).lower()  # file names of the demo are left out too
    shown = _shown_text(pdf)
    assert "1-year survival" in shown and "TumorBoard - study report" in shown
    assert "WHO grade" not in shown.split("Research use only")[0]  # not in the title


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


def test_report_carries_the_whole_evidence_warning(predictor, demo_study):
    """Long lines are wrapped, not cut: the cross-validation warning appears word for word (a
    shortened safety sentence can change its meaning). The grade's lines are the longest part
    of the page; a scope rule that admits the demo (tests/inference/synthetic.py) puts them on
    it, since the served rule refuses the skull-stripped demo."""
    from model.nets.checkpoint import evidence_warning
    from model.views.report import _t
    from tests.inference.synthetic import admitting_scorer

    analysis = _analysis(demo_study, predictor, clinical={"age_years": 40, "tumour_type": "glioma"},
                         scorer=admitting_scorer())
    assert analysis.grade.prediction is not None
    pdf = build_report(demo_study, analysis, checkpoint_dir=predictor.checkpoint_dir)
    assert _n_pages(pdf) == 1
    shown = " ".join(_shown_text(pdf).split())
    assert " ".join(_t(evidence_warning(predictor.card)).split()) in shown


def test_deferred_report_builds_on_call_and_does_not_keep_the_study(predictor):
    """The Prediction page's download callable: a one-page PDF when called; once the study is
    replaced (no strong reference left) it is released and the callable says so."""
    import gc
    import weakref

    study = _named_study()
    job = DeferredReport(study, _analysis(study, predictor), checkpoint_dir=predictor.checkpoint_dir)
    pdf = job()
    assert pdf.startswith(b"%PDF") and _n_pages(pdf) == 1
    probe = weakref.ref(study)
    del study
    gc.collect()
    assert probe() is None
    with pytest.raises(RuntimeError, match="no longer loaded"):
        job()


def test_thumbnail_captions_end_within_their_thumbnails(predictor, demo_study):
    """Each key slice's caption, measured with the PDF's own font metrics, starts and ends
    within its image (the last one's used to run past the right margin)."""
    from fpdf import FPDF

    pdf = build_report(demo_study, _analysis(demo_study, predictor), compress=False).decode("latin-1")
    metrics = FPDF(unit="pt")
    images, captions, size = [], [], None
    token = re.compile(r"/F\d+ ([\d.]+) Tf|([\d.]+) 0 0 [\d.]+ ([\d.]+) [\d.]+ cm /I\d+ Do"
                       r"|BT ([\d.]+) [\d.]+ Td [^()]*\((.*?)\) Tj ET")
    for m in token.finditer(pdf):
        if m.group(1):
            size = float(m.group(1))
        elif m.group(2):
            images.append((float(m.group(3)), float(m.group(2))))  # (x, width) in pt
        elif "axial z=" in m.group(5):
            metrics.set_font("Helvetica", "", size)
            captions.append((float(m.group(4)), metrics.get_string_width(m.group(5)), m.group(5)))
    assert len(captions) == len(demo_study.sequences) == len(images) == 4
    right_margin = (210 - 12) / 25.4 * 72
    for (x, w), (cx, cw, text) in zip(sorted(images), sorted(captions)):
        assert x <= cx and cx + cw <= x + w + 0.01, (text, cx + cw, x + w)
        assert x + w <= right_margin + 0.01
