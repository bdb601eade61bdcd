"""model.inference.segment: plane mapping, the served Segmenter on the demo study, refusals."""

import dataclasses
import shutil

import numpy as np
import pytest

from model.core.errors import CheckpointError, UnknownSequenceError
from model.imaging.labelmap import LabelMap
from model.imaging.measure import tumour_size
from model.inference.segment import (PlaneGrid, SegmentationResult, Segmenter, from_plane,
                                     plane_grid, postprocess, to_plane)


@pytest.fixture(scope="module")
def segmenter():
    return Segmenter(device="cpu")


@pytest.fixture(scope="module")
def demo_result(segmenter, demo_study):
    return segmenter.segment(demo_study)


def test_plane_identity_round_trip():
    # step 1, centred: the model plane is the volume's own 128 x 128 grid.
    vol = np.random.default_rng(0).random((128, 128, 4)).astype(np.float32)
    g = PlaneGrid(63.5, 63.5, 1.0, 1.0, 0, 4, "bbox")
    p = to_plane(vol, g)
    assert p.shape == (4, 128, 128)
    np.testing.assert_allclose(p, np.moveaxis(vol, 2, 0), atol=1e-5)
    np.testing.assert_allclose(from_plane(p, g, vol.shape), vol, atol=1e-5)


def test_plane_fov_mode_keeps_a_blob_in_place():
    # 240 x 240 at 1 mm -> 1.875 mm per model pixel and back: a 40 mm blob stays where it was.
    vol = np.zeros((240, 240, 5), np.float32)
    vol[30:210, 30:210] = 1.0                                        # "head" foreground
    blob = np.zeros_like(vol)
    blob[150:190, 60:100, 1:4] = 1.0
    g = plane_grid(vol, (1.0, 1.0, 1.0), True)
    assert g.mode == "fov" and g.step_x == pytest.approx(1.875)
    back = from_plane(to_plane(blob, g), g, blob.shape) > 0.5
    inter = (back & (blob > 0)).sum()
    assert 2 * inter / (back.sum() + blob.sum()) > 0.95


def test_unknown_geometry_uses_the_head_box():
    vol = np.zeros((256, 256, 3), np.float32)
    vol[:, :, :] = 1.0
    g = plane_grid(vol, (1.0, 1.0, 1.0), False)
    assert g.mode == "bbox" and g.step_x == pytest.approx(256 / 127)


@pytest.mark.parametrize("how,expected", [
    ("none", 2), ("largest", 1), ("drop_small", 1), ("fill_holes", 2)])
def test_postprocess_components(how, expected):
    from scipy import ndimage
    m = np.zeros((4, 20, 20), bool)
    m[1:3, 2:12, 2:12] = True
    m[1, 16:18, 16:18] = True          # 4 voxels: under 10 % of the 200-voxel component
    assert ndimage.label(postprocess(m, how))[1] == expected


def test_demo_mask_on_flair_grid(segmenter, demo_result, demo_study):
    res = demo_result
    flair = demo_study.volumes["FLAIR"]
    assert res.reference_sequence == "FLAIR"
    assert res.labelmap.same_grid(flair)
    assert res.labelmap.shape == (240, 240, 155)
    assert not res.empty and not res.no_abnormality_found
    assert res.sequences_used == (("FLAIR", "T1", "T1ce") if segmenter.design == "stacked"
                                  else ("FLAIR",))
    size = tumour_size(res.labelmap)
    # BraTS-GLI-00001-000 has a large glioma: tens of mL of FLAIR abnormality.
    assert 5.0 < size.volume_ml < 300.0
    assert size.geometry_known and size.side in ("left", "right", "midline")
    assert "mL" in res.message


def test_flair_only_subset_runs(segmenter, demo_study):
    res = segmenter.segment(demo_study, use=())
    assert res.sequences_used == ("FLAIR",)
    assert res.labelmap.same_grid(demo_study.volumes["FLAIR"])


def test_study_without_flair_is_refused(segmenter, demo_study):
    no_flair = dataclasses.replace(
        demo_study, volumes={k: v for k, v in demo_study.volumes.items() if k != "FLAIR"})
    with pytest.raises(UnknownSequenceError, match="needs a FLAIR"):
        segmenter.segment(no_flair)


@pytest.mark.needs_shared("tcga_lgg_flair_seg/TCGA_CS_4942")
def test_placeholder_geometry_gives_unknown_sizes(segmenter, shared_data):
    from model.imaging.study import Study
    d = shared_data / "tcga_lgg_flair_seg" / "TCGA_CS_4942"
    study = Study.from_paths([d / "flair.nii.gz"], sequences=["FLAIR"])
    res = segmenter.segment(study)
    assert res.plane_mode == "bbox"
    assert not res.labelmap.geometry_known and res.labelmap.volume_ml is None
    assert any("placeholder" in w for w in res.warnings)
    assert tumour_size(res.labelmap).volume_ml is None


def test_empty_result_says_no_abnormality():
    lm = LabelMap(np.zeros((4, 4, 4), np.uint8), np.eye(4), "empty")
    res = SegmentationResult(lm, "FLAIR", ("FLAIR",))
    assert res.empty and res.no_abnormality_found
    assert res.message.startswith("No abnormality found")


def test_tampered_checkpoint_is_refused(tmp_path):
    from model.inference.segment import SEGMENT_CHECKPOINT
    folder = tmp_path / "ck"
    shutil.copytree(SEGMENT_CHECKPOINT, folder)
    w = folder / "model.safetensors"
    data = bytearray(w.read_bytes())
    data[-1] ^= 0xFF
    w.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="do not match"):
        Segmenter(folder)
