"""model.imaging.measure.tumour_size on synthetic masks with hand-checked numbers."""

import math

import numpy as np
import pytest

from model.imaging.labelmap import LabelMap
from model.imaging.measure import bidimensional, head_midline_x_mm, tumour_size


def _box_map(shape, lo, hi, spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0), known=True):
    arr = np.zeros(shape, np.uint8)
    arr[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = 1
    aff = np.diag([*spacing, 1.0])
    aff[:3, 3] = origin
    return LabelMap(arr, aff, "box", geometry_known=known)


def test_box_isotropic():
    # 10 x 20 x 5 voxels of 1 mm: 1000 mm³ = 1.0 mL; extent 10, 20, 5 mm.
    s = tumour_size(_box_map((40, 40, 20), (5, 10, 3), (15, 30, 8)))
    assert s.n_voxels == 1000
    assert s.volume_ml == pytest.approx(1.0)
    assert s.extent_mm == pytest.approx((10.0, 20.0, 5.0))
    # Rectangle 10 x 20 mm: longest diameter = diagonal sqrt(500) = 22.36 mm; the longest chord
    # perpendicular to it runs from a corner to the opposite long side: a * L / b = 11.18 mm;
    # product a * L² / b = 10 * 500 / 20 = 250 mm².
    assert s.longest_diameter_mm == pytest.approx(math.sqrt(500))
    assert s.perpendicular_diameter_mm == pytest.approx(10 * math.sqrt(500) / 20)
    assert s.bidimensional_mm2 == pytest.approx(250.0)
    assert s.axial_slice == 3                       # all equal: the first one
    assert s.centroid_mm == pytest.approx((9.5, 19.5, 5.0))


def test_box_anisotropic_spacing_and_origin():
    # Same voxels at 0.5 x 2 x 3 mm: a 5 x 40 x 15 mm box, 1000 * 3 mm³ = 3.0 mL.
    s = tumour_size(_box_map((40, 40, 20), (5, 10, 3), (15, 30, 8), spacing=(0.5, 2.0, 3.0),
                             origin=(-100.0, -50.0, 10.0)))
    assert s.volume_ml == pytest.approx(3.0)
    assert s.extent_mm == pytest.approx((5.0, 40.0, 15.0))
    L = math.sqrt(5 ** 2 + 40 ** 2)
    assert s.longest_diameter_mm == pytest.approx(L)
    assert s.perpendicular_diameter_mm == pytest.approx(5 * L / 40)
    assert s.bidimensional_mm2 == pytest.approx(5 * L ** 2 / 40)      # 203.125 mm²
    # centre index (9.5, 19.5, 5) -> world (-100 + 0.5 * 9.5, -50 + 2 * 19.5, 10 + 3 * 5)
    assert s.centroid_mm == pytest.approx((-95.25, -11.0, 25.0))


def test_largest_cross_section_is_chosen():
    arr = np.zeros((30, 30, 6), np.uint8)
    arr[10:14, 10:14, 1] = 1            # 4 x 4
    arr[5:25, 10:16, 4] = 1             # 20 x 6: the largest axial cross-section
    s = tumour_size(LabelMap(arr, np.eye(4), "two"))
    assert s.axial_slice == 4
    L = math.sqrt(20 ** 2 + 6 ** 2)
    assert s.longest_diameter_mm == pytest.approx(L)
    assert s.perpendicular_diameter_mm == pytest.approx(6 * L / 20)


def test_disk_diameters():
    yy, xx = np.mgrid[0:60, 0:60]
    disk = (xx - 29.5) ** 2 + (yy - 29.5) ** 2 <= 20 ** 2          # radius 20 px, 1 mm
    longest, perp = bidimensional(disk, (1.0, 1.0))
    assert 40.0 <= longest <= 42.0
    assert 39.0 <= perp <= 42.0


@pytest.mark.parametrize("lo,hi,side", [
    ((70, 40, 5), (80, 50, 10), "right"),     # centroid x 74.5 vs centre 49.5: +25 mm (RAS +x = right)
    ((10, 40, 5), (20, 50, 10), "left"),      # 14.5 vs 49.5: -35 mm
    ((45, 40, 5), (55, 50, 10), "midline"),   # 49.5 vs 49.5
])
def test_side_from_volume_centre(lo, hi, side):
    s = tumour_size(_box_map((100, 100, 20), lo, hi))
    assert s.side == side
    assert s.midline_source == "volume centre"
    assert s.midline_x_mm == pytest.approx(49.5)


def test_side_uses_world_x_not_voxel_index():
    # Voxel axis 0 pointing to the patient's left (x flipped): index 70-79 is the left side.
    m = _box_map((100, 100, 20), (70, 40, 5), (80, 50, 10))
    flipped = LabelMap(m.array, np.diag([-1.0, 1.0, 1.0, 1.0]), "flipped")
    assert tumour_size(flipped).side == "left"


def test_given_midline():
    m = _box_map((100, 100, 20), (45, 40, 5), (55, 50, 10))
    assert tumour_size(m, midline_x_mm=30.0).side == "right"
    assert tumour_size(m, midline_x_mm=30.0).midline_source == "given"


def test_unknown_geometry_gives_no_millimetres():
    s = tumour_size(_box_map((40, 40, 20), (5, 10, 3), (15, 30, 8), known=False))
    assert s.n_voxels == 1000 and not s.geometry_known
    for f in ("volume_ml", "extent_mm", "longest_diameter_mm", "perpendicular_diameter_mm",
              "bidimensional_mm2", "centroid_mm", "side"):
        assert getattr(s, f) is None, f
    assert "unknown" in s.message
    assert s.to_dict()["volume_ml"] is None


def test_empty():
    s = tumour_size(LabelMap(np.zeros((8, 8, 4), np.uint8), np.eye(4), "empty"))
    assert s.empty and s.volume_ml == 0.0 and s.side is None and s.extent_mm is None
    assert s.message == "No abnormality found."


def test_head_midline_from_an_off_centre_head():
    class V:  # a "head" occupying x 10-49 of a 100-voxel field of view, 2 mm voxels
        data = np.zeros((100, 20, 10), np.float32)
        affine = np.diag([2.0, 2.0, 2.0, 1.0])
    V.data[10:50] = 100.0
    assert head_midline_x_mm(V) == pytest.approx(2.0 * 29.5)
    arr = np.zeros((100, 20, 10), np.uint8)
    arr[35:45] = 1                                              # centroid x = 2 * 39.5 = 79 mm
    m = LabelMap(arr, V.affine, "t")
    assert tumour_size(m).side == "left"                        # vs the volume centre (99 mm)
    assert tumour_size(m, midline_x_mm=head_midline_x_mm(V)).side == "right"   # 79 vs 59 mm
