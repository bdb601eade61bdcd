"""Benchmark 4: server memory. Peak RSS of ``streamlit run app.py`` with the model loaded and one
study open (predicted, one attribution map), then RSS over consecutive uploads in one session.

Each upload round: upload a real 4-sequence study (alternating TCGA-FG-6692 and
BraTS-GLI-00001 from ``shared/data/demo_cases``), load it (replacing the previous study),
predict, compute a Saliency map. Goal: peak <= 2 GB; growth over the uploads bounded (a
session keeps one study, its prediction and maps; the uploaded bytes are dropped).
"""

from __future__ import annotations

import asyncio
import time

from bench.common import say, table
from bench.live import have_chromium, launch, open_app, streamlit_server, study_round


async def _drive(server, uploads: int, method: str, timeout_ms: int) -> dict:
    from playwright.async_api import async_playwright

    out = {"errors": []}
    async with async_playwright() as p:
        browser = await launch(p)
        try:
            ctx = await browser.new_context(viewport={"width": 1400, "height": 1000})
            page = await open_app(ctx, server.url, timeout_ms)
            o = await study_round(page, "demo", method, timeout_ms)
            out["errors"] += o.errors
            out["one_study"] = server.rss()
            rss, secs = [], []
            for i in range(uploads):
                study = ("tcga_fg_6692", "brats_gli_00001")[i % 2]
                o = await study_round(page, study, method, timeout_ms)
                out["errors"] += [f"upload {i + 1} {study}: {e}" for e in o.errors]
                rss.append(server.rss()["VmRSS"])
                secs.append(o.seconds)
                say(f"  upload {i + 1:2d} ({study}): RSS {rss[-1]:.0f} MB, {o.seconds:.1f} s")
            out["rss_per_upload"] = rss
            out["round_seconds"] = secs
            await ctx.close()
        finally:
            await browser.close()
    time.sleep(5)
    out["after_close"] = server.rss()
    return out


def run(uploads: int = 20, method: str = "Saliency", timeout_ms: int = 300_000) -> dict:
    if not have_chromium():
        say("\n## 4. memory: skipped (/usr/bin/chromium not installed)")
        return {"peak_rss_mb": None}
    with streamlit_server() as server:
        rss_idle = server.rss()["VmRSS"]
        out = asyncio.run(_drive(server, uploads, method, timeout_ms))
        tracebacks = server.log().count("Traceback")
    rss = out["rss_per_upload"]
    warm = min(5, len(rss) - 1) if rss else 0
    growth = rss[-1] - rss[warm] if rss else float("nan")
    # Least-squares slope over the rounds after warm-up (MB per upload).
    ys = rss[warm:]
    n = len(ys)
    slope = (sum((i - (n - 1) / 2) * (y - sum(ys) / n) for i, y in enumerate(ys))
             / max(1e-9, sum((i - (n - 1) / 2) ** 2 for i in range(n)))) if n > 1 else float("nan")
    peak_one = out["one_study"]["VmHWM"]
    res = {
        "peak_rss_mb": peak_one,
        "rss_idle_mb": rss_idle,
        "rss_one_study_mb": out["one_study"]["VmRSS"],
        "rss_uploads_mb": [round(r) for r in rss],
        "rss_growth_after_warmup_mb": growth,
        "rss_slope_mb_per_upload": slope,
        "peak_rss_all_uploads_mb": out["after_close"]["VmHWM"],
        "rss_after_session_closed_mb": out["after_close"]["VmRSS"],
        "upload_round_seconds_median": sorted(out["round_seconds"])[len(out["round_seconds"]) // 2]
        if out["round_seconds"] else None,
        "memory_errors": out["errors"][:10],
        "server_tracebacks": tracebacks,
    }
    table("4. server memory (streamlit run app.py)", [
        ("idle server (no session)", f"{rss_idle:.0f} MB"),
        ("model loaded + demo study + prediction + map: peak (VmHWM)", f"{peak_one:.0f} MB"),
        ("  same, current RSS", f"{out['one_study']['VmRSS']:.0f} MB"),
        (f"RSS after upload {warm + 1} / {len(rss)}",
         f"{rss[warm]:.0f} / {rss[-1]:.0f} MB" if rss else "-"),
        (f"growth after warm-up, slope", f"{growth:+.0f} MB, {slope:+.1f} MB/upload"),
        ("peak over all uploads (VmHWM)", f"{out['after_close']['VmHWM']:.0f} MB"),
        ("RSS 5 s after the session closed", f"{out['after_close']['VmRSS']:.0f} MB"),
        ("errors / server tracebacks", f"{len(out['errors'])} / {tracebacks}"),
    ], ("", "value"))
    return res
