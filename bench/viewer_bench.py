"""Benchmark 3: viewer server time per slice change and per overlay change (goal <= 100 ms).

Prints the result of :func:`bench.viewer.bench_slice_change` (it times the Viewer page's rerun).
"""

from __future__ import annotations

from bench.common import say, table


def run(study=None) -> dict:
    from bench.viewer import bench_slice_change
    from model.imaging.study import Study

    res = dict(bench_slice_change(study or Study.demo()))
    res.setdefault("source", "bench/viewer.py")
    rows = [(k, float(v) / 1000) for k, v in res.items() if k.endswith("_ms") and v is not None]
    table("3. viewer (server time)", rows, ("operation", "median"))
    say(f"source: {res.get('source')}; goal slice change <= 100 ms")
    return res
