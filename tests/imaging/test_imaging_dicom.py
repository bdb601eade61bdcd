"""DICOM loading (model/imaging/io/dicom.py through model.imaging.study) on series written from real volumes.

Each series is written with pydicom from a block of the real BraTS demo volumes, so the
expected answer is known exactly: the loaded RAS volume must equal nibabel's canonical
reorientation of the source block, voxel for voxel, with the same affine.
"""

import gzip
import io
import json
import logging
import random
import subprocess
import sys
import zipfile

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless, MRImageStorage, generate_uid

from model.core.config import DATA_DIR, DEMO_STUDY_DIR, REPO_ROOT
from model.imaging.io.sniff import looks_like_dicom
from model.imaging.sequences import sequence_from_description
from model.core.errors import (IncompleteSeriesError, NotMRIError, StudyError, TimeSeriesError,
                               UnsupportedDicomError, WrongDimensionsError)
from model.imaging.io.uploads import read_uploads
from model.imaging.study import Study

SAMPLES = DATA_DIR / "dicom_mr_samples"
ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.1"
#: Fake patient details; none may appear in any output.
PHI = {
    "PatientName": "Zyxwv^Qwertyuiop", "PatientID": "PID-4471-XQ", "PatientBirthDate": "19370412",
    "OtherPatientIDs": "OTH-99812", "AccessionNumber": "ACC-5521-77",
    "InstitutionName": "Hospital of Saint Qwertyville", "ReferringPhysicianName": "Plonk^Doctorina",
    "PerformingPhysicianName": "Grumble^Medic", "StudyDate": "20190317", "SeriesDate": "20190317",
}
PHI_STRINGS = ["Zyxwv", "Qwertyuiop", "PID-4471", "19370412", "OTH-99812", "ACC-5521",
               "Qwertyville", "Plonk", "Doctorina", "Grumble", "20190317"]


def _block(name: str, sl=(slice(80, 160), slice(70, 170), slice(60, 90))):
    img = nib.load(DEMO_STUDY_DIR / f"BraTS-GLI-00001-000-{name}.nii.gz")
    shift = np.eye(4)
    shift[:3, 3] = [s.start for s in sl]
    return np.asanyarray(img.dataobj)[sl].astype(np.int16), img.affine @ shift


def _canonical(data, affine):
    ref = nib.as_closest_canonical(nib.Nifti1Image(np.asarray(data, np.float32), affine))
    return ref.get_fdata(dtype=np.float32), ref.affine


def _base(sop_class, desc, series_uid, series_number, patient):
    fm = FileMetaDataset()
    fm.MediaStorageSOPClassUID = sop_class
    sop = generate_uid()
    fm.MediaStorageSOPInstanceUID = sop
    fm.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = fm
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, sop
    ds.Modality = "MR"
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    ds.SeriesInstanceUID, ds.SeriesNumber = series_uid, series_number
    ds.SeriesDescription = desc
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND"]
    for kw, v in (patient or {}).items():
        setattr(ds, kw, v)
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    return ds


def _to_bytes(ds) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def write_series(data, affine_ras, desc="AX T1 POST GD", patient=None, slope=1.0, inter=0.0,
                 series_number=3, compress=None, extra=None):
    """A DICOM MR series (one file per slice along axis 2) of a RAS-affine int16 volume.

    Returns a list of (file name, bytes, dataset)."""
    lps = np.diag([-1.0, -1, 1, 1]) @ affine_ras
    sp = np.linalg.norm(lps[:3, :3], axis=0)
    r, c = lps[:3, 0] / sp[0], lps[:3, 1] / sp[1]
    uid = generate_uid()
    out = []
    for k in range(data.shape[2]):
        ds = _base(MRImageStorage, desc, uid, series_number, patient)
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [round(float(x), 6) for x in (lps @ [0, 0, k, 1])[:3]]
        ds.ImageOrientationPatient = [round(float(x), 8) for x in np.r_[r, c]]
        ds.PixelSpacing = [float(sp[1]), float(sp[0])]
        ds.SliceThickness = float(sp[2])
        ds.RescaleSlope, ds.RescaleIntercept = slope, inter
        px = np.ascontiguousarray(data[:, :, k].T).astype(np.int16)
        ds.Rows, ds.Columns = px.shape
        ds.PixelData = px.tobytes()
        for kw, v in (extra or {}).items():
            setattr(ds, kw, v)
        if compress is not None:
            ds.compress(compress, px)
        out.append((f"S{series_number}/IM{k:04d}", _to_bytes(ds), ds))
    return out


def write_enhanced(data, affine_ras, desc="T1 MPRAGE", slope=2.0, inter=-5.0, order=None):
    """One Enhanced MR multi-frame file; frames stored in ``order`` (default: shuffled)."""
    lps = np.diag([-1.0, -1, 1, 1]) @ affine_ras
    sp = np.linalg.norm(lps[:3, :3], axis=0)
    r, c = lps[:3, 0] / sp[0], lps[:3, 1] / sp[1]
    nz = data.shape[2]
    order = order if order is not None else random.Random(3).sample(range(nz), nz)
    ds = _base(ENHANCED_MR, desc, generate_uid(), 7, PHI)
    ds.NumberOfFrames = nz
    ds.InstanceNumber = 1
    shared = Dataset()
    po, pm, pv = Dataset(), Dataset(), Dataset()
    po.ImageOrientationPatient = [round(float(x), 8) for x in np.r_[r, c]]
    pm.PixelSpacing = [float(sp[1]), float(sp[0])]
    pm.SliceThickness = float(sp[2])
    pv.RescaleSlope, pv.RescaleIntercept = slope, inter
    shared.PlaneOrientationSequence = DicomSequence([po])
    shared.PixelMeasuresSequence = DicomSequence([pm])
    shared.PixelValueTransformationSequence = DicomSequence([pv])
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])
    per = []
    for k in order:
        item, pp = Dataset(), Dataset()
        pp.ImagePositionPatient = [round(float(x), 6) for x in (lps @ [0, 0, k, 1])[:3]]
        item.PlanePositionSequence = DicomSequence([pp])
        per.append(item)
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(per)
    frames = np.stack([data[:, :, k].T for k in order]).astype(np.int16)
    ds.Rows, ds.Columns = frames.shape[1:]
    ds.PixelData = frames.tobytes()
    return _to_bytes(ds)


def _zip(members) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, blob in members:
            zf.writestr(name, blob)
    return buf.getvalue()


def _files(series):
    return [(n, b, None) for n, b, _ in series]


@pytest.fixture(scope="module")
def t1c():
    return _block("t1c")


@pytest.fixture(scope="module")
def t1c_series(t1c):
    return write_series(*t1c, patient=PHI, desc="AX T1 POST GD Zyxwv")


def _assert_same(vol, data, affine, atol=1e-4):
    exp, exp_aff = _canonical(data, affine)
    assert vol.shape == exp.shape and vol.orientation == "RAS"
    np.testing.assert_array_equal(vol.data, exp)
    np.testing.assert_allclose(vol.affine, exp_aff, atol=atol)


# ---------------------------------------------------------------------------- geometry


def test_series_geometry_is_exact_whatever_the_file_order(t1c, t1c_series):
    files = _files(t1c_series)
    random.Random(0).shuffle(files)
    study = Study.from_bytes(files)
    assert study.sequences == ("T1ce",)  # from "AX T1 POST GD"
    vol = study.volumes["T1ce"]
    _assert_same(vol, *t1c)
    assert vol.source_orientation == "LPS" and vol.spacing_mm == pytest.approx((1, 1, 1))
    assert vol.details["format"] == "DICOM" and vol.details["slices"] == 30
    assert study.warnings == []


def test_oblique_series(t1c):
    data, aff = t1c
    t = np.radians(20)
    rot = np.eye(4)
    rot[1:3, 1:3] = [[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]  # tilted about x
    oblique = rot @ aff
    vol = Study.from_bytes(_files(write_series(data, oblique, desc="t2_tse_tra"))).volumes["T2"]
    _assert_same(vol, data, oblique)


def test_rescale_slope_intercept_applied(t1c):
    data, aff = t1c
    vol = Study.from_bytes(_files(write_series(data, aff, slope=0.5, inter=100.0))).volumes["T1ce"]
    _assert_same(vol, data.astype(np.float32) * 0.5 + 100, aff)


def test_jpeg2000_compressed_series_is_lossless(t1c):
    series = write_series(*t1c, compress=JPEG2000Lossless)
    assert series[0][2].file_meta.TransferSyntaxUID == JPEG2000Lossless
    vol = Study.from_bytes(_files(series)).volumes["T1ce"]
    _assert_same(vol, *t1c)
    assert vol.details["transfer_syntax"].startswith("JPEG 2000")


def test_enhanced_multiframe(t1c):
    data, aff = t1c
    vol = Study.from_bytes([("enhanced.dcm", write_enhanced(data, aff), None)]).volumes["T1"]
    _assert_same(vol, data.astype(np.float32) * 2 - 5, aff)
    assert vol.details["enhanced"] is True


# ---------------------------------------------------------------------------- slice problems


def test_missing_slice_is_refused(t1c_series):
    files = _files(t1c_series)
    del files[12]
    with pytest.raises(IncompleteSeriesError, match=r"1 slice\(s\) missing .* after slice 12 of 29"):
        Study.from_bytes(files)


def test_duplicated_slices_are_removed_with_a_warning(t1c, t1c_series):
    files = _files(t1c_series)
    # The same file twice, and a re-sent copy of slice 5 (new instance UID, same pixels).
    copy = pydicom.dcmread(io.BytesIO(files[5][1]))
    copy.SOPInstanceUID = copy.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    files += [("again/IM0003", files[3][1], None), ("copy/IM0005", _to_bytes(copy), None)]
    study = Study.from_bytes(files)
    _assert_same(study.volumes["T1ce"], *t1c)
    assert any("appeared twice" in w for w in study.warnings)
    assert any("1 duplicated slice(s)" in w for w in study.warnings)


def test_conflicting_slice_and_time_series_are_refused(t1c_series):
    files = _files(t1c_series)
    other = pydicom.dcmread(io.BytesIO(files[5][1]))
    other.SOPInstanceUID = generate_uid()
    other.PixelData = (other.pixel_array // 2).astype(np.int16).tobytes()
    with pytest.raises(IncompleteSeriesError, match="different images at the same slice position"):
        Study.from_bytes(files + [("x/IM", _to_bytes(other), None)])
    doubled = []
    for name, blob, _ in t1c_series:
        ds = pydicom.dcmread(io.BytesIO(blob))
        ds.SOPInstanceUID = generate_uid()
        ds.PixelData = (ds.pixel_array // 2 + 1).astype(np.int16).tobytes()
        doubled.append((name + "b", _to_bytes(ds), None))
    with pytest.raises(TimeSeriesError, match="2 different images at each of its 30"):
        Study.from_bytes(files + doubled)


def test_uneven_spacing(t1c_series):
    def moved(delta):
        files = _files(t1c_series)
        ds = pydicom.dcmread(io.BytesIO(files[10][1]))
        ds.ImagePositionPatient = [ds.ImagePositionPatient[0], ds.ImagePositionPatient[1],
                                   float(ds.ImagePositionPatient[2]) + delta]
        files[10] = (files[10][0], _to_bytes(ds), None)
        return files

    with pytest.raises(IncompleteSeriesError, match="unevenly spaced"):
        Study.from_bytes(moved(0.4))
    study = Study.from_bytes(moved(0.05))
    assert any("slightly uneven slice spacing" in w for w in study.warnings)


# ---------------------------------------------------------------------------- whole studies


@pytest.fixture(scope="module")
def study_zip(t1c_series):
    t1n, aff = _block("t1n")
    flair, _ = _block("t2f")
    members = [(n, b) for n, b, _ in t1c_series]
    members += [(n, b) for n, b, _ in write_series(t1n, aff, "t1_mprage_tra", PHI, series_number=4)]
    members += [(n, b) for n, b, _ in write_series(flair, aff, "t2_tirm_tra_dark-fluid", PHI,
                                                   series_number=5, compress=JPEG2000Lossless)]
    dwi = write_series(t1n[:, :, :4], aff, "ep2d_diff_tra", PHI, series_number=6,
                       extra={"DiffusionBValue": 1000.0})
    loc = write_series(t1n[:, :, :3], aff, "3-plane loc", PHI, series_number=1,
                       extra={"ImageType": ["ORIGINAL", "PRIMARY", "LOCALIZER"]})
    members += [(n, b) for n, b, _ in dwi + loc]
    members += [("__MACOSX/S3/._IM0001", b"\0\5\26\7 resource fork"),
                ("README.txt", b"Export for Zyxwv Qwertyuiop, PID-4471-XQ"),
                ("DICOMDIR", b"\0" * 128 + b"DICM" + b"\0" * 64)]
    return _zip(members), {"T1": t1n, "T1ce": t1c_series, "FLAIR": flair, "affine": aff}


def test_zip_of_a_whole_study_yields_sequences_by_description(study_zip):
    blob, parts = study_zip
    study = Study.from_bytes([("export.zip", blob, None)])
    assert study.sequences == ("T1", "T1ce", "FLAIR")
    _assert_same(study.volumes["T1"], parts["T1"], parts["affine"])
    _assert_same(study.volumes["FLAIR"], parts["FLAIR"], parts["affine"])
    assert study.volumes["FLAIR"].source_name == "export.zip › series 5 (t2_tirm_tra_dark-fluid)"
    text = " ".join(study.warnings)
    assert "series 6 (ep2d_diff_tra) is a diffusion series" in text
    assert "series 1 (3-plane loc) is a localizer" in text
    assert "export.zip: 1 file(s) that are not MRI images were skipped." in study.warnings
    # The Study page path: every series is offered, with its recognised sequence.
    found = read_uploads([("export.zip", blob)])
    assert [v.sequence for v in found.volumes] == ["T1ce", "T1", "FLAIR"]


def test_dicom_folder_from_paths(tmp_path, t1c, t1c_series):
    for name, blob, _ in t1c_series:
        p = tmp_path / "dicom" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(blob)
    _assert_same(Study.from_paths([tmp_path / "dicom"]).volumes["T1ce"], *t1c)
    _assert_same(Study.from_paths([tmp_path / "dicom"], ["FLAIR"]).volumes["FLAIR"], *t1c)


# ---------------------------------------------------------------------------- refusals


def _with(series, **tags):
    out = []
    for name, blob, _ in series:
        ds = pydicom.dcmread(io.BytesIO(blob))
        for kw, v in tags.items():
            setattr(ds, kw, v)
        out.append((name, _to_bytes(ds), None))
    return out


@pytest.mark.parametrize("tags,error,match", [
    ({"Modality": "CT"}, NotMRIError, "is CT"),
    ({"ImageType": ["ORIGINAL", "PRIMARY", "M", "MOSAIC"]}, UnsupportedDicomError, "Siemens mosaic"),
    ({"ImageType": ["DERIVED", "SECONDARY", "MPR"]}, UnsupportedDicomError, "derived/secondary"),
    ({"ImageType": ["ORIGINAL", "PRIMARY", "DIFFUSION"]}, UnsupportedDicomError, "diffusion"),
    ({"SeriesDescription": "3-plane localizer"}, UnsupportedDicomError, "localizer"),
    ({"SeriesDescription": "DSC perfusion"}, TimeSeriesError, "perfusion"),
    ({"ComplexImageComponent": "PHASE"}, WrongDimensionsError, "phase"),
], ids=["ct", "mosaic", "derived", "diffusion", "localizer", "perfusion", "phase"])
def test_series_kind_refusals(t1c_series, tags, error, match):
    with pytest.raises(error, match=match) as exc:
        Study.from_bytes(_with(t1c_series[:5], **tags))
    assert "\n" not in str(exc.value)


def test_hu_like_mr_is_refused():
    data, aff = _block("t1c", (slice(0, 240), slice(0, 240), slice(70, 74)))
    with pytest.raises(NotMRIError, match="Hounsfield"):
        Study.from_bytes(_files(write_series(data, aff, inter=-1024.0)))


@pytest.mark.needs_shared("dicom_mr_samples")
def test_real_pydicom_samples():
    mr2 = Study.from_paths([SAMPLES / "single" / "MR2_UNCR.dcm"], ["T1"]).volumes["T1"]
    ds = pydicom.dcmread(SAMPLES / "single" / "MR2_UNCR.dcm")
    assert sorted(mr2.shape) == [1, 1024, 1024]
    assert any("one-slice study" in w for w in mr2.warnings)
    px = ds.pixel_array.astype(np.float32) * float(ds.get("RescaleSlope", 1)) + float(ds.get("RescaleIntercept", 0))
    np.testing.assert_array_equal(np.sort(mr2.data.ravel()), np.sort(px.ravel()))
    # One slice: its extent is its SliceThickness (6 mm); pixels 0.195313 mm.
    assert mr2.spacing_mm == pytest.approx((6.0, 0.195313, 0.195313))
    assert any("this slice is sagittal" in w for w in mr2.warnings)
    with pytest.raises(UnsupportedDicomError, match="derived/secondary"):
        Study.from_paths([SAMPLES / "single" / "MR_small.dcm"], ["T1"])
    with pytest.raises(UnsupportedDicomError, match="localizer"):
        Study.from_paths([SAMPLES / "series_98892003"])
    emri = Study.from_paths([SAMPLES / "single" / "emri_small.dcm"], ["T1"]).volumes["T1"]
    assert emri.shape == (64, 64, 10) and emri.spacing_mm[2] == pytest.approx(1.2)
    assert any("orientation is unknown" in w for w in emri.warnings)


def test_description_recognition():
    assert sequence_from_description("AX T1 POST GD") == "T1ce"
    assert sequence_from_description("t1_mprage_sag") == "T1"
    assert sequence_from_description("", contrast_agent=True, acquisition_contrast="T1") == "T1ce"
    assert sequence_from_description("Sag CUBE FLAIR") == "FLAIR"
    assert sequence_from_description("x", acquisition_contrast="FLUID_ATTENUATED") == "FLAIR"
    assert sequence_from_description("AX T2 FSE") == "T2"
    assert sequence_from_description("AX T2*") is None
    assert sequence_from_description("SWI") is None
    assert not looks_like_dicom(b"hello world" * 20)


# ---------------------------------------------------------------------------- de-identification


def _assert_no_phi(text: str):
    for s in PHI_STRINGS:
        assert s.lower() not in text.lower(), s


def test_patient_details_appear_in_no_output(study_zip, t1c_series, tmp_path, caplog, recwarn):
    caplog.set_level(logging.DEBUG)
    blob, _ = study_zip
    zpath = tmp_path / "export.zip"
    zpath.write_bytes(blob)
    study = Study.from_bytes([("export.zip", blob, None)])
    found = read_uploads([("export.zip", blob)])
    outputs = [json.dumps(study.summary()), " ".join(study.warnings), " ".join(found.warnings)]
    for v in list(study.volumes.values()) + found.volumes:
        outputs += [v.source_name, json.dumps(v.details, default=str), " ".join(v.warnings)]
    assert study.volumes["T1ce"].details["description"] == "AX T1 POST GD ***"
    # Refusals.
    files = _files(t1c_series)
    for bad in (files[:12] + files[13:], _with(t1c_series[:4], Modality="CT")):
        with pytest.raises(StudyError) as exc:
            Study.from_bytes(bad)
        outputs.append(str(exc.value))
    # Saved files.
    for p in study.save(tmp_path / "saved"):
        outputs.append(gzip.decompress(p.read_bytes()).decode("latin-1"))
    # Command line, JSON and text, with --save-study.
    r = subprocess.run([sys.executable, "-m", "model.predict", str(zpath), "--json",
                        "--save-study", str(tmp_path / "cli")], cwd=REPO_ROOT, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert list(out["sequences"]) == ["T1", "T1ce", "FLAIR"]
    assert sorted(p.name for p in (tmp_path / "cli").iterdir()) == ["FLAIR.nii.gz", "T1.nii.gz", "T1ce.nii.gz"]
    saved = nib.load(tmp_path / "cli" / "T1ce.nii.gz")
    np.testing.assert_array_equal(saved.get_fdata(dtype=np.float32), study.volumes["T1ce"].data)
    assert "".join(nib.aff2axcodes(saved.affine)) == "RAS"
    outputs += [r.stdout, r.stderr]
    from model.predict import main

    bad = tmp_path / "bad"
    bad.mkdir()
    for name, b, _ in files[:12] + files[13:]:
        (bad / name.replace("/", "_")).write_bytes(b)
    import contextlib

    buf_out, buf_err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(buf_out), contextlib.redirect_stderr(buf_err):
        assert main([f"T1ce={bad}"]) == 2
    assert "slice(s) missing" in buf_err.getvalue()
    outputs += [buf_out.getvalue(), buf_err.getvalue()]
    outputs += [r.getMessage() for r in caplog.records] + [str(w.message) for w in recwarn]
    for text in outputs:
        _assert_no_phi(text)


@pytest.mark.needs_shared("dicom_mr_samples")
def test_archive_mixing_patients_is_refused_without_naming_them():
    from model.core.errors import MixedPatientsError

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for p in sorted(SAMPLES.rglob("*")):
            if p.is_file():
                zf.writestr(str(p.relative_to(SAMPLES)), p.read_bytes())
    names = {str(pydicom.dcmread(p, stop_before_pixels=True).get("PatientName", ""))
             for p in SAMPLES.rglob("*") if p.is_file()} - {""}
    assert len(names) > 1  # the pydicom samples come from several (placeholder) patients
    with pytest.raises(MixedPatientsError, match="different patients") as exc:
        Study.from_bytes([("samples.zip", buf.getvalue(), None)])
    assert not any(n and n in str(exc.value) for n in names)
