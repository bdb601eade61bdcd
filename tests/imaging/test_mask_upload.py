"""Masks in: an uploaded label NIfTI is a mask on its sequence's grid, not a sequence;
compared with another mask (Dice, volume difference)."""

import gzip
import io
import zipfile

import nibabel as nib
import numpy as np
import pytest

from model.core.errors import GeometryError, StudyError, UnknownSequenceError
from model.imaging.compare import compare_masks, dice
from model.imaging.io.masks import is_label_volume
from model.imaging.io.uploads import read_uploads
from model.imaging.labelmap import LabelMap
from model.imaging.study import Study

SHAPE = (20, 24, 16)
AFFINE = np.diag([1.0, 1.0, 2.0, 1.0])


def _nii(arr, affine=AFFINE, dtype=None):
    img = nib.Nifti1Image(np.asarray(arr, dtype=dtype or arr.dtype), affine)
    return gzip.compress(img.to_bytes())


def _image():
    return np.random.default_rng(1).uniform(50, 900, SHAPE).astype(np.float32)


def _labels(values=(1, 2, 4)):
    arr = np.zeros(SHAPE, np.uint8)
    for n, v in enumerate(values):
        arr[4 + 3 * n:7 + 3 * n, 5:15, 4:10] = v
    return arr


@pytest.mark.parametrize("name,values,dtype", [
    ("case_seg.nii.gz", (1, 2, 4), np.uint8),       # BraTS labels
    ("case_seg.nii.gz", (1,), np.int16),            # a binary mask
    ("tumour_mask.nii.gz", (1, 2), np.float32),     # integers stored as float
    ("manual.nii.gz", (1,), np.uint8),              # no name hint: the content says labels
])
def test_label_nifti_is_a_mask_on_its_sequence_grid(name, values, dtype):
    labels = _labels(values)
    study = Study.from_bytes([("case_flair.nii.gz", _nii(_image()), None),
                              (name, _nii(labels, dtype=dtype), None)])
    assert study.sequences == ("FLAIR",)
    m = study.masks[name]
    assert m.same_grid(study.volumes["FLAIR"])
    assert m.labels() == {v: int((labels == v).sum()) for v in values}
    np.testing.assert_array_equal(m.array, labels)  # the diagonal affine is RAS already
    assert m.volume_ml == pytest.approx(np.count_nonzero(labels) * 2.0 / 1000)


def test_read_uploads_lists_masks_apart_and_from_volumes_attaches_them():
    found = read_uploads([("case_t1.nii.gz", _nii(_image())), ("case_seg.nii.gz", _nii(_labels()))])
    assert [v.source_name for v in found.volumes] == ["case_t1.nii.gz"]
    assert [v.source_name for v in found.masks] == ["case_seg.nii.gz"]
    study = Study.from_volumes(found.volumes, ["T1"], found.warnings, masks=found.masks)
    assert list(study.masks) == ["case_seg.nii.gz"]


def test_mask_inside_a_zip_is_kept():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("case/case_t2.nii.gz", _nii(_image()))
        z.writestr("case/case_seg.nii.gz", _nii(_labels()))
    study = Study.from_bytes([("case.zip", buf.getvalue(), None)])
    assert study.sequences == ("T2",) and len(study.masks) == 1


@pytest.mark.parametrize("files,error,match", [
    # a mask on another grid: one line, naming both grids
    ([("case_flair.nii.gz", _nii(_image())),
      ("case_seg.nii.gz", _nii(np.pad(_labels(), 1)))], GeometryError, "not on the voxel grid"),
    ([("case_flair.nii.gz", _nii(_image())),
      ("case_seg.nii.gz", _nii(_labels(), affine=np.diag([1.0, 1.0, 1.0, 1.0])))],
     GeometryError, "20x24x16 at 1x1x1 mm"),
    # named like a mask but holding intensities
    ([("case_seg.nii.gz", _nii(_image()))], UnknownSequenceError, "holds image intensities"),
    # a mask alone is not a study
    ([("case_seg.nii.gz", _nii(_labels()))], StudyError, "No MRI sequence"),
], ids=["other-shape", "other-spacing", "intensities", "mask-only"])
def test_mask_refusals(files, error, match):
    with pytest.raises(error, match=match) as info:
        Study.from_bytes([(n, b, None) for n, b in files])
    assert "\n" not in str(info.value)


def test_a_named_sequence_with_few_values_stays_a_sequence():
    """A file named as a sequence (or given one) is never taken for a mask."""
    study = Study.from_bytes([("phantom_t1.nii.gz", _nii(_labels((1,)) * 100 + 0), None)])
    assert study.sequences == ("T1",) and study.masks == {}
    study = Study.from_bytes([("manual.nii.gz", _nii(_labels((1,))), "T2")])
    assert study.sequences == ("T2",) and study.masks == {}


@pytest.mark.needs_shared("brats_extra/Brats18_CBICA_ASK_1")
def test_brats_ground_truth_is_a_mask(shared_data):
    folder = shared_data / "brats_extra" / "Brats18_CBICA_ASK_1"
    study = Study.from_paths(sorted(folder.glob("*.nii.gz")))
    assert study.sequences == ("T1", "FLAIR")
    m = study.masks["seg_whole_tumor.nii.gz"]
    assert m.n_voxels == 83418 and m.volume_ml == pytest.approx(83.418)  # cases.csv seg_voxels, 1 mm


# ------------------------------------------------------------------ comparison
def _lm(arr, affine=AFFINE, name="m", known=True):
    return LabelMap(arr, affine, name, known)


@pytest.mark.parametrize("a,b,expected", [
    (np.ones(4), np.ones(4), 1.0),
    (np.array([1, 1, 0, 0]), np.array([0, 0, 1, 1]), 0.0),
    (np.array([1, 1, 0, 0]), np.array([1, 0, 0, 0]), 2 / 3),
    (np.zeros(4), np.zeros(4), 1.0),
    (np.array([2, 4, 0, 0]), np.array([1, 1, 0, 0]), 1.0),   # every non-zero label counts
])
def test_dice_table(a, b, expected):
    assert dice(a, b) == pytest.approx(expected)


def test_compare_masks_same_grid_and_other_grid():
    a = np.zeros(SHAPE, np.uint8)
    a[2:10, 2:10, 2:10] = 1                       # 512 voxels x 2 mm³
    b = np.zeros(SHAPE, np.uint8)
    b[2:10, 2:10, 2:6] = 1                        # 256 voxels
    c = compare_masks(_lm(a, name="uploaded"), _lm(b, name="model"))
    assert c.dice == pytest.approx(2 * 256 / 768) and not c.resampled
    assert c.reference_ml == pytest.approx(1.024) and c.other_ml == pytest.approx(0.512)
    assert c.difference_ml == pytest.approx(-0.512)
    assert "Dice 0.67" in c.message and "-0.5 mL" in c.message
    # the same region on a 1 mm grid in z: resampled onto the reference grid, same numbers
    fine = np.repeat(b, 2, axis=2)
    c2 = compare_masks(_lm(a, name="uploaded"), _lm(fine, np.diag([1.0, 1, 1, 1]) @ np.eye(4), "model"))
    assert c2.resampled
    # placeholder geometry: no volumes
    c3 = compare_masks(_lm(a, known=False), _lm(b))
    assert c3.difference_ml is None and "unknown" in c3.message


def test_is_label_volume_refuses_dicom_and_pictures():
    found = read_uploads([("manual.nii.gz", _nii(_labels()))])
    vol = found.masks[0]
    assert is_label_volume(vol)
    import dataclasses
    assert not is_label_volume(dataclasses.replace(vol, details={"format": "DICOM"}))
    assert not is_label_volume(dataclasses.replace(vol, details={"format": "PNG"}))


def test_from_volumes_refuses_a_mask_on_another_grid_in_one_line():
    """The Study page's path: the refusal is a StudyError (the page keeps the previous study)."""
    found = read_uploads([("case_t1.nii.gz", _nii(_image())),
                          ("case_seg.nii.gz", _nii(np.pad(_labels(), 2)))])
    with pytest.raises(GeometryError, match="case_seg.nii.gz .* is not on the voxel grid") as info:
        Study.from_volumes(found.volumes, ["T1"], found.warnings, masks=found.masks)
    assert "\n" not in str(info.value) and "T1 20x24x16" in str(info.value)
