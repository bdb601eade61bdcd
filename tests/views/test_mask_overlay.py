"""Tumour-mask drawing on viewer slices: outline = the mask's boundary, opacity 0 changes
nothing, masks moved between grids land on the right voxels, "go to tumour"."""

import numpy as np
import pytest

from model.imaging.compare import labels_on_grid
from model.imaging.labelmap import LabelMap
from model.views.masks import MaskLayer, boundary, focus_voxel
from model.views.render import (CONVENTIONS, VIEWS, extract_slice, render_base, render_views,
                                view_axis, SliceCache)

SHAPE = (20, 24, 16)
RED = (255, 0, 0)
CASES = [(v, c) for v in VIEWS for c in CONVENTIONS]


def _image():
    rng = np.random.default_rng(0)
    return rng.uniform(0.2, 0.8, SHAPE).astype(np.float32)


def _box():
    m = np.zeros(SHAPE, np.uint8)
    m[5:12, 6:15, 4:10] = 1
    return m


@pytest.mark.parametrize("lab,expected", [
    # a filled 3x3 square: every pixel but the centre is boundary
    (np.pad(np.ones((3, 3), bool), 1), np.pad(np.pad(np.zeros((1, 1), bool), 1, constant_values=True), 1)),
    # a single pixel is its own boundary
    (np.pad(np.ones((1, 1), bool), 2), np.pad(np.ones((1, 1), bool), 2)),
    # the image edge counts as outside
    (np.ones((2, 4), bool), np.ones((2, 4), bool)),
    # empty
    (np.zeros((4, 4), bool), np.zeros((4, 4), bool)),
], ids=["square", "pixel", "edge", "empty"])
def test_boundary_table(lab, expected):
    np.testing.assert_array_equal(boundary(lab), expected)


@pytest.mark.parametrize("view,convention", CASES)
def test_outline_pixels_are_the_mask_boundary(view, convention):
    """At native size (1 mm voxels, out_px = the longer side) the outline pixels are exactly the
    boundary of the mask's slice, in the colour of the layer; the rest is the plain image."""
    data, mask = _image(), _box()
    index = 7 if view != "sagittal" else 8
    out_px = max(extract_slice(data, view, index).shape)
    plain = render_base(data, (1, 1, 1), view, index, 0.5, 1.0, out_px=out_px, convention=convention)
    img = render_base(data, (1, 1, 1), view, index, 0.5, 1.0, out_px=out_px, convention=convention,
                      layers=(MaskLayer(mask, RED, opacity=0.0, outline=True),))
    edge = boundary(extract_slice(mask, view, index, convention))
    assert edge.any()
    changed = np.any(img != plain, axis=-1)
    np.testing.assert_array_equal(np.all(img == RED, axis=-1), edge)
    np.testing.assert_array_equal(changed & ~edge, np.zeros_like(edge))


@pytest.mark.parametrize("outline", [False, True])
@pytest.mark.parametrize("view", VIEWS)
def test_opacity_zero_leaves_the_image_unchanged(view, outline):
    """Fill opacity 0 without outline: identical to no mask; with an outline only the boundary
    differs."""
    data, mask = _image(), _box()
    plain = render_base(data, (1, 1, 1), view, 7, 0.5, 1.0)
    img = render_base(data, (1, 1, 1), view, 7, 0.5, 1.0,
                      layers=(MaskLayer(mask, RED, opacity=0.0, outline=outline),))
    assert np.array_equal(img, plain) != outline


@pytest.mark.parametrize("opacity", [0.25, 0.5, 1.0])
def test_fill_blends_inside_the_mask_only(opacity):
    data = np.full(SHAPE, 0.5, np.float32)
    mask = _box()
    img = render_base(data, (1, 1, 1), "axial", 7, 0.5, 1.0, out_px=24,
                      layers=(MaskLayer(mask, RED, opacity=opacity, outline=False),))
    inside = extract_slice(mask, "axial", 7) > 0
    expected_r = round(255 * ((1 - opacity) * 0.5 + opacity))
    assert np.abs(img[inside][:, 0].astype(int) - expected_r).max() <= 1
    assert np.abs(img[~inside].astype(int) - 128).max() <= 1


def _grid(shape, spacing, origin, flip_x=False):
    a = np.diag([*spacing, 1.0]).astype(float)
    if flip_x:
        a[0, 0] = -a[0, 0]
    a[:3, 3] = origin
    return tuple(shape), a


@pytest.mark.parametrize("src,dst", [
    (_grid((20, 24, 16), (1, 1, 1), (0, 0, 0)), _grid((10, 12, 8), (2, 2, 2), (0.5, 0.5, 0.5))),
    (_grid((10, 12, 8), (2, 2, 2), (0.5, 0.5, 0.5)), _grid((20, 24, 16), (1, 1, 1), (0, 0, 0))),
    (_grid((20, 24, 16), (1, 1, 1), (0, 0, 0)), _grid((20, 24, 16), (1, 1, 1), (19, 0, 0), flip_x=True)),
    (_grid((20, 24, 16), (1, 1, 1), (0, 0, 0)), _grid((30, 30, 30), (1, 1, 1), (-5, -3, -7))),
    (_grid((20, 24, 16), (1, 1, 1), (0, 0, 0)), _grid((20, 24, 6), (1, 1, 3), (0, 0, 1))),
], ids=["to-2mm", "to-1mm", "x-flipped", "larger-fov", "thick-slices"])
def test_mask_on_another_grid_hits_the_right_voxels(src, dst):
    """Every labelled target voxel's world centre lies inside a labelled source voxel (within
    half a source voxel), and every target voxel whose centre is deep inside the source box is
    labelled."""
    (sshape, saff), (dshape, daff) = src, dst
    arr = np.zeros(sshape, np.uint8)
    lo, hi = np.array(sshape) // 4, np.array(sshape) * 3 // 4
    arr[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = 2
    out = labels_on_grid(LabelMap(arr, saff, "m"), dshape, daff)
    assert out.shape == dshape and out.dtype == np.uint8
    assert set(np.unique(out)) <= {0, 2} and out.any()
    ijk = np.argwhere(np.ones(dshape, bool))
    world = ijk @ daff[:3, :3].T + daff[:3, 3]
    src_ijk = (world - saff[:3, 3]) @ np.linalg.inv(saff[:3, :3]).T
    inside_box = np.all((src_ijk >= lo - 0.5) & (src_ijk <= hi - 0.5), axis=1)
    deep = np.all((src_ijk >= lo - 0.5 + 0.01) & (src_ijk <= hi - 0.5 - 0.01), axis=1)
    lab = out.reshape(-1)[np.ravel_multi_index(ijk.T, dshape)] > 0
    assert not np.any(lab & ~inside_box)
    assert np.all(lab[deep])


def test_overlay_on_a_resampled_grid_is_drawn_where_the_mask_is():
    """A mask on a 1 mm grid drawn on a 2 mm sequence covers the same world box on screen."""
    (sshape, saff), (dshape, daff) = (_grid((20, 24, 16), (1, 1, 1), (0, 0, 0)),
                                      _grid((10, 12, 8), (2, 2, 2), (0.5, 0.5, 0.5)))
    arr = np.zeros(sshape, np.uint8)
    arr[4:12, 6:14, 4:12] = 1                      # world x 4..11, y 6..13, z 4..11
    on_dst = labels_on_grid(LabelMap(arr, saff, "m"), dshape, daff)
    np.testing.assert_array_equal(np.argwhere(on_dst).min(0), [2, 3, 2])
    np.testing.assert_array_equal(np.argwhere(on_dst).max(0), [5, 6, 5])
    img = render_base(np.full(dshape, 0.5, np.float32), (2, 2, 2), "axial", 3, 0.5, 1.0, out_px=12,
                      layers=(MaskLayer(on_dst, RED, opacity=1.0, outline=False),))
    red = np.all(img == RED, axis=-1)
    np.testing.assert_array_equal(red, extract_slice(on_dst, "axial", 3) > 0)


@pytest.mark.parametrize("setup,expected", [
    (lambda m: m.__setitem__((slice(2, 5), slice(2, 5), 3), 1), (3, 3, 3)),
    # the largest cross-section wins over a smaller one
    (lambda m: (m.__setitem__((slice(2, 4), slice(2, 4), 1), 1),
                m.__setitem__((slice(10, 15), slice(10, 15), 9), 1)), (12, 12, 9)),
    # a ring: the crosshair stays on a labelled voxel
    (lambda m: (m.__setitem__((slice(4, 11), slice(4, 11), 5), 1),
                m.__setitem__((slice(6, 9), slice(6, 9), 5), 0)), None),
    # equal cross-sections: the central one
    (lambda m: m.__setitem__((slice(2, 5), slice(2, 5), slice(3, 10)), 1), (3, 3, 6)),
], ids=["box", "largest", "ring", "ties"])
def test_focus_voxel_table(setup, expected):
    m = np.zeros(SHAPE, np.uint8)
    setup(m)
    v = focus_voxel(m)
    assert m[v] > 0
    if expected is not None:
        assert v == expected


def test_focus_voxel_of_an_empty_mask_is_none():
    assert focus_voxel(np.zeros(SHAPE, np.uint8)) is None


def test_layer_shape_is_checked_and_cached_by_key():
    data = _image()
    with pytest.raises(ValueError, match="mask layer"):
        render_base(data, (1, 1, 1), "axial", 0, 0.5, 1.0,
                    layers=(MaskLayer(np.zeros((2, 2, 2), np.uint8)),))
    cache = SliceCache()
    lay = (MaskLayer(_box(), RED, 0.3, True, key="a"),)
    a = render_views(data, (1, 1, 1), (5, 5, 5), 0.5, 1.0, layers=lay, cache=cache, key="k")
    b = render_views(data, (1, 1, 1), (5, 5, 5), 0.5, 1.0, layers=lay, cache=cache, key="k")
    assert cache.hits == 3 and all(np.array_equal(a[v], b[v]) for v in VIEWS)
    render_views(data, (1, 1, 1), (5, 5, 5), 0.5, 1.0, cache=cache, key="k",
                 layers=(MaskLayer(_box(), RED, 0.6, True, key="a"),))
    assert cache.misses == 6
