"""Benchmark 7: tumour segmentation of the demo study (4 x 240 x 240 x 155, 1 mm).

``segment_seconds``: median wall time of :meth:`model.inference.segment.Segmenter.segment` on
the loaded demo study (FLAIR + T1 + T1ce given to the network; T2 unused), after one warm-up,
with the torch threads the server uses. ``segment_peak_extra_mb``: peak RSS during the timed
calls above the RSS before them (Linux: the peak is reset through ``/proc/self/clear_refs``;
where that is not allowed, the process peak is reported instead and said so).

    python -m bench --only segment --json
"""

from __future__ import annotations

from pathlib import Path

from bench.common import median, proc_status_mb, say, stage_row, table, timed


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def run(study=None, repeats: int = 5) -> dict:
    import torch

    from model.imaging.study import Study
    from model.inference.segment import Segmenter

    study = study or Study.demo()
    seg = Segmenter()
    seg.segment(study)                                   # warm-up (allocator, kernels)
    before = proc_status_mb().get("VmRSS", 0.0)
    reset = _reset_peak()
    times, res = timed(lambda: seg.segment(study), repeats=repeats, warmup=0)
    peak = proc_status_mb().get("VmHWM", 0.0)
    table("Segmentation (demo study, 4 x 240 x 240 x 155)", [stage_row("segment", times)])
    say(f"mask {res.labelmap.n_voxels} voxels ({res.labelmap.volume_ml:.1f} mL) from "
        f"{', '.join(res.sequences_used)}; device {seg.device}, {torch.get_num_threads()} thread(s)")
    return {
        "segment_seconds": round(median(times), 3),
        "segment_seconds_min": round(min(times), 3),
        "segment_peak_extra_mb": round(peak - before, 1) if reset else None,
        "segment_peak_rss_mb": round(peak, 1),
        "segment_peak_note": None if reset else "peak RSS of the whole process (clear_refs not allowed)",
        "segment_device": str(seg.device),
        "segment_threads": torch.get_num_threads(),
        "segment_volume_ml": round(res.labelmap.volume_ml, 2) if res.labelmap.volume_ml is not None else None,
    }
