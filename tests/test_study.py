"""Study loading on real files: geometry against nibabel's own answer, and clear refusals."""

import gzip
import io

import nibabel as nib
import numpy as np
import pytest

from conftest import DEMO_DIR, SHARED, TCGA_RAW, needs_shared
from model.errors import (DuplicateSequenceError, StudyError, UnknownSequenceError,
                          UnreadableFileError, WrongDimensionsError)
from model.study import Study, canonical_sequence, load_volume, recognise_sequence

T1C = DEMO_DIR / "BraTS-GLI-00001-000-t1c.nii.gz"


@pytest.mark.parametrize("name,expected", [
    ("BraTS-GLI-00001-000-t1c.nii.gz", "T1ce"),
    ("BraTS-GLI-00001-000-t1n.nii.gz", "T1"),
    ("BraTS-GLI-00001-000-t2w.nii.gz", "T2"),
    ("BraTS-GLI-00001-000-t2f.nii.gz", "FLAIR"),
    ("BraTS20_Training_001_t1.nii.gz", "T1"),
    ("BraTS20_Training_001_t1ce.nii.gz", "T1ce"),
    ("BraTS20_Training_001_t2.nii", "T2"),
    ("BraTS20_Training_001_flair.nii", "FLAIR"),
    ("TCGA-FG-6692_fla.nii.gz", "FLAIR"),
    ("TCGA-FG-6692_t1c.nii.gz", "T1ce"),
    ("t1_pre.nii.gz", "T1"),
    ("t1_post.nii.gz", "T1ce"),
    ("flair.nii.gz", "FLAIR"),
    ("scan.nii.gz", None),
    ("brain.nii", None),
])
def test_recognise_sequence(name, expected):
    assert recognise_sequence(name) == expected


def test_canonical_sequence_rejects_unknown():
    assert canonical_sequence("t1CE") == "T1ce"
    with pytest.raises(UnknownSequenceError):
        canonical_sequence("DWI")


def test_demo_study_matches_nibabel_canonical(demo_study):
    assert demo_study.sequences == ("T1", "T1ce", "T2", "FLAIR")
    ref = nib.as_closest_canonical(nib.load(T1C))
    vol = demo_study.volumes["T1ce"]
    assert vol.shape == ref.shape == (240, 240, 155)
    assert vol.orientation == "RAS" and vol.source_orientation == "LPS"
    np.testing.assert_allclose(vol.affine, ref.affine)
    np.testing.assert_array_equal(vol.data, ref.get_fdata(dtype=np.float32))
    assert vol.spacing_mm == (1.0, 1.0, 1.0)
    assert vol.data.dtype == np.float32


@needs_shared(TCGA_RAW)
def test_anisotropic_raw_study_keeps_spacing():
    study = Study.from_paths(sorted(TCGA_RAW.glob("*.nii.gz")))
    fl = study.volumes["FLAIR"]
    ref = nib.as_closest_canonical(nib.load(TCGA_RAW / "TCGA-FG-6692_fla.nii.gz"))
    assert fl.shape == ref.shape
    np.testing.assert_allclose(fl.spacing_mm, ref.header.get_zooms(), rtol=1e-5)
    assert any("different voxel grids" in w for w in study.warnings)


def _nifti_bytes(img, compress=True) -> bytes:
    raw = img.to_bytes()
    return gzip.compress(raw) if compress else raw


def test_lps_and_ras_copies_load_to_same_voxels():
    img = nib.load(T1C)
    data = np.asanyarray(img.dataobj)
    # The same real volume written RAS (flip x and y of the LPS source, adjust the affine).
    flip = np.diag([-1.0, -1.0, 1.0, 1.0])
    flip[0, 3], flip[1, 3] = data.shape[0] - 1, data.shape[1] - 1
    ras = nib.Nifti1Image(np.ascontiguousarray(data[::-1, ::-1]), img.affine @ flip)
    v1, _ = load_volume(T1C.read_bytes(), "a_t1c.nii.gz", "T1ce")
    v2, _ = load_volume(_nifti_bytes(ras, compress=False), "b_t1c.nii", "T1ce")
    np.testing.assert_array_equal(v1.data, v2.data)
    np.testing.assert_allclose(v1.affine, v2.affine, atol=1e-5)


def test_gzip_detected_by_magic_not_extension():
    v, _ = load_volume(T1C.read_bytes(), "renamed_t1c.nii", "T1ce")
    assert v.shape == (240, 240, 155)


def test_truncated_gzip_is_refused():
    data = T1C.read_bytes()
    with pytest.raises(UnreadableFileError, match="truncated"):
        Study.from_bytes([("case_t1c.nii.gz", data[: len(data) // 2], None)])


def test_truncated_uncompressed_is_refused():
    raw = gzip.decompress(T1C.read_bytes())
    with pytest.raises(UnreadableFileError):
        load_volume(raw[: len(raw) - 1000], "case_t1c.nii", "T1ce")


@needs_shared(SHARED / "figshare_cheng")
def test_jpeg_renamed_to_nii_is_refused():
    jpg = next((SHARED / "figshare_cheng" / "images").glob("*.jpg")).read_bytes()
    with pytest.raises(UnreadableFileError, match="JPEG"):
        Study.from_bytes([("slice_flair.nii", jpg, None)])


def test_text_file_is_refused():
    with pytest.raises(UnreadableFileError, match="not a NIfTI"):
        load_volume(b"patient notes\n" * 100, "notes_t1.nii", "T1")


def test_multi_volume_4d_is_refused_and_single_volume_4d_squeezed():
    img = nib.load(T1C)
    data = np.asanyarray(img.dataobj)[100:140, 100:140, 60:80]
    four = nib.Nifti1Image(np.stack([data, data], -1), img.affine)
    with pytest.raises(WrongDimensionsError, match="2 volumes"):
        load_volume(_nifti_bytes(four), "x_t1.nii.gz", "T1")
    one = nib.Nifti1Image(data[..., None], img.affine)
    v, _ = load_volume(_nifti_bytes(one), "x_t1.nii.gz", "T1")
    assert v.shape == (40, 40, 20)


def test_2d_image_is_refused():
    img = nib.Nifti1Image(np.random.default_rng(0).random((64, 64)).astype(np.float32), np.eye(4))
    with pytest.raises(WrongDimensionsError):
        load_volume(_nifti_bytes(img), "x_t1.nii.gz", "T1")


def test_scl_slope_is_applied():
    img = nib.load(T1C)
    data = np.asanyarray(img.dataobj)[100:130, 100:130, 70:80].astype(np.int16)
    scaled = nib.Nifti1Image(data, img.affine)
    scaled.header.set_slope_inter(2.5, 10.0)
    v, _ = load_volume(_nifti_bytes(scaled), "x_t1.nii.gz", "T1")
    ref = nib.as_closest_canonical(nib.Nifti1Image(data.astype(np.float32) * 2.5 + 10, img.affine))
    np.testing.assert_allclose(v.data, ref.get_fdata(), rtol=1e-6)


def test_duplicate_and_unknown_sequences():
    b = T1C.read_bytes()
    with pytest.raises(DuplicateSequenceError):
        Study.from_bytes([("a_t1c.nii.gz", b, None), ("b.nii.gz", b, "T1ce")])
    with pytest.raises(UnknownSequenceError, match="Cannot tell"):
        Study.from_bytes([("scan.nii.gz", b, None)])
    with pytest.raises(UnknownSequenceError, match="segmentation"):
        Study.from_bytes([("case_seg.nii.gz", b, None)])


def test_every_refusal_is_a_study_error():
    for cls in (UnreadableFileError, WrongDimensionsError, UnknownSequenceError, DuplicateSequenceError):
        assert issubclass(cls, StudyError)


def test_study_key_depends_on_content_and_assignment():
    b = T1C.read_bytes()
    k1 = Study.from_bytes([("a.nii.gz", b, "T1ce")]).key
    k2 = Study.from_bytes([("other_name.nii.gz", b, "T1ce")]).key
    k3 = Study.from_bytes([("a.nii.gz", b, "T1")]).key
    assert k1 == k2 != k3
