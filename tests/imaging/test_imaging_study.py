"""Study loading on real files: geometry against nibabel's own answer, and clear refusals."""

import gzip
import io

import nibabel as nib
import numpy as np
import pytest

from model.core.config import DATA_DIR, DEMO_STUDY_DIR, REPO_ROOT
from model.core.errors import (AmbiguousChannelsError, DuplicateSequenceError, EmptyStudyError,
                               GeometryError, NotMRIError, StudyError, TimeSeriesError,
                               UnknownSequenceError, UnreadableFileError, UploadTooLargeError,
                               WrongDimensionsError)
from model.imaging.io.uploads import load_volume
from model.imaging.sequences import canonical_sequence, recognise_sequence
from model.imaging.study import Study

TCGA_RAW = DATA_DIR / "demo_cases" / "tcga_fg_6692_raw"
T1C = DEMO_STUDY_DIR / "BraTS-GLI-00001-000-t1c.nii.gz"


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


@pytest.mark.needs_shared("demo_cases/tcga_fg_6692_raw")
def test_anisotropic_raw_study_keeps_spacing():
    study = Study.from_paths(sorted(TCGA_RAW.glob("*.nii.gz")))
    fl = study.volumes["FLAIR"]
    ref = nib.as_closest_canonical(nib.load(TCGA_RAW / "TCGA-FG-6692_fla.nii.gz"))
    assert fl.shape == ref.shape
    np.testing.assert_allclose(fl.spacing_mm, ref.header.get_zooms(), rtol=1e-5)
    assert any("different voxel grids" in w for w in study.warnings)


def _nifti_bytes(img, compress=True) -> bytes:
    raw = img.to_bytes()
    return gzip.compress(raw, compresslevel=1) if compress else raw


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


@pytest.mark.needs_shared("figshare_cheng")
def test_jpeg_renamed_to_nii_is_refused():
    jpg = next((DATA_DIR / "figshare_cheng" / "images").glob("*.jpg")).read_bytes()
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


def test_2d_image_is_a_one_slice_study_with_a_warning():
    img = nib.load(T1C)
    plane = np.asanyarray(img.dataobj)[:, :, 77].astype(np.float32)
    two_d = nib.Nifti1Image(plane, img.affine)
    v, warns = load_volume(_nifti_bytes(two_d), "x_t1.nii.gz", "T1")
    ref = nib.as_closest_canonical(nib.Nifti1Image(plane[..., None], img.affine))
    assert v.shape == (240, 240, 1)
    np.testing.assert_array_equal(v.data, ref.get_fdata(dtype=np.float32))
    assert any("one-slice study" in w for w in warns)
    study = Study.from_bytes([("x_t1.nii.gz", _nifti_bytes(two_d), None)])
    assert any("one-slice study" in w for w in study.warnings)
    # A 1D profile is still refused.
    line = nib.Nifti1Image(plane[:, :1], img.affine)
    with pytest.raises(WrongDimensionsError, match="1D"):
        load_volume(_nifti_bytes(line), "x_t1.nii.gz", "T1")


def test_scl_slope_is_applied():
    img = nib.load(T1C)
    data = np.asanyarray(img.dataobj)[100:130, 100:130, 70:80].astype(np.int16)
    scaled = nib.Nifti1Image(data, img.affine)
    scaled.header.set_slope_inter(2.5, 10.0)
    v, _ = load_volume(_nifti_bytes(scaled), "x_t1.nii.gz", "T1")
    ref = nib.as_closest_canonical(nib.Nifti1Image(data.astype(np.float32) * 2.5 + 10, img.affine))
    np.testing.assert_allclose(v.data, ref.get_fdata(), rtol=1e-6)


@pytest.mark.parametrize("files,error,match", [
    ([("a_t1c.nii.gz", None), ("b.nii.gz", "T1ce")], DuplicateSequenceError, "Two files were given for T1ce"),
    ([("scan.nii.gz", None)], UnknownSequenceError, "Cannot tell"),
    ([("case_seg.nii.gz", None)], UnknownSequenceError, "segmentation"),
    ([("scan.nii.gz", "DWI")], UnknownSequenceError, "not a known MRI sequence"),
], ids=["duplicate", "unnamed", "mask", "unknown-name"])
def test_sequence_assignment_refusals(files, error, match):
    b = T1C.read_bytes()
    with pytest.raises(error, match=match):
        Study.from_bytes([(name, b, seq) for name, seq in files])


@pytest.mark.parametrize("cls", [UnreadableFileError, WrongDimensionsError, UnknownSequenceError,
                                 DuplicateSequenceError, EmptyStudyError, UploadTooLargeError,
                                 GeometryError, AmbiguousChannelsError])
def test_every_refusal_is_a_study_error(cls):
    assert issubclass(cls, StudyError)


def test_study_key_depends_on_content_and_assignment():
    b = T1C.read_bytes()
    k1 = Study.from_bytes([("a.nii.gz", b, "T1ce")]).key
    k2 = Study.from_bytes([("other_name.nii.gz", b, "T1ce")]).key
    k3 = Study.from_bytes([("a.nii.gz", b, "T1")]).key
    assert k1 == k2 != k3


# ----------------------------------------------------------------------------------------------
# Awkward files made from real data (issue 3): exact geometry or exact refusal.

import dataclasses  # noqa: E402
import zipfile  # noqa: E402

from model.core import config  # noqa: E402
from model.imaging.io.uploads import read_uploads  # noqa: E402
from model.imaging.volume import fov_overlap, resample_array  # noqa: E402

AURORA = DATA_DIR / "demo_cases" / "brats_met_aurora_example"


@pytest.fixture(scope="module")
def crop():
    """A real 3D block (int16, the demo T1ce) and its affine (LPS, 1 mm)."""
    img = nib.load(T1C)
    data = np.asanyarray(img.dataobj)[70:170, 60:180, 50:100].astype(np.int16)
    shift = np.eye(4)
    shift[:3, 3] = [70, 60, 50]
    return data, img.affine @ shift


def _canonical(data, affine):
    ref = nib.as_closest_canonical(nib.Nifti1Image(np.asarray(data, dtype=np.float32), affine))
    return ref.get_fdata(dtype=np.float32), ref.affine


def _rot_z(deg):
    t = np.radians(deg)
    r = np.eye(4)
    r[:2, :2] = [[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]
    return r


def test_lps_source_is_reoriented_exactly(crop):
    data, aff = crop
    v, warns = load_volume(_nifti_bytes(nib.Nifti1Image(data, aff)), "x_t1c.nii.gz", "T1ce")
    exp, exp_aff = _canonical(data, aff)
    assert v.source_orientation == "LPS" and v.orientation == "RAS" and warns == []
    assert v.shape == (100, 120, 50) and v.spacing_mm == (1.0, 1.0, 1.0)
    np.testing.assert_array_equal(v.data, exp)
    np.testing.assert_allclose(v.affine, exp_aff, atol=1e-4)
    # Voxel (0, 0, 0) of the RAS data is the most right-posterior-inferior one of the source.
    assert v.data[0, 0, 0] == data[-1, -1, 0]


def test_oblique_affine_keeps_geometry(crop):
    data, aff = crop
    oblique = _rot_z(25) @ aff
    v, warns = load_volume(_nifti_bytes(nib.Nifti1Image(data, oblique)), "x_t1c.nii.gz", "T1ce")
    exp, exp_aff = _canonical(data, oblique)
    np.testing.assert_array_equal(v.data, exp)
    np.testing.assert_allclose(v.affine, exp_aff, atol=1e-4)
    np.testing.assert_allclose(v.spacing_mm, (1, 1, 1), atol=1e-6)
    assert not any("sheared" in w for w in warns)


def test_nifti2_equals_nifti1(crop):
    data, aff = crop
    v1, _ = load_volume(_nifti_bytes(nib.Nifti1Image(data, aff)), "a_t1.nii.gz", "T1")
    v2, _ = load_volume(_nifti_bytes(nib.Nifti2Image(data, aff)), "b_t1.nii", "T1")
    assert v2.details["format"] == "NIfTI-2" and v1.details["format"] == "NIfTI-1"
    np.testing.assert_array_equal(v1.data, v2.data)
    np.testing.assert_allclose(v1.affine, v2.affine)


def test_qform_sform_disagreement_uses_sform_and_warns(crop):
    data, aff = crop
    img = nib.Nifti1Image(data, aff)
    img.set_sform(aff, code=2)
    img.set_qform(np.diag([-1.0, 1, 1, 1]) @ aff, code=1)  # left/right mirrored qform
    v, warns = load_volume(_nifti_bytes(img), "x_t1.nii.gz", "T1")
    exp, exp_aff = _canonical(data, aff)
    np.testing.assert_array_equal(v.data, exp)
    np.testing.assert_allclose(v.affine, exp_aff, atol=1e-5)
    assert any("qform and sform) disagree" in w and "sform was used" in w for w in warns)
    # sform code 0: the qform is used, silently.
    img.set_sform(aff, code=0)
    v, warns = load_volume(_nifti_bytes(img), "x_t1.nii.gz", "T1")
    _, q_aff = _canonical(data, np.diag([-1.0, 1, 1, 1]) @ aff)
    np.testing.assert_allclose(v.affine, q_aff, atol=1e-5)
    assert not any("disagree" in w for w in warns)
    # Neither: voxel sizes with a default orientation, and a warning.
    img.set_qform(aff, code=0)
    v, warns = load_volume(_nifti_bytes(img), "x_t1.nii.gz", "T1")
    assert any("no orientation" in w for w in warns) and v.shape == (100, 120, 50)


def test_sheared_affine_is_resampled_onto_a_regular_grid(crop):
    data, aff = crop
    shear = np.eye(4)
    shear[0, 1] = 0.2  # x moves 0.2 mm per voxel in y: axes 11.3° from perpendicular
    img = nib.Nifti1Image(data, aff @ shear)
    v, warns = load_volume(_nifti_bytes(img), "x_t1.nii.gz", "T1")
    assert any("sheared" in w and "11.3°" in w for w in warns)
    cols = v.affine[:3, :3] / np.linalg.norm(v.affine[:3, :3], axis=0)
    np.testing.assert_allclose(cols.T @ cols, np.eye(3), atol=1e-6)
    assert v.orientation == "RAS" and v.data.std() > 0
    # Each voxel holds the trilinear interpolation of the source at its world position.
    from scipy.ndimage import map_coordinates

    rng = np.random.default_rng(0)
    ijk = np.stack([rng.integers(10, s - 10, 200) for s in v.shape] + [np.ones(200)], 0)
    src = np.linalg.solve(aff @ shear, v.affine @ ijk)[:3]
    expected = map_coordinates(data.astype(np.float64), src, order=1, mode="constant")
    inside = ((src > 0) & (src < np.array(data.shape)[:, None] - 1)).all(0)
    got = v.data[tuple(ijk[:3].astype(int))]
    assert inside.sum() > 100
    np.testing.assert_allclose(got[inside], expected[inside], rtol=1e-4, atol=1e-2)
    extreme = np.eye(4)
    extreme[0, 1] = 3.0
    with pytest.raises(GeometryError, match="sheared"):
        load_volume(_nifti_bytes(nib.Nifti1Image(data, aff @ extreme)), "x_t1.nii.gz", "T1")


def test_scl_slope_zero_means_no_scaling(crop):
    data, aff = crop
    img = nib.Nifti1Image(data, aff)
    raw = bytearray(img.to_bytes())
    hdr = nib.Nifti1Header.from_fileobj(io.BytesIO(bytes(raw)))
    hdr["scl_slope"], hdr["scl_inter"] = 0.0, 7.0
    raw[:348] = hdr.binaryblock
    v, _ = load_volume(bytes(raw), "x_t1.nii", "T1")
    np.testing.assert_array_equal(v.data, _canonical(data, aff)[0])


def test_4d_channels_are_split_and_must_be_named(crop):
    data, aff = crop
    chans = np.stack([data, data // 2 + 1, data // 3 + 2, data // 4 + 3], -1)
    raw = _nifti_bytes(nib.Nifti1Image(chans, aff))
    found = read_uploads([("brats_case.nii.gz", raw)])
    assert [v.source_name for v in found.volumes] == [
        f"brats_case.nii.gz › channel {i}/4" for i in (1, 2, 3, 4)]
    assert all(v.sequence == "" for v in found.volumes)
    for c, v in enumerate(found.volumes):
        np.testing.assert_array_equal(v.data, _canonical(chans[..., c], aff)[0])
    with pytest.raises(AmbiguousChannelsError, match="FLAIR,T1,T1ce,T2=file"):
        Study.from_bytes([("brats_case.nii.gz", raw, None)])
    study = Study.from_bytes([("brats_case.nii.gz", raw, "FLAIR,T1,-,T2")])
    assert study.sequences == ("T1", "T2", "FLAIR")
    np.testing.assert_array_equal(study.volumes["T1"].data, found.volumes[1].data)
    ui = Study.from_volumes(found.volumes, ["T1ce", None, "T2", "FLAIR"])
    assert ui.sequences == ("T1ce", "T2", "FLAIR")
    with pytest.raises(AmbiguousChannelsError):
        Study.from_bytes([("brats_case.nii.gz", raw, "T1,T2")])


def test_time_series_is_refused(crop):
    data, aff = crop
    series = np.stack([data[:40, :40, :20]] * 6, -1)
    with pytest.raises(TimeSeriesError, match="6 volumes"):
        Study.from_bytes([("bold_t2.nii.gz", _nifti_bytes(nib.Nifti1Image(series, aff)), None)])


def _analyze_pair(data, aff, klass=nib.AnalyzeImage):
    from nibabel.fileholders import FileHolder

    h, i = io.BytesIO(), io.BytesIO()
    klass(data, aff).to_file_map({"header": FileHolder(fileobj=h), "image": FileHolder(fileobj=i)})
    return h.getvalue(), i.getvalue()


def test_analyze_pair_loads_with_left_right_warning(crop):
    data, aff = crop
    hdr, img = _analyze_pair(data, aff)
    study = Study.from_bytes([("case_t1.hdr", hdr, None), ("case_t1.img", img, None)])
    v = study.volumes["T1"]
    from nibabel.fileholders import FileHolder

    ref = nib.AnalyzeImage.from_file_map({"header": FileHolder(fileobj=io.BytesIO(hdr)),
                                          "image": FileHolder(fileobj=io.BytesIO(img))})
    exp, exp_aff = _canonical(np.asanyarray(ref.dataobj), ref.affine)
    np.testing.assert_array_equal(v.data, exp)
    np.testing.assert_allclose(v.affine, exp_aff)
    assert v.details["format"] == "Analyze"
    assert any("left/right" in w for w in v.warnings)
    with pytest.raises(UnreadableFileError, match="half of an Analyze pair"):
        Study.from_bytes([("case_t1.hdr", hdr, None)])
    with pytest.raises(UnreadableFileError, match="truncated"):
        Study.from_bytes([("case_t1.hdr", hdr, None), ("case_t1.img", img[: len(img) // 2], None)])
    # A NIfTI pair (ni1) keeps its real orientation, no warning.
    hdr, img = _analyze_pair(data, aff, nib.Nifti1Pair)
    v = Study.from_bytes([("c_t2.hdr", hdr, None), ("c_t2.img", img, None)]).volumes["T2"]
    np.testing.assert_allclose(v.affine, _canonical(data, aff)[1], atol=1e-5)
    assert not v.warnings


def test_mgz_and_mgh(crop):
    data, aff = crop
    mgh = nib.MGHImage(data.astype(np.float32), aff).to_bytes()
    for name, blob in (("brain_flair.mgh", mgh), ("brain_flair.mgz", gzip.compress(mgh, compresslevel=1))):
        v = Study.from_bytes([(name, blob, None)]).volumes["FLAIR"]
        exp, exp_aff = _canonical(data, aff)
        np.testing.assert_array_equal(v.data, exp)
        np.testing.assert_allclose(v.affine, exp_aff, atol=1e-4)
        assert v.details["format"] == "MGH"


@pytest.mark.needs_shared("figshare_cheng")
def test_png_slice_is_a_one_slice_study_and_renamed_png_is_refused():
    from PIL import Image

    png_path = next((DATA_DIR / "figshare_cheng" / "images").glob("*.png"), None)
    if png_path is None:
        jpg = next((DATA_DIR / "figshare_cheng" / "images").glob("*.jpg"))
        buf = io.BytesIO()
        Image.open(jpg).convert("L").save(buf, format="PNG")
        png = buf.getvalue()
    else:
        png = png_path.read_bytes()
    pix = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float32)
    study = Study.from_bytes([("slice_flair.png", png, None)])
    v = study.volumes["FLAIR"]
    assert v.shape == (pix.shape[1], pix.shape[0], 1)
    # Radiological display convention: the picture is what the axial view shows.
    from model.views.render import extract_slice

    np.testing.assert_array_equal(extract_slice(v.data, "axial", 0), pix)
    assert any("one-slice study" in w and "pixel size is unknown" in w for w in study.warnings)
    with pytest.raises(UnreadableFileError, match="PNG picture renamed to .nii"):
        Study.from_bytes([("slice_flair.nii", png, None)])


def test_ct_like_values_are_refused():
    img = nib.load(T1C)
    # The whole head: background (0) becomes air at -1024, as in a head CT.
    hu = np.asanyarray(img.dataobj).astype(np.int16) - 1024
    aff = img.affine
    with pytest.raises(NotMRIError, match="Hounsfield"):
        Study.from_bytes([("head_t1.nii.gz", _nifti_bytes(nib.Nifti1Image(hu, aff)), None)])


def test_empty_constant_and_oversize_files(crop, monkeypatch):
    data, aff = crop
    with pytest.raises(EmptyStudyError, match="empty"):
        Study.from_bytes([("x_t1.nii.gz", b"", None)])
    with pytest.raises(EmptyStudyError, match="constant"):
        Study.from_bytes([("x_t1.nii.gz", _nifti_bytes(nib.Nifti1Image(data * 0, aff)), None)])
    monkeypatch.setattr(config, "MAX_FILE_BYTES", 1000)
    with pytest.raises(UploadTooLargeError, match="the limit is"):
        Study.from_bytes([("x_t1.nii.gz", _nifti_bytes(nib.Nifti1Image(data, aff)), None)])


def test_upload_limit_follows_streamlit_config():
    import tomllib

    cfg = tomllib.loads((REPO_ROOT / ".streamlit" / "config.toml").read_text())
    assert config.MAX_FILE_BYTES == cfg["server"]["maxUploadSize"] * 1024 * 1024


def test_gzip_and_zip_bombs_are_refused(monkeypatch):
    monkeypatch.setattr(config, "MAX_DECOMPRESSED_BYTES", 4 * 2**20)
    monkeypatch.setattr(config, "MAX_ARCHIVE_BYTES", 4 * 2**20)
    bomb = gzip.compress(b"\0" * (8 * 2**20))
    with pytest.raises(UploadTooLargeError, match="decompresses"):
        Study.from_bytes([("x_t1.nii.gz", bomb, None)])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for k in range(3):
            zf.writestr(f"dir/IM{k}", b"\0" * (2 * 2**20))
    with pytest.raises(UploadTooLargeError, match="decompresses"):
        Study.from_bytes([("study.zip", buf.getvalue(), None)])


def test_zip_of_nifti_files_skips_junk():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("case/BraTS-GLI-00001-000-t1c.nii.gz", T1C.read_bytes())
        zf.writestr("__MACOSX/case/._BraTS-GLI-00001-000-t1c.nii.gz", b"\0\5\26\7junk")
        zf.writestr("case/README.txt", b"Exported for Jane Doe")
        zf.writestr("case/BraTS-GLI-00001-000-seg.nii.gz", T1C.read_bytes())
    study = Study.from_bytes([("case.zip", buf.getvalue(), None)])
    assert study.sequences == ("T1ce",)
    assert study.volumes["T1ce"].source_name == "case.zip › BraTS-GLI-00001-000-t1c.nii.gz"
    ref = nib.as_closest_canonical(nib.load(T1C))
    np.testing.assert_array_equal(study.volumes["T1ce"].data, ref.get_fdata(dtype=np.float32))
    assert any("2 file(s) that are not MRI images were skipped" in w for w in study.warnings)


@pytest.mark.needs_shared("demo_cases/tcga_fg_6692_raw")
def test_resampled_to_reference_grid_with_monai():
    study = Study.from_paths(sorted(TCGA_RAW.glob("*.nii.gz")))
    assert study.reference_sequence() == "T1ce"
    res = study.resampled_to()
    ref = study.volumes["T1ce"]
    for s, v in res.volumes.items():
        assert v.shape == ref.shape
        np.testing.assert_allclose(v.affine, ref.affine)
    np.testing.assert_array_equal(res.volumes["T1ce"].data, ref.data)
    assert any(w.startswith("FLAIR: resampled (trilinear, MONAI)") for w in res.warnings)
    assert not any("do not overlap" in w for w in res.warnings)
    # Resampling onto the own grid shifted by whole voxels reproduces the voxels exactly.
    fl = study.volumes["FLAIR"]
    shifted = dataclasses.replace(fl, affine=fl.affine.copy())
    shifted.affine[:3, 3] += fl.affine[:3, :3] @ np.array([3, 5, 2])
    out = resample_array(fl.data, fl.affine, shifted.affine, (50, 60, 10))
    np.testing.assert_allclose(out, fl.data[3:53, 5:65, 2:12], rtol=1e-4, atol=1e-2)
    # Not co-registered: moved 1 m away.
    far = dataclasses.replace(fl, affine=fl.affine.copy())
    far.affine[:3, 3] += 1000
    moved = Study(volumes={"T1ce": ref, "FLAIR": far})
    assert fov_overlap(ref, far) == 0.0
    out = moved.resampled_to("T1ce")
    assert any("do not overlap" in w for w in out.warnings)
    assert float(out.volumes["FLAIR"].data.max()) == 0.0


def test_save_study_round_trip(tmp_path, demo_study):
    small = Study(volumes={"T2": demo_study.volumes["T2"]})
    paths = small.save(tmp_path / "out")
    assert [p.name for p in paths] == ["T2.nii.gz"]
    back = nib.load(paths[0])
    assert "".join(nib.aff2axcodes(back.affine)) == "RAS"
    np.testing.assert_array_equal(back.get_fdata(dtype=np.float32), demo_study.volumes["T2"].data)
    np.testing.assert_allclose(back.affine, demo_study.volumes["T2"].affine)
    assert back.header["descrip"].tobytes().rstrip(b"\0") == b"TumorBoard RAS T2"


def test_study_page_offers_each_channel_of_a_4d_upload(crop):
    """The Study page shows the channels of a 4D file as separate volumes to assign."""
    from streamlit.testing.v1 import AppTest

    data, aff = crop
    chans = np.stack([data, data // 2 + 1], -1)
    raw = _nifti_bytes(nib.Nifti1Image(chans, aff))
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=120)
    at.run()
    before = at.session_state["study"].key
    at.switch_page("app_pages/upload.py")
    at.run()
    at.get("file_uploader")[0].set_value([("two_seq.nii.gz", raw, "application/gzip")])
    at.run()
    assert not at.exception
    boxes = [s for s in at.selectbox if s.label.startswith("Sequence of")]
    assert [b.label for b in boxes] == ["Sequence of two_seq.nii.gz › channel 1/2",
                                        "Sequence of two_seq.nii.gz › channel 2/2"]
    assert [b.value for b in boxes] == ["choose...", "choose..."]
    at.button(key="load_upload").click()
    at.run()
    assert any("Choose the sequence of every volume" in e.value for e in at.error)
    assert at.session_state["study"].key == before
    boxes = [s for s in at.selectbox if s.label.startswith("Sequence of")]
    boxes[0].set_value("T2")
    boxes[1].set_value("FLAIR")
    at.button(key="load_upload").click()
    at.run()
    assert not at.exception
    study = at.session_state["study"]
    assert study.sequences == ("T2", "FLAIR")
    np.testing.assert_array_equal(study.volumes["FLAIR"].data, _canonical(chans[..., 1], aff)[0])


def test_identity_affine_is_flagged_as_a_placeholder_geometry():
    """An identity sform (as in exports that lost the scanner geometry) loads, with a warning
    that orientation and voxel size may be wrong; a real geometry gets no such warning."""
    import gzip

    import nibabel as nib
    import numpy as np


    data = np.random.default_rng(0).random((20, 22, 12)).astype(np.float32)
    for affine, flagged in ((np.eye(4), True), (np.diag([0.9, 0.9, 5.0, 1.0]), False)):
        img = nib.Nifti1Image(data, affine)
        img.set_sform(affine, code=2)
        study = Study.from_bytes([("FLAIR.nii.gz", gzip.compress(img.to_bytes()), None)])
        warns = [w for v in study.volumes.values() for w in v.warnings]
        assert any("placeholder" in w for w in warns) == flagged, warns
