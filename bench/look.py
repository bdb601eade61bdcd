"""How the app looks at 1366x768, dark and light theme: screenshots of every page and a list
of what is cut off.

    python -m bench.look                       # both themes -> test-artifacts/look/
    python -m bench.look --themes light --pages Survival,Model

Per theme one ``streamlit run app.py`` (the repository's ``.streamlit/config.toml``; the light
run adds ``--theme.base light``) and one headless Debian Chromium at 1366x768 whose
``prefers-color-scheme`` matches the theme. Every page (Study, Viewer, Prediction with age 45
and type glioma, Survival, Longitudinal, Model) is shot twice: ``<theme>_<page>.png`` the
1366x768 viewport as a user first sees it, ``<theme>_<page>_full.png`` the whole page (the
viewport made as tall as the page). ``look.json`` lists, per shot, the page and Plotly paper
background colours and every metric value/label, caption line or table wider than its box
(``scrollWidth > clientWidth``: truncated or scrolled sideways). Not a timed benchmark; it
answers "does it look right", and its list is what a reviewer at 1366x768 would point at.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bench.common import ROOT
from bench.live import CHROMIUM, CHROMIUM_ARGS, streamlit_server

PAGES = ["Study", "Viewer", "Prediction", "Survival", "Longitudinal", "Model"]
OUT = ROOT / "test-artifacts" / "look"
VIEWPORT = {"width": 1366, "height": 768}

# Elements whose content is wider than their box: metric values and labels (Streamlit cuts
# them with an ellipsis), captions, tables and dataframe scrollers (a sideways scroll bar);
# the app's and every Plotly paper's background; raw JSON blocks (st.json) on the page.
_PROBE = """() => {
  const over = [];
  const sel = ['[data-testid="stMetricValue"]', '[data-testid="stMetricLabel"]',
               '[data-testid="stMetricDelta"]', '[data-testid="stCaptionContainer"]',
               '[data-testid="stDataFrameResizable"] .dvn-scroller', '[data-testid="stTable"]',
               '[data-testid="stMarkdownContainer"]'];
  for (const s of sel) {
    for (const el of document.querySelectorAll(s)) {
      if (el.offsetParent === null) continue;
      if (el.scrollWidth > el.clientWidth + 1) {
        // a table is named by the heading or text above it (its cells are drawn on a canvas)
        let name = (el.innerText || '').trim(), box = el.closest('[data-testid="stElementContainer"]');
        for (let sib = box && box.previousElementSibling; !name && sib; sib = sib.previousElementSibling)
          name = (sib.innerText || '').trim();
        over.push({selector: s, text: name.slice(0, 100),
                   scroll_px: el.scrollWidth, box_px: el.clientWidth});
      }
    }
  }
  const bg = getComputedStyle(document.querySelector('.stApp') || document.body).backgroundColor;
  const papers = Array.from(document.querySelectorAll('.js-plotly-plot .main-svg:first-of-type'))
    .map(svg => getComputedStyle(svg).backgroundColor || svg.style.background);
  const json = document.querySelectorAll('[data-testid="stJson"]').length;
  return {app_background: bg, plotly_paper: papers, st_json: json, overflow: over};
}"""


def _settle(page, timeout_s: float = 180.0) -> None:
    """No script running and the same images and plots twice in a row."""
    end, last = time.time() + timeout_s, None
    while time.time() < end:
        page.wait_for_timeout(500)
        running = page.locator('[data-testid="stStatusWidget"]').count() > 0
        sig = page.evaluate("() => [Array.from(document.images).map(i => i.complete ? i.src : ''),"
                            " document.querySelectorAll('.js-plotly-plot').length]")
        if not running and sig == last:
            return
        last = sig
    raise RuntimeError("the page did not settle")


def _choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the selectbox labelled ``label`` (retried: a rerun can close the list)."""
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text=label).first
    for _ in range(5):
        if box.locator("input").first.input_value() == option:
            return
        try:
            box.locator("input").first.click(timeout=10_000)
            page.get_by_role("option", name=option, exact=True).click(timeout=10_000)
            page.wait_for_timeout(300)
        except Exception:  # noqa: BLE001 - retried
            page.keyboard.press("Escape")
    raise RuntimeError(f"could not choose {option!r} in {label!r}")


def _visit(page, name: str) -> None:
    page.get_by_role("link", name=name, exact=True).click()
    page.wait_for_timeout(800)
    _settle(page)
    if name == "Viewer":  # the browser viewer paints after the page settles (bench/browser.py)
        try:
            page.wait_for_function("() => window.tbViewer && window.tbViewer.ready", timeout=90_000)
        except Exception:  # noqa: BLE001 - the simple viewer, or none: shot as it is
            pass
    if name != "Prediction":
        return
    metric = page.locator('[data-testid="stMetricLabel"]').filter(has_text="1-year survival")
    for _ in range(3):  # the form's inputs can be lost to a rerun that lands mid-typing
        if metric.count():
            return
        page.get_by_label("Age at diagnosis (years)").fill("45")
        page.keyboard.press("Tab")
        _choose(page, "Tumour type (pathology)", "glioma")
        page.get_by_role("button", name="Use these inputs").click()
        try:
            metric.first.wait_for(timeout=60_000)
        except Exception:  # noqa: BLE001 - tried again
            pass
        _settle(page)
    if not metric.count():
        raise RuntimeError("the clinical inputs did not reach the Prediction page")


def _shoot(page, out: Path, stem: str) -> dict:
    page.set_viewport_size(VIEWPORT)
    page.evaluate("() => { for (const el of document.querySelectorAll('*')) "
                  "if (el.scrollTop) el.scrollTop = 0; }")
    page.wait_for_timeout(500)
    page.screenshot(path=str(out / f"{stem}.png"))
    probe = page.evaluate(_PROBE)
    # The app scrolls inside its own container, so a full-page shot needs a tall viewport.
    h = page.evaluate("() => { const b = document.querySelector('[data-testid=\"stMainBlockContainer\"]');"
                      " return b ? b.getBoundingClientRect().bottom + 80 : document.body.scrollHeight; }")
    page.set_viewport_size({"width": VIEWPORT["width"], "height": int(min(max(h, 768), 16000))})
    page.wait_for_timeout(1200)
    page.screenshot(path=str(out / f"{stem}_full.png"))
    page.set_viewport_size(VIEWPORT)
    return probe


def run(themes=("dark", "light"), pages=PAGES, out: Path = OUT) -> dict:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    report = {}
    for theme in themes:
        args = [] if theme == "dark" else ["--theme.base", "light"]
        with streamlit_server(args=args, startup_s=180) as srv, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport=VIEWPORT, color_scheme=theme)
            page.goto(srv.url, timeout=120_000)
            page.get_by_text("Loaded study", exact=True).first.wait_for(timeout=180_000)
            for name in pages:
                _visit(page, name)
                report[f"{theme}_{name}"] = _shoot(page, out, f"{theme}_{name.lower()}")
                print(theme, name, json.dumps(report[f"{theme}_{name}"])[:400], flush=True)
            browser.close()
    (out / "look.json").write_text(json.dumps(report, indent=1))
    return report


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--themes", default="dark,light")
    ap.add_argument("--pages", default=",".join(PAGES))
    ap.add_argument("--out", default=str(OUT))
    a = ap.parse_args(argv)
    run(a.themes.split(","), a.pages.split(","), Path(a.out))


if __name__ == "__main__":
    main()
