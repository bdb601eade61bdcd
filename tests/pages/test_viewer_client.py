"""The Viewer's browser viewer through AppTest (no JavaScript runs here): the page mounts the
component with a payload that decodes to the study, its masks and the segmentation's RANO
numbers, and the crosshair buttons send a command the browser applies once (a new nonce).
What the browser does with it is tested in a real browser (test_browser_viewer.py)."""

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from model.core.config import REPO_ROOT
from model.views.viewer_payload import decode_blob, unpack

APP = str(REPO_ROOT / "app.py")


def _payload(at):
    (el,) = at.get("bidi_component")
    return unpack(el.proto.bytes)


@pytest.mark.slow
def test_payload_buttons_and_fallback(demo_study, monkeypatch):
    from model.cached import STUDY

    at = AppTest.from_file(APP, default_timeout=240)
    at.session_state[STUDY] = demo_study
    at.run()
    at.switch_page("app_pages/viewer.py")
    at.run()
    assert not at.exception
    assert not at.get("image")                      # nothing rendered on the server
    header, blobs = _payload(at)
    assert [s["name"] for s in header["sequences"]] == list(demo_study.sequences)
    for s in header["sequences"]:
        vol = demo_study.volumes[s["name"]]
        assert s["shape"] == list(vol.shape)
        assert np.allclose(s["affine"], vol.affine, atol=1e-5)
        codes = decode_blob(blobs[s["blob"]], vol.shape)
        i, j, k = (n // 2 for n in vol.shape)
        assert abs(codes[i, j, k] * s["scale"] + s["offset"] - vol.data[i, j, k]) <= s["scale"] / 2 + 1e-3
    # the model's mask on every sequence's grid, equal to the page's own labels on FLAIR's grid
    (model_mask,) = [m for m in header["masks"] if m["name"].startswith("Model")]
    assert sorted(model_mask["blobs"]) == sorted(demo_study.sequences)
    flair_lab = decode_blob(blobs[model_mask["blobs"]["FLAIR"]], demo_study.volumes["FLAIR"].shape)
    rano = header["auto_rano"]
    area = (flair_lab > 0).sum(axis=(0, 1))
    assert rano["seq"] == "FLAIR" and rano["axial_slice"] == int(np.argmax(area))
    assert rano["long_mm"] >= rano["perp_mm"] > 0
    assert abs(rano["product_mm2"] - rano["long_mm"] * rano["perp_mm"]) < 1e-6
    # the legend's volume is the mask's voxel count (1 mm³ voxels)
    assert any(f"{(flair_lab > 0).sum() / 1000:.1f} mL" in m.value for m in at.markdown)

    # Go to tumour: a command with a new nonce at the largest axial cross-section
    nonce0 = (header["command"] or {}).get("nonce", 0)
    at.button(key="viewer_go_tumour").click()
    at.run()
    header, _ = _payload(at)
    cmd = header["command"]
    assert cmd["nonce"] == nonce0 + 1
    flair = demo_study.volumes["FLAIR"]
    ijk = np.linalg.solve(flair.affine, [*cmd["mm"], 1.0])[:3]
    assert round(ijk[2]) == int(np.argmax(area)) and flair_lab[tuple(np.rint(ijk).astype(int))] > 0
    # unchanged inputs, same payload bytes: the browser is not re-called on a plain rerun
    before = at.get("bidi_component")[0].proto.bytes
    at.run()
    assert at.get("bidi_component")[0].proto.bytes == before

    # the fallback: server-rendered images and sliders, no component
    at.toggle(key="viewer_simple").set_value(True)
    at.run()
    assert not at.exception
    assert at.get("image") and not at.get("bidi_component")
    assert at.slider(key="viewer_axial_T1") is not None

    # a study too large to send: one line, the simple viewer offered, no component
    import model.views.viewer_payload as vp

    monkeypatch.setattr(vp, "MAX_PAYLOAD_BYTES", 1_000_000)  # the demo's payload is ~5.5 MB
    at.toggle(key="viewer_simple").set_value(False)
    at.run()
    assert not at.exception and not at.get("bidi_component")
    assert any("too large for the browser viewer" in i.value for i in at.info)
