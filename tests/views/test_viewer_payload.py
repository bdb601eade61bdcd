"""The browser viewer's payload (model.views.viewer_payload): 8-bit codes, gzip blobs in
Fortran order, the TBV1 container, and what build_payload puts in the header, checked against
hand-computed values, numpy/gzip/hashlib directly and the real demo study."""

import gzip
import hashlib
import json
import struct

import numpy as np
import pytest

from model.imaging.study import Study
from model.imaging.volume import Volume
from model.views import viewer_payload as vp
from model.views.render import WINDOW_PRESETS, IntensityStats


def _vol(data, spacing=(1.0, 2.0, 3.0), seq="T1", known=True, shift=(-10.0, 5.0, 7.5)):
    aff = np.diag([*spacing, 1.0])
    aff[:3, 3] = shift
    return Volume(seq, np.asarray(data, np.float32), aff, f"{seq}.nii", "RAS",
                  hashlib.sha256(np.asarray(data).tobytes() + seq.encode()).hexdigest(),
                  geometry_known=known)


def test_codes_of_hand_computed_values():
    data = np.array([10.0, 20.0, 15.02, 5.0, 99.0, 10.0 + 10 / 255]).reshape(6, 1, 1)
    c = vp.encode_intensities(data, 10.0, 20.0)
    assert c.codes.dtype == np.uint8
    # 10 -> 0, 20 -> 255, 15.02 -> 5.02 * 25.5 = 128.01 -> 128, below/above clipped, one step -> 1
    assert c.codes.ravel().tolist() == [0, 255, 128, 0, 255, 1]
    assert c.scale == pytest.approx(10 / 255) and c.offset == 10.0
    assert c.values().ravel()[2] == pytest.approx(10 + 128 * 10 / 255, rel=1e-6)


def test_codes_refuse_an_empty_range_and_a_flat_array():
    with pytest.raises(ValueError):
        vp.encode_intensities(np.zeros((2, 2, 2)), 1.0, 1.0)
    with pytest.raises(ValueError):
        vp.encode_intensities(np.zeros((2, 2)), 0.0, 1.0)


def test_round_trip_of_the_demo_flair_within_half_a_code(demo_study):
    data = demo_study.volumes["FLAIR"].data
    lo, hi = vp.robust_range(data)
    c = vp.encode_intensities(data, lo, hi)
    inside = data <= hi
    err = np.abs(c.values()[inside] - data[inside])
    assert err.max() <= c.scale / 2 * 1.001 + 1e-4
    assert lo == float(data.min())                       # the background keeps code 0
    assert (c.codes[data == data.min()] == 0).all()
    # the upper end: at or above the foreground's 99.9th percentile, under its maximum, and
    # at most 0.1 % of the foreground clipped to the brightest code
    fg = data[data > data.min()]
    assert np.percentile(fg, 99.9) * 0.999 <= hi <= fg.max()
    assert (fg > hi).mean() <= 0.001


def test_robust_range_of_a_constant_volume_stays_defined():
    lo, hi = vp.robust_range(np.full((3, 3, 3), 7.0, np.float32))
    assert (lo, hi) == (7.0, 8.0)


def test_labels_and_fractions():
    lab = np.array([0, 1, 2, 255]).reshape(4, 1, 1)
    assert vp.encode_labels(lab).tolist() == lab.tolist()
    with pytest.raises(ValueError):
        vp.encode_labels(np.array([0, 256]).reshape(2, 1, 1))
    f = vp.encode_fraction(np.array([0.0, 0.5, 1.0, 2.0, -1.0, np.nan]))
    assert f.tolist() == [0, 128, 255, 255, 0, 0]   # round(127.5) is 128 (half to even)


def test_blob_is_gzip_of_fortran_order():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 256, (4, 3, 2), dtype=np.uint8)
    blob = vp.volume_blob(codes)
    raw = gzip.decompress(blob)
    X, Y = 4, 3
    for i, j, k in [(0, 0, 0), (3, 1, 0), (2, 2, 1), (1, 0, 1)]:
        assert raw[i + X * (j + Y * k)] == codes[i, j, k]
    assert np.array_equal(vp.decode_blob(blob, codes.shape), codes)
    assert vp.volume_blob(codes) == blob                 # mtime 0: same bytes, same sha1
    with pytest.raises(ValueError):
        vp.decode_blob(blob, (4, 3, 3))
    with pytest.raises(ValueError):
        vp.volume_blob(codes.astype(np.int16))


def test_container_layout_and_round_trip():
    blobs = {"a": b"\x01\x02\x03", "b": b"hello"}
    buf = vp.pack({"x": 1}, blobs)
    assert buf[:4] == b"TBV1"
    (n,) = struct.unpack("<I", buf[4:8])
    head = json.loads(buf[8:8 + n])
    assert head["blobs"] == {"a": [0, 3, hashlib.sha1(b"\x01\x02\x03").hexdigest()],
                             "b": [3, 5, hashlib.sha1(b"hello").hexdigest()]}
    assert buf[8 + n:] == b"\x01\x02\x03hello"
    header, got = vp.unpack(buf)
    assert header["x"] == 1 and got == blobs
    with pytest.raises(ValueError):
        vp.unpack(b"XXXX" + buf[4:])
    with pytest.raises(ValueError):
        vp.unpack(buf[:-1])
    with pytest.raises(ValueError):
        vp.pack({"bad": float("nan")}, {})


def _small_study():
    rng = np.random.default_rng(1)
    t1 = rng.uniform(0, 100, (6, 5, 4)).astype(np.float32)
    t1[0] = 0.0
    flair = rng.uniform(0, 50, (3, 5, 4)).astype(np.float32)
    return Study(volumes={"T1": _vol(t1, seq="T1"),
                          "FLAIR": _vol(flair, spacing=(2.0, 2.0, 3.0), seq="FLAIR", known=False)})


def test_build_payload_header_and_blobs():
    study = _small_study()
    stats = {s: IntensityStats.of(study.volumes[s].data) for s in study.sequences}
    lab = np.zeros((6, 5, 4), np.uint8)
    lab[2:4, 1:3, 1] = 2
    amap = np.linspace(0, 1, 3 * 5 * 4).reshape(3, 5, 4)
    cache = {}
    buf = vp.build_payload(
        study, stats=stats, masks=[("m", (255, 0, 0), {"T1": lab})],
        overlay={"name": "Saliency", "maps": {"FLAIR": amap}, "lut": np.ones((256, 3)) * 0.5,
                 "opacity": 0.4, "threshold": 0.2},
        start={"seq": "T1", "convention": "radiological", "mm": [0.0, 0.0, 0.0]},
        command={"mm": [1.0, 2.0, 3.0], "nonce": 3}, cache=cache)
    header, blobs = vp.unpack(buf)
    seqs = {s["name"]: s for s in header["sequences"]}
    assert list(seqs) == ["T1", "FLAIR"]
    t1, fl = seqs["T1"], seqs["FLAIR"]
    assert t1["shape"] == [6, 5, 4] and t1["spacing"] == [1.0, 2.0, 3.0]
    assert t1["affine"][0] == [1.0, 0.0, 0.0, -10.0] and t1["affine"][2][3] == 7.5
    assert t1["geometry_known"] is True and fl["geometry_known"] is False
    assert t1["offset"] == 0.0
    lvl, wd = stats["T1"].preset(next(iter(WINDOW_PRESETS)))
    assert t1["presets"][next(iter(WINDOW_PRESETS))] == pytest.approx([lvl, wd])
    codes = vp.decode_blob(blobs[t1["blob"]], (6, 5, 4))
    data = study.volumes["T1"].data
    lo, hi = vp.robust_range(data, stats["T1"])
    inside = data <= hi
    assert np.abs(codes * t1["scale"] + t1["offset"] - data)[inside].max() <= t1["scale"] / 2 + 1e-4
    mask = header["masks"][0]
    assert mask["rgb"] == [255, 0, 0] and list(mask["blobs"]) == ["T1"]
    assert np.array_equal(vp.decode_blob(blobs[mask["blobs"]["T1"]], (6, 5, 4)), lab)
    ov = header["overlay"]
    assert ov["lut"][:3] == [128, 128, 128] and len(ov["lut"]) == 768
    got = vp.decode_blob(blobs[ov["blobs"]["FLAIR"]], (3, 5, 4))
    assert got[0, 0, 0] == 0 and got[-1, -1, -1] == 255
    assert header["command"] == {"mm": [1.0, 2.0, 3.0], "nonce": 3}
    # a second call with the same arrays reuses every compressed blob (no recompression)
    before = {k: v[-1] for k, v in cache.items()}
    vp.build_payload(study, stats=stats, masks=[("m", (255, 0, 0), {"T1": lab})], cache=cache)
    assert all(cache[k][-1] is b for k, b in before.items())


def test_build_payload_refuses_a_mask_off_grid():
    study = _small_study()
    stats = {s: IntensityStats.of(study.volumes[s].data) for s in study.sequences}
    with pytest.raises(ValueError, match="shape"):
        vp.build_payload(study, stats=stats, masks=[("m", (1, 2, 3), {"FLAIR": np.zeros((6, 5, 4))})])
