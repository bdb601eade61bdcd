"""Real browser: Debian's Chromium driven by Playwright against `streamlit run app.py`.

Screenshots go to test-artifacts/. Skipped when /usr/bin/chromium is absent (.ci/run installs it).
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import ROOT, TCGA_RAW

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium not installed"),
]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=1).status == 200:
                break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("streamlit did not start")
    yield url
    proc.terminate()
    proc.wait(timeout=20)


def test_click_through_pages_and_upload(server):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server, timeout=60_000)
        page.get_by_text("Loaded study", exact=True).first.wait_for(timeout=120_000)
        page.screenshot(path=str(ARTIFACTS / "01_study.png"), full_page=True)

        page.get_by_role("link", name="Viewer").click()
        page.get_by_text("axial slice").first.wait_for(timeout=60_000)
        page.locator('[data-testid="stImage"] img').first.wait_for(timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "02_viewer.png"), full_page=True)

        page.get_by_role("link", name="Prediction").click()
        page.get_by_text("Predicted class").first.wait_for(timeout=120_000)
        page.get_by_role("button", name="Compute attribution map").click()
        page.get_by_text("Overlay opacity").first.wait_for(timeout=180_000)
        page.screenshot(path=str(ARTIFACTS / "03_prediction.png"), full_page=True)

        page.get_by_role("link", name="Survival").click()
        page.locator(".js-plotly-plot").first.wait_for(timeout=120_000)
        page.screenshot(path=str(ARTIFACTS / "04_survival.png"), full_page=True)

        if TCGA_RAW.exists():
            page.get_by_role("link", name="Study").click()
            page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
                [str(TCGA_RAW / "TCGA-FG-6692_t1c.nii.gz"), str(TCGA_RAW / "TCGA-FG-6692_fla.nii.gz")])
            page.get_by_role("button", name="Load uploaded study").click(timeout=60_000)
            page.get_by_text("Study loaded: T1ce, FLAIR.").first.wait_for(timeout=120_000)
            page.screenshot(path=str(ARTIFACTS / "05_uploaded.png"), full_page=True)
        browser.close()
