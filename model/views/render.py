"""Slice rendering for the viewer: RAS volume -> displayable RGB image (numpy + Pillow only).

Geometry
--------
Volumes are RAS+ arrays (:class:`model.imaging.volume.Volume`, nibabel's convention): voxel index
``i`` grows towards the patient's Right, ``j`` Anterior, ``k`` Superior, and voxel ``(i, j, k)``
lies at ``affine @ (i, j, k, 1)`` in scanner millimetres (:func:`voxel_to_mm`).

Views (``extract_slice``):

============ ============== ==================== =========================================
view         fixed axis     rows (top -> bottom) columns, radiological (left -> right)
============ ============== ==================== =========================================
axial        2 (z, S)       anterior -> posterior patient's right -> left
coronal      1 (y, A)       superior -> inferior patient's right -> left
sagittal     0 (x, R)       superior -> inferior anterior -> posterior
============ ============== ==================== =========================================

The **neurological** convention mirrors axial and coronal images left-right (patient's left on
the image's left); sagittal images are the same in both conventions.

Pixels are resampled to square millimetres so anisotropic volumes (e.g. 5.5 mm slices) keep
their true aspect. Window/level maps ``[level - width/2, level + width/2]`` to black..white.
MRI intensities have no absolute unit, so the window presets are percentiles of the
foreground voxels (:class:`IntensityStats`), not fixed numbers as in CT.

Rendering is split for speed (the viewer must answer a slice change in well under 100 ms):
:func:`render_base` (window, overlays, resize; cached by :class:`SliceCache`) and
:func:`annotate` (crosshair, orientation letters: cheap, redrawn every time).
"""

from __future__ import annotations

import io
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Hashable

import numpy as np
from nibabel.affines import apply_affine
from PIL import Image, ImageDraw, ImageFont

from model.views.masks import MaskLayer, blend_fill, paint_outline

VIEWS = ("axial", "coronal", "sagittal")
CONVENTIONS = ("radiological", "neurological")
#: Edge letters (top, bottom, left, right) of each view in the radiological convention.
EDGE_LETTERS = {
    "axial": ("A", "P", "R", "L"),
    "coronal": ("S", "I", "R", "L"),
    "sagittal": ("S", "I", "A", "P"),
}

#: Window presets: name -> (low, high) percentiles of the foreground intensities.
#: "Auto" is the default; "Contrast-enhanced" keeps only the bright end (enhancing rim,
#: vessels) visible; "Wide" shows the full range; "Brain" is a narrow soft-tissue window.
WINDOW_PRESETS: dict[str, tuple[float, float]] = {
    "Auto (0.5-99.5 %)": (0.5, 99.5),
    "Brain (5-95 %)": (5.0, 95.0),
    "Wide (0-100 %)": (0.0, 100.0),
    "Contrast-enhanced (50-99.9 %)": (50.0, 99.9),
}

# Colormap anchors (position in [0, 1], RGB 0-255); viridis/inferno anchors sampled from
# matplotlib's tables (van der Walt & Smith 2015, CC0), hot and jet as in MATLAB.
_CMAP_ANCHORS: dict[str, list[tuple[float, tuple[int, int, int]]]] = {
    "hot": [(0.0, (0, 0, 0)), (1 / 3, (255, 0, 0)), (2 / 3, (255, 255, 0)), (1.0, (255, 255, 255))],
    "inferno": [(0.0, (0, 0, 4)), (0.25, (87, 16, 110)), (0.5, (188, 55, 84)),
                (0.75, (249, 142, 9)), (1.0, (252, 255, 164))],
    "viridis": [(0.0, (68, 1, 84)), (0.25, (59, 82, 139)), (0.5, (33, 145, 140)),
                (0.75, (94, 201, 98)), (1.0, (253, 231, 37))],
    "jet": [(0.0, (0, 0, 128)), (0.125, (0, 0, 255)), (0.375, (0, 255, 255)),
            (0.625, (255, 255, 0)), (0.875, (255, 0, 0)), (1.0, (128, 0, 0))],
}
COLORMAPS = tuple(_CMAP_ANCHORS)
#: Tumour-mask label colours (BraTS convention: 1 necrotic core, 2 oedema, 3 enhancing;
#: 4 = enhancing in BraTS <= 2020). Other labels get magenta.
MASK_COLORS = {1: (255, 64, 64), 2: (64, 220, 64), 3: (255, 220, 0), 4: (255, 220, 0)}
_CROSSHAIR_RGB = (0, 255, 128)


# --------------------------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------------------------
def _check_view(view: str, convention: str = "radiological") -> None:
    if view not in VIEWS:
        raise ValueError(f"Unknown view {view!r}; use one of {VIEWS}.")
    if convention not in CONVENTIONS:
        raise ValueError(f"Unknown convention {convention!r}; use one of {CONVENTIONS}.")


def view_axis(view: str) -> int:
    """RAS array axis that a view slices through (axial 2, coronal 1, sagittal 0)."""
    _check_view(view)
    return {"axial": 2, "coronal": 1, "sagittal": 0}[view]


def edge_letters(view: str, convention: str = "radiological") -> tuple[str, str, str, str]:
    """Orientation letters (top, bottom, left, right) of a view's image edges.

    R/L patient right/left, A/P anterior/posterior, S/I superior/inferior. Raises ValueError
    for an unknown view or convention.
    """
    _check_view(view, convention)
    top, bottom, left, right = EDGE_LETTERS[view]
    if convention == "neurological" and view != "sagittal":
        left, right = right, left
    return top, bottom, left, right


def _flip_cols(view: str, convention: str) -> bool:
    """Whether the columns run against the array axis (True for radiological axial/coronal and
    for every sagittal view: anterior, the +y end, is on the left)."""
    return view == "sagittal" or convention == "radiological"


def extract_slice(data: np.ndarray, view: str, index: int, convention: str = "radiological") -> np.ndarray:
    """2D display array (rows, cols) of a RAS volume (X, Y, Z) for ``view`` at ``index``.

    Parameters
    ----------
    data : np.ndarray
        (X, Y, Z) RAS array, any dtype.
    view : str
        one of :data:`VIEWS`.
    index : int
        slice index along :func:`view_axis` (voxels, 0-based; not clipped).
    convention : str, optional
        "radiological" (patient's right on the image's left) or "neurological".

    Returns
    -------
    np.ndarray
        A view (no copy) of ``data``: axial rows = -Y (anterior top), cols = -X (radiological)
        or +X (neurological); coronal rows = -Z (superior top), cols as axial; sagittal rows =
        -Z, cols = -Y (anterior left).

    Raises
    ------
    ValueError
        Unknown view or convention.
    IndexError
        ``index`` out of range.
    """
    _check_view(view, convention)
    if view == "axial":
        img = data[:, :, index].T
    elif view == "coronal":
        img = data[:, index, :].T
    else:
        img = data[index, :, :].T
    img = img[::-1]
    return img[:, ::-1] if _flip_cols(view, convention) else img


def slice_shape(shape: tuple[int, int, int], view: str) -> tuple[int, int]:
    """(rows, cols) of :func:`extract_slice` images of a volume of ``shape`` (X, Y, Z)."""
    X, Y, Z = shape
    return {"axial": (Y, X), "coronal": (Z, X), "sagittal": (Z, Y)}[view]


def pixel_spacing(spacing_mm: tuple[float, float, float], view: str) -> tuple[float, float]:
    """(row, col) spacing in mm of :func:`extract_slice` images."""
    sx, sy, sz = spacing_mm
    return {"axial": (sy, sx), "coronal": (sz, sx), "sagittal": (sz, sy)}[view]


def voxel_to_pixel(ijk, shape: tuple[int, int, int], view: str,
                   convention: str = "radiological") -> tuple[int, int]:
    """(row, col) in the :func:`extract_slice` image of ``view`` where voxel ``ijk`` lies.

    Parameters
    ----------
    ijk
        voxel index (i, j, k) of the RAS array.
    shape : tuple[int, int, int]
        (X, Y, Z) of the volume.

    Returns
    -------
    tuple[int, int]
        integer (row, col) of the slice through ``ijk`` (``index = ijk[view_axis(view)]``).
    """
    _check_view(view, convention)
    i, j, k = (int(v) for v in ijk)
    X, Y, Z = shape
    if view == "axial":
        row, col_axis, n = Y - 1 - j, i, X
    elif view == "coronal":
        row, col_axis, n = Z - 1 - k, i, X
    else:
        row, col_axis, n = Z - 1 - k, j, Y
    col = n - 1 - col_axis if _flip_cols(view, convention) else col_axis
    return row, col


def pixel_to_voxel(row: int, col: int, index: int, shape: tuple[int, int, int], view: str,
                   convention: str = "radiological") -> tuple[int, int, int]:
    """Inverse of :func:`voxel_to_pixel`: voxel (i, j, k) shown at (row, col) of slice ``index``.

    Out-of-range rows/cols are clipped to the volume.
    """
    _check_view(view, convention)
    X, Y, Z = shape
    nrows, ncols = slice_shape(shape, view)
    row = int(np.clip(row, 0, nrows - 1))
    col = int(np.clip(col, 0, ncols - 1))
    c = ncols - 1 - col if _flip_cols(view, convention) else col
    if view == "axial":
        return c, Y - 1 - row, int(index)
    if view == "coronal":
        return c, int(index), Z - 1 - row
    return int(index), c, Z - 1 - row


def voxel_to_mm(affine: np.ndarray, ijk) -> np.ndarray:
    """World position (mm, scanner RAS) of voxel ``ijk``: ``affine @ (i, j, k, 1)``.

    Returns float64 (3,) (``nibabel.affines.apply_affine``).
    """
    return apply_affine(np.asarray(affine, dtype=np.float64), np.asarray(ijk, dtype=np.float64))


def mm_to_voxel(affine: np.ndarray, xyz_mm, shape: tuple[int, int, int]) -> tuple[int, int, int]:
    """Nearest voxel (i, j, k) of a volume to world position ``xyz_mm`` (mm), clipped to ``shape``."""
    ijk = apply_affine(np.linalg.inv(np.asarray(affine, dtype=np.float64)),
                       np.asarray(xyz_mm, dtype=np.float64))
    return tuple(int(np.clip(np.rint(v), 0, n - 1)) for v, n in zip(ijk, shape))  # type: ignore[return-value]


def output_size(shape: tuple[int, int, int], spacing_mm, view: str, out_px: int) -> tuple[int, int]:
    """(width, height) in pixels of a rendered view whose longer side is ``out_px``, square mm."""
    nrows, ncols = slice_shape(shape, view)
    rs, cs = pixel_spacing(spacing_mm, view)
    h_mm, w_mm = nrows * rs, ncols * cs
    scale = out_px / max(h_mm, w_mm)
    return max(1, round(w_mm * scale)), max(1, round(h_mm * scale))


# --------------------------------------------------------------------------------------------
# Intensities
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class IntensityStats:
    """Percentiles of one volume's foreground, for window presets and manual sliders.

    Attributes
    ----------
    grid : np.ndarray
        float64 (1001,) percentiles 0.0, 0.1, ..., 100.0 of the non-background voxels
        (background = volume minimum; strided sample of <= ~1 M voxels).
    vmin, vmax
        minimum and maximum of the whole volume (image units).
    """

    grid: np.ndarray
    vmin: float
    vmax: float

    @classmethod
    def of(cls, data: np.ndarray) -> "IntensityStats":
        """Compute the statistics of a volume (~50 ms for 9 M voxels; cache the result)."""
        flat = data.reshape(-1)[:: max(1, data.size // 1_000_000)]
        fg = flat[flat > flat.min()]
        if fg.size < 10:
            fg = flat
        grid = np.percentile(fg.astype(np.float64), np.linspace(0, 100, 1001))
        return cls(grid, float(data.min()), float(data.max()))

    def percentile(self, p: float) -> float:
        """Intensity at foreground percentile ``p`` (0-100), linear between grid points."""
        return float(np.interp(p, np.linspace(0, 100, 1001), self.grid))

    def window(self, low: float, high: float) -> tuple[float, float]:
        """(level, width) mapping percentiles ``low``..``high`` to black..white."""
        lo, hi = self.percentile(low), self.percentile(high)
        width = max(hi - lo, 1e-6)
        return lo + width / 2, width

    def preset(self, name: str) -> tuple[float, float]:
        """(level, width) of a :data:`WINDOW_PRESETS` entry. Raises KeyError for an unknown name."""
        return self.window(*WINDOW_PRESETS[name])


@lru_cache(maxsize=16)
def colormap_lut(name: str) -> np.ndarray:
    """(256, 3) float32 lookup table in [0, 1] of a :data:`COLORMAPS` colormap.

    Raises KeyError for an unknown name.
    """
    anchors = _CMAP_ANCHORS[name]
    pos = np.array([a for a, _ in anchors])
    rgb = np.array([c for _, c in anchors], dtype=np.float64) / 255.0
    x = np.linspace(0, 1, 256)
    return np.stack([np.interp(x, pos, rgb[:, c]) for c in range(3)], -1).astype(np.float32)


def apply_colormap(values: np.ndarray, name: str = "hot") -> np.ndarray:
    """Map values in [0, 1] (clipped) to RGB float32 (..., 3) in [0, 1] with a named colormap."""
    idx = (np.clip(values, 0, 1) * 255).astype(np.uint8)
    return colormap_lut(name)[idx]


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------
def render_base(data: np.ndarray, spacing_mm, view: str, index: int, level: float, width: float,
                overlay: np.ndarray | None = None, opacity: float = 0.5, threshold: float = 0.2,
                out_px: int = 320, convention: str = "radiological", colormap: str = "hot",
                mask: np.ndarray | None = None, mask_opacity: float = 0.4,
                layers: tuple[MaskLayer, ...] = ()) -> np.ndarray:
    """Windowed slice with overlays, resampled to square pixels; no crosshair or letters.

    Parameters
    ----------
    data : np.ndarray
        RAS volume (X, Y, Z), any real dtype, image units.
    spacing_mm
        voxel size (mm) along X, Y, Z.
    view, index, convention
        see :func:`extract_slice`.
    level, width
        window centre and width in image units (width > 0).
    overlay : np.ndarray, optional
        optional float volume of ``data``'s shape with values in [0, 1] (e.g. an
        attribution map); values below ``threshold`` are transparent.
    opacity : float, optional
        overlay opacity in [0, 1].
    threshold : float, optional
        overlay values below it are transparent.
    colormap : str, optional
        one of :data:`COLORMAPS`.
    mask : np.ndarray, optional
        optional integer label volume of ``data``'s shape (0 = background), drawn in
        :data:`MASK_COLORS` with ``mask_opacity``.
    layers : tuple of MaskLayer, optional
        masks on ``data``'s grid drawn in order, each in one colour: a fill blended with its
        opacity, then (after resizing) its boundary at full opacity (:mod:`model.views.masks`).
    out_px : int, optional
        length in pixels of the longer side of the output.

    Returns
    -------
    np.ndarray
        uint8 RGB image (rows, cols, 3) with square pixels (see :func:`output_size`).

    Raises
    ------
    ValueError
        overlay, mask or layer shape differs from ``data``; unknown view/convention.
    """
    for name, vol in (("overlay", overlay), ("mask", mask), *(("mask layer", la.array) for la in layers)):
        if vol is not None and vol.shape != data.shape:
            raise ValueError(f"The {name} has shape {vol.shape}; the image has {data.shape}.")
    img = extract_slice(data, view, index, convention).astype(np.float32)
    g = np.clip((img - (level - width / 2)) / max(width, 1e-12), 0, 1)
    rgb = np.repeat(g[..., None], 3, axis=-1)
    if mask is not None and mask_opacity > 0:
        lab = extract_slice(mask, view, index, convention)
        if lab.any():
            colors = np.zeros(lab.shape + (3,), np.float32)
            known = np.zeros(lab.shape, bool)
            for value, c in MASK_COLORS.items():
                sel = lab == value
                colors[sel] = np.array(c, np.float32) / 255
                known |= sel
            colors[(lab > 0) & ~known] = (1.0, 0.0, 1.0)
            alpha = (mask_opacity * (lab > 0))[..., None]
            rgb = (1 - alpha) * rgb + alpha * colors
    labs = [extract_slice(la.array, view, index, convention) for la in layers]
    for la, lab in zip(layers, labs):
        rgb = blend_fill(rgb, lab, la.rgb, float(la.opacity))
    if overlay is not None and opacity > 0:
        ov = extract_slice(overlay, view, index, convention)
        alpha = (opacity * (ov >= threshold))[..., None]
        rgb = (1 - alpha) * rgb + alpha * apply_colormap(ov, colormap)
    size = output_size(data.shape, spacing_mm, view, out_px)
    pil = Image.fromarray((rgb * 255 + 0.5).astype(np.uint8)).resize(size, Image.BILINEAR)
    out = np.asarray(pil)
    for la, lab in zip(layers, labs):
        if la.outline:
            out = paint_outline(out, lab, la.rgb)
    return out


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except Exception:  # Pillow without FreeType: fixed bitmap font
        return ImageFont.load_default()


def crosshair_pixel(ijk, shape: tuple[int, int, int], view: str, image_size: tuple[int, int],
                    convention: str = "radiological") -> tuple[float, float]:
    """(x, y) output-pixel position (centre of the voxel) of voxel ``ijk`` in a rendered view.

    Parameters
    ----------
    image_size : tuple[int, int]
        (width, height) of the rendered image (:func:`output_size`).
    """
    row, col = voxel_to_pixel(ijk, shape, view, convention)
    nrows, ncols = slice_shape(shape, view)
    w, h = image_size
    return (col + 0.5) * w / ncols, (row + 0.5) * h / nrows


def annotate(img: np.ndarray, view: str, convention: str = "radiological",
             crosshair_xy: tuple[float, float] | None = None, letters: bool = True,
             gap_px: int = 6) -> np.ndarray:
    """Draw orientation letters on the edges and an optional crosshair; returns a new image.

    Parameters
    ----------
    img : np.ndarray
        uint8 RGB (rows, cols, 3), e.g. from :func:`render_base`.
    crosshair_xy : tuple[float, float], optional
        (x, y) output pixel of the crosshair centre (:func:`crosshair_pixel`);
        the lines leave a ``gap_px`` gap around it so the voxel itself stays visible.

    Returns
    -------
    np.ndarray
        uint8 RGB image of the same shape.
    """
    pil = Image.fromarray(img)
    draw = ImageDraw.Draw(pil)
    h, w = img.shape[:2]
    if crosshair_xy is not None:
        x, y = crosshair_xy
        for seg in (((0, y), (x - gap_px, y)), ((x + gap_px, y), (w, y)),
                    ((x, 0), (x, y - gap_px)), ((x, y + gap_px), (x, h))):
            draw.line(seg, fill=_CROSSHAIR_RGB, width=1)
    if letters:
        top, bottom, left, right = edge_letters(view, convention)
        size = max(10, min(h, w) // 18)
        font = _font(size)
        kw = dict(fill=(255, 255, 0), font=font, stroke_width=max(1, size // 8), stroke_fill=(0, 0, 0))
        pad = 3
        draw.text((w / 2, pad), top, anchor="mt", **kw)
        draw.text((w / 2, h - pad), bottom, anchor="mb", **kw)
        draw.text((pad, h / 2), left, anchor="lm", **kw)
        draw.text((w - pad, h / 2), right, anchor="rm", **kw)
    return np.asarray(pil)


def render(data: np.ndarray, spacing_mm, view: str, index: int, level: float, width: float,
           overlay: np.ndarray | None = None, opacity: float = 0.5, threshold: float = 0.2,
           out_px: int = 320, convention: str = "radiological", colormap: str = "hot",
           mask: np.ndarray | None = None, mask_opacity: float = 0.4,
           crosshair: tuple[int, int, int] | None = None, letters: bool = False) -> np.ndarray:
    """Render one slice: :func:`render_base` then :func:`annotate`.

    ``crosshair`` is a voxel (i, j, k) of ``data`` (drawn when given); ``letters`` draws the
    orientation letters. Returns uint8 RGB (rows, cols, 3). Errors as :func:`render_base`.
    """
    img = render_base(data, spacing_mm, view, index, level, width, overlay, opacity, threshold,
                      out_px, convention, colormap, mask, mask_opacity)
    if crosshair is None and not letters:
        return img
    xy = None
    if crosshair is not None:
        xy = crosshair_pixel(crosshair, data.shape, view, (img.shape[1], img.shape[0]), convention)
    return annotate(img, view, convention, xy, letters)


def to_png(img: np.ndarray, compress_level: int = 1) -> bytes:
    """PNG bytes of a uint8 RGB/grey image (fast zlib level 1 by default)."""
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()


class SliceCache:
    """Small LRU cache of rendered base images, so a slice change re-renders only the view
    whose slice changed (the other views only get their crosshair redrawn).

    Keys are any hashable tuple chosen by the caller; it must contain everything the image
    depends on (study key, sequence, view, index, window, overlay identity and settings...).
    Not thread-safe: keep one per session.
    """

    def __init__(self, maxsize: int = 48):
        self.maxsize = maxsize
        self._d: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, make: Callable[[], np.ndarray]) -> np.ndarray:
        """Cached value for ``key``, or ``make()`` stored under it (evicting the oldest)."""
        if key in self._d:
            self._d.move_to_end(key)
            self.hits += 1
            return self._d[key]
        self.misses += 1
        val = make()
        self._d[key] = val
        if len(self._d) > self.maxsize:
            self._d.popitem(last=False)
        return val

    def clear(self) -> None:
        """Drop every cached image."""
        self._d.clear()


def render_views(data: np.ndarray, spacing_mm, ijk: tuple[int, int, int], level: float, width: float,
                 *, views: tuple[str, ...] = VIEWS, convention: str = "radiological",
                 overlay: np.ndarray | None = None, overlay_key: Hashable = None,
                 colormap: str = "hot", opacity: float = 0.5, threshold: float = 0.2,
                 mask: np.ndarray | None = None, mask_key: Hashable = None, mask_opacity: float = 0.4,
                 layers: tuple[MaskLayer, ...] = (), out_px: int = 320, crosshair: bool = True,
                 letters: bool = True,
                 cache: SliceCache | None = None, key: Hashable = None) -> dict[str, np.ndarray]:
    """The viewer's images: each view through voxel ``ijk`` with crosshair and letters.

    What the Viewer page draws on every rerun. With a :class:`SliceCache` only views whose
    base image changed are re-rendered (a new axial slice re-renders the axial view; coronal
    and sagittal reuse their base image and only get the crosshair redrawn).

    Parameters
    ----------
    data : np.ndarray
        RAS volume (X, Y, Z).
    spacing_mm : tuple of float
        voxel size (mm) along X, Y, Z.
    ijk : tuple[int, int, int]
        crosshair voxel (i, j, k); each view shows the slice through it.
    level, width
        window (image units).
    overlay, colormap, opacity, threshold, mask, mask_opacity, layers, convention, out_px
        see :func:`render_base` (each layer's ``key`` identifies it in the cache).
    overlay_key, mask_key
        hashable identities of the overlay / mask for the cache
        (required with a cache, else ``id()`` is used, which is only safe while the array
        lives).
    cache, key
        cache and the volume's identity in it (e.g. ``(study.key, sequence)``).

    Returns
    -------
    dict[str, np.ndarray]
        view -> uint8 RGB (rows, cols, 3).
    """
    out = {}
    ijk = tuple(int(v) for v in ijk)
    ov_id = None if overlay is None else (overlay_key if overlay_key is not None else id(overlay))
    mk_id = None if mask is None else (mask_key if mask_key is not None else id(mask))
    for view in views:
        index = ijk[view_axis(view)]

        def make(view=view, index=index):
            return render_base(data, spacing_mm, view, index, level, width, overlay, opacity, threshold,
                               out_px, convention, colormap, mask, mask_opacity, tuple(layers))

        if cache is None:
            base = make()
        else:
            ck = (key, view, index, float(level), float(width), convention, ov_id,
                  colormap if overlay is not None else None,
                  float(opacity) if overlay is not None else None,
                  float(threshold) if overlay is not None else None,
                  mk_id, float(mask_opacity) if mask is not None else None, out_px,
                  tuple(la.cache_key() for la in layers))
            base = cache.get(ck, make)
        xy = crosshair_pixel(ijk, data.shape, view, (base.shape[1], base.shape[0]), convention) if crosshair else None
        out[view] = annotate(base, view, convention, xy, letters) if (crosshair or letters) else base
    return out
