"""``python -m bench [--json] [--only a,b] [--repeats N] [--uploads N]``: every benchmark.

Benchmarks: ``pipeline`` (1, study -> prediction vs floor and vs MONAI), ``attribution`` (2),
``viewer`` (3), ``memory`` (4, a live server and a headless Chromium), ``training`` (5),
``segment`` (7, tumour segmentation of the demo study: ``segment_seconds``, peak memory).
GPU runs (6) are not made here: ``pipeline``, ``attribution`` and ``training`` use CUDA by
themselves when ``torch.cuda.is_available()``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

ALL = ("pipeline", "attribution", "viewer", "memory", "training", "segment")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true", help="tables on stderr, one JSON object on stdout")
    ap.add_argument("--only", default=",".join(ALL), help=f"comma-separated subset of {','.join(ALL)}")
    ap.add_argument("--repeats", type=int, default=5, help="timed repeats after one warm-up")
    ap.add_argument("--uploads", type=int, default=20, help="uploads in the memory benchmark")
    ap.add_argument("--train-steps", type=int, default=4)
    ap.add_argument("--threads", type=int, default=0,
                    help="torch threads for inference (default: what the server uses, "
                         "model.cached.configure_torch_threads)")
    a = ap.parse_args(argv)
    import os
    if a.threads > 0:
        os.environ["TUMORBOARD_TORCH_THREADS"] = str(a.threads)
    from model.cached import configure_torch_threads
    configure_torch_threads()

    from bench import common
    if a.json:
        common.set_table_stream(sys.stderr)
    only = [s.strip() for s in a.only.split(",") if s.strip()]
    unknown = set(only) - set(ALL)
    if unknown:
        ap.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")

    t0 = time.time()
    result: dict = {"machine": common.machine()}
    common.say("# TumorBoard benchmarks")
    common.say(json.dumps(result["machine"]))
    predictor = study = None
    if {"pipeline", "attribution", "viewer"} & set(only):
        from model.inference.classify import Predictor
        from model.imaging.study import Study
        predictor, study = Predictor(), Study.demo()
    if "pipeline" in only:
        from bench import pipeline
        result.update(pipeline.run(predictor, a.repeats))
    if "attribution" in only:
        from bench import attribution
        result.update(attribution.run(predictor, study, min(a.repeats, 3)))
    if "viewer" in only:
        from bench import viewer_bench
        v = viewer_bench.run(study)
        result["slice_change_ms"] = v.get("slice_change_ms")
        result["overlay_change_ms"] = v.get("overlay_change_ms")
        result["viewer_source"] = v.get("source")
    if "memory" in only:
        from bench import memory
        result.update(memory.run(a.uploads))
    if "training" in only:
        from bench import training_bench
        result.update(training_bench.run(a.train_steps))
    if "segment" in only:
        from bench import segment
        result.update(segment.run(study, a.repeats))
    result["peak_rss_bench_process_mb"] = common.self_peak_rss_mb()
    result["machine"]["loadavg_end"] = [round(x, 2) for x in common.loadavg()]
    result["total_seconds"] = round(time.time() - t0, 1)
    common.say(f"\ntotal {result['total_seconds']} s; load average at the end "
               f"{result['machine']['loadavg_end']}")
    print(json.dumps(result, default=_jsonable) if a.json else "")
    return 0


def _jsonable(o):
    try:
        import numpy as np
        if isinstance(o, np.generic):
            return o.item()
    except ImportError:
        pass
    return str(o)


if __name__ == "__main__":
    sys.exit(main())
