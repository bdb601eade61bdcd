"""Real browser: the Viewer's browser-side viewer (app_pages/widgets/slice_viewer) driven by real
input events in Debian's headless Chromium (Playwright) against `streamlit run app.py`.

What is checked, through the test hooks of the viewer (``window.tbViewer``: ``state()``,
``voxelToClient()``, ``measurements()``, ``ready``) and the canvases' own pixels:
(a) a click puts the crosshair on the clicked voxel and every view repaints to it;
(b) the ruler gives the hand-computed distance on a synthetic volume of anisotropic voxels
    (0.8 x 1.1 x 3.0 mm), on the axial, coronal and sagittal views;
(c) the RANO tool gives the long and perpendicular diameters of a synthetic ellipse of known
    axes (the perpendicular is the projection of the second drag across the first);
(d) with a placeholder affine (voxel size unknown) both tools refuse, with a note;
(e) window drag changes level/width the documented way, zoom (ctrl + wheel, zoom tool) changes
    the zoom, and the keyboard steps the active view's slice by one.
One server and one Chromium for the module; screenshots to test-artifacts/. Speed is measured
by ``python -m bench.browser``, not here. Skipped when /usr/bin/chromium is absent.
"""

import math
import os

import numpy as np
import pytest

from bench.browser import (VIEWER, canvas, choose_tool, open_viewer, settled, viewer_state,
                           voxel_xy, wait_viewer_ready)
from bench.live import CHROMIUM, CHROMIUM_ARGS, streamlit_server
from model.core.config import REPO_ROOT

ARTIFACTS = REPO_ROOT / "test-artifacts"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium not installed"),
]

# The synthetic study: RAS voxel axes (a positive diagonal affine, so the loader keeps the
# voxel order), anisotropic voxels, an ellipse in every axial slice whose ends fall on voxel
# centres: semi-axes 25 voxels x 0.8 mm = 20 mm along x and 10 voxels x 1.1 mm = 11 mm along y.
SHAPE = (96, 80, 24)
SPACING = (0.8, 1.1, 3.0)
CENTRE = (48, 40)
SEMI_VOX = (25, 10)


def _synthetic(shape=SHAPE, spacing=SPACING):
    i, j, k = np.meshgrid(*(np.arange(n, dtype=np.float32) for n in shape), indexing="ij")
    # a soft "head" so the window presets have a brain to take percentiles of, plus the ellipse
    head = ((i - 47.5) / 45) ** 2 + ((j - 39.5) / 37) ** 2 + ((k - 11.5) / 14) ** 2 <= 1
    ell = ((i - CENTRE[0]) / SEMI_VOX[0]) ** 2 + ((j - CENTRE[1]) / SEMI_VOX[1]) ** 2 <= 1
    data = (100 + 0.5 * i + 0.3 * j + 2 * k) * head + 300 * (ell & head)
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = [-40.0, -45.0, -30.0]
    return data.astype(np.float32), affine, ell & head


@pytest.fixture(scope="module")
def server():
    with streamlit_server(startup_s=180.0) as srv:
        yield srv.url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    import nibabel as nib

    d = tmp_path_factory.mktemp("synthetic")
    data, affine, _ = _synthetic()
    nib.save(nib.Nifti1Image(data, affine), str(d / "aniso_flair.nii.gz"))
    # the same voxels with the identity affine: the loader's "placeholder" (size unknown)
    nib.save(nib.Nifti1Image(data, np.eye(4)), str(d / "placeholder_flair.nii.gz"))
    return d


def _page(browser, server):
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_context(viewport={"width": 1366, "height": 1100}).new_page()
    page.set_default_timeout(120_000)
    page.goto(server, timeout=180_000)
    page.get_by_text("Loaded study", exact=True).first.wait_for(timeout=180_000)
    return page


def _upload(page, path, loaded_text):
    page.get_by_role("link", name="Study", exact=True).click()
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files([str(path)])
    page.get_by_role("button", name="Load uploaded study").click(timeout=120_000)
    page.get_by_text(loaded_text).first.wait_for(timeout=180_000)
    settled(page)


def _drag(page, view, a, b, steps=6, button="left"):
    """Press on voxel ``a``'s centre of ``view``, move to ``b``'s in ``steps``, release."""
    x0, y0 = voxel_xy(page, view, a)
    x1, y1 = voxel_xy(page, view, b)
    page.mouse.move(x0, y0)
    page.mouse.down(button=button)
    page.mouse.move(x1, y1, steps=steps)
    page.mouse.up(button=button)


def _pixels(page, view):
    """The view's canvas as (H, W, 4) uint8, read in the page."""
    flat, w, h = canvas(page, view).evaluate(
        "(c) => [Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data), c.width, c.height]")
    return np.array(flat, dtype=np.uint8).reshape(h, w, 4)


def _is_crosshair_green(px):
    r, g, b = (int(v) for v in px[:3])
    return g > 150 and g > r + 60 and g > b + 20   # CROSS = rgba(0, 255, 128, 0.75) over gray


def _crosshair_at(page, view, ijk):
    """Is the view's crosshair drawn through ``ijk``'s centre? Samples the canvas 12 px away from
    the centre (the lines leave a 6 px gap) along both lines."""
    box = canvas(page, view).bounding_box()
    x, y = voxel_xy(page, view, ijk)
    img = _pixels(page, view)
    sx, sy = img.shape[1] / box["width"], img.shape[0] / box["height"]   # device pixel ratio
    cx, cy = (x - box["x"]) * sx, (y - box["y"]) * sy
    hits = []
    for dx, dy in ((12, 0), (-12, 0), (0, 12), (0, -12)):
        px, py = int(round(cx + dx * sx)), int(round(cy + dy * sy))
        # the line is 1 px wide, at round(coordinate) + 0.5: look one pixel either side
        near = [img[py + ey, px + ex] for ey in (-1, 0, 1) for ex in (-1, 0, 1)
                if 0 <= py + ey < img.shape[0] and 0 <= px + ex < img.shape[1]]
        hits.append(any(_is_crosshair_green(p) for p in near))
    return all(hits)


# ------------------------------------------------------------------------------------- (a)
def test_click_places_crosshair_and_views_follow(server, browser):
    page = _page(browser, server)
    open_viewer(page)
    settled(page)
    choose_tool(page, "crosshair")
    i0, j0, k0 = viewer_state(page)["ijk"]
    coronal_before = _pixels(page, "coronal")
    target = [i0 - 30, j0 + 20, k0]            # on the axial view: i and j change, k stays
    x, y = voxel_xy(page, "axial", target)
    page.mouse.click(x, y)
    page.wait_for_function("(t) => JSON.stringify(window.tbViewer.state().ijk) === JSON.stringify(t)",
                           arg=target, timeout=10_000)
    page.wait_for_timeout(300)                 # the repaint is on the next animation frame
    for view in ("axial", "coronal", "sagittal"):
        assert _crosshair_at(page, view, target), f"{view}: crosshair not through {target}"
    # the coronal view now shows another slice (j changed)
    assert (_pixels(page, "coronal") != coronal_before).any()
    # a click on the coronal view moves i and k, keeps j; the axial view follows to the new k
    target2 = [target[0] + 15, target[1], k0 - 12]
    x, y = voxel_xy(page, "coronal", target2)
    page.mouse.click(x, y)
    page.wait_for_function("(t) => JSON.stringify(window.tbViewer.state().ijk) === JSON.stringify(t)",
                           arg=target2, timeout=10_000)
    page.wait_for_timeout(300)
    for view in ("axial", "coronal", "sagittal"):
        assert _crosshair_at(page, view, target2), f"{view}: crosshair not through {target2}"
    mm2 = viewer_state(page)["mm"]
    # back to the first voxel: the coronal view paints exactly what it painted there
    x, y = voxel_xy(page, "axial", [target[0], target[1], k0])
    page.mouse.click(x, y)
    x, y = voxel_xy(page, "coronal", target)
    page.mouse.click(x, y)
    page.wait_for_function("(t) => JSON.stringify(window.tbViewer.state().ijk) === JSON.stringify(t)",
                           arg=target, timeout=10_000)
    page.wait_for_timeout(300)
    page.screenshot(path=str(ARTIFACTS / "viewer_client_crosshair.png"))
    # the crosshair's mm are the clicked voxels' centres through the affine: between two clicked
    # voxels of the demo (1 mm RAS voxels, axis-aligned) the mm differ by the voxel steps
    d = np.subtract(mm2, viewer_state(page)["mm"])
    assert np.allclose(d, np.subtract(target2, target), atol=1e-3), d
    page.context.close()


# ------------------------------------------------------------------------------------- (b) (c)
@pytest.fixture(scope="module")
def aniso_page(server, browser, files):
    page = _page(browser, server)
    _upload(page, files / "aniso_flair.nii.gz", "Study loaded: FLAIR.")
    open_viewer(page)
    settled(page)
    spacing = page.evaluate("() => window.tbViewer.state()")  # noqa: F841 - the viewer is up
    yield page
    page.context.close()


def _last(page, kind):
    ms = [m for m in page.evaluate("() => window.tbViewer.measurements()") if m["type"] == kind]
    assert ms, f"no {kind} measurement"
    return ms[-1]


def test_ruler_gives_the_distance_with_anisotropic_voxels(aniso_page):
    page = aniso_page
    st = viewer_state(page)
    assert page.locator(f'{VIEWER} [data-role="readout"]').first.inner_text().find("sizes unknown") < 0
    choose_tool(page, "ruler")
    k = st["ijk"][2]
    sx, sy, sz = SPACING
    cases = [
        # view, voxel a, voxel b, hand-computed mm (voxel steps x spacing, Pythagoras)
        ("axial", [20, 15, k], [70, 60, k], math.hypot(50 * sx, 45 * sy)),          # 63.64
        ("coronal", [20, st["ijk"][1], 4], [70, st["ijk"][1], 20], math.hypot(50 * sx, 16 * sz)),  # 62.48
        ("sagittal", [st["ijk"][0], 10, 2], [st["ijk"][0], 70, 20], math.hypot(60 * sy, 18 * sz)),  # 85.28
    ]
    for n, (view, a, b, mm) in enumerate(cases):
        _drag(page, view, a, b)
        page.wait_for_function("(n) => window.tbViewer.measurements().length > n", arg=n, timeout=10_000)
        m = page.evaluate("() => window.tbViewer.measurements()")[n]
        assert m["type"] == "distance" and m["view"] == view
        # a pointer event lands within half a CSS pixel of the voxel centre: < 0.15 mm here
        assert abs(m["mm"] - mm) < 0.3, (view, m["mm"], mm)
        # the voxels it reports are the ones dragged between (continuous voxel coordinates)
        assert np.allclose(m["voxels"][0], a, atol=0.3) and np.allclose(m["voxels"][1], b, atol=0.3), m
    # the same pixels read as 1 mm voxels would give another number: the spacing is used
    assert abs(math.hypot(50, 45) - cases[0][3]) > 3
    page.screenshot(path=str(ARTIFACTS / "viewer_client_ruler.png"))


def test_rano_diameters_of_a_known_ellipse(aniso_page):
    page = aniso_page
    _, _, ell = _synthetic()
    k = viewer_state(page)["ijk"][2]
    sl = ell[:, :, k]
    # the ellipse's ends, read from the array: along x on its centre row, along y on its centre column
    xs = np.flatnonzero(sl[:, CENTRE[1]])
    ys = np.flatnonzero(sl[CENTRE[0], :])
    a, b = [int(xs[0]), CENTRE[1], k], [int(xs[-1]), CENTRE[1], k]
    c, d = [CENTRE[0], int(ys[0]), k], [CENTRE[0], int(ys[-1]), k]
    long_mm = (b[0] - a[0]) * SPACING[0]           # 2 x 25 voxels x 0.8 mm = 40.0
    perp_mm = (d[1] - c[1]) * SPACING[1]           # 2 x 10 voxels x 1.1 mm = 22.0
    assert (round(long_mm, 6), round(perp_mm, 6)) == (40.0, 22.0)
    choose_tool(page, "rano")
    _drag(page, "axial", a, b)                      # the longest diameter
    # the perpendicular, dragged a little obliquely (4 voxels off in x at each end): the tool
    # keeps its component across the long axis, 22.0 mm, not the drag's own 22.9 mm length
    _drag(page, "axial", [c[0] - 4, c[1], k], [d[0] + 4, d[1], k])
    page.wait_for_function("() => window.tbViewer.measurements().some((m) => m.type === 'rano')",
                           timeout=10_000)
    m = _last(page, "rano")
    assert m["view"] == "axial"
    assert abs(m["mm"]["long_mm"] - long_mm) < 0.3, m
    assert abs(m["mm"]["perp_mm"] - perp_mm) < 0.3, m
    assert abs(m["mm"]["product_mm2"] - m["mm"]["long_mm"] * m["mm"]["perp_mm"]) < 0.5, m
    assert math.hypot(8 * SPACING[0], perp_mm) - perp_mm > 0.5   # the drag's length was longer
    # the perpendicular is drawn through the second drag's start, at right angles to the long
    # axis (here along x): both its ends at that x, at the ellipse's y ends
    e3, e4 = np.array(m["voxels"][2]), np.array(m["voxels"][3])
    assert np.allclose(e3, [c[0] - 4, c[1], k], atol=0.3) and np.allclose(e4, [c[0] - 4, d[1], k], atol=0.3), m["voxels"]
    # the viewer's own list shows it, and it reached Python: the page's table (st.dataframe, a
    # canvas grid whose cells are also in the DOM, hidden) lists it with the same numbers
    text = f"{m['mm']['long_mm']:.1f} × {m['mm']['perp_mm']:.1f} mm"
    assert text in page.locator(f'{VIEWER} [data-role="measurements"]').first.inner_text()
    page.get_by_text("RANO bidimensional").first.wait_for(state="attached", timeout=30_000)
    page.get_by_text(f"{m['mm']['long_mm']:.1f} x {m['mm']['perp_mm']:.1f}").first.wait_for(
        state="attached", timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "viewer_client_rano.png"))


# ------------------------------------------------------------------------------------- (d)
def test_measurements_refused_when_the_voxel_size_is_unknown(server, browser, files):
    page = _page(browser, server)
    _upload(page, files / "placeholder_flair.nii.gz", "Study loaded: FLAIR.")
    open_viewer(page)
    settled(page)
    readout = page.locator(f'{VIEWER} [data-role="readout"]').first
    assert "sizes unknown" in readout.inner_text()
    note = page.locator(f'{VIEWER} [data-role="note"]').first
    k = viewer_state(page)["ijk"][2]
    for tool in ("ruler", "rano"):
        choose_tool(page, tool)
        assert "Sizes unknown" in note.inner_text(), note.inner_text()
        _drag(page, "axial", [20, 15, k], [70, 60, k])
        page.wait_for_timeout(300)
        assert page.evaluate("() => window.tbViewer.measurements()") == []
        assert "does not measure in mm" in note.inner_text()
    page.screenshot(path=str(ARTIFACTS / "viewer_client_sizes_unknown.png"))
    page.context.close()


# ------------------------------------------------------------------------------------- (e)
def test_window_zoom_and_keyboard(server, browser):
    page = _page(browser, server)
    open_viewer(page)
    settled(page)
    x, y = voxel_xy(page, "axial", viewer_state(page)["ijk"])

    def drag_by(dx, dy, button="left"):
        page.mouse.move(x, y)
        page.mouse.down(button=button)
        page.mouse.move(x + dx, y + dy, steps=5)
        page.mouse.up(button=button)

    # window tool: right = wider, up = higher level (the tool's tooltip)
    choose_tool(page, "window")
    s0 = viewer_state(page)
    drag_by(40, 0)
    s1 = viewer_state(page)
    assert s1["width"] > s0["width"] * 1.1 and abs(s1["level"] - s0["level"]) < 1e-6 * max(1, abs(s0["level"])), (s0, s1)
    drag_by(0, -40)
    s2 = viewer_state(page)
    assert s2["level"] > s1["level"] and abs(s2["width"] - s1["width"]) < 1e-6 * s1["width"], (s1, s2)
    assert s2["ijk"] == s0["ijk"]                    # windowing does not move the crosshair
    # right-drag windows with any tool (here: crosshair), without moving the crosshair
    choose_tool(page, "crosshair")
    drag_by(-40, 0, button="right")
    s3 = viewer_state(page)
    assert s3["width"] < s2["width"] and s3["ijk"] == s0["ijk"], (s2, s3)

    # zoom: ctrl + wheel up zooms in; the zoom tool's upward drag zooms in further
    assert s3["zoom"] == 1
    page.mouse.move(x, y)
    page.keyboard.down("Control")
    page.mouse.wheel(0, -200)
    page.keyboard.up("Control")
    page.wait_for_function("() => window.tbViewer.state().zoom > 1", timeout=10_000)
    z1 = viewer_state(page)["zoom"]
    choose_tool(page, "zoom")
    drag_by(0, -40)
    z2 = viewer_state(page)["zoom"]
    assert z2 > z1 > 1, (z1, z2)
    assert viewer_state(page)["ijk"] == s0["ijk"]
    page.screenshot(path=str(ARTIFACTS / "viewer_client_window_zoom.png"))
    page.locator(f'{VIEWER} [data-role="reset"]').first.click()
    page.wait_for_function("() => window.tbViewer.state().zoom === 1", timeout=10_000)

    # keyboard: the active view (the one last hovered) steps by one slice per key
    choose_tool(page, "crosshair")
    page.mouse.move(x, y)                             # axial active
    page.locator(VIEWER).first.focus()
    i, j, k = viewer_state(page)["ijk"]
    for key, dk in (("ArrowUp", 1), ("ArrowUp", 1), ("ArrowDown", -1), ("PageDown", -1), ("PageUp", 1)):
        page.keyboard.press(key)
        k += dk
        assert viewer_state(page)["ijk"] == [i, j, k], key
    cx, cy = voxel_xy(page, "coronal", [i, j, k])
    page.mouse.move(cx, cy)                           # coronal active: j moves
    page.keyboard.press("ArrowUp")
    assert viewer_state(page)["ijk"] == [i, j + 1, k]
    # the wheel steps the hovered view too
    sx, sy = voxel_xy(page, "sagittal", [i, j + 1, k])
    page.mouse.move(sx, sy)
    page.mouse.wheel(0, -100)
    page.wait_for_function("(i) => window.tbViewer.state().ijk[0] === i", arg=i + 1, timeout=10_000)
    assert viewer_state(page)["ijk"] == [i + 1, j + 1, k]
    wait_viewer_ready(page)
    page.context.close()
