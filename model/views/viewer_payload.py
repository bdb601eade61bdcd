"""The client-side viewer's payload: volumes, masks and maps as one binary container (numpy only).

The Viewer page's browser viewer (``app_pages/widgets/slice_viewer``) paints every slice itself, so
a slice step, a window change or a crosshair move needs no server round trip. It gets the whole
study once, in the container this module writes:

``b"TBV1"`` · header length (uint32, little endian) · header (UTF-8 JSON) · blobs

Each blob is a gzip stream (RFC 1952; the browser's ``DecompressionStream("gzip")`` reads it)
of a uint8 volume in Fortran order (index ``i + X * (j + Y * k)``, so an axial slice is one
contiguous run). ``header["blobs"][name] = [offset, length, sha1]``: offset from the first byte
after the header; the sha1 of the compressed bytes lets the browser keep a decoded blob across
payloads (a changed mask opacity or crosshair command re-decodes nothing).

Intensities are sent as 8-bit codes: ``value ≈ code * scale + offset`` in the file's units, with
``offset`` the volume's minimum (the background stays code 0) and ``offset + 255 * scale`` the
99.95th percentile of the foreground (:func:`robust_range`: a few hot voxels would otherwise
squeeze the brain into a few codes; brighter voxels show as the brightest code). A display
window is 8-bit anyway; the viewer shows values and level/width in the file's units through
``scale``/``offset`` (to within half a code, ``scale / 2``).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import struct
from dataclasses import dataclass

import numpy as np

from model.views.render import IntensityStats

MAGIC = b"TBV1"
#: Upper end of the 8-bit code range, percentile of the foreground intensities.
UPPER_PERCENTILE = 99.95
#: Largest payload the page sends: Streamlit refuses websocket messages over
#: ``server.maxMessageSize`` (default 200 MB), and the page's other elements share the message.
MAX_PAYLOAD_BYTES = 150 * 1024 * 1024

__all__ = ["MAGIC", "UPPER_PERCENTILE", "MAX_PAYLOAD_BYTES", "Codes", "robust_range", "encode_intensities",
           "encode_labels", "encode_fraction", "volume_blob", "decode_blob", "pack", "unpack",
           "sequence_header"]


@dataclass(frozen=True)
class Codes:
    """An intensity volume as 8-bit codes.

    Attributes:
        codes: uint8 (X, Y, Z).
        scale, offset: ``value ≈ code * scale + offset`` (file units); ``scale > 0``.
    """

    codes: np.ndarray
    scale: float
    offset: float

    def values(self) -> np.ndarray:
        """float32 (X, Y, Z) intensities the codes stand for (the browser's read-out)."""
        return (self.codes.astype(np.float32) * np.float32(self.scale) + np.float32(self.offset))


def robust_range(data: np.ndarray, stats: IntensityStats | None = None) -> tuple[float, float]:
    """(low, high) intensities mapped to codes 0 and 255.

    ``low`` is the volume's minimum (background, code 0); ``high`` the
    :data:`UPPER_PERCENTILE` percentile of the foreground (``IntensityStats``: voxels above the
    minimum), or the maximum when that is not above ``low``. ``stats`` (the page's cached
    :class:`~model.views.render.IntensityStats`) saves recomputing the percentiles.
    """
    stats = stats if stats is not None else IntensityStats.of(data)
    lo = float(stats.vmin)
    hi = float(stats.percentile(UPPER_PERCENTILE))
    if not hi > lo:
        hi = float(stats.vmax)
    if not hi > lo:  # a constant volume (make_volume refuses those; keep the codes defined)
        hi = lo + 1.0
    return lo, hi


def encode_intensities(data: np.ndarray, low: float, high: float) -> Codes:
    """Map ``[low, high]`` linearly onto codes 0..255 (nearest code; outside values clipped).

    Parameters
    ----------
    data : np.ndarray
        real (X, Y, Z) volume.
    low, high : float
        intensities of codes 0 and 255; ``high > low``.

    Returns
    -------
    Codes
        uint8 codes with ``scale = (high - low) / 255`` and ``offset = low``.

    Raises
    ------
    ValueError
        ``high <= low`` or ``data`` not 3D.
    """
    if not high > low:
        raise ValueError(f"The code range needs high > low (got {low}, {high}).")
    if np.ndim(data) != 3:
        raise ValueError(f"Expected an (X, Y, Z) volume, got shape {np.shape(data)}.")
    scale = (float(high) - float(low)) / 255.0
    codes = np.empty(np.shape(data), dtype=np.uint8)
    # float32 arithmetic in place: a 240x240x155 volume in ~30 ms, one temporary
    tmp = np.subtract(data, np.float32(low), dtype=np.float32)
    tmp *= np.float32(1.0 / scale)
    np.rint(tmp, out=tmp)
    np.clip(tmp, 0, 255, out=tmp)
    codes[...] = tmp
    return Codes(codes, scale, float(low))


def encode_labels(labels: np.ndarray) -> np.ndarray:
    """uint8 (X, Y, Z) copy of an integer label volume (0 = background).

    Raises ValueError for a label outside 0..255 (a uint8 blob cannot hold it).
    """
    arr = np.asarray(labels)
    if arr.size and (arr.min() < 0 or arr.max() > 255):
        raise ValueError(f"Labels must lie in 0..255 to be sent to the viewer "
                         f"(found {arr.min()}..{arr.max()}).")
    return arr.astype(np.uint8)


def encode_fraction(values: np.ndarray) -> np.ndarray:
    """uint8 codes ``round(255 * v)`` of values in [0, 1] (clipped; NaN -> 0), e.g. an attribution
    map normalised to full scale; the browser reads ``code / 255``."""
    v = np.nan_to_num(np.asarray(values, dtype=np.float32), nan=0.0)
    return np.rint(np.clip(v, 0.0, 1.0) * 255.0).astype(np.uint8)


def volume_blob(codes: np.ndarray, compresslevel: int = 6) -> bytes:
    """gzip stream of a uint8 (X, Y, Z) volume in Fortran order (see the module docstring).

    Raises ValueError for another dtype or rank.
    """
    if codes.dtype != np.uint8 or codes.ndim != 3:
        raise ValueError(f"Expected a uint8 (X, Y, Z) volume, got {codes.dtype} {codes.shape}.")
    return gzip.compress(np.asfortranarray(codes).tobytes(order="F"), compresslevel=compresslevel,
                         mtime=0)  # mtime 0: the same volume gives the same bytes (and sha1)


def decode_blob(blob: bytes, shape: tuple[int, int, int]) -> np.ndarray:
    """Inverse of :func:`volume_blob`: uint8 (X, Y, Z). Raises ValueError on a size mismatch."""
    raw = gzip.decompress(blob)
    if len(raw) != int(np.prod(shape)):
        raise ValueError(f"Blob holds {len(raw)} bytes; shape {shape} needs {int(np.prod(shape))}.")
    return np.frombuffer(raw, dtype=np.uint8).reshape(shape, order="F")


def pack(header: dict, blobs: dict[str, bytes]) -> bytes:
    """One container of ``header`` (JSON-serialisable) and named ``blobs``.

    ``header["blobs"]`` is filled in (``name -> [offset, length, sha1 hex]``); any value there is
    replaced. Raises TypeError when the header is not JSON-serialisable (NaN included).
    """
    table, offset = {}, 0
    for name, b in blobs.items():
        table[name] = [offset, len(b), hashlib.sha1(b).hexdigest()]
        offset += len(b)
    head = json.dumps({**header, "blobs": table}, allow_nan=False, separators=(",", ":")).encode()
    return b"".join([MAGIC, struct.pack("<I", len(head)), head, *blobs.values()])


def unpack(buf: bytes) -> tuple[dict, dict[str, bytes]]:
    """Inverse of :func:`pack`: ``(header, blobs)``. Raises ValueError for a foreign or cut buffer."""
    if len(buf) < 8 or buf[:4] != MAGIC:
        raise ValueError("Not a viewer payload (no TBV1 magic).")
    (n,) = struct.unpack("<I", buf[4:8])
    if 8 + n > len(buf):
        raise ValueError("Viewer payload cut short inside its header.")
    header = json.loads(buf[8:8 + n].decode())
    body = memoryview(buf)[8 + n:]
    blobs = {}
    for name, (off, length, _sha) in header.get("blobs", {}).items():
        if off + length > len(body):
            raise ValueError(f"Viewer payload cut short inside blob {name!r}.")
        blobs[name] = bytes(body[off:off + length])
    return header, blobs


def sequence_header(name: str, vol, scale: float, offset: float,
                    presets: dict[str, tuple[float, float]], blob: str) -> dict:
    """The header entry of one sequence.

    Parameters
    ----------
    name : str
        sequence name.
    vol
        :class:`model.imaging.volume.Volume` (``shape``, ``affine``, ``spacing_mm``,
        ``geometry_known``).
    scale, offset : float
        of its 8-bit codes (:class:`Codes`).
    presets : dict
        window preset name -> (level, width) in file units.
    blob : str
        name of its blob in the container.

    Returns
    -------
    dict
        ``name, shape (X, Y, Z), affine (4x4 row-major, voxel -> scanner RAS mm), spacing (mm),
        geometry_known, scale, offset, presets, blob``.
    """
    return {
        "name": name,
        "shape": [int(s) for s in vol.shape],
        "affine": np.asarray(vol.affine, dtype=np.float64).round(6).tolist(),
        "spacing": [round(float(s), 6) for s in vol.spacing_mm],
        "geometry_known": bool(vol.geometry_known),
        "scale": float(scale),
        "offset": float(offset),
        "presets": {k: [float(lv), float(wd)] for k, (lv, wd) in presets.items()},
        "blob": blob,
    }


def _cached_blob(cache: dict, key, source: np.ndarray, encode) -> bytes:
    """``encode(source)`` compressed, kept in ``cache[key]`` while ``source`` is the same object."""
    hit = cache.get(key)
    if hit is None or hit[0] is not source:
        hit = cache[key] = (source, volume_blob(encode(source)))
    return hit[1]


def build_payload(study, *, stats: dict, masks: list, overlay: dict | None = None,
                  mask_style: dict | None = None, auto_rano: dict | None = None,
                  start: dict | None = None, command: dict | None = None,
                  cache: dict | None = None) -> bytes:
    """The viewer container of a study.

    Parameters
    ----------
    study
        :class:`model.imaging.study.Study` (``key``, ``sequences``, ``volumes``).
    stats : dict
        sequence -> :class:`~model.views.render.IntensityStats` (code range, window presets).
    masks : list
        ``(name, rgb (0-255), {sequence: integer labels (X, Y, Z) on that sequence's grid})``.
    overlay : dict, optional
        ``{"name", "maps": {sequence: float (X, Y, Z) in [0, 1]}, "lut": (256, 3) float in
        [0, 1], "opacity", "threshold"}`` (an attribution map and its colormap).
    mask_style : dict, optional
        ``{"show", "shown": [names], "fill", "outline"}``.
    auto_rano : dict, optional
        the segmentation's own RANO numbers, shown beside the user's.
    start : dict, optional
        ``{"seq", "convention", "mm"}`` of a freshly mounted viewer.
    command : dict, optional
        ``{"mm", "nonce", "seq"}``: a crosshair move the viewer applies once per nonce.
    cache : dict, optional
        compressed blobs kept between calls (a page keeps one per study).

    Returns
    -------
    bytes
        the container (:func:`pack`).

    Raises
    ------
    ValueError
        a mask or map whose shape is not its sequence's grid.
    """
    from model.views.render import WINDOW_PRESETS

    cache = {} if cache is None else cache
    blobs: dict[str, bytes] = {}
    seqs = []
    for s in study.sequences:
        vol = study.volumes[s]
        lo, hi = robust_range(vol.data, stats.get(s))
        hit = cache.get(("codes", s))
        if hit is None or hit[0] is not vol.data:
            codes = encode_intensities(vol.data, lo, hi)  # kept compressed only (8x smaller)
            hit = cache[("codes", s)] = (vol.data, codes.scale, codes.offset, volume_blob(codes.codes))
        name = f"vol:{s}"
        blobs[name] = hit[3]
        presets = {p: stats[s].preset(p) for p in WINDOW_PRESETS} if s in stats else {}
        if not presets:
            presets = {"Full range": ((lo + hi) / 2, hi - lo)}
        seqs.append(sequence_header(s, vol, hit[1], hit[2], presets, name))
    mask_head = []
    for name, rgb, per_seq in masks:
        entry = {"name": name, "rgb": [int(c) for c in rgb], "blobs": {}}
        for s, lab in per_seq.items():
            if tuple(lab.shape) != study.volumes[s].shape:
                raise ValueError(f"Mask {name!r} on {s} has shape {lab.shape}; "
                                 f"{s} has {study.volumes[s].shape}.")
            b = f"mask:{name}:{s}"
            blobs[b] = _cached_blob(cache, ("mask", name, s), lab, encode_labels)
            entry["blobs"][s] = b
        mask_head.append(entry)
    ov_head = None
    if overlay is not None:
        ov_head = {"name": overlay["name"], "blobs": {},
                   "lut": [int(round(float(c) * 255)) for c in np.asarray(overlay["lut"]).reshape(-1)],
                   "opacity": float(overlay["opacity"]), "threshold": float(overlay["threshold"])}
        for s, amap in overlay["maps"].items():
            if tuple(amap.shape) != study.volumes[s].shape:
                raise ValueError(f"Map on {s} has shape {amap.shape}; {s} has {study.volumes[s].shape}.")
            b = f"overlay:{overlay['name']}:{s}"
            blobs[b] = _cached_blob(cache, ("overlay", overlay["name"], s), amap, encode_fraction)
            ov_head["blobs"][s] = b
    header = {"version": 1, "study": str(study.key), "sequences": seqs, "masks": mask_head,
              "mask_style": mask_style or {"show": True, "shown": [m[0] for m in masks],
                                           "fill": 0.3, "outline": True},
              "overlay": ov_head, "auto_rano": auto_rano, "start": start, "command": command}
    return pack(header, blobs)
