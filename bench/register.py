"""Registration of a study's sequences on loading (model/imaging/register.py), issue 17.

``python -m bench.register [--json] [--repeats N]``: median wall time of
:func:`model.imaging.register.align_volumes` (the registration cache cleared before every run)
on the raw TCGA-FG-6692 study (4 sequences, 0.9 x 0.9 x 5.5 mm, on two slice prescriptions:
three sequences registered onto FLAIR) and on the demo study (one grid: skipped), per
sequence and in total (wall, and CPU seconds of all threads, which the machine's load changes
less), with the SimpleITK threads the app uses (``THREADS``), and the load average around the
runs; then ``Study.from_paths`` of the raw study (read + register).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from bench import common
from bench.common import loadavg, median, say, stage_row, table


def run(repeats: int = 5) -> dict:
    import dataclasses
    import os
    from pathlib import Path

    import numpy as np

    from model.core.config import REPO_ROOT
    from model.imaging import register as rg
    from model.imaging.study import Study

    data = Path(os.environ.get("TUMORBOARD_DATA", REPO_ROOT.parent / "shared" / "data"))
    raw_dir = data / "demo_cases" / "tcga_fg_6692_raw"
    out: dict = {"register_threads": rg.THREADS, "load_before": [round(x, 2) for x in loadavg()]}
    demo = Study.demo()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        rg.align_volumes(demo.volumes)
        times.append(time.perf_counter() - t0)
    rows = [stage_row("demo (one grid: skipped)", times)]
    out["register_demo_seconds"] = round(median(times), 5)
    if raw_dir.exists():
        study = Study.from_paths(sorted(raw_dir.glob("*.nii.gz")))
        # undo the correction applied on loading, so every run registers from the headers
        vols = {s: v if study.alignment.get(s) is None else dataclasses.replace(
            v, affine=np.linalg.inv(study.alignment.get(s).correction) @ v.affine,
            content_hash=v.content_hash + ">bench") for s, v in study.volumes.items()}
        total, per = [], {}
        rep = None
        rg._CACHE.clear()
        rg.align_volumes(vols)  # warm-up (imports, MONAI, SimpleITK)
        cpu = []
        for _ in range(repeats):
            rg._CACHE.clear()
            t0, c0 = time.perf_counter(), time.process_time()
            _, rep = rg.align_volumes(vols)
            total.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)  # all threads: less sensitive to the load
            for a in rep.sequences:
                per.setdefault(a.sequence, []).append(a.seconds)
        rows.append(stage_row("raw TCGA-FG-6692, 3 onto FLAIR", total))
        rows += [stage_row(f"  {s} (register + measures)", t) for s, t in per.items()]
        out["register_raw_seconds"] = round(median(total), 3)
        out["register_raw_seconds_min"] = round(min(total), 3)
        out["register_raw_cpu_seconds"] = round(median(cpu), 3)
        out["register_raw_per_sequence_seconds"] = {s: round(median(t), 3) for s, t in per.items()}
        out["register_raw_result"] = rep.rows()
        loads = []
        for _ in range(repeats):
            rg._CACHE.clear()
            t0 = time.perf_counter()
            Study.from_paths(sorted(raw_dir.glob("*.nii.gz")))
            loads.append(time.perf_counter() - t0)
        rows.append(stage_row("Study.from_paths(raw) incl. registration", loads))
        out["load_raw_seconds"] = round(median(loads), 3)
    table(f"Registration ({rg.THREADS} SimpleITK threads)", rows)
    out["load_after"] = [round(x, 2) for x in loadavg()]
    say(f"load average before {out['load_before']}, after {out['load_after']}; CPU seconds "
        f"(all threads) of the raw registration: {out.get('register_raw_cpu_seconds')}")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.register", description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args(argv)
    if a.json:
        common.set_table_stream(sys.stderr)
    res = run(a.repeats)
    if a.json:
        print(json.dumps(res, indent=2, allow_nan=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
