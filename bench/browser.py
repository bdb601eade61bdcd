"""``python -m bench.browser [--json] [--steps N] [--rounds N] [--timeout S]``: the Viewer at
reading speed in a real browser (issue 17).

Starts ``streamlit run app.py`` on a free loopback port (:func:`bench.live.streamlit_server`),
opens it in Debian's headless Chromium (``/usr/bin/chromium``, Playwright; never ``playwright
install``) on the demo study, and drives it with real input events (``keyboard.press``, mouse
clicks and drags). Measured:

* ``cold_start_s``: server process start -> health answer, -> the Study page painted (title
  shown, Streamlit's running indicator gone), -> the browser viewer ready (``tbViewer.ready``)
  after one click on the Viewer link.
* ``slice_step_ms``: ArrowUp / ArrowDown on the viewer (axial view active).
* ``window_change_ms``: one pointer move of a drag with the viewer's "window" tool.
* ``click_to_crosshair_ms``: a click on a chosen voxel (``tbViewer.voxelToClient``); the
  viewer's ``state().ijk`` is checked to be that voxel.
* ``page_switch_ms``: a click on a sidebar link -> the new page's title rendered and the
  running indicator gone (and, for the Viewer, the browser viewer ready).
* ``simple_slider_step_ms``: the "before" number, the server-rendered fallback viewer: ArrowRight
  on its axial slider -> the first view's image replaced and loaded.

Each input is timed twice. **paintLog**: the component's own ``window.tbViewer.paintLog`` (input
event's ``timeStamp`` -> the task after its repaint). **external**: a listener on ``window``
(bubble phase, so after the viewer's own handler) takes the same event's ``timeStamp`` and,
without asking the component anything, records (1) ``pixel``: the first animation frame in which
the canvas's pixels differ from before the event (read back with ``getImageData``), and (2)
``raf2``: the second ``requestAnimationFrame`` after the event, i.e. the start of the frame
after the repainted one, an upper bound on "on screen" that includes up to one frame of waiting.
The headline ``*_ms_median`` keys are the external ``raf2`` numbers; the ``*_paintlog_*`` and
``*_pixel_*`` keys are beside them.

Loopback only; the whole run is bounded by ``--timeout`` (a watchdog kills the server and exits
2 with an error line); the server is always stopped. Numbers depend on the machine's load (2
shared cores here): see bench/README.md, section Browser.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time

from bench.live import CHROMIUM, CHROMIUM_ARGS, have_chromium, streamlit_server

VIEWER = '[data-testid="tb-slice-viewer"]'
STATUS = '[data-testid="stStatusWidget"]'

# In-page probe: arm before an input, await window.__tbProbe after it. Listener in the bubble
# phase on window (keydown / pointer events are composed: they leave the component's shadow
# root), so it runs after the viewer's handler, whose requestAnimationFrame callback (the
# repaint) is then queued before ours.
PROBE_JS = r"""
([type, canvas, maxFrames]) => {
  const hash = (c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let h = 0;
    for (let i = 0; i < d.length; i += 4 * 7) h = (Math.imul(h, 31) + d[i] + 3 * d[i + 1] + 7 * d[i + 2]) | 0;
    return h;
  };
  const h0 = canvas ? hash(canvas) : 0;
  const log0 = window.tbViewer ? window.tbViewer.paintLog.length : 0;
  window.__tbProbe = new Promise((resolve) => {
    const on = (e) => {
      const t0 = e.timeStamp, out = { pixel: null, raf2: null, type: e.type };
      let frame = 0;
      const tick = () => {
        frame += 1;
        const now = performance.now();
        if (canvas && out.pixel === null && hash(canvas) !== h0) out.pixel = now - t0;
        if (frame === 2) out.raf2 = now - t0;
        if (frame >= 2 && (out.pixel !== null || !canvas || frame >= maxFrames)) {
          // the component logs on the task after its paint: give it that task
          setTimeout(() => {
            const log = window.tbViewer ? window.tbViewer.paintLog.slice(log0) : [];
            out.paintlog = log.map((p) => [p.kind, p.ms]);
            resolve(out);
          }, 0);
          return;
        }
        requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
    };
    window.addEventListener(type, on, { once: true });
    // never wait forever: an input that did not arrive is reported as such
    setTimeout(() => resolve({ pixel: null, raf2: null, paintlog: [], missed: true }), 10000);
  });
  return true;
}
"""

# Page switch: click timeStamp (capture phase) -> the page's title shown, no running indicator
# (and, for the Viewer, the browser viewer ready); polled every animation frame.
SWITCH_ARM_JS = r"""
() => {
  window.__tbClick = null;
  document.addEventListener('click', (e) => { window.__tbClick = e.timeStamp; }, { capture: true, once: true });
  return true;
}
"""
SWITCH_WAIT_JS = r"""
async ([title, viewer, limitMs]) => {
  const shown = () => Array.from(document.querySelectorAll('h1')).some((h) => h.textContent.trim().startsWith(title));
  const ok = () => !document.querySelector('[data-testid="stStatusWidget"]') && shown() &&
    (!viewer || (window.tbViewer && window.tbViewer.ready));
  const start = performance.now();
  let titleMs = null, mountMs = null;
  while (performance.now() - start < limitMs) {
    if (window.__tbClick !== null) {
      const t = performance.now() - window.__tbClick;
      if (titleMs === null && shown()) titleMs = t;
      // the component's module called with its data (window.tbViewer set), not yet decoded
      if (viewer && mountMs === null && window.tbViewer) mountMs = t;
      if (ok()) return { title: titleMs, mounted: mountMs, done: t };
    }
    await new Promise((r) => requestAnimationFrame(r));
  }
  return null;
}
"""


def _median(xs):
    xs = [x for x in xs if x is not None]
    return round(float(statistics.median(xs)), 1) if xs else None


def _p90(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    # nearest-rank 90th percentile (no interpolation: with small n it is an observed value)
    return round(float(xs[max(0, -(-9 * len(xs) // 10) - 1)]), 1)


def summary(name: str, samples: list[dict], kind: str | None = None) -> dict:
    """Medians, p90 and n of one measured input's external (raf2, pixel) and paintLog times."""
    raf2 = [s["raf2"] for s in samples]
    pixel = [s["pixel"] for s in samples]
    log = [ms for s in samples for k, ms in s.get("paintlog", []) if kind is None or k == kind]
    return {f"{name}_ms_median": _median(raf2), f"{name}_ms_p90": _p90(raf2), f"{name}_n": len(raf2),
            f"{name}_pixel_ms_median": _median(pixel), f"{name}_pixel_ms_p90": _p90(pixel),
            f"{name}_pixel_n": sum(p is not None for p in pixel),
            f"{name}_paintlog_ms_median": _median(log), f"{name}_paintlog_ms_p90": _p90(log),
            f"{name}_paintlog_n": len(log)}


# --------------------------------------------------------------------------------------------
# page helpers (sync Playwright), shared with tests/pages/test_browser_viewer.py

def settled(page, timeout_s: float = 120.0, quiet_ms: int = 600) -> None:
    """Wait until no script run is going on for ``quiet_ms`` (Streamlit's status widget gone)."""
    end = time.time() + timeout_s
    quiet_since = None
    while time.time() < end:
        if page.locator(STATUS).count():
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.time()
        elif (time.time() - quiet_since) * 1000 >= quiet_ms:
            return
        page.wait_for_timeout(100)
    raise TimeoutError("the page kept running")


def open_viewer(page, timeout_s: float = 180.0) -> None:
    """Click the sidebar's Viewer link and wait for the browser viewer's first paint."""
    page.get_by_role("link", name="Viewer", exact=True).click()
    wait_viewer_ready(page, timeout_s)


def wait_viewer_ready(page, timeout_s: float = 180.0) -> None:
    page.wait_for_function("() => !!(window.tbViewer && window.tbViewer.ready)", timeout=timeout_s * 1000)


def viewer_state(page) -> dict:
    return page.evaluate("() => window.tbViewer.state()")


def voxel_xy(page, view: str, ijk) -> tuple[float, float]:
    p = page.evaluate("([v, ijk]) => window.tbViewer.voxelToClient(v, ijk)", [view, [int(x) for x in ijk]])
    return p["x"], p["y"]


def canvas(page, view: str):
    return page.locator(f'{VIEWER} canvas[data-view="{view}"]').first


def choose_tool(page, tool: str) -> None:
    page.locator(f'{VIEWER} [data-tool="{tool}"]').first.click()
    page.wait_for_function("(t) => window.tbViewer.state().tool === t", arg=tool, timeout=10_000)


def probe(page, event_type: str, view: str | None, act, max_frames: int = 30) -> dict:
    """Arm the in-page probe, run ``act()`` (real input), return the probe's times (ms)."""
    handle = canvas(page, view).element_handle() if view else None
    page.evaluate(PROBE_JS, [event_type, handle, max_frames])
    act()
    return page.evaluate("() => window.__tbProbe")


# --------------------------------------------------------------------------------------------
# the rounds

def measure_slice_steps(page, n: int, pause_ms: int = 0) -> list[dict]:
    """``n`` ArrowUp/ArrowDown presses on the axial view; ``pause_ms`` before each (900: each
    press lands while the viewer's crosshair report, sent 800 ms after the last input, reruns
    the page's fragment)."""
    x, y = centre(page, "axial")
    page.mouse.move(x, y)                       # pointerenter: the axial view is the active one
    page.locator(VIEWER).first.focus()
    out = []
    for i in range(n):
        key = "ArrowUp" if (i // 10) % 2 == 0 else "ArrowDown"   # 10 up, 10 down, ...
        if pause_ms:
            page.wait_for_timeout(pause_ms)
        k0 = viewer_state(page)["ijk"][2]
        s = probe(page, "keydown", "axial", lambda: page.keyboard.press(key))
        k1 = viewer_state(page)["ijk"][2]
        s["ok"] = k1 - k0 == (1 if key == "ArrowUp" else -1)
        out.append(s)
    return out


def centre(page, view: str) -> tuple[float, float]:
    box = canvas(page, view).bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def measure_window(page, n: int) -> list[dict]:
    choose_tool(page, "window")
    x, y = centre(page, "axial")
    page.mouse.move(x, y)
    page.mouse.down()
    out = []
    for i in range(n):
        # a square path: right, up, left, down (width and level both move, and come back)
        dx, dy = [(6, 0), (0, -6), (-6, 0), (0, 6)][(i // 5) % 4]
        x, y = x + dx, y + dy
        before = viewer_state(page)
        s = probe(page, "pointermove", "axial", lambda: page.mouse.move(x, y))
        after = viewer_state(page)
        s["ok"] = (before["level"], before["width"]) != (after["level"], after["width"])
        out.append(s)
    page.mouse.up()
    choose_tool(page, "crosshair")
    return out


def measure_clicks(page, n: int, seed: int = 0) -> list[dict]:
    choose_tool(page, "crosshair")
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        st = viewer_state(page)
        i, j, k = st["ijk"]
        # a voxel inside the head's central region, away from the current crosshair
        target = [rng.randint(60, 180), rng.randint(60, 180), k]
        if target[:2] == [i, j]:
            target[0] += 3
        x, y = voxel_xy(page, "axial", target)
        s = probe(page, "pointerdown", "axial", lambda: page.mouse.click(x, y))
        s["ok"] = viewer_state(page)["ijk"] == target
        out.append(s)
    return out


def switch_page(page, title: str, viewer: bool = False, limit_s: float = 180.0) -> dict:
    """Click the sidebar link ``title``; ms from the click to the new page's title shown
    (``title``), to the page shown and idle (``done``), and for the Viewer to the component
    mounted with its data (``mounted``, ``window.tbViewer`` set; None: not seen). A run that
    starts again within 1 s after ``done`` (a late rerun) is waited for, and counted."""
    page.evaluate(SWITCH_ARM_JS)
    page.get_by_role("link", name=title, exact=True).click()
    r = page.evaluate(SWITCH_WAIT_JS, [title, viewer, limit_s * 1000])
    if r is None:
        return {"title": None, "mounted": None, "done": None}
    t_end = time.time() + 1.0
    while time.time() < t_end:        # not a gap between two runs?
        if page.locator(STATUS).count():
            later = page.evaluate(SWITCH_WAIT_JS, [title, viewer, limit_s * 1000])
            r = {**r, "done": later and later["done"]}
            t_end = time.time() + 1.0
        page.wait_for_timeout(100)
    return {k: (round(v, 1) if v is not None else None) for k, v in r.items()}


def measure_simple_slider(page, n: int) -> list[dict]:
    """The server-rendered fallback: ArrowRight on its axial slider -> first image replaced."""
    toggle = page.locator('[data-testid="stCheckbox"]').filter(has_text="Simple viewer (server-rendered)").first
    toggle.wait_for(timeout=120_000)
    if not toggle.locator("input").first.is_checked():
        toggle.locator("label").first.click()
    slider = page.locator('[data-testid="stSlider"]').filter(has_text="axial slice").locator('input[type="range"]').first
    slider.wait_for(timeout=120_000)
    page.locator('[data-testid="stImage"] img').first.wait_for(timeout=120_000)
    settled(page)
    out = []
    for i in range(n):
        key = "ArrowRight" if (i // 5) % 2 == 0 else "ArrowLeft"
        slider.focus()
        src0 = page.locator('[data-testid="stImage"] img').first.get_attribute("src")
        page.evaluate(SIMPLE_ARM_JS, src0)
        page.keyboard.press(key)
        r = page.evaluate(SIMPLE_WAIT_JS, 60_000)
        out.append({"raf2": r and r["image"], "pixel": None, "run_over": r and r["idle"], "paintlog": []})
        settled(page, quiet_ms=400)
    toggle.locator("label").first.click()        # back to the browser viewer
    wait_viewer_ready(page)
    return out


SIMPLE_ARM_JS = r"""
(src0) => {
  window.__tbKey = null; window.__tbSrc0 = src0;
  // capture phase: the slider stops the arrow keys' propagation
  window.addEventListener('keydown', (e) => { window.__tbKey = e.timeStamp; }, { capture: true, once: true });
  return true;
}
"""
SIMPLE_WAIT_JS = r"""
async (limitMs) => {
  const start = performance.now();
  let image = null;
  while (performance.now() - start < limitMs) {
    if (window.__tbKey !== null) {
      const img = document.querySelector('[data-testid="stImage"] img');
      if (image === null && img && img.getAttribute('src') !== window.__tbSrc0 && img.complete && img.naturalWidth > 0)
        image = performance.now() - window.__tbKey;
      if (image !== null && !document.querySelector('[data-testid="stStatusWidget"]'))
        return { image, idle: performance.now() - window.__tbKey };
    }
    await new Promise((r) => requestAnimationFrame(r));
  }
  return image === null ? null : { image, idle: null };
}
"""


def chromium_version() -> str:
    try:
        out = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, timeout=20).stdout
        return out.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine() -> dict:
    import platform

    cpu = ""
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), "")
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(),
            "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "python": platform.python_version(),
            "loadavg_start": [round(x, 2) for x in os.getloadavg()]}


_T0 = time.perf_counter()


def say(msg: str) -> None:
    """Progress on stderr (stdout stays one JSON line with --json)."""
    print(f"[bench.browser {time.perf_counter() - _T0:6.1f} s] {msg}", file=sys.stderr, flush=True)


def run(steps: int = 40, rounds: int = 3, simple_steps: int = 10, viewport=(1366, 900)) -> dict:
    """Every round above on one server and one page; returns the result dict (see module doc)."""
    from playwright.sync_api import sync_playwright

    result: dict = {"machine": machine(), "chromium": chromium_version(), "viewport": list(viewport)}
    checks: dict = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        result["chromium"] = f"{result['chromium']} (Playwright reports {browser.version})"
        try:
            page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            page.set_default_timeout(120_000)
            say("starting the server")
            t0 = time.perf_counter()
            with streamlit_server(startup_s=180.0) as srv:
                t_health = time.perf_counter() - t0
                page.goto(srv.url, timeout=180_000)
                page.wait_for_function(
                    "() => !document.querySelector('[data-testid=\"stStatusWidget\"]') && "
                    "Array.from(document.querySelectorAll('h1')).some((h) => h.textContent.trim() === 'Study')",
                    timeout=180_000, polling="raf")
                t_study = time.perf_counter() - t0
                open_viewer(page)
                t_viewer = time.perf_counter() - t0
                result["cold_start_s"] = {"health": round(t_health, 2), "study_page": round(t_study, 2),
                                          "viewer_ready": round(t_viewer, 2)}
                settled(page)
                # wait for the viewer's own payload rerun(s) to be over before timing inputs
                page.wait_for_timeout(1500)

                say(f"cold start {result['cold_start_s']}; slice steps")
                s = measure_slice_steps(page, steps)
                checks["slice_step_ok"] = sum(x["ok"] for x in s)
                result.update(summary("slice_step", s, "slice"))
                settled(page)
                say("slice steps after a pause")
                s = measure_slice_steps(page, max(steps // 4, 5), pause_ms=900)
                checks["slice_step_after_pause_ok"] = sum(x["ok"] for x in s)
                result.update(summary("slice_step_after_pause", s, "slice"))
                settled(page)
                say("window drags")
                w = measure_window(page, max(steps // 2, 10))
                checks["window_change_ok"] = sum(x["ok"] for x in w)
                result.update(summary("window_change", w, "window"))
                settled(page)
                say("clicks")
                c = measure_clicks(page, max(steps // 2, 10))
                checks["click_to_crosshair_ok"] = sum(x["ok"] for x in c)
                result.update(summary("click_to_crosshair", c, "crosshair"))
                settled(page)

                # the "before" number: the server-rendered viewer's slider
                say("simple viewer slider")
                sim = measure_simple_slider(page, simple_steps)
                imgs = [x["raf2"] for x in sim]
                idle = [x["run_over"] for x in sim]
                result.update({"simple_slider_step_ms_median": _median(imgs), "simple_slider_step_ms_p90": _p90(imgs),
                               "simple_slider_step_n": sum(x is not None for x in imgs),
                               "simple_slider_run_over_ms_median": _median(idle)})
                settled(page)

                # page switches: the first visit of each page is its cold one, reported apart
                say("page switches")
                order = [("Prediction", False), ("Survival", False), ("Study", False), ("Viewer", True)]
                first, rest, per, per_title = [], [], {}, {}
                for r in range(rounds + 1):
                    for title, is_viewer in order:
                        sw = switch_page(page, title, is_viewer)
                        ms = sw["done"]
                        say(f"  -> {title}: {sw}")
                        (first if r == 0 else rest).append(ms)
                        if r:
                            per.setdefault(title, []).append(ms)
                            per_title.setdefault(title, []).append(sw["title"])
                            if is_viewer:
                                per_title.setdefault("Viewer (component mounted)", []).append(sw["mounted"])
                        settled(page, quiet_ms=300)
                result.update({"page_switch_ms_median": _median(rest), "page_switch_ms_p90": _p90(rest),
                               "page_switch_n": sum(x is not None for x in rest),
                               "page_switch_first_visit_ms": dict(zip([t for t, _ in order], first)),
                               "page_switch_ms_median_by_page": {t: _median(v) for t, v in per.items()},
                               "page_switch_title_ms_median_by_page": {t: _median(v) for t, v in per_title.items()},
                               "page_switch_timeouts": sum(x is None for x in first + rest)})
                result["server_log_errors"] = srv.log().count("Traceback")
        finally:
            browser.close()
    result["checks"] = checks
    result["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    return result


def _table(res: dict, out) -> None:
    rows = [("slice step", "slice_step"), ("  after 0.9 s pause", "slice_step_after_pause"), ("window change", "window_change"),
            ("click -> crosshair", "click_to_crosshair")]
    print(f"# Browser viewer ({res['chromium']}; {res['machine']['cores']} cores; load "
          f"{res['machine']['loadavg_start']} -> {res['machine']['loadavg_end']})", file=out)
    print(f"cold start: {res.get('cold_start_s')}", file=out)
    print(f"{'input':<20}{'raf2 med':>10}{'p90':>8}{'pixel med':>11}{'paintLog med':>14}{'p90':>8}{'n':>5}", file=out)
    for label, k in rows:
        print(f"{label:<20}{res[k + '_ms_median']!s:>10}{res[k + '_ms_p90']!s:>8}"
              f"{res[k + '_pixel_ms_median']!s:>11}{res[k + '_paintlog_ms_median']!s:>14}"
              f"{res[k + '_paintlog_ms_p90']!s:>8}{res[k + '_n']!s:>5}", file=out)
    print(f"simple (server) slider step: {res['simple_slider_step_ms_median']} ms median "
          f"(p90 {res['simple_slider_step_ms_p90']}, n {res['simple_slider_step_n']})", file=out)
    print(f"page switch: {res['page_switch_ms_median']} ms median (p90 {res['page_switch_ms_p90']}, "
          f"n {res['page_switch_n']}); by page {res['page_switch_ms_median_by_page']}; first visits "
          f"{res['page_switch_first_visit_ms']}; title shown by page "
          f"{res['page_switch_title_ms_median_by_page']}", file=out)
    print(f"checks: {res['checks']}", file=out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.browser", description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true", help="table on stderr, one JSON line on stdout")
    ap.add_argument("--steps", type=int, default=40, help="slice steps (window moves and clicks: half)")
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds of page switches after the first")
    ap.add_argument("--simple-steps", type=int, default=10, help="slider steps of the server-rendered viewer")
    ap.add_argument("--timeout", type=float, default=900.0, help="hard limit for the whole run (s)")
    a = ap.parse_args(argv)
    if not have_chromium():
        print(json.dumps({"error": f"no Chromium at {CHROMIUM}"}))
        return 1

    def _abort():  # the whole run over its limit: stop the server(s) we started, exit
        print(json.dumps({"error": f"timeout after {a.timeout:.0f} s"}), flush=True)
        _kill_our_servers()
        os._exit(2)

    import signal

    # SIGTERM (e.g. `timeout`): unwind, so that the server is stopped by its context manager
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    dog = threading.Timer(a.timeout, _abort)
    dog.daemon = True
    dog.start()
    try:
        res = run(a.steps, a.rounds, a.simple_steps)
    finally:
        dog.cancel()
    _table(res, sys.stderr if a.json else sys.stdout)
    if a.json:
        print(json.dumps(res))
    return 0


def _kill_our_servers() -> None:
    """Kill the ``streamlit run app.py`` children of this process (by pid, ours only)."""
    me = os.getpid()
    try:
        kids = open(f"/proc/{me}/task/{me}/children").read().split()
    except OSError:
        return
    for pid in kids:
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ")
        except OSError:
            continue
        if b"streamlit" in cmd:
            try:
                os.kill(int(pid), 9)
            except OSError:
                pass


if __name__ == "__main__":
    sys.exit(main())
