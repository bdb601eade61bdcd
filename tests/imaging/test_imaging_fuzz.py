"""Fuzzing the loaders with hypothesis: random bytes, mutated headers, random zip members,
and DICOM header fields (frames, sizes, enumerations, spacing, orientation, patient details in
free text).

Whatever the input, loading either returns well-formed volumes or raises a StudyError (a
typed, clinician-readable refusal of one line): never another exception, never a hang, no
library warning or log record escaping, no patient identifier in any output. Examples are
derandomised (reproducible in CI) and bounded by a deadline and a hard alarm. The quick
settings keep the file under a minute on 2 cores; ``-m slow`` runs many more DICOM examples.
"""

import contextlib
import gzip
import io
import logging
import signal
import warnings
import zipfile

import nibabel as nib
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model.core.errors import StudyError
from model.core.warnings import TumorBoardWarning
from model.imaging.io.deid import fold
from model.core.config import DEMO_STUDY_DIR
from model.imaging.io.uploads import read_uploads
from model.imaging.study import Study

FUZZ = settings(max_examples=150, deadline=4000, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
NAMES = ["x_t1.nii", "x_t1.nii.gz", "x.dcm", "IM0001", "x.zip", "x_t2.mgz", "x.mgh", "x.png",
         "x.jpg", "x_flair.hdr", "scan"]


@contextlib.contextmanager
def _alarm(seconds: int = 20):
    """Fail (instead of hanging) if one load takes longer than ``seconds``."""
    def boom(*_):
        raise TimeoutError("loader hung")

    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


#: Examples run, by kind (the closing note of issue 16 reports them; shown with ``-s``).
COUNTS: dict[str, int] = {}


@pytest.fixture(scope="module", autouse=True)
def _report_counts():
    yield
    print(f"\nfuzz cases checked: {dict(sorted(COUNTS.items()))}, total {sum(COUNTS.values())}")


class _Escaped(logging.Handler):
    """Collects library log records that reach the root logger (none may, while loading)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        if record.name.split(".")[0] in ("nibabel", "pydicom", "PIL"):
            self.records.append(record)


def _check(files, identifiers=(), counter="other"):
    """Load with both entry points; only StudyError may escape, as one line; results are well
    formed; no library warning or log record escapes; no identifier (folded) in any output."""
    COUNTS[counter] = COUNTS.get(counter, 0) + 1
    escaped = _Escaped()
    root = logging.getLogger()
    root.addHandler(escaped)
    nib_global = logging.getLogger("nibabel.global")
    nib_global.addHandler(escaped)
    outputs = []
    try:
        with _alarm(), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for loader in (lambda: read_uploads([(n, d) for n, d in files]).volumes,
                           lambda: list(Study.from_bytes([(n, d, "T1") for n, d in files]).volumes.values())):
                try:
                    vols = loader()
                except StudyError as exc:
                    msg = str(exc)
                    assert msg and "\n" not in msg
                    outputs.append(msg)
                    continue
                for v in vols:
                    assert v.data.dtype == np.float32 and v.data.ndim == 3
                    assert np.isfinite(v.data).all() and np.isfinite(v.affine).all()
                    assert v.orientation == "RAS"
                    outputs += [v.source_name, " ".join(v.warnings), repr(v.details), repr(v.summary())]
    finally:
        root.removeHandler(escaped)
        nib_global.removeHandler(escaped)
    assert [w for w in caught if not issubclass(w.category, TumorBoardWarning)] == []
    assert escaped.records == []
    outputs += [str(w.message) for w in caught]
    for text in outputs:
        f = fold(text)
        for ident in identifiers:
            assert ident not in f, (ident, text)


def _real_block():
    img = nib.load(DEMO_STUDY_DIR / "BraTS-GLI-00001-000-t1c.nii.gz")
    return np.asanyarray(img.dataobj)[100:116, 100:116, 70:78].astype(np.int16), img.affine


BLOCK, AFFINE = _real_block()
NIFTI = nib.Nifti1Image(BLOCK, AFFINE).to_bytes()
NIFTI_GZ = gzip.compress(NIFTI, compresslevel=1)
MGH = nib.MGHImage(BLOCK.astype(np.float32), AFFINE).to_bytes()


def _analyze_pair():
    from nibabel.fileholders import FileHolder

    h, i = io.BytesIO(), io.BytesIO()
    nib.AnalyzeImage(BLOCK, AFFINE).to_file_map({"header": FileHolder(fileobj=h),
                                                 "image": FileHolder(fileobj=i)})
    return h.getvalue(), i.getvalue()


HDR, IMG = _analyze_pair()


def _dicom_slices():
    from test_imaging_dicom import write_series

    return [b for _, b, _ in write_series(BLOCK[:, :, :3], AFFINE)]


DICOM = _dicom_slices()


def _mutate(base: bytes, edits, cut):
    buf = bytearray(base)
    for pos, val in edits:
        buf[pos % len(buf)] = val
    return bytes(buf[: max(0, len(buf) - cut)])


edits = st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=8)


@FUZZ
@given(name=st.sampled_from(NAMES), data=st.binary(max_size=3000))
def test_random_bytes(name, data):
    _check([(name, data)], counter="random_bytes")


@FUZZ
@given(name=st.sampled_from(["a_t1.nii", "a_t1.nii.gz", "scan"]),
       pos=st.lists(st.tuples(st.integers(0, 351), st.integers(0, 255)), min_size=1, max_size=8),
       cut=st.sampled_from([0, 0, 0, 1, 100, 2000]))
def test_mutated_nifti_header(name, pos, cut):
    _check([(name, _mutate(NIFTI, pos, cut))], counter="nifti_header")


@FUZZ
@given(e=edits, cut=st.sampled_from([0, 0, 7, 300]))
def test_mutated_gzip_mgh_and_analyze(e, cut):
    _check([("b_t2.nii.gz", _mutate(NIFTI_GZ, e, cut))], counter="gzip")
    _check([("b_t2.mgh", _mutate(MGH, [(p % 284, v) for p, v in e], cut))], counter="mgh")
    _check([("c_t1.hdr", _mutate(HDR, [(p % 348, v) for p, v in e], 0)), ("c_t1.img", IMG[: len(IMG) - cut])],
           counter="analyze")


@FUZZ
@given(e=edits, which=st.integers(0, 2), cut=st.sampled_from([0, 0, 0, 5, 200]))
def test_mutated_dicom_slice(e, which, cut):
    files = [(f"IM{k}.dcm", b) for k, b in enumerate(DICOM)]
    files[which] = (files[which][0], _mutate(files[which][1], e, cut))
    _check(files, counter="dicom_bytes")


MEMBER_NAMES = ["__MACOSX/._IM1", "README.txt", "DICOMDIR", "s/IM1", "s/IM2", "s/IM3",
                "a_t1.nii.gz", "x_t2.hdr", "x_t2.img", "nested.zip", "b.mgz", "c.png", "d"]
CONTENTS = st.one_of(st.binary(max_size=600), st.sampled_from(DICOM + [NIFTI_GZ, MGH]),
                     st.builds(_mutate, st.sampled_from(DICOM + [NIFTI]), edits, st.just(0)))


@FUZZ
@given(members=st.lists(st.tuples(st.sampled_from(MEMBER_NAMES), CONTENTS), max_size=6),
       cut=st.sampled_from([0, 0, 0, 10, 500]))
def test_random_zip_members(members, cut):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf, \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate member names are part of the fuzz
        for name, blob in members:
            zf.writestr(name, blob)
    data = buf.getvalue()
    _check([("upload.zip", data[: max(0, len(data) - cut)])], counter="zip")


# ---------------------------------------------------------------- DICOM header fields

#: A made-up patient; its identifiers (folded) must never reach an output.
PATIENT = {"PatientName": "Qwertyuiop^Zyxwv^Li", "PatientID": "PX-88213-QQ",
           "PatientBirthDate": "19370412", "InstitutionName": "Klinik Grüneberg"}
IDENTS = ("qwertyuiop", "zyxwv", "88213", "19370412", "gruneberg")
PHI_TEXT = st.sampled_from(["Zyxwv Qwertyuiop", "QWERTYUIOP^ZYXWV", "qwertyuiop", "Zyxwv",
                            "Gru\u0308neberg", "Grüneberg", "GRUNEBERG", "1937-04-12",
                            "12.04.1937", "PX88213QQ", "px-88213-qq", "Ｚｙｘｗｖ", "Li Zyxwv"])
FREE_TEXT = st.one_of(st.text(max_size=30), PHI_TEXT,
                      st.builds(lambda a, b: f"AX T1 {a} {b}", PHI_TEXT, PHI_TEXT))
NUMBER = st.one_of(st.integers(-5, 10), st.sampled_from([0, 3, 255, 65535, 10**6, 2**31 - 1, 10**9, 10**12]))
FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32),
                   st.sampled_from([0.0, -1.0, 1e-30, 1e38, float("nan")]))
FIELDS = {
    "NumberOfFrames": NUMBER, "Rows": NUMBER, "Columns": NUMBER,
    "BitsAllocated": st.sampled_from([0, 1, 8, 12, 16, 32, 64, 255]),
    "SamplesPerPixel": st.sampled_from([0, 1, 2, 3, 4, 200]),
    "PixelRepresentation": st.sampled_from([0, 1, 7]),
    "Modality": st.one_of(st.sampled_from(["MR", "CT", "PT", "mr", "", "US"]), PHI_TEXT, st.text(max_size=16)),
    "PhotometricInterpretation": st.one_of(
        st.sampled_from(["MONOCHROME1", "MONOCHROME2", "RGB", "PALETTE COLOR", "YBR_FULL", ""]),
        PHI_TEXT, st.text(max_size=16)),
    "PixelSpacing": st.lists(FLOATS, min_size=0, max_size=3),
    "ImageOrientationPatient": st.one_of(
        st.sampled_from([[1, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 1, 0], [1, 0, 0, -1, 0, 0]]),
        st.lists(FLOATS, min_size=0, max_size=7)),
    "RescaleSlope": FLOATS, "RescaleIntercept": FLOATS,
    "SliceThickness": FLOATS, "SpacingBetweenSlices": FLOATS,
    "SeriesDescription": FREE_TEXT, "ProtocolName": FREE_TEXT, "Manufacturer": FREE_TEXT,
    "ImageType": st.sampled_from([["ORIGINAL", "PRIMARY"], ["DERIVED", "SECONDARY"], ["ORIGINAL", "PRIMARY", "MOSAIC"]]),
}


def _series_with_patient():
    from test_imaging_dicom import write_series

    return [b for _, b, _ in write_series(BLOCK[:, :, :3], AFFINE, patient=PATIENT, desc="AX T1 POST GD")]


PHI_SERIES = _series_with_patient()


def _edited(blob: bytes, changes: dict) -> bytes:
    import pydicom

    ds = pydicom.dcmread(io.BytesIO(blob))
    ds.SpecificCharacterSet = "ISO_IR 192"
    for kw, v in changes.items():
        try:
            setattr(ds, kw, v)
        except Exception:  # pydicom refuses some values outright: not a case for the loader
            pass
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds.save_as(buf, enforce_file_format=True)
        except Exception:
            return blob
    return buf.getvalue()


DICOM_FUZZ = settings(max_examples=150, deadline=6000, derandomize=True, database=None,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _dicom_header_case(changes, which, zipped):
    files = [(f"IM{k}", b) for k, b in enumerate(PHI_SERIES)]
    for k in (range(len(files)) if which == "all" else [which]):
        files[k] = (files[k][0], _edited(files[k][1], changes))
    if zipped:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            for name, blob in files:
                zf.writestr(f"Qwertyuiop_Zyxwv/{name}", blob)
        files = [("export.zip", buf.getvalue())]
    _check(files, IDENTS, counter="dicom_header")


@DICOM_FUZZ
@given(changes=st.fixed_dictionaries({}, optional=FIELDS), which=st.sampled_from([0, "all"]),
       zipped=st.booleans())
def test_fuzzed_dicom_header_fields(changes, which, zipped):
    _dicom_header_case(changes, which, zipped)


@pytest.mark.slow
@settings(max_examples=600, deadline=6000, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(changes=st.fixed_dictionaries({}, optional=FIELDS), which=st.sampled_from([0, 1, "all"]),
       zipped=st.booleans())
def test_fuzzed_dicom_header_fields_many(changes, which, zipped):
    _dicom_header_case(changes, which, zipped)


def test_alarm_catches_a_hang():
    with pytest.raises(TimeoutError):
        with _alarm(1):
            while True:
                pass
