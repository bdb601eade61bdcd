"""Real browser: Debian's Chromium driven by Playwright against `streamlit run app.py`.

One pass through what a tumour board user does: the demo study loads, the Viewer steps
slices and changes window/level, the Prediction page computes an attribution map and the PDF
report is downloaded, the Survival page opens, a real NIfTI is uploaded through the file
input and shown. Screenshots and the report go to test-artifacts/. Skipped when
/usr/bin/chromium is absent (.ci/run installs it). Budget: < 2 minutes.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from model.core.config import DATA_DIR, DEMO_STUDY_DIR, REPO_ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ROOT = REPO_ROOT
TCGA_RAW = DATA_DIR / "demo_cases" / "tcga_fg_6692_raw"
ARTIFACTS = ROOT / "test-artifacts"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium not installed"),
]
# SwiftShader gives a software WebGL2 (for WebGL components) without a GPU.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
        "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # The walkthrough opens the experimental grade on the demo and computes its map; the served
    # scope rule keeps the grade closed for the skull-stripped demo (out of scope, whatever the
    # clinical inputs say), so this server runs a stand-in rule that admits every study
    # (tests/inference/synthetic.py). What the served rule decides is tested in
    # tests/test_analysis.py and tests/pages/test_app.py.
    from tests.inference.synthetic import admitting_env

    port = _free_port()
    env = {**os.environ, **admitting_env(tmp_path_factory.mktemp("scope"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
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


def _slider(page, label):
    return page.locator('[data-testid="stSlider"]').filter(has_text=label).locator('input[type="range"]').first


def _choose(page, label, option):
    page.locator('[data-testid="stSelectbox"]').filter(has_text=label).first.click()
    page.get_by_role("option", name=option).first.click()


def _first_image_src(page):
    return page.locator('[data-testid="stImage"] img').first.get_attribute("src")


def _settle(page, timeout_s=90.0):
    """Wait until the page stopped changing: no script running, the same images twice in a row,
    all loaded (before a screenshot)."""
    end = time.time() + timeout_s
    last = None
    while time.time() < end:
        page.wait_for_timeout(400)
        running = page.locator('[data-testid="stStatusWidget"]').count() > 0
        srcs = page.evaluate("() => Array.from(document.images).map(i => i.complete && i.naturalWidth > 0 ? i.src : '')")
        if not running and srcs == last and all(srcs):
            return
        last = srcs
    raise AssertionError("the page did not settle")


def _simple_viewer(page):
    """Switch the Viewer to its server-rendered fallback (these tests drive its sliders and
    images; the browser viewer has its own tests in test_browser_viewer.py)."""
    toggle = page.locator('[data-testid="stCheckbox"]').filter(has_text="Simple viewer (server-rendered)").first
    toggle.wait_for(timeout=120_000)
    if toggle.locator("input").first.is_checked():
        return
    toggle.locator("label").first.click()
    page.locator('[data-testid="stSlider"]').filter(has_text="axial slice").first.wait_for(timeout=60_000)


def _crosshair(page):
    return page.get_by_text("Crosshair").first.locator("xpath=..").inner_text()


def _wait_changed(get, before, timeout_s=30.0):
    end = time.time() + timeout_s
    while time.time() < end:
        now = get()
        if now != before:
            return now
        time.sleep(0.1)
    raise AssertionError(f"nothing changed from {before!r}")


def test_tumour_board_walkthrough(server):
    from playwright.sync_api import sync_playwright

    t_start = time.time()
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 2000}, accept_downloads=True)
        page.goto(server, timeout=60_000)
        page.get_by_text("Loaded study", exact=True).first.wait_for(timeout=120_000)
        page.screenshot(path=str(ARTIFACTS / "01_study.png"), full_page=True)

        # Viewer: step slices with the keyboard, then change the window.
        page.get_by_role("link", name="Viewer").click()
        _simple_viewer(page)
        page.get_by_text("Crosshair").first.wait_for(timeout=60_000)
        page.locator('[data-testid="stImage"] img').first.wait_for(timeout=60_000)
        axial = _slider(page, "axial slice")
        z0 = int(axial.input_value())
        src0 = _first_image_src(page)
        axial.focus()
        for _ in range(3):
            page.keyboard.press("ArrowRight")
        _wait_changed(lambda: axial.input_value(), str(z0))
        src1 = _wait_changed(lambda: _first_image_src(page), src0)
        page.get_by_text(f"axial z = {z0 + 3}").first.wait_for(timeout=30_000)
        _settle(page)
        page.screenshot(path=str(ARTIFACTS / "02_viewer_slices.png"), full_page=True)
        _choose(page, "Window", "Wide (0-100 %)")
        _wait_changed(lambda: _first_image_src(page), src1)
        page.locator('[data-testid="stRadio"]').filter(has_text="Convention").get_by_text("Neurological").click()
        page.get_by_text("Neurological convention").first.wait_for(timeout=30_000)
        _settle(page)
        page.screenshot(path=str(ARTIFACTS / "03_viewer_window_neuro.png"), full_page=True)

        # Prediction: tumour and type first; enter the clinical inputs once (prognosis), open the
        # experimental grade, compute a map (progress bar), download the report.
        page.get_by_role("link", name="Prediction").click()
        page.get_by_text("Tumour type").first.wait_for(timeout=120_000)
        page.get_by_label("Age at diagnosis (years)").fill("45")
        _choose(page, "Tumour type (pathology)", "glioma")
        page.get_by_role("button", name="Use these inputs").click()
        page.get_by_text("1-year survival").first.wait_for(timeout=60_000)
        page.get_by_text("Experimental: WHO grade II/III").first.click()
        page.get_by_role("button", name="Compute attribution map").click()
        page.get_by_text("Overlay opacity").first.wait_for(timeout=180_000)
        page.locator('[data-testid="stImage"] img').first.wait_for(timeout=60_000)
        _settle(page)
        page.screenshot(path=str(ARTIFACTS / "04_prediction_map.png"), full_page=True)
        with page.expect_download(timeout=120_000) as dl:
            page.get_by_role("button", name="Download report (PDF)").click()
        pdf = (dl.value.path() and open(dl.value.path(), "rb").read())
        assert pdf[:4] == b"%PDF"
        (ARTIFACTS / "report.pdf").write_bytes(pdf)

        # The map is offered as an overlay in the Viewer.
        page.get_by_role("link", name="Viewer").click()
        page.get_by_text("Neurological convention").first.wait_for(timeout=60_000)  # settings kept
        before = _crosshair(page)
        page.get_by_role("button", name="Strongest attribution").click(timeout=60_000)
        _wait_changed(lambda: _crosshair(page), before)
        _settle(page)
        page.screenshot(path=str(ARTIFACTS / "05_viewer_overlay.png"), full_page=True)

        page.get_by_role("link", name="Survival").click()
        page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=120_000)
        page.screenshot(path=str(ARTIFACTS / "06_survival.png"), full_page=True)
        # The figures follow the app's dark theme (.streamlit/config.toml): each Plotly paper is
        # the page's background, not white (bench/look.py shoots every page in both themes).
        colours = page.evaluate("() => [getComputedStyle(document.querySelector('.stApp')).backgroundColor,"
                                " ...Array.from(document.querySelectorAll('.js-plotly-plot .main-svg:first-of-type'),"
                                " s => getComputedStyle(s).backgroundColor)]")
        assert len(colours) > 1 and set(colours) == {colours[0]} and colours[0] != "rgb(255, 255, 255)", colours

        if TCGA_RAW.exists():
            page.get_by_role("link", name="Study").click()
            page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
                [str(TCGA_RAW / "TCGA-FG-6692_t1c.nii.gz"), str(TCGA_RAW / "TCGA-FG-6692_fla.nii.gz")])
            page.get_by_role("button", name="Load uploaded study").click(timeout=60_000)
            page.get_by_text("Study loaded: T1ce, FLAIR.").first.wait_for(timeout=120_000)
            page.screenshot(path=str(ARTIFACTS / "07_uploaded.png"), full_page=True)
            page.get_by_role("link", name="Viewer").click()
            page.get_by_text("Crosshair").first.wait_for(timeout=60_000)
            axial = _slider(page, "axial slice")
            z = axial.input_value()
            axial.focus()
            page.keyboard.press("ArrowLeft")
            _wait_changed(lambda: axial.input_value(), z)
            page.get_by_text(f"axial z = {int(z) - 1} /").first.wait_for(timeout=30_000)
            _settle(page)
            page.screenshot(path=str(ARTIFACTS / "08_uploaded_viewer.png"), full_page=True)
        browser.close()
    # Speed is measured by bench/ (bench.viewer, bench.load), not asserted here.
    print(f"browser walkthrough {time.time() - t_start:.0f} s")


def test_viewer_tumour_overlay(server):
    """The demo's tumour on the Viewer: toggle, legend with the model's volume in mL, "Go to
    tumour" moves the crosshair, the overlay changes the image; screenshot
    test-artifacts/viewer_overlay.png."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 2200})
        page.goto(server, timeout=60_000)
        page.get_by_text("Loaded study", exact=True).first.wait_for(timeout=120_000)
        page.get_by_role("link", name="Viewer").click()
        _simple_viewer(page)
        toggle = page.locator('[data-testid="stCheckbox"]').filter(has_text="Show tumour").first
        toggle.wait_for(timeout=120_000)
        legend = page.locator('[data-testid="stMarkdownContainer"]').filter(
            has_text="Model: FLAIR abnormality").filter(has_text=" mL").first
        legend.wait_for(timeout=120_000)
        page.get_by_text("Predicted FLAIR abnormality:").first.wait_for(timeout=60_000)
        before = _crosshair(page)
        page.get_by_role("button", name="Go to tumour").click(timeout=60_000)
        _wait_changed(lambda: _crosshair(page), before)
        _settle(page)
        page.screenshot(path=str(ARTIFACTS / "viewer_overlay.png"), full_page=True)
        with_mask = _first_image_src(page)
        toggle.locator("label").first.click()
        _wait_changed(lambda: _first_image_src(page), with_mask)
        _settle(page)
        page.screenshot(path=str(ARTIFACTS / "viewer_overlay_off.png"), full_page=True)
        browser.close()


NIIVUE_APP = '''
import streamlit as st
from niivue_component import niivue_viewer
data = open({path!r}, "rb").read()
res = niivue_viewer(nifti_data=data, filename="flair.nii.gz", height=500, view_mode="multiplanar",
                    styled=False, settings={{"crosshair": True, "radiological": True}}, key="nv")
st.write(f"niivue ready; click: {{res}}")
'''


def test_niivue_component_renders_with_software_webgl2(tmp_path):
    """Evaluation of NiiVue (niivue-streamlit, not a dependency): runs only where it is installed.

    Checks that headless Chromium offers WebGL2 (SwiftShader) and that the component draws the
    demo FLAIR and returns a clicked voxel to Python; screenshot test-artifacts/niivue.png.
    """
    pytest.importorskip("niivue_component")
    from playwright.sync_api import sync_playwright

    app = tmp_path / "nv_app.py"
    app.write_text(NIIVUE_APP.format(path=str(DEMO_STUDY_DIR / "BraTS-GLI-00001-000-t2f.nii.gz")))
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(60):
            try:
                urllib.request.urlopen(url + "/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            page = browser.new_page(viewport={"width": 1000, "height": 700})
            page.goto(url, timeout=60_000)
            assert page.evaluate("() => !!document.createElement('canvas').getContext('webgl2')")
            page.get_by_text("niivue ready").first.wait_for(timeout=60_000)
            frame = page.frame_locator("iframe").first
            frame.locator("canvas").first.wait_for(timeout=60_000)
            page.wait_for_timeout(3000)
            box = page.locator("iframe").first.bounding_box()
            page.mouse.click(box["x"] + box["width"] * 0.25, box["y"] + box["height"] * 0.75)
            page.get_by_text("voxel_click").first.wait_for(timeout=30_000)
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "niivue.png"))
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
