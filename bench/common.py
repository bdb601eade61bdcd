"""Shared helpers: timing (median after warm-up), tables, machine description, RSS."""

from __future__ import annotations

import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Iterable

from model.core.config import REPO_ROOT as ROOT  # noqa: F401 - the benchmarks' repository root

#: Where tables go: stdout normally, stderr with ``--json`` (so stdout is one JSON object).
OUT = sys.stdout


def set_table_stream(stream) -> None:
    global OUT
    OUT = stream


def say(*args) -> None:
    print(*args, file=OUT, flush=True)


def timed(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> tuple[list[float], object]:
    """Run ``fn`` ``warmup`` times untimed, then ``repeats`` times; return (seconds, last result)."""
    result = None
    for _ in range(warmup):
        result = fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return times, result


def median(xs: Iterable[float]) -> float:
    xs = list(xs)
    return float(statistics.median(xs)) if xs else float("nan")


def table(title: str, rows: list[tuple], header: tuple = ("stage", "median", "min", "n")) -> None:
    """Print a small fixed-width table. Row cells are str/float/int; floats in seconds are
    shown in ms when < 10 s."""
    def fmt(v):
        if isinstance(v, float):
            return f"{v * 1000:9.1f} ms" if abs(v) < 10 else f"{v:9.2f} s "
        return str(v)
    cells = [[fmt(c) for c in r] for r in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) if cells else len(str(h))
              for i, h in enumerate(header)]
    say(f"\n## {title}")
    say("  ".join(str(h).ljust(w) for h, w in zip(header, widths)))
    say("  ".join("-" * w for w in widths))
    for r in cells:
        say("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))))


def stage_row(name: str, times: list[float]) -> tuple:
    return (name, median(times), min(times) if times else float("nan"), len(times))


def loadavg() -> tuple[float, float, float]:
    try:
        return os.getloadavg()
    except OSError:
        return (float("nan"),) * 3


def machine() -> dict:
    """What the numbers were measured on."""
    import torch

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gb = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gb": mem_gb,
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "loadavg_start": [round(x, 2) for x in loadavg()],
    }


def self_peak_rss_mb() -> float:
    """Peak RSS of this process (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def proc_status_mb(pid: int | str = "self") -> dict[str, float]:
    """VmRSS and VmHWM (peak RSS) of a process, in MB (Linux /proc)."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key = line.split(":", 1)[0]
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(line.split()[1]) / 1024
    return out


def tree_rss_mb(pid: int) -> float:
    """RSS (MB) of a process and its children (streamlit may spawn none, but be safe)."""
    total = proc_status_mb(pid).get("VmRSS", 0.0)
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    for c in children:
        try:
            total += tree_rss_mb(int(c))
        except (OSError, ValueError):
            pass
    return total
