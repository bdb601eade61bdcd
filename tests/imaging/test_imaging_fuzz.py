"""Fuzzing the loaders with hypothesis: random bytes, mutated headers, random zip members.

Whatever the input, loading either returns well-formed volumes or raises a StudyError (a
typed, clinician-readable refusal): never another exception, never a hang. Examples are
derandomised (reproducible in CI) and bounded by a deadline and a hard alarm.
"""

import contextlib
import gzip
import io
import signal
import warnings
import zipfile

import nibabel as nib
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model.core.errors import StudyError
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


def _check(files):
    """Load with both entry points; only StudyError may escape; results are well formed."""
    with _alarm():
        for loader in (lambda: read_uploads([(n, d) for n, d in files]).volumes,
                       lambda: list(Study.from_bytes([(n, d, "T1") for n, d in files]).volumes.values())):
            try:
                vols = loader()
            except StudyError as exc:
                assert str(exc)
                continue
            for v in vols:
                assert v.data.dtype == np.float32 and v.data.ndim == 3
                assert np.isfinite(v.data).all() and np.isfinite(v.affine).all()
                assert v.orientation == "RAS"


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
    _check([(name, data)])


@FUZZ
@given(name=st.sampled_from(["a_t1.nii", "a_t1.nii.gz", "scan"]),
       pos=st.lists(st.tuples(st.integers(0, 351), st.integers(0, 255)), min_size=1, max_size=8),
       cut=st.sampled_from([0, 0, 0, 1, 100, 2000]))
def test_mutated_nifti_header(name, pos, cut):
    _check([(name, _mutate(NIFTI, pos, cut))])


@FUZZ
@given(e=edits, cut=st.sampled_from([0, 0, 7, 300]))
def test_mutated_gzip_mgh_and_analyze(e, cut):
    _check([("b_t2.nii.gz", _mutate(NIFTI_GZ, e, cut))])
    _check([("b_t2.mgh", _mutate(MGH, [(p % 284, v) for p, v in e], cut))])
    _check([("c_t1.hdr", _mutate(HDR, [(p % 348, v) for p, v in e], 0)), ("c_t1.img", IMG[: len(IMG) - cut])])


@FUZZ
@given(e=edits, which=st.integers(0, 2), cut=st.sampled_from([0, 0, 0, 5, 200]))
def test_mutated_dicom_slice(e, which, cut):
    files = [(f"IM{k}.dcm", b) for k, b in enumerate(DICOM)]
    files[which] = (files[which][0], _mutate(files[which][1], e, cut))
    _check(files)


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
    _check([("upload.zip", data[: max(0, len(data) - cut)])])


def test_alarm_catches_a_hang():
    with pytest.raises(TimeoutError):
        with _alarm(1):
            while True:
                pass
