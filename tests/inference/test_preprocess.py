"""Preprocessing geometry: the model's slices map back onto the same voxels."""

import numpy as np
import pytest
import torch

from model.inference.preprocess import foreground_box, slices_to_cube, slices_to_volume, volume_to_slices


def test_slices_have_model_shape_and_range(demo_study):
    x, geom = volume_to_slices(demo_study.volumes["FLAIR"].data, n_slices=24, size=128)
    assert x.shape == (24, 128, 128) and x.dtype == torch.float32
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.5
    assert np.all(np.diff(geom.z_index) >= 0)
    (x0, y0, z0), (x1, y1, z1) = foreground_box(demo_study.volumes["FLAIR"].data)
    assert geom.z_index[0] == z0 and geom.z_index[-1] == z1 - 1


def test_display_convention_anterior_up_right_on_left():
    # A marker voxel at the anterior-right corner of a RAS volume (max x = right, max y = anterior)
    vol = np.zeros((64, 64, 8), np.float32)
    vol[8:56, 8:56, :] = 1.0
    vol[50:56, 50:56, :] = 5.0
    x, geom = volume_to_slices(vol, n_slices=4, size=48)
    img = x[0].numpy()
    r, c = np.unravel_index(np.argmax(img), img.shape)
    assert r < 12 and c < 12  # top-left: anterior and patient right (radiological)


@pytest.mark.parametrize("shape", [(64, 80, 30), (120, 96, 12), (50, 50, 3)])
def test_round_trip_returns_the_same_voxels(shape):
    rng = np.random.default_rng(0)
    vol = np.zeros(shape, np.float32)
    sl = tuple(slice(s // 6, s - s // 6) for s in shape)
    vol[sl] = 1.0 + rng.random(vol[sl].shape).astype(np.float32)
    # The identity map on the model side must come back as the foreground box, on the
    # sampled slices, with nothing outside it.
    x, geom = volume_to_slices(vol, n_slices=8, size=64)
    back = slices_to_volume(torch.ones_like(x), geom)
    assert back.shape == shape
    (x0, y0, z0), (x1, y1, z1) = foreground_box(vol)
    inside = back[x0 + 1:x1 - 1, y0 + 1:y1 - 1, z0:z1]
    assert inside.min() > 0.9
    outside = back.copy()
    outside[max(geom.x0, 0):geom.x0 + geom.side, max(geom.y0, 0):geom.y0 + geom.side, z0:z1] = 0
    assert outside.max() == 0.0


def test_round_trip_places_a_point_map_on_its_voxel(demo_study):
    vol = demo_study.volumes["T1ce"].data
    x, geom = volume_to_slices(vol, n_slices=24, size=128)
    m = torch.zeros_like(x)
    m[10, 30, 90] = 1.0  # one pixel of slice 10
    back = slices_to_volume(m, geom)
    i, j, k = np.unravel_index(np.argmax(back), back.shape)
    assert k == geom.z_index[10]
    # The voxel found maps forward (box corner, scale, radiological flips) onto that pixel.
    scale = geom.side / geom.size
    col = (geom.x0 + geom.side - 1 - i) / scale
    row = (geom.y0 + geom.side - 1 - j) / scale
    assert abs(row - 30) <= 1.5 and abs(col - 90) <= 1.5


def test_slices_to_cube_keeps_the_stack_order_and_range():
    z = torch.linspace(0, 1, 40)[:, None, None].expand(40, 128, 128).to(torch.float16)
    cube = slices_to_cube(z, 16)
    assert cube.shape == (16, 16, 16) and cube.dtype == torch.float32
    prof = cube[:, 8, 8]
    assert torch.all(prof[1:] > prof[:-1])  # inferior-to-superior order kept
    assert float(prof.min()) >= 0 and float(prof.max()) <= 1
    assert torch.allclose(cube[5], torch.full((16, 16), float(cube[5, 0, 0])), atol=1e-6)
    with pytest.raises(ValueError):
        slices_to_cube(torch.zeros(0, 8, 8))
