"""Benchmark 3: viewer server time per slice change and per overlay change (goal <= 100 ms).

Calls ``bench.viewer.bench_slice_change(study)`` when that module exists (it times the page
itself); otherwise times ``model.render.render`` (:mod:`bench.render_fallback`).
"""

from __future__ import annotations

import importlib.util

from bench.common import say, table


def run(study=None) -> dict:
    from model.study import Study

    study = study or Study.demo()
    if importlib.util.find_spec("bench.viewer") is not None:
        from bench.viewer import bench_slice_change
        res = dict(bench_slice_change(study))
        res.setdefault("source", "bench/viewer.py")
    else:
        from bench.render_fallback import bench_slice_change
        res = bench_slice_change(study)
    rows = [(k, float(v) / 1000) for k, v in res.items() if k.endswith("_ms") and v is not None]
    table("3. viewer (server time)", rows, ("operation", "median"))
    say(f"source: {res.get('source')}; goal slice change <= 100 ms")
    return res
