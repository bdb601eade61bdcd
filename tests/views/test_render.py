"""Viewer geometry and rendering: views, conventions, orientation letters, crosshair in mm."""

import gzip
import io

import nibabel as nib
import numpy as np
import pytest
from nibabel.affines import apply_affine

from model.views.render import (CONVENTIONS, VIEWS, WINDOW_PRESETS, IntensityStats, SliceCache, annotate,
                          apply_colormap, colormap_lut, COLORMAPS, crosshair_pixel, edge_letters,
                          extract_slice, mm_to_voxel, output_size, pixel_to_voxel, render, render_base,
                          render_views, slice_shape, view_axis, voxel_to_mm, voxel_to_pixel)
from model.imaging.study import Study

SHAPE = (20, 24, 16)  # X (R), Y (A), Z (S)
CASES = [(v, c) for v in VIEWS for c in CONVENTIONS]

# A marker at the extreme of each RAS direction: letter -> voxel.
MARKERS = {
    "R": (SHAPE[0] - 1, 12, 8), "L": (0, 12, 8),
    "A": (10, SHAPE[1] - 1, 8), "P": (10, 0, 8),
    "S": (10, 12, SHAPE[2] - 1), "I": (10, 12, 0),
}
# Which letters each view shows (the other pair is the slicing axis).
VIEW_LETTERS = {"axial": "RLAP", "coronal": "RLSI", "sagittal": "APSI"}


def _edge_of(row, col, nrows, ncols):
    """Which image edge a pixel sits on: 'top', 'bottom', 'left', 'right' or None."""
    if row == 0:
        return "top"
    if row == nrows - 1:
        return "bottom"
    if col == 0:
        return "left"
    if col == ncols - 1:
        return "right"
    return None


@pytest.mark.parametrize("view,convention", CASES)
def test_markers_land_on_the_edge_named_by_the_letter(view, convention):
    """Every direction's extreme voxel shows on the image edge whose letter names it."""
    top, bottom, left, right = edge_letters(view, convention)
    letter_at = {"top": top, "bottom": bottom, "left": left, "right": right}
    for letter in VIEW_LETTERS[view]:
        vol = np.zeros(SHAPE, np.float32)
        ijk = MARKERS[letter]
        vol[ijk] = 1
        img = extract_slice(vol, view, ijk[view_axis(view)], convention)
        assert img.shape == slice_shape(SHAPE, view)
        rows, cols = np.nonzero(img)
        assert len(rows) == 1
        edge = _edge_of(rows[0], cols[0], *img.shape)
        assert letter_at[edge] == letter, (view, convention, letter, edge)
        # voxel_to_pixel agrees with extract_slice, pixel_to_voxel inverts it.
        assert voxel_to_pixel(ijk, SHAPE, view, convention) == (rows[0], cols[0])
        assert pixel_to_voxel(rows[0], cols[0], ijk[view_axis(view)], SHAPE, view, convention) == ijk


@pytest.mark.parametrize("view,expected", [
    ("axial", {"radiological": ("A", "P", "R", "L"), "neurological": ("A", "P", "L", "R")}),
    ("coronal", {"radiological": ("S", "I", "R", "L"), "neurological": ("S", "I", "L", "R")}),
    ("sagittal", {"radiological": ("S", "I", "A", "P"), "neurological": ("S", "I", "A", "P")}),
])
def test_edge_letters_table(view, expected):
    for convention, letters in expected.items():
        assert edge_letters(view, convention) == letters


def test_conventions_mirror_axial_and_coronal_only():
    rng = np.random.default_rng(0)
    vol = rng.random(SHAPE).astype(np.float32)
    for view in VIEWS:
        r = extract_slice(vol, view, 5, "radiological")
        n = extract_slice(vol, view, 5, "neurological")
        if view == "sagittal":
            np.testing.assert_array_equal(r, n)
        else:
            np.testing.assert_array_equal(r[:, ::-1], n)


_VOL = np.zeros(SHAPE, np.float32)


@pytest.mark.parametrize("call, error, match", [
    (lambda: extract_slice(_VOL, "oblique", 0), ValueError, "view"),
    (lambda: extract_slice(_VOL, "axial", 0, "upside-down"), ValueError, "convention"),
    (lambda: edge_letters("oblique"), ValueError, "view"),
    (lambda: view_axis("transverse"), ValueError, "view"),
    (lambda: voxel_to_pixel((0, 0, 0), SHAPE, "axial", "mirror"), ValueError, "convention"),
    (lambda: render_base(_VOL, (1, 1, 1), "axial", 0, 0.5, 1.0, overlay=np.zeros((2, 2, 2))),
     ValueError, "overlay"),
    (lambda: render_base(_VOL, (1, 1, 1), "axial", 0, 0.5, 1.0, mask=np.zeros((2, 2, 2), np.uint8)),
     ValueError, "mask"),
    (lambda: extract_slice(_VOL, "axial", SHAPE[2]), IndexError, None),
    (lambda: colormap_lut("rainbow"), KeyError, "rainbow"),
    (lambda: IntensityStats.of(_VOL + 1).preset("Bone"), KeyError, "Bone"),
], ids=["view", "convention", "letters-view", "axis-view", "pixel-convention", "overlay-shape",
        "mask-shape", "index", "colormap", "preset"])
def test_bad_render_arguments_are_refused(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("view,convention", CASES)
def test_pixel_voxel_round_trip_everywhere(view, convention):
    rng = np.random.default_rng(1)
    for _ in range(50):
        ijk = tuple(int(rng.integers(0, n)) for n in SHAPE)
        r, c = voxel_to_pixel(ijk, SHAPE, view, convention)
        assert pixel_to_voxel(r, c, ijk[view_axis(view)], SHAPE, view, convention) == ijk


def _lps_anisotropic_nifti() -> tuple[bytes, nib.Nifti1Image]:
    """A 3D NIfTI stored LPS, oblique-free, 0.9 x 1.1 x 4 mm, with every voxel value unique."""
    shape = (30, 26, 12)
    data = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    aff = np.array([[-0.9, 0, 0, 40.0], [0, -1.1, 0, 25.0], [0, 0, 4.0, -30.0], [0, 0, 0, 1]])
    img = nib.Nifti1Image(data, aff)
    buf = io.BytesIO()
    buf.write(img.to_bytes())
    return gzip.compress(buf.getvalue()), img


def test_crosshair_mm_matches_nibabel_affine_of_the_file():
    """voxel_to_mm on the RAS-reoriented volume gives the position nibabel gives for the same
    voxel of the file as stored (found through the unique voxel values)."""
    raw, img = _lps_anisotropic_nifti()
    study = Study.from_bytes([("case_flair.nii.gz", raw, None)])
    vol = study.volumes["FLAIR"]
    assert vol.orientation == "RAS"
    orig = np.asarray(img.dataobj)
    rng = np.random.default_rng(2)
    for _ in range(25):
        ijk = tuple(int(rng.integers(0, n)) for n in vol.shape)
        value = vol.data[ijk]
        orig_ijk = np.argwhere(orig == value)[0]
        np.testing.assert_allclose(voxel_to_mm(vol.affine, ijk), apply_affine(img.affine, orig_ijk), atol=1e-4)
        np.testing.assert_allclose(voxel_to_mm(vol.affine, ijk), apply_affine(vol.affine, ijk), atol=1e-9)
        assert mm_to_voxel(vol.affine, voxel_to_mm(vol.affine, ijk), vol.shape) == ijk
    # The crosshair position follows the slider: one axial step is one slice thickness (4 mm) up.
    d = voxel_to_mm(vol.affine, (3, 4, 6)) - voxel_to_mm(vol.affine, (3, 4, 5))
    np.testing.assert_allclose(d, [0, 0, 4.0], atol=1e-6)


def test_mm_to_voxel_clips_outside_points():
    aff = np.diag([2.0, 2.0, 2.0, 1.0])
    assert mm_to_voxel(aff, (-100, 5, 1000), (10, 10, 10)) == (0, 2, 9)


@pytest.mark.parametrize("view", VIEWS)
def test_square_millimetre_pixels(view):
    spacing = (1.0, 1.0, 5.0)
    shape = (100, 100, 20)
    w, h = output_size(shape, spacing, view, 300)
    nrows, ncols = slice_shape(shape, view)
    rs = {"axial": 1.0, "coronal": 5.0, "sagittal": 5.0}[view]
    assert w / h == pytest.approx(ncols * 1.0 / (nrows * rs), rel=0.02)
    img = render(np.zeros(shape, np.float32), spacing, view, 3, 0.5, 1.0, out_px=300)
    assert img.shape == (h, w, 3) and img.dtype == np.uint8


def test_window_level_and_presets():
    data = np.zeros(SHAPE, np.float32)
    data[2:-2, 2:-2, 2:-2] = np.linspace(100, 200, np.prod(np.array(SHAPE) - 4)).reshape(np.array(SHAPE) - 4)
    st = IntensityStats.of(data)
    assert st.percentile(0) == pytest.approx(100, abs=0.5) and st.percentile(100) == pytest.approx(200, abs=0.5)
    for name in WINDOW_PRESETS:
        level, width = st.preset(name)
        lo, hi = WINDOW_PRESETS[name]
        assert level - width / 2 == pytest.approx(100 + lo, abs=0.6)
        assert level + width / 2 == pytest.approx(100 + hi, abs=0.6)
    # Voxels below the window are black, above white.
    img = render_base(data, (1, 1, 1), "axial", 8, 150, 10, out_px=SHAPE[1])
    assert img.min() == 0 and img.max() == 255


def test_colormaps_and_overlay_threshold():
    for name in COLORMAPS:
        lut = colormap_lut(name)
        assert lut.shape == (256, 3) and lut.min() >= 0 and lut.max() <= 1
    np.testing.assert_allclose(apply_colormap(np.array([0.0, 1.0]), "hot"), [[0, 0, 0], [1, 1, 1]])
    base = np.full(SHAPE, 0.5, np.float32)
    ov = np.zeros(SHAPE, np.float32)
    ov[:, :, 8] = 0.1  # below threshold: invisible
    ov[5, 5, 8] = 1.0
    plain = render_base(base, (1, 1, 1), "axial", 8, 0.5, 1.0, out_px=24)
    with_ov = render_base(base, (1, 1, 1), "axial", 8, 0.5, 1.0, overlay=ov, opacity=1.0, threshold=0.2,
                          out_px=24, colormap="hot")
    changed = np.argwhere((plain != with_ov).any(-1))
    r, c = voxel_to_pixel((5, 5, 8), SHAPE, "axial")
    assert len(changed) >= 1 and all(abs(a - r) <= 1 and abs(b - c) <= 1 for a, b in changed)
    with pytest.raises(ValueError, match="overlay"):
        render_base(base, (1, 1, 1), "axial", 8, 0.5, 1.0, overlay=np.zeros((2, 2, 2), np.float32))


def test_mask_overlay_code_path():
    base = np.full(SHAPE, 0.5, np.float32)
    mask = np.zeros(SHAPE, np.uint8)
    mask[4:8, 4:8, 8] = 1
    mask[12:14, 12:14, 8] = 2
    img = render_base(base, (1, 1, 1), "axial", 8, 0.5, 1.0, mask=mask, mask_opacity=1.0, out_px=24)
    r1, c1 = voxel_to_pixel((5, 5, 8), SHAPE, "axial")
    r2, c2 = voxel_to_pixel((12, 12, 8), SHAPE, "axial")
    assert tuple(img[r1, c1]) == (255, 64, 64)  # label 1 red
    assert tuple(img[r2, c2]) == (64, 220, 64)  # label 2 green
    assert tuple(img[0, 0]) == (128, 128, 128)


@pytest.mark.parametrize("view,convention", CASES)
def test_crosshair_drawn_through_the_voxel(view, convention):
    shape = (40, 48, 32)
    data = np.zeros(shape, np.float32)
    ijk = (30, 10, 20)
    img = render(data, (1, 1, 1), view, ijk[view_axis(view)], 0.5, 1.0, out_px=96, convention=convention,
                 crosshair=ijk)
    x, y = crosshair_pixel(ijk, shape, view, (img.shape[1], img.shape[0]), convention)
    green = (img[..., 1] > 200) & (img[..., 0] < 50)
    cols_hit = np.flatnonzero(green.sum(0) > img.shape[0] // 2)
    rows_hit = np.flatnonzero(green.sum(1) > img.shape[1] // 2)
    assert any(abs(c - x) <= 1 for c in cols_hit) and any(abs(r - y) <= 1 for r in rows_hit)
    # Mirror check: in radiological axial/coronal the patient's right (high i) is on the left.
    if view != "sagittal":
        assert (x < img.shape[1] / 2) == (convention == "radiological")


def test_letters_are_drawn_on_all_four_edges():
    img = np.zeros((200, 200, 3), np.uint8)
    out = annotate(img, "axial", "radiological")
    yellow = (out[..., 0] > 200) & (out[..., 1] > 200) & (out[..., 2] < 80)
    assert yellow[:25, 80:120].any() and yellow[-25:, 80:120].any()
    assert yellow[80:120, :25].any() and yellow[80:120, -25:].any()
    assert not yellow[50:150, 50:150].any()
    # Radiological and neurological differ only by the left/right letters.
    neuro = annotate(img, "axial", "neurological")
    assert (neuro[:25] == out[:25]).all() and not (neuro[80:120, :25] == out[80:120, :25]).all()


def test_render_views_cache_rerenders_only_the_changed_view():
    rng = np.random.default_rng(3)
    data = rng.random((30, 30, 20)).astype(np.float32)
    cache = SliceCache()
    a = render_views(data, (1, 1, 1), (10, 10, 5), 0.5, 1.0, cache=cache, key="v")
    assert cache.misses == 3 and cache.hits == 0
    b = render_views(data, (1, 1, 1), (10, 10, 6), 0.5, 1.0, cache=cache, key="v")
    assert cache.misses == 4 and cache.hits == 2  # only the axial base image is new
    assert not np.array_equal(a["axial"], b["axial"])
    assert not np.array_equal(a["coronal"], b["coronal"])  # its crosshair moved
    # Same result as rendering from scratch.
    fresh = render_views(data, (1, 1, 1), (10, 10, 6), 0.5, 1.0)
    for v in VIEWS:
        np.testing.assert_array_equal(fresh[v], b[v])
