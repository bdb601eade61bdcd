"""A live ``streamlit run app.py`` on 127.0.0.1 and async Playwright sessions driving it.

Used by the load test (:mod:`bench.load`), the memory benchmark (:mod:`bench.memory`) and
``tests/pages/test_concurrency.py``. Loopback only; one Chromium (Debian ``/usr/bin/chromium``), one
browser context per session.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import ROOT, proc_status_mb
from model.core.config import DATA_DIR

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
DEMO_CASES = DATA_DIR / "demo_cases"
#: Studies a session can load: "demo" is the button; the others are uploads of real files.
UPLOADS = {
    "tcga_fg_6692": DEMO_CASES / "tcga_fg_6692_raw",
    "brats_gli_00001": DEMO_CASES / "brats_gli_00001_000",
}


def have_chromium() -> bool:
    return os.path.exists(CHROMIUM)


def upload_files(name: str) -> list[str]:
    return [str(p) for p in sorted(UPLOADS[name].glob("*.nii.gz"))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RssMonitor(threading.Thread):
    """Samples a process's VmRSS every ``interval`` seconds (MB)."""

    def __init__(self, pid: int, interval: float = 0.5):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.samples: list[tuple[float, float]] = []
        self._halt = threading.Event()

    def run(self):
        t0 = time.time()
        while not self._halt.is_set():
            try:
                self.samples.append((time.time() - t0, proc_status_mb(self.pid)["VmRSS"]))
            except (OSError, KeyError):
                return
            self._halt.wait(self.interval)

    def stop(self):
        self._halt.set()
        self.join(timeout=5)

    @property
    def max_mb(self) -> float:
        return max((r for _, r in self.samples), default=float("nan"))


@dataclass
class Server:
    proc: subprocess.Popen
    url: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss(self) -> dict[str, float]:
        return proc_status_mb(self.pid)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


@contextmanager
def streamlit_server(env: dict | None = None, startup_s: float = 90.0, log_dir: Path | None = None,
                     args: list[str] | None = None):
    """Run ``streamlit run app.py`` on a free loopback port; yield a :class:`Server`."""
    import tempfile

    port = free_port()
    log_dir = Path(log_dir or tempfile.mkdtemp(prefix="tumorboard-live-"))
    log_path = log_dir / f"streamlit-{port}.log"
    fh = open(log_path, "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true",
         "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false", *(args or [])],
        cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + startup_s
    try:
        while True:
            try:
                if urllib.request.urlopen(url + "/_stcore/health", timeout=1).status == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("streamlit did not start:\n" + log_path.read_text(errors="replace")[-3000:])
            time.sleep(0.3)
        yield Server(proc, url, log_path)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        fh.close()


# --------------------------------------------------------------------------------------------
# One browser session (async Playwright)

TIMEOUT_MS = 300_000


@dataclass
class Outcome:
    """What one session saw for one (study, method) round."""

    study: str
    method: str
    metrics: str = ""
    overlay_src: str = ""
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def signature(self) -> tuple[str, str]:
        # Media URLs are hashes of the rendered images: equal URLs, equal maps.
        return self.metrics, self.overlay_src


async def open_app(context, url: str, timeout_ms: int = TIMEOUT_MS):
    page = await context.new_page()
    await page.goto(url, timeout=timeout_ms)
    await page.get_by_text("Loaded study", exact=True).first.wait_for(timeout=timeout_ms)
    return page


async def _goto(page, name: str, timeout_ms: int):
    await page.get_by_role("link", name=name, exact=True).click(timeout=timeout_ms)


async def page_errors(page) -> list[str]:
    """Texts of error boxes and exception blocks on the page."""
    out = []
    for sel in ('[data-testid="stException"]', '[data-testid="stAlertContentError"]'):
        for el in await page.locator(sel).all():
            try:
                out.append((await el.inner_text(timeout=2000)).strip()[:300])
            except Exception:  # element went away with a rerun
                pass
    return out


async def load_study(page, study: str, timeout_ms: int = TIMEOUT_MS):
    """Load ``"demo"`` (button) or upload one of :data:`UPLOADS` on the Study page."""
    await _goto(page, "Study", timeout_ms)
    if study == "demo":
        await page.get_by_role("button", name="Load demo study (BraTS-GLI-00001-000)").click(timeout=timeout_ms)
        await page.get_by_text("Demo study loaded.").first.wait_for(timeout=timeout_ms)
        return
    await page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
        upload_files(study), timeout=timeout_ms)
    await page.get_by_role("button", name="Load uploaded study").click(timeout=timeout_ms)
    await page.get_by_text("Study loaded:").first.wait_for(timeout=timeout_ms)


async def enter_clinical_inputs(page, timeout_ms: int = TIMEOUT_MS) -> None:
    """Open the Prediction page and enter age 45 and glioma; returns once the clinical
    prognosis (its "1-year survival" metric) is shown and the page has settled."""
    await _goto(page, "Prediction", timeout_ms)
    await page.get_by_text("Tumour type").first.wait_for(timeout=timeout_ms)
    await _settled(page, timeout_ms)
    await page.get_by_label("Age at diagnosis (years)").fill("45", timeout=timeout_ms)
    await select_option(page, "Tumour type (pathology)", "glioma", timeout_ms)
    await page.get_by_role("button", name="Use these inputs").click(timeout=timeout_ms)
    await page.get_by_text("1-year survival").first.wait_for(timeout=timeout_ms)
    await _settled(page, timeout_ms)


async def predict(page, timeout_ms: int = TIMEOUT_MS) -> str:
    """Open the Prediction page, enter the clinical inputs that open the experimental grade
    (age 45, glioma), open its expander and return its text (class, p, image risk score)."""
    await enter_clinical_inputs(page, timeout_ms)
    exp = await _open_grade(page, timeout_ms)
    await exp.get_by_text("Experimental image risk score").first.wait_for(timeout=timeout_ms)
    await _settled(page, timeout_ms)
    # The class line (alert) and the captions (MC dropout, risk score) only: the rest of the
    # expander changes once a map has been computed for the study.
    parts = [await el.inner_text(timeout=timeout_ms) for el in
             await exp.locator('[data-testid="stAlert"], [data-testid="stCaptionContainer"]').all()]
    return " ".join(" ".join(parts).split())


async def _open_grade(page, timeout_ms: int = TIMEOUT_MS):
    """The "Experimental: WHO grade II/III" expander, opened if it is closed (a rerun can
    redraw it closed)."""
    exp = page.locator('[data-testid="stExpander"]').filter(has_text="Experimental: WHO grade II/III").first
    await exp.wait_for(timeout=timeout_ms)
    if not await exp.get_by_text("Attribution method").first.is_visible():
        await exp.get_by_text("Experimental: WHO grade II/III").first.click(timeout=timeout_ms)
        await exp.get_by_text("Attribution method").first.wait_for(timeout=timeout_ms)
    return exp


async def compute_map(page, method: str, timeout_ms: int = TIMEOUT_MS) -> str:
    """Choose ``method``, compute its map, return the page's image media URLs (content hashes).

    The page's other images are the study's slices; the overlay images are the map's. Media
    URLs are hashes of the encoded images, so equal strings mean equal rendered maps.
    """
    await _open_grade(page, timeout_ms)
    await select_option(page, "Attribution method", method, timeout_ms)
    button = page.get_by_role("button", name="Compute attribution map")
    if await button.count():  # absent when this study's map was computed in an earlier round
        await button.click(timeout=timeout_ms)
    await _settled(page, timeout_ms)
    await _open_grade(page, timeout_ms)
    await page.get_by_text("Overlay opacity").first.wait_for(timeout=timeout_ms)
    imgs = page.locator('[data-testid="stImage"] img')
    await imgs.first.wait_for(timeout=timeout_ms)
    return " ".join(await _stable_srcs(page, imgs, timeout_ms))


async def _stable_srcs(page, imgs, timeout_ms: int, quiet_s: float = 1.0) -> list[str]:
    """Image media names once the run is over and the list has not changed for ``quiet_s``
    (the views of a page arrive one by one)."""
    deadline = time.perf_counter() + timeout_ms / 1000
    last, since = None, time.perf_counter()
    while time.perf_counter() < deadline:
        await _settled(page, timeout_ms)
        try:
            cur = [(await i.get_attribute("src", timeout=5_000) or "").rsplit("/", 1)[-1]
                   for i in await imgs.all()]
        except Exception:  # noqa: BLE001 - an element replaced by a rerun: poll again
            cur = None
        if cur != last:
            last, since = cur, time.perf_counter()
        elif cur and all(cur) and time.perf_counter() - since >= quiet_s:
            return cur
        await asyncio.sleep(0.25)
    return last or []


async def select_option(page, label: str, option: str, timeout_ms: int = TIMEOUT_MS) -> None:
    """Choose ``option`` in the selectbox whose label contains ``label`` (retries: a rerun can
    close the dropdown between the two clicks)."""
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text=label)
    deadline = time.perf_counter() + timeout_ms / 1000
    while True:
        await _settled(page, timeout_ms)
        if await box.locator("input").first.input_value(timeout=timeout_ms) == option:
            return
        try:
            await box.locator("input").first.click(timeout=10_000)
            await page.get_by_role("option", name=option, exact=True).click(timeout=10_000)
            await page.wait_for_timeout(300)
        except Exception:  # noqa: BLE001 - retried below
            await page.keyboard.press("Escape")
        if time.perf_counter() > deadline:
            raise TimeoutError(f"could not choose {option!r} in {label!r}")


async def _settled(page, timeout_ms: int):
    """Wait until the script run is over (Streamlit's status widget gone)."""
    status = page.locator('[data-testid="stStatusWidget"]')
    t0 = time.perf_counter()
    while await status.count() and time.perf_counter() - t0 < timeout_ms / 1000:
        await asyncio.sleep(0.2)


#: Set to a folder to save a screenshot of every failed round there.
SCREENSHOTS: Path | None = None


async def study_round(page, study: str, method: str, timeout_ms: int = TIMEOUT_MS) -> Outcome:
    out = Outcome(study, method)
    step = "load"
    t0 = time.perf_counter()
    try:
        await load_study(page, study, timeout_ms)
        out.errors += await page_errors(page)
        step = "predict"
        out.metrics = await predict(page, timeout_ms)
        step = "map"
        out.overlay_src = await compute_map(page, method, timeout_ms)
        out.errors += await page_errors(page)
    except Exception as exc:  # noqa: BLE001 - a failed round is a result, reported
        out.errors.append(f"{step}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
        if SCREENSHOTS is not None:
            try:
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                await page.screenshot(path=str(SCREENSHOTS / f"fail_{study}_{method}_{time.time():.0f}.png"),
                                      full_page=True)
            except Exception:  # noqa: BLE001
                pass
    out.seconds = time.perf_counter() - t0
    return out


async def launch(playwright):
    return await playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                            args=CHROMIUM_ARGS)


def run_async(coro):
    return asyncio.run(coro)
