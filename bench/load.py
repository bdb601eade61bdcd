"""Load test: N browser sessions at once against one ``streamlit run app.py`` (loopback only).

    python -m bench.load --sessions 10 --duration 180 [--json]

1. **Reference**: one session alone loads each study (the demo button and an upload of a real
   TCGA study from ``shared/data/demo_cases``), predicts, and computes each attribution map.
2. **Load**: ``--sessions`` sessions (one Chromium, one browser context each) run rounds
   (load a study -> predict -> compute a map) at the same time until ``--duration`` seconds
   have passed; session ``i`` starts at a different (study, method) so hook-based methods
   (LayerGradCam) run while other sessions predict or attribute on the shared model.
3. **Checks**: no error on any page, every round's result (class, probability, risk, and the
   overlay image's content-hash URL) equals the single-session reference, and the server's
   RSS (sampled every 0.5 s) stays bounded.

Bounded in time: each browser wait has a timeout and the whole run a hard cap.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from bench.common import say, set_table_stream, table
from bench.live import (RssMonitor, have_chromium, launch, open_app, streamlit_server,
                        study_round)


SESSION_TTL_S = 10


def _rss_after_sessions_end(server, wait_s: float = 30.0) -> float:
    """Server RSS (MB) once every browser session has been closed and its TTL has passed: the
    lowest value over ``wait_s`` seconds after one new visitor has connected (Streamlit's
    session store, a TTL cache, drops expired sessions when it is next used)."""
    time.sleep(SESSION_TTL_S + 2)
    asyncio.run(_one_visit(server.url))
    lowest = server.rss()["VmRSS"]
    t0 = time.time()
    while time.time() - t0 < wait_s:
        time.sleep(2)
        lowest = min(lowest, server.rss()["VmRSS"])
    return lowest


async def _one_visit(url: str) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await launch(p)
        try:
            ctx = await browser.new_context()
            await open_app(ctx, url, 120_000)
            await ctx.close()
        finally:
            await browser.close()


def default_methods() -> list[str]:
    from model.inference.classify import ATTRIBUTION_METHODS

    # IntegratedGradients is left out of the load rounds by default (10-20x the others' cost).
    return [m for m in ATTRIBUTION_METHODS if m != "IntegratedGradients"]


async def _load_test(url: str, sessions: int, duration_s: float, studies: list[str],
                     methods: list[str], hard_cap_s: float, timeout_ms: int) -> dict:
    from playwright.async_api import async_playwright

    combos = [(s, m) for s in studies for m in methods]
    async with async_playwright() as p:
        browser = await launch(p)
        try:
            # 1. single-session reference
            ctx = await browser.new_context(viewport={"width": 1400, "height": 1000})
            page = await open_app(ctx, url, timeout_ms)
            reference, ref_rounds = {}, []
            for s, m in combos:
                o = await study_round(page, s, m, timeout_ms)
                ref_rounds.append(o)
                reference[(s, m)] = o.signature
            await ctx.close()

            # 2. concurrent sessions
            t_start = time.perf_counter()
            deadline = t_start + duration_s

            async def session(i: int) -> list:
                ctx = await browser.new_context(viewport={"width": 1400, "height": 1000})
                rounds = []
                try:
                    page = await open_app(ctx, url, timeout_ms)
                    r = 0
                    while time.perf_counter() < deadline or r == 0:
                        s, m = combos[(i + r) % len(combos)]
                        rounds.append((i, await study_round(page, s, m, timeout_ms)))
                        r += 1
                finally:
                    await ctx.close()
                return rounds

            results = await asyncio.wait_for(
                asyncio.gather(*(session(i) for i in range(sessions)), return_exceptions=True),
                timeout=hard_cap_s)
            wall = time.perf_counter() - t_start
        finally:
            await browser.close()
    rounds, crashed = [], []
    for res in results:
        if isinstance(res, BaseException):
            crashed.append(f"{type(res).__name__}: {res}")
        else:
            rounds.extend(res)
    return {"reference": reference, "ref_rounds": ref_rounds, "rounds": rounds,
            "crashed": crashed, "wall_s": wall}


def run(sessions: int = 10, duration_s: float = 180.0, studies: list[str] | None = None,
        methods: list[str] | None = None, timeout_ms: int = 300_000,
        rss_limit_mb: float | None = None, server_env: dict | None = None) -> dict:
    """Run the load test; return a summary dict with ``ok`` True when every check held."""
    if not have_chromium():
        say("load test skipped: /usr/bin/chromium not installed")
        return {"ok": None, "skipped": "no chromium"}
    studies = studies or ["demo", "tcga_fg_6692"]
    methods = methods or default_methods()
    hard_cap = duration_s + 600
    # Disconnected sessions are dropped after 10 s (120 s by default) so that the release of
    # every session's study at session end shows in the server's RSS within the test.
    with streamlit_server(args=["--server.disconnectedSessionTTL", str(SESSION_TTL_S)],
                          env=server_env) as server:
        mon = RssMonitor(server.pid)
        mon.start()
        rss_start = server.rss()["VmRSS"]
        try:
            out = asyncio.run(_load_test(server.url, sessions, duration_s, studies, methods,
                                         hard_cap, timeout_ms))
            rss_end = server.rss()
            rss_closed = _rss_after_sessions_end(server)
        finally:
            mon.stop()
        log = server.log()
    errors, mismatches = [], []
    for o in out["ref_rounds"]:
        errors += [f"reference {o.study}/{o.method}: {e}" for e in o.errors]
    for i, o in out["rounds"]:
        errors += [f"session {i} {o.study}/{o.method}: {e}" for e in o.errors]
        if not o.errors and o.signature != out["reference"][(o.study, o.method)]:
            mismatches.append(f"session {i} {o.study}/{o.method}: {o.signature} != "
                              f"{out['reference'][(o.study, o.method)]}")
    errors += out["crashed"]
    tracebacks = log.count("Traceback")
    rounds = [o for _, o in out["rounds"]]
    # RSS over time: max of the first and the last third of the load phase.
    samples = [r for _, r in mon.samples]
    third = max(1, len(samples) // 3)
    summary = {
        "sessions": sessions,
        "duration_s": round(out["wall_s"], 1),
        "rounds": len(rounds),
        "rounds_per_session": {i: sum(1 for j, _ in out["rounds"] if j == i) for i in range(sessions)},
        "round_seconds_median": sorted(o.seconds for o in rounds)[len(rounds) // 2] if rounds else None,
        "combos": [f"{s}/{m}" for s, m in out["reference"]],
        "errors": errors[:20],
        "n_errors": len(errors),
        "mismatches": mismatches[:20],
        "n_mismatches": len(mismatches),
        "server_tracebacks": tracebacks,
        "rss_start_mb": round(rss_start),
        "rss_max_mb": round(mon.max_mb),
        "rss_peak_hwm_mb": round(rss_end.get("VmHWM", float("nan"))),
        "rss_end_mb": round(rss_end["VmRSS"]),
        "rss_after_all_sessions_ended_mb": round(rss_closed),
        "rss_first_third_max_mb": round(max(samples[:third], default=0)),
        "rss_last_third_max_mb": round(max(samples[-third:], default=0)),
    }
    ok = not errors and not mismatches and len(rounds) >= sessions and tracebacks == 0
    if rss_limit_mb is not None:
        ok = ok and summary["rss_max_mb"] <= rss_limit_mb
    summary["ok"] = ok
    table(f"load test: {sessions} sessions, {summary['duration_s']} s", [
        ("rounds (load + predict + map)", len(rounds)),
        ("round time, median (s)", f"{summary['round_seconds_median']:.1f}" if rounds else "-"),
        ("errors", len(errors)),
        ("results differing from single-session", len(mismatches)),
        ("server tracebacks in log", tracebacks),
        ("server RSS start / max / end (MB)",
         f"{summary['rss_start_mb']} / {summary['rss_max_mb']} / {summary['rss_end_mb']}"),
        ("RSS max, first third / last third (MB)",
         f"{summary['rss_first_third_max_mb']} / {summary['rss_last_third_max_mb']}"),
        (f"RSS after every session ended (+{SESSION_TTL_S} s TTL) (MB)", summary["rss_after_all_sessions_ended_mb"]),
    ], ("", "value"))
    for e in (errors + mismatches)[:10]:
        say("  " + e)
    say("load test " + ("PASSED" if ok else "FAILED"))
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--duration", type=float, default=180.0, help="seconds of concurrent rounds")
    ap.add_argument("--methods", default=None, help="comma-separated attribution methods")
    ap.add_argument("--studies", default=None, help="comma-separated: demo,tcga_fg_6692,brats_gli_00001")
    ap.add_argument("--json", action="store_true", help="tables on stderr, JSON on stdout")
    ap.add_argument("--malloc-arena-max", type=int, default=0,
                    help="MALLOC_ARENA_MAX for the server (glibc; 0: leave unset)")
    a = ap.parse_args(argv)
    if a.json:
        set_table_stream(sys.stderr)
    env = {"MALLOC_ARENA_MAX": str(a.malloc_arena_max)} if a.malloc_arena_max else None
    res = run(a.sessions, a.duration, a.studies.split(",") if a.studies else None,
              a.methods.split(",") if a.methods else None, server_env=env)
    if a.json:
        print(json.dumps(res, default=str))
    return 0 if res.get("ok") in (True, None) else 1


if __name__ == "__main__":
    sys.exit(main())
