"""Benchmark 4: server memory. RSS of ``streamlit run app.py`` with the model loaded and one
study open per session, over consecutive uploads, and after every session has ended.

Each upload round, in each of ``sessions`` browser sessions at once: upload a real 4-sequence
study (alternating TCGA-FG-6692 and BraTS-GLI-00001 from ``shared/data/demo_cases``), load it
(replacing the previous study), open the Prediction page with clinical inputs (segmentation,
tumour type, prognosis) and, when the grade model accepts the study, predict and compute a
Saliency map. Then the sessions close; once Streamlit's disconnected-session TTL (10 s here)
has passed, a new visitor connects, which is when Streamlit drops expired sessions, and leaves.

Goals (issue 16): peak <= 2 GB; growth per upload after warm-up ~ 0; RSS after every session
ended back near the one-study level (the demo study and the models stay: server-wide caches).
"""

from __future__ import annotations

import asyncio
import statistics
import time

from bench.common import say, table
from bench.live import (_settled, compute_map, enter_clinical_inputs, have_chromium, launch,
                        load_study, open_app, page_errors, streamlit_server)

TTL_S = 10


async def _round(page, study: str, method: str, timeout_ms: int) -> tuple[float, list[str], bool]:
    """One round; returns (seconds, errors, whether a map was computed). The grade map is computed only where the scope
    check admits the study (an out-of-scope study gets no grade expander)."""
    t0 = time.perf_counter()
    step, errors, mapped = "load", [], False
    try:
        await load_study(page, study, timeout_ms)
        step = "analysis"
        await enter_clinical_inputs(page, timeout_ms)
        grade = page.locator('[data-testid="stExpander"]').filter(has_text="Experimental: WHO grade II/III")
        mapped = False
        if await grade.count():
            await grade.first.get_by_text("Experimental: WHO grade II/III").first.click(timeout=timeout_ms)
            await _settled(page, timeout_ms)
            # The expander may only say why no grade is given (scope refusal): no map then.
            if await grade.first.get_by_text("Attribution method").count():
                step = "map"
                await compute_map(page, method, timeout_ms)
                mapped = True
        errors += await page_errors(page)
    except Exception as exc:  # noqa: BLE001 - a failed round is a result, reported
        errors.append(f"{step}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
    return time.perf_counter() - t0, errors, mapped


async def _drive(server, uploads: int, sessions: int, method: str, timeout_ms: int) -> dict:
    from playwright.async_api import async_playwright

    out = {"errors": []}
    async with async_playwright() as p:
        browser = await launch(p)
        try:
            ctxs = [await browser.new_context(viewport={"width": 1400, "height": 1000})
                    for _ in range(sessions)]
            pages = [await open_app(c, server.url, timeout_ms) for c in ctxs]
            for _, errs, _m in await asyncio.gather(*[_round(pg, "demo", method, timeout_ms) for pg in pages]):
                out["errors"] += errs
            out["one_study"] = server.rss()
            rss, secs = [], []
            for i in range(uploads):
                study = ("tcga_fg_6692", "brats_gli_00001")[i % 2]
                res = await asyncio.gather(*[_round(pg, study, method, timeout_ms) for pg in pages])
                out["errors"] += [f"upload {i + 1} {study}: {e}" for _, errs, _m in res for e in errs]
                out["maps"] = out.get("maps", 0) + sum(m for *_, m in res)
                rss.append(server.rss()["VmRSS"])
                secs += [r[0] for r in res]
                say(f"  upload {i + 1:2d} ({study}): RSS {rss[-1]:.0f} MB, {max(r[0] for r in res):.1f} s")
            out["rss_per_upload"] = rss
            out["round_seconds"] = secs
            for c in ctxs:
                await c.close()
            await asyncio.sleep(TTL_S + 5)
            out["after_ttl"] = server.rss()
            # Streamlit removes expired sessions (and shuts them down) only when its session
            # store is written, i.e. when a session connects or disconnects.
            visitor = await browser.new_context()
            await open_app(visitor, server.url, timeout_ms)
            await visitor.close()
            await asyncio.sleep(5)
        finally:
            await browser.close()
    out["after_end"] = server.rss()
    return out


def _same_study_steps(rss: list[float], warm: int) -> list[float]:
    # The two studies alternate and differ in size, so growth is the step between rounds of
    # the same study, per upload.
    return [(rss[i + 2] - rss[i]) / 2 for i in range(warm, len(rss) - 2)]


def run(uploads: int = 20, sessions: int = 1, method: str = "Saliency",
        timeout_ms: int = 300_000, env: dict | None = None) -> dict:
    if not have_chromium():
        say("\n## 4. memory: skipped (/usr/bin/chromium not installed)")
        return {"peak_rss_mb": None}
    with streamlit_server(env=env, args=["--server.disconnectedSessionTTL", str(TTL_S)]) as server:
        rss_idle = server.rss()["VmRSS"]
        out = asyncio.run(_drive(server, uploads, sessions, method, timeout_ms))
        tracebacks = server.log().count("Traceback")
    rss = out["rss_per_upload"]
    warm = min(5, len(rss) - 1) if rss else 0
    steps = _same_study_steps(rss, warm)
    step = statistics.median(steps) if steps else float("nan")
    one = out["one_study"]["VmRSS"]
    end = out["after_end"]["VmRSS"]
    res = {
        "peak_rss_mb": out["one_study"]["VmHWM"],
        "rss_idle_mb": rss_idle,
        "rss_one_study_mb": one,
        "sessions": sessions,
        "rss_uploads_mb": [round(r) for r in rss],
        "rss_growth_per_upload_mb": step,
        "peak_rss_all_uploads_mb": out["after_end"]["VmHWM"],
        "rss_after_ttl_mb": out["after_ttl"]["VmRSS"],
        "rss_after_sessions_end_mb": end,
        "rss_after_end_over_one_study": end / one,
        "upload_round_seconds_median": statistics.median(out["round_seconds"])
        if out["round_seconds"] else None,
        "rounds_with_map": out.get("maps", 0),
        "memory_errors": out["errors"][:10],
        "server_tracebacks": tracebacks,
    }
    table(f"4. server memory (streamlit run app.py, {sessions} session(s))", [
        ("idle server (no session)", f"{rss_idle:.0f} MB"),
        ("demo study open in every session: RSS / peak", f"{one:.0f} / {out['one_study']['VmHWM']:.0f} MB"),
        (f"RSS after upload {warm + 1} / {len(rss)}", f"{rss[warm]:.0f} / {rss[-1]:.0f} MB" if rss else "-"),
        ("growth per upload after warm-up (median, same study)", f"{step:+.1f} MB"),
        ("peak over all uploads (VmHWM)", f"{out['after_end']['VmHWM']:.0f} MB"),
        (f"RSS {TTL_S + 5} s after the sessions closed (still stored)", f"{out['after_ttl']['VmRSS']:.0f} MB"),
        ("RSS after every session ended / one-study level", f"{end:.0f} MB, x{end / one:.2f}"),
        ("errors / server tracebacks", f"{len(out['errors'])} / {tracebacks}"),
    ], ("", "value"))
    return res


if __name__ == "__main__":
    import argparse
    import json

    ap = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__.split("\n")[0])
    ap.add_argument("--uploads", type=int, default=20)
    ap.add_argument("--sessions", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    r = run(a.uploads, a.sessions)
    if a.json:
        print(json.dumps(r))
