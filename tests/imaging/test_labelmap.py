"""LabelMap: a mask on exactly one volume's grid."""

from types import SimpleNamespace

import numpy as np
import pytest

from model.core.errors import StudyError
from model.imaging.labelmap import LabelMap


def _vol(shape=(4, 5, 6), spacing=(0.5, 1.0, 2.0), known=True):
    aff = np.diag([*spacing, 1.0])
    aff[:3, 3] = [10, -3, 7]
    return SimpleNamespace(shape=shape, affine=aff, geometry_known=known)


def test_on_grid_of_copies_geometry():
    vol = _vol()
    arr = np.zeros(vol.shape, dtype=bool)
    arr[1, 1:3, 2] = True
    m = LabelMap.on_grid_of(vol, arr, "tumour")
    assert m.array.dtype == np.uint8 and m.shape == (4, 5, 6)
    assert m.spacing_mm == (0.5, 1.0, 2.0)
    assert m.voxel_volume_ml == pytest.approx(1e-3)
    assert m.n_voxels == 2 and m.volume_ml == pytest.approx(2e-3)
    assert m.labels() == {1: 2}
    assert m.geometry_known and m.same_grid(vol)
    vol.affine[0, 0] = 9  # a copy, not a view
    assert m.spacing_mm[0] == 0.5


def test_unknown_geometry_has_no_volume():
    m = LabelMap.on_grid_of(_vol(known=False), np.ones((4, 5, 6), np.uint8), "m")
    assert not m.geometry_known and m.volume_ml is None


@pytest.mark.parametrize("array,match", [
    (np.zeros((4, 5, 7), np.uint8), r"shape \(4, 5, 7\), not the shape \(4, 5, 6\)"),
    (np.zeros((4, 5), np.uint8), "shape"),
])
def test_on_grid_of_refuses_other_shapes(array, match):
    with pytest.raises(StudyError, match=match) as exc:
        LabelMap.on_grid_of(_vol(), array, "m")
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("array,affine", [
    (np.zeros((2, 2, 2), np.float32), np.eye(4)),
    (np.full((2, 2, 2), 300, np.int32), np.eye(4)),
    (np.zeros((2, 2, 2), np.uint8), np.eye(3)),
    (np.zeros((2, 2, 2), np.uint8), np.full((4, 4), np.nan)),
])
def test_invalid_label_maps_refused(array, affine):
    with pytest.raises(StudyError):
        LabelMap(array, affine, "m")


def test_study_holds_masks_on_a_volume_grid(demo_study):
    vol = demo_study.volumes["FLAIR"]
    arr = np.zeros(vol.shape, np.uint8)
    arr[100:120, 100:130, 60:70] = 1
    mask = LabelMap.on_grid_of(vol, arr, "tumour")
    assert demo_study.masks == {}
    with_mask = demo_study.with_mask("tumour", mask)
    assert with_mask.masks["tumour"] is mask and demo_study.masks == {}
    assert with_mask.key == demo_study.key  # masks do not change which images the study holds
    other = LabelMap(np.zeros((3, 3, 3), np.uint8), np.eye(4), "elsewhere")
    with pytest.raises(StudyError, match="not on the voxel grid"):
        demo_study.with_mask("x", other)


@pytest.mark.needs_shared("demo_cases/tcga_fg_6692_raw")
def test_resampled_study_resamples_masks_nearest_neighbour(shared_data):
    from model.imaging.study import Study

    study = Study.from_paths(sorted((shared_data / "demo_cases" / "tcga_fg_6692_raw").glob("*.nii.gz")))
    fl = study.volumes["FLAIR"]
    arr = np.zeros(fl.shape, np.uint8)
    cx, cy, cz = (s // 2 for s in fl.shape)
    arr[cx - 10:cx + 10, cy - 10:cy + 10, cz - 3:cz + 3] = 2
    out = study.with_mask("tumour", LabelMap.on_grid_of(fl, arr, "tumour")).resampled_to("T1ce")
    m = out.masks["tumour"]
    assert m.same_grid(out.volumes["T1ce"]) and set(np.unique(m.array)) <= {0, 2}
    assert m.volume_ml == pytest.approx(LabelMap.on_grid_of(fl, arr, "t").volume_ml, rel=0.25)
