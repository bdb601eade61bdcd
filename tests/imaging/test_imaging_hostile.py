"""Hostile files, round two (issue 16): one regression test per class, on realistic files.

DICOM files are written with pydicom from a real volume (the demo BraTS T1ce, as in
test_imaging_dicom.py) and from the real pydicom sample files; each is then made hostile in one
field. Every refusal must be one line, quick, bounded in memory, and free of identifiers.
"""

from __future__ import annotations

import copy
import gzip
import io
import json
import logging
import os
import socket
import struct
import subprocess
import sys
import time
import tracemalloc
import warnings
import zipfile

import nibabel as nib
import numpy as np
import pydicom
import pytest

from model.core.config import DATA_DIR, DEMO_STUDY_DIR, REPO_ROOT
from model.core.errors import (MixedPatientsError, NotMRIError, StudyError, UnreadableFileError,
                               UploadTooLargeError, WrongDimensionsError)
from model.core.warnings import GeometryWarning, TumorBoardWarning
from model.imaging.io.deid import fold, identifier_strings, scrub
from model.imaging.io.uploads import read_uploads
from model.imaging.study import Study
from test_imaging_dicom import _block, _to_bytes, write_enhanced, write_series

SAMPLES = DATA_DIR / "dicom_mr_samples"
T1C = DEMO_STUDY_DIR / "BraTS-GLI-00001-000-t1c.nii.gz"
#: A made-up patient; none of these tokens (folded) may reach any output.
PATIENT = {"PatientName": "Qwertyuiop^Zyxwv^Li", "PatientID": "PX-88213-QQ",
           "PatientBirthDate": "19370412", "InstitutionName": "Klinik Grüneberg",
           "ReferringPhysicianName": "Plonk^Doctorina"}
TOKENS = ["qwertyuiop", "zyxwv", "px-88213", "88213", "19370412", "1937-04-12", "12.04.1937",
          "gruneberg", "plonk", "doctorina"]


def _no_identifier(text: str) -> None:
    f = fold(text)
    for t in TOKENS:
        assert t not in f, (t, text)
    assert not any(w == "li" for w in fold(text).replace("_", " ").split()), text


def _one_line(exc: BaseException) -> str:
    msg = str(exc)
    assert msg and "\n" not in msg and "Traceback" not in msg, msg
    return msg


@pytest.fixture(scope="module")
def block():
    data, aff = _block("t1c", (slice(90, 150), slice(80, 150), slice(70, 80)))
    return data, aff


@pytest.fixture(scope="module")
def series(block):
    """10 real MR slices with a made-up patient in the header."""
    return [(n, b) for n, b, _ in write_series(*block, patient=PATIENT, desc="AX T1 POST GD")]


def _edit(blob: bytes, **tags) -> bytes:
    ds = pydicom.dcmread(io.BytesIO(blob))
    for kw, v in tags.items():
        if v is None:
            delattr(ds, kw)
        else:
            setattr(ds, kw, v)
    return _to_bytes(ds)


def _edit_all(series, **tags):
    return [(n, _edit(b, **tags)) for n, b in series]


def _zip(members) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, blob in members:
            zf.writestr(name, blob)
    return buf.getvalue()


def _bounded_load(files, seconds=10.0, mib=200):
    """Load through both entry points; returns the StudyError raised (or None), checking that
    it took less than ``seconds`` and allocated less than ``mib`` MiB (tracemalloc peak)."""
    tracemalloc.start()
    t0 = time.monotonic()
    err = None
    try:
        Study.from_bytes([(n, b, None) for n, b in files])
    except StudyError as exc:
        err = exc
    try:
        read_uploads(files)
    except StudyError:
        pass
    elapsed = time.monotonic() - t0
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    assert elapsed < seconds, f"took {elapsed:.1f} s"
    assert peak < mib, f"allocated {peak:.0f} MiB"
    return err


# ------------------------------------------------------------------ sizes claimed by headers

@pytest.mark.parametrize("tags,error,match", [
    ({"NumberOfFrames": 10**9}, UploadTooLargeError, "claims over a billion frames"),
    ({"NumberOfFrames": 2_000_000}, UploadTooLargeError, "claims 2,000,000 frames"),
    ({"NumberOfFrames": 3}, UnreadableFileError, "truncated"),
    ({"Rows": 4000, "Columns": 4000}, UnreadableFileError, "truncated"),
    ({"Rows": 60000}, UnreadableFileError, "not plausible"),
    ({"BitsAllocated": 64}, UnreadableFileError, "truncated"),
    ({"BitsAllocated": 12}, UnreadableFileError, "pixel format"),
    ({"SamplesPerPixel": 3}, UnreadableFileError, "truncated"),
], ids=["frames-1e9", "frames-2e6", "frames-3", "rows-cols", "rows-huge", "bits-64", "bits-12", "spp-3"])
def test_claimed_sizes_are_checked_before_allocating(series, tags, error, match):
    bad = [(series[0][0], _edit(series[0][1], **tags))]
    for files in (bad, [("export.zip", _zip(bad))]):
        err = _bounded_load(files)
        assert isinstance(err, error), err
        assert match in _one_line(err)
        _no_identifier(str(err))


def test_enhanced_mr_with_a_billion_claimed_frames_in_a_2kb_zip(block):
    blob = write_enhanced(*block)
    ds = pydicom.dcmread(io.BytesIO(blob))
    ds.NumberOfFrames = 10**9
    hostile = _zip([("IM1", _to_bytes(ds))])
    err = _bounded_load([("case.zip", hostile)], seconds=5, mib=100)
    assert isinstance(err, UploadTooLargeError) and "over a billion frames" in _one_line(err)


@pytest.mark.needs_shared("dicom_mr_samples")
@pytest.mark.parametrize("sample", ["single/emri_small.dcm", "single/MR_small.dcm"])
def test_real_samples_claiming_more_frames(sample):
    ds = pydicom.dcmread(SAMPLES / sample)
    ds.NumberOfFrames = 10**9
    err = _bounded_load([("x.dcm", _to_bytes(ds))], seconds=5, mib=100)
    assert isinstance(err, UploadTooLargeError)


@pytest.mark.parametrize("offset,fmt,value,match", [
    (42, "<hh", (32767, 32767), "truncated: its header describes"),   # dim[1], dim[2]
    (48, "<h", (32767,), "truncated: its header describes"),          # dim[4]: 4D claim
], ids=["dims", "dim4"])
def test_nifti_dims_are_checked_against_the_file_size(offset, fmt, value, match):
    img = nib.load(T1C)
    raw = bytearray(nib.Nifti1Image(np.asanyarray(img.dataobj)[90:130, 90:130, 60:70], img.affine).to_bytes())
    raw[offset:offset + struct.calcsize(fmt)] = struct.pack(fmt, *value)
    if offset == 48:
        raw[40:42] = struct.pack("<h", 4)
    err = _bounded_load([("case_t1.nii", bytes(raw))])
    assert isinstance(err, StudyError) and (match in str(err) or "time series" in str(err))
    _one_line(err)


# ------------------------------------------------------------------ non-regular paths

def _special_paths(tmp_path):
    fifo = tmp_path / "scan_t1.nii"
    os.mkfifo(fifo)
    out = [("fifo", fifo), ("device", "/dev/zero")]
    sock = tmp_path / "s.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(sock))
    out.append(("socket", sock))
    link = tmp_path / "link_t1.nii"
    link.symlink_to(fifo)
    out.append(("link to a fifo", link))
    return out, s


def test_fifos_devices_and_sockets_are_refused_before_reading(tmp_path):
    paths, sock = _special_paths(tmp_path)
    try:
        for kind, p in paths:
            t0 = time.monotonic()
            with pytest.raises(UnreadableFileError, match="not a file") as exc:
                Study.from_paths([p])
            assert time.monotonic() - t0 < 2, kind
            _one_line(exc.value)
        folder = tmp_path / "dicom"
        folder.mkdir()
        os.mkfifo(folder / "IM0001")  # inside a folder: skipped, never opened
        with pytest.raises(StudyError):
            Study.from_paths([folder])
    finally:
        sock.close()


def test_cli_refuses_a_fifo_in_one_line(tmp_path):
    fifo = tmp_path / "scan_t1.nii"
    os.mkfifo(fifo)
    r = subprocess.run([sys.executable, "-m", "model.predict", str(fifo)], cwd=REPO_ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [f"error: {fifo.name} is a named pipe (FIFO), not a "
                                             "file; give the image file itself."]


# ------------------------------------------------------------------ enumerated fields

@pytest.mark.parametrize("tags,error,expected", [
    ({"Modality": "Qwertyuiop^Zyxwv"}, NotMRIError, "an unknown Modality value"),
    ({"Modality": "PX-88213-QQ"}, NotMRIError, "an unknown Modality value"),
    ({"Modality": "PT"}, NotMRIError, "DICOM Modality PT (PET)"),
    ({"Modality": "ct"}, NotMRIError, "is CT"),
    ({"PhotometricInterpretation": "QWERTYUIOP ZYXWV"}, UnreadableFileError,
     "an unknown PhotometricInterpretation value"),
    ({"PhotometricInterpretation": "RGB"}, WrongDimensionsError, "colour images (RGB colour)"),
], ids=["name-in-modality", "id-in-modality", "pet", "ct-lowercase", "name-in-photometric", "rgb"])
def test_enumerated_fields_are_never_echoed(series, tags, error, expected):
    err = _bounded_load(_edit_all(series[:3], **tags))
    assert isinstance(err, error), err
    assert expected in _one_line(err)
    _no_identifier(str(err))


def test_unknown_transfer_syntax_is_not_echoed(series):
    ds = pydicom.dcmread(io.BytesIO(series[0][1]))
    ds.file_meta.TransferSyntaxUID = "1.2.3.4.88213"
    try:
        Study.from_bytes([("x.dcm", _to_bytes(ds), None)])
    except StudyError as exc:
        assert "88213" not in _one_line(exc)


# ------------------------------------------------------------------ identifier scrubbing

@pytest.mark.parametrize("description", [
    "AX T1 Zyxwv Qwertyuiop",                 # parts reordered
    "ax t1 QWERTYUIOP^ZYXWV",                 # upper case, DICOM separator
    "AX T1 Li",                               # a two-letter part
    "T1 " + "Qwertyuiop"[:3] + "rtyuiop",     # glued back together
    "T1 scan 1937-04-12",                     # the birth date, spelled otherwise
    "T1 12.04.1937",
    "T1 PX88213QQ",                           # the ID without separators
    "T1 Klinik Gruneberg",                    # accents dropped
    "T1 Klinik Gru\u0308neberg",              # NFD instead of NFC
    "T1 Ｑｗｅｒｔｙｕｉｏｐ",                      # full-width (NFKC)
], ids=["reordered", "case", "two-letter", "glued", "date-iso", "date-dmy", "id-glued",
        "accent-folded", "nfd", "fullwidth"])
def test_identifiers_are_scrubbed_from_every_output(series, tmp_path, description):
    files = _edit_all(series, SpecificCharacterSet="ISO_IR 192", SeriesDescription=description,
                      Manufacturer="Zyxwv Medical", ProtocolName=description)
    files = [(f"Qwertyuiop_Zyxwv_{k}.dcm", b) for k, (_, b) in enumerate(files)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        study = Study.from_bytes([(n, b, "T1ce") for n, b in files])
        found = read_uploads(files)
    outputs = [json.dumps(study.summary()), " ".join(study.warnings), " ".join(found.warnings)]
    for v in list(study.volumes.values()) + found.volumes:
        outputs += [v.source_name, json.dumps(v.details, default=str), " ".join(v.warnings)]
    outputs += [str(w.message) for w in caught]
    for p in study.save(tmp_path / "saved"):
        outputs.append(gzip.decompress(p.read_bytes()).decode("latin-1"))
    with pytest.raises(StudyError) as exc:  # and a refusal of the same upload
        Study.from_bytes([(n, _edit(b, Modality="Zyxwv"), None) for n, b in files[:2]])
    outputs.append(str(exc.value))
    for text in outputs:
        _no_identifier(text)


@pytest.mark.parametrize("text,idents,expected", [
    ("Jane DOE t1", ["Doe^Jane"], "*** *** t1"),
    ("ja\u0301ne t1", ["Jáne"], "*** t1"),          # NFD text, NFC identifier
    ("Wu flair", ["Li^Wu"], "*** flair"),            # two letters as a word ...
    ("t2 flair", ["Li^Ai"], "t2 flair"),             # ... but not inside one
    ("series 3", ["3"], "series 3"),                 # short numbers are not identifiers
], ids=["reordered", "nfd-vs-nfc", "two-letter-word", "two-letter-inside", "short-number"])
def test_scrub_table(text, idents, expected):
    assert scrub(text, identifier_strings(idents)) == expected


# ------------------------------------------------------------------ quiet libraries

def _cli(path, tmp_path):
    return subprocess.run([sys.executable, "-m", "model.predict", str(path)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TUMORBOARD_TORCH_THREADS": "1"})


def _hostile_nifti(offset, fmt, value) -> bytes:
    img = nib.load(T1C)
    raw = bytearray(nib.Nifti1Image(np.asanyarray(img.dataobj)[90:150, 90:150, 60:75], img.affine).to_bytes())
    raw[offset:offset + struct.calcsize(fmt)] = struct.pack(fmt, value)
    return bytes(raw)


@pytest.mark.parametrize("kind", ["datatype-1536", "vox-offset-nan", "dicom-slope-1e38"])
def test_a_refusal_is_exactly_one_line_on_the_command_line(series, tmp_path, kind, caplog):
    if kind == "datatype-1536":
        path, blob = tmp_path / "case_t1.nii", _hostile_nifti(70, "<h", 1536)
    elif kind == "vox-offset-nan":
        path, blob = tmp_path / "case_t1.nii", _hostile_nifti(108, "<f", float("nan"))
    else:
        path, blob = tmp_path / "IM0001.dcm", _edit(series[0][1], RescaleSlope=1e38)
    path.write_bytes(blob)
    r = _cli(path, tmp_path)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    _no_identifier(r.stderr)
    # In process (the server): no library warning and no library log record escapes.
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(StudyError):
            Study.from_bytes([(path.name, blob, "T1")])
    assert [w for w in caught if not issubclass(w.category, TumorBoardWarning)] == []
    assert [r for r in caplog.records if r.name.split(".")[0] in ("nibabel", "pydicom", "PIL")] == []


# ------------------------------------------------------------------ unknown geometry

@pytest.mark.parametrize("tags,known,words", [
    ({}, True, None),
    ({"PixelSpacing": [0, 0]}, False, "no usable pixel spacing"),
    ({"PixelSpacing": ["nan", "nan"]}, False, "no usable pixel spacing"),
    ({"PixelSpacing": None}, False, "no usable pixel spacing"),
    ({"ImageOrientationPatient": [1, 0, 0, 1, 0, 0]}, False, "degenerate"),
    ({"ImageOrientationPatient": [1, 0, 0, -1, 1e-4, 0]}, False, "degenerate"),
], ids=["normal", "spacing-zero", "spacing-nan", "spacing-missing", "parallel", "antiparallel"])
def test_degenerate_dicom_geometry_is_flagged(series, tags, known, words):
    files = _edit_all(series, **tags) if tags else series
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        study = Study.from_bytes([(n, b, "T1ce") for n, b in files])
    vol = study.volumes["T1ce"]
    assert vol.geometry_known is known and study.geometry_known is known
    assert vol.summary()["geometry_known"] is known
    geo = [w for w in caught if issubclass(w.category, GeometryWarning)]
    if known:
        assert not geo
    else:
        assert geo and any(words in w for w in vol.warnings)
        assert any("sizes in mm and mL" in w or "orientation is unknown" in w for w in vol.warnings)


@pytest.mark.parametrize("edit,known", [
    (None, True),
    ("pixdim-zero", False),
    ("pixdim-nan", False),
    ("identity", False),
], ids=["normal", "pixdim-zero", "pixdim-nan", "identity-placeholder"])
def test_degenerate_nifti_geometry_is_flagged(edit, known):
    img = nib.load(T1C)
    data = np.asanyarray(img.dataobj)[90:150, 90:150, 60:75]
    im = nib.Nifti1Image(data, np.eye(4) if edit == "identity" else img.affine)
    raw = bytearray(im.to_bytes())
    if edit in ("pixdim-zero", "pixdim-nan"):
        v = 0.0 if edit == "pixdim-zero" else float("nan")
        raw[80:84] = struct.pack("<f", v)                   # pixdim[1]
        raw[252:256] = struct.pack("<hh", 1, 0)             # qform only (uses pixdim)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        study = Study.from_bytes([("case_t1.nii", bytes(raw), None)])
    assert study.volumes["T1"].geometry_known is known
    assert any(issubclass(w.category, GeometryWarning) for w in caught) is (not known)


def test_demo_study_geometry_is_known(demo_study):
    assert demo_study.geometry_known and all(v.geometry_known for v in demo_study.volumes.values())


# ------------------------------------------------------------------ uploads and messages

@pytest.mark.parametrize("names", [("case_t1c.hdr",), ("case_t1c.img",), ("case_t1c.hdr.gz",)])
def test_the_command_line_pairs_an_analyze_header_with_its_image(tmp_path, names):
    img = nib.load(T1C)
    a = nib.AnalyzeImage(np.asanyarray(img.dataobj)[60:180, 60:180, 40:120].astype(np.int16), img.affine)
    nib.save(a, tmp_path / "case_t1c.hdr")
    if names[0].endswith(".gz"):
        hdr = tmp_path / "case_t1c.hdr"
        (tmp_path / "case_t1c.hdr.gz").write_bytes(gzip.compress(hdr.read_bytes()))
        hdr.unlink()
    study = Study.from_paths([tmp_path / names[0]])
    assert study.sequences == ("T1ce",) and study.volumes["T1ce"].shape == (120, 120, 80)


def test_half_a_pair_without_its_partner_says_what_is_missing(tmp_path):
    img = nib.load(T1C)
    nib.save(nib.AnalyzeImage(np.asanyarray(img.dataobj)[:20, :20, :20], img.affine), tmp_path / "x_t1.hdr")
    (tmp_path / "x_t1.img").unlink()
    with pytest.raises(UnreadableFileError, match="half of an Analyze pair: upload its .img") as exc:
        Study.from_paths([tmp_path / "x_t1.hdr"])
    _one_line(exc.value)


def test_extension_less_dicom_is_sniffed(series):
    blob = series[0][1]
    ds = pydicom.dcmread(io.BytesIO(blob))
    raw = io.BytesIO()
    ds.save_as(raw, enforce_file_format=False)  # no preamble, no file meta ("IM0001" exports)
    for name, data in (("4950", blob), ("IM0001", raw.getvalue())):
        found = read_uploads([(name, data)] + [(f"{k}", b) for k, (_, b) in enumerate(series[1:], 5000)])
        assert len(found.volumes) == 1 and found.volumes[0].shape[2] == len(series)


def test_mixed_patients_message_grammar(series):
    other = _edit(series[0][1], PatientName="Other^Person", PatientID="OTHER-1")
    with pytest.raises(MixedPatientsError) as exc:
        Study.from_bytes([("a.dcm", series[1][1], None), ("b.dcm", other, None)])
    assert _one_line(exc.value).startswith("2 DICOM files hold images of 2 different patients.")


def test_same_patient_in_two_unicode_forms_is_one_patient(series):
    nfc = _edit_all(series[:5], SpecificCharacterSet="ISO_IR 192", PatientName="Müller^Jörg")
    nfd = _edit_all(series[5:], SpecificCharacterSet="ISO_IR 192", PatientName="Mu\u0308ller^Jo\u0308rg")
    study = Study.from_bytes([(n, b, "T1ce") for n, b in nfc + nfd])
    assert study.volumes["T1ce"].shape[2] == len(series)
