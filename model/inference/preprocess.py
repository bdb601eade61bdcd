"""From a RAS volume to the model's slice stack, and back (for attribution maps).

The model sees, per sequence, ``K`` axial slices of ``size x size`` pixels:

1. foreground box: voxels above 5 % of the robust intensity range (1st-99th percentile),
   found with MONAI's ``generate_spatial_bounding_box``;
2. ``K`` axial slices evenly spaced over the foreground's superior-inferior extent;
3. in-plane: the foreground box is made square around its centre (zero padding outside the
   volume) and resized to ``size x size`` (bilinear, antialiased);
4. display convention: row 0 is anterior, column 0 is the patient's right (radiological), the
   convention of the TCGA-LGG training slices;
5. intensities scaled so the foreground's 1st and 99th percentiles map to 0 and 1 (clipped to
   [0, 1.5]), which removes scanner-specific scales (uint8 TCGA exports, int16 BraTS).

:class:`SliceGeometry` records steps 1-4 so :func:`slices_to_volume` can put a map computed on
the model input back on the volume's own voxels (the inverse of 2-4, linear along z between
the sampled slices).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from monai.transforms.utils import generate_spatial_bounding_box

#: Slices per sequence given to the model at inference.
N_SLICES = 24
#: In-plane size of a model slice (pixels).
SLICE_SIZE = 128


@dataclass(frozen=True)
class SliceGeometry:
    """Where the model's slices came from in the RAS volume.

    Attributes
    ----------
    volume_shape : tuple[int, int, int]
        (X, Y, Z) of the RAS volume.
    x0, y0
        corner of the square in-plane box in voxels (may be negative: padding).
    side : int
        side of the square box in voxels.
    z_index : np.ndarray
        int64 array (K,) of the axial slice indices used, ascending.
    size : int
        model slice size in pixels.
    """

    volume_shape: tuple[int, int, int]
    x0: int
    y0: int
    side: int
    z_index: np.ndarray
    size: int


def robust_range(data: np.ndarray) -> tuple[float, float]:
    """1st and 99th percentile of the non-background voxels of ``data`` (any shape).

    Background is the minimum value (0 in skull-stripped data). Falls back to the whole image
    when fewer than 100 voxels are above it.
    """
    flat = data.reshape(-1)
    sample = flat[:: max(1, flat.size // 2_000_000)]
    fg = sample[sample > sample.min()]
    if fg.size < 100:
        fg = sample
    lo, hi = np.percentile(fg, [1.0, 99.0])
    if hi <= lo:
        hi = lo + 1.0
    return float(lo), float(hi)


def foreground_box(data: np.ndarray) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """Bounding box (start, end exclusive) of voxels above 5 % of the robust range.

    Parameters
    ----------
    data : np.ndarray
        float (X, Y, Z) volume.

    Returns
    -------
    tuple[tuple[int, int, int], tuple[int, int, int]]
        ``((x0, y0, z0), (x1, y1, z1))``; the whole volume if nothing is above threshold.
    """
    return _foreground_box(data, *robust_range(data))


def _foreground_box(data: np.ndarray, lo: float, hi: float
                    ) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """:func:`foreground_box` given the robust range (computed once per volume)."""
    thr = lo + 0.05 * (hi - lo)
    start, end = generate_spatial_bounding_box(data[None], select_fn=lambda x: x > thr)
    if any(e <= s for s, e in zip(start, end)):
        return (0, 0, 0), tuple(int(s) for s in data.shape)  # type: ignore[return-value]
    return tuple(int(s) for s in start), tuple(int(e) for e in end)  # type: ignore[return-value]


def volume_to_slices(
    data: np.ndarray, n_slices: int = N_SLICES, size: int = SLICE_SIZE,
    z_index: np.ndarray | None = None,
) -> tuple[torch.Tensor, SliceGeometry]:
    """Turn a RAS volume into the model's slice stack.

    Parameters
    ----------
    data : np.ndarray
        float32 (X, Y, Z) RAS volume (see :class:`model.imaging.volume.Volume`).
    n_slices : int, optional
        K, number of axial slices sampled evenly over the foreground.
    size : int, optional
        output in-plane size.
    z_index : np.ndarray, optional
        explicit slice indices to use instead of even sampling (training).

    Returns
    -------
    tuple[torch.Tensor, SliceGeometry]
        ``(slices, geometry)``: float32 tensor (K, size, size) in [0, 1.5], and the geometry.
    """
    lo, hi = robust_range(data)
    (x0, y0, z0), (x1, y1, z1) = _foreground_box(data, lo, hi)
    if z_index is None:
        z_index = np.round(np.linspace(z0, z1 - 1, n_slices)).astype(np.int64)
    side = max(x1 - x0, y1 - y0, 8)
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    bx, by = cx - side // 2, cy - side // 2

    X, Y, _ = data.shape
    crop = np.zeros((len(z_index), side, side), dtype=np.float32)
    sx0, sx1 = max(bx, 0), min(bx + side, X)
    sy0, sy1 = max(by, 0), min(by + side, Y)
    # (K, x, y) block of the volume inside the square box.
    crop[:, sx0 - bx : sx1 - bx, sy0 - by : sy1 - by] = np.moveaxis(
        data[sx0:sx1, sy0:sy1, z_index], 2, 0
    )
    crop -= lo  # in place: same float32 arithmetic as (crop - lo) / (hi - lo), no temporaries
    crop /= hi - lo
    np.clip(crop, 0.0, 1.5, out=crop)
    t = torch.from_numpy(crop)
    # (K, x, y) -> (K, y, x) and flip both: row 0 anterior, column 0 patient right.
    t = t.transpose(1, 2).flip(1, 2)
    t = F.interpolate(t[None], size=(size, size), mode="bilinear", antialias=side > size,
                      align_corners=False)[0]
    geom = SliceGeometry((int(X), int(Y), int(data.shape[2])), int(bx), int(by), int(side),
                         np.asarray(z_index, dtype=np.int64), int(size))
    return t.contiguous(), geom


def slices_to_volume(maps: torch.Tensor | np.ndarray, geom: SliceGeometry) -> np.ndarray:
    """Put per-slice maps computed on the model input back on the RAS volume grid.

    Inverse of :func:`volume_to_slices`: undo the display flip, resize to the square box,
    crop to the volume, and interpolate linearly along z between sampled slices (zero outside
    the sampled z range).

    Parameters
    ----------
    maps : torch.Tensor | np.ndarray
        (K, size, size) float maps, same K and order as ``geom.z_index``.
    geom : SliceGeometry
        geometry returned with the slices.

    Returns
    -------
    np.ndarray
        float32 array of shape ``geom.volume_shape``.
    """
    m = torch.as_tensor(np.asarray(maps, dtype=np.float32))
    m = F.interpolate(m[None], size=(geom.side, geom.side), mode="bilinear",
                      align_corners=False)[0]
    m = m.flip(1, 2).transpose(1, 2).numpy()  # back to (K, x, y)
    X, Y, Z = geom.volume_shape
    bx, by, side = geom.x0, geom.y0, geom.side
    sx0, sx1 = max(bx, 0), min(bx + side, X)
    sy0, sy1 = max(by, 0), min(by + side, Y)
    planes = np.zeros((len(geom.z_index), X, Y), dtype=np.float32)
    planes[:, sx0:sx1, sy0:sy1] = m[:, sx0 - bx : sx1 - bx, sy0 - by : sy1 - by]

    # Average planes that share a z (duplicates when K exceeds the foreground's slices).
    zs, inv = np.unique(geom.z_index, return_inverse=True)
    uniq = np.zeros((len(zs), X, Y), dtype=np.float32)
    np.add.at(uniq, inv, planes)
    uniq /= np.bincount(inv)[:, None, None]

    out = np.zeros((X, Y, Z), dtype=np.float32)
    if len(zs) == 1:
        out[:, :, zs[0]] = uniq[0]
        return out
    for z in range(int(zs[0]), int(zs[-1]) + 1):
        pos = np.interp(z, zs, np.arange(len(zs)))
        i = min(int(np.floor(pos)), len(zs) - 2)
        w = pos - i
        out[:, :, z] = (1 - w) * uniq[i] + w * uniq[i + 1]
    return out


def slices_to_cube(slices: torch.Tensor, size: int = 64) -> torch.Tensor:
    """Resample a foreground slice stack to the 3D design's cube (``NetConfig(encoder="3d")``).

    Parameters
    ----------
    slices : torch.Tensor
        (Z, H, W) float16/float32 stack of *every* foreground slice in ascending z, as
        :func:`volume_to_slices` makes with ``z_index=arange(z0, z1)``.
    size : int, optional
        edge of the output cube in voxels.

    Returns
    -------
    torch.Tensor
        float32 (size, size, size) tensor (z, row, column), trilinear resampling; the
        foreground's superior-inferior extent fills the z axis whatever its voxel count, as the
        K evenly spaced slices of the 2D design do.

    Raises
    ------
    ValueError
        ``slices`` is not 3D or is empty.
    """
    if slices.ndim != 3 or min(slices.shape) == 0:
        raise ValueError(f"expected a non-empty (Z, H, W) stack, got shape {tuple(slices.shape)}")
    return F.interpolate(slices.float()[None, None], size=(size, size, size), mode="trilinear",
                         align_corners=False)[0, 0]
