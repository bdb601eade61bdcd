"""Viewer server time per slice change and per overlay change (goal: slice change <= 100 ms).

    python -m bench.viewer            # demo study, medians on stdout
    python -m bench.viewer --json

Two measurements per operation:

* ``*_ms``: the whole Viewer page rerun in Streamlit's ``AppTest`` (app.py + app_pages/viewer.py,
  widgets, images encoded and stored), i.e. the server's work for one slider move; AppTest adds
  its own protobuf bookkeeping, so this is an upper bound.
* ``render_*_ms``: only the image work the page does (:func:`model.views.render.render_views` with the
  page's session cache, then PNG encoding of every image shown).

A slice change moves the axial slider by one; an overlay change moves the attribution-map
opacity slider (a synthetic map, so no attribution has to be computed). This is the
"Simple viewer (server-rendered)" fallback; the default viewer paints in the browser and is
timed there (its ``window.tbViewer.paintLog``, see ``bench/browser.py``).
"""

from __future__ import annotations

import json
import statistics
import sys
import time

import numpy as np

from bench.common import ROOT


def _median_ms(xs) -> float:
    return float(statistics.median(xs)) * 1000 if xs else float("nan")


def _fake_map(vol) -> np.ndarray:
    d = vol.data
    hi = float(np.percentile(d[d > d.min()], 99)) if (d > d.min()).any() else 1.0
    return np.clip(d / max(hi, 1e-6), 0, 1).astype(np.float32)


def bench_render(study, repeats: int = 30) -> dict:
    """Image work of a slice change / overlay change: median ms (model.views.render only)."""
    from model.views.render import IntensityStats, SliceCache, render_views, to_png

    seq = "FLAIR" if "FLAIR" in study.volumes else study.sequences[0]
    vol = study.volumes[seq]
    level, width = IntensityStats.of(vol.data).preset("Auto (0.5-99.5 %)")
    ov = _fake_map(vol)
    cache = SliceCache(64)
    c = [s // 2 for s in vol.shape]

    def frame(z, opacity, overlay):
        imgs = render_views(vol.data, vol.spacing_mm, (c[0], c[1], z), level, width, overlay=overlay,
                            overlay_key="fake", opacity=opacity, cache=cache, key=seq)
        for other in study.sequences:  # the side-by-side row
            v = study.volumes[other]
            img = render_views(v.data, v.spacing_mm, (c[0], c[1], min(z, v.shape[2] - 1)), level, width,
                               views=("axial",), out_px=240, cache=cache, key=other)["axial"]
            to_png(img)
        return [to_png(i) for i in imgs.values()]

    frame(c[2], 0.5, None)
    t_slice = []
    for n in range(repeats):
        t0 = time.perf_counter()
        frame((c[2] + 1 + n) % vol.shape[2], 0.5, None)
        t_slice.append(time.perf_counter() - t0)
    t_ov = []
    for n in range(repeats):
        t0 = time.perf_counter()
        frame(c[2], 0.1 + 0.8 * ((n % 9) / 9), ov)
        t_ov.append(time.perf_counter() - t0)
    return {"render_slice_change_ms": _median_ms(t_slice), "render_overlay_change_ms": _median_ms(t_ov)}


def bench_page(study, repeats: int = 15) -> dict:
    """Whole Viewer page rerun in AppTest: median ms per slice change and overlay change."""
    from streamlit.testing.v1 import AppTest

    from model.cached import MAPS, STUDY

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state[STUDY] = study
    at.session_state[MAPS] = {}
    at.run()
    seq = "FLAIR" if "FLAIR" in study.volumes else study.sequences[0]
    at.session_state[MAPS] = {
        (study.key, "Saliency"): {s: _fake_map(study.volumes[s]) for s in study.sequences}}
    at.switch_page("app_pages/viewer.py")
    at.run()
    if at.exception:
        raise RuntimeError(f"Viewer page failed: {at.exception[0].value}")
    at.toggle(key="viewer_simple").set_value(True)  # the server-rendered viewer: sliders, PNGs
    at.run()
    at.selectbox(key="viewer_seq").set_value(seq)
    at.run()
    zkey = f"viewer_axial_{seq}"
    z0 = at.slider(key=zkey).value
    n = study.volumes[seq].shape[2]
    at.slider(key="viewer_opacity").set_value(0.5)
    at.run()
    t_slice = []
    for i in range(repeats):
        at.slider(key=zkey).set_value((z0 + 1 + i) % n)
        t0 = time.perf_counter()
        at.run()
        t_slice.append(time.perf_counter() - t0)
    t_ov = []
    for i in range(repeats):
        at.slider(key="viewer_opacity").set_value(round(0.1 + 0.05 * (i % 16), 2))
        t0 = time.perf_counter()
        at.run()
        t_ov.append(time.perf_counter() - t0)
    if at.exception:
        raise RuntimeError(f"Viewer page failed: {at.exception[0].value}")
    return {"slice_change_ms": _median_ms(t_slice), "overlay_change_ms": _median_ms(t_ov)}


def bench_slice_change(study) -> dict:
    """Median server time (ms) of a Viewer slice change and overlay change on ``study``.

    Returns ``slice_change_ms`` and ``overlay_change_ms`` (whole page rerun, AppTest),
    ``render_slice_change_ms`` and ``render_overlay_change_ms`` (image work only),
    ``source`` and ``n_sequences``. Takes ~20 s on the demo study (2 CPU cores).
    """
    res = bench_page(study)
    res.update(bench_render(study))
    res["source"] = "bench/viewer.py (AppTest page rerun; render = model.views.render.render_views + PNG)"
    res["n_sequences"] = len(study.sequences)
    return res


def main(argv: list[str] | None = None) -> int:
    from model.imaging.study import Study

    argv = sys.argv[1:] if argv is None else argv
    res = bench_slice_change(Study.demo())
    if "--json" in argv:
        print(json.dumps(res))
    else:
        for k, v in res.items():
            print(f"{k:28s} {v:8.1f}" if isinstance(v, float) else f"{k:28s} {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
