"""The Viewer's tumour masks through AppTest: toggle, masks and legend, opacity, go to tumour,
masks on another sequence's grid, "no abnormality found", downloads."""

import dataclasses

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from model.core.config import REPO_ROOT

APP = str(REPO_ROOT / "app.py")
UPLOADED = "Uploaded: tumour"


def _with_box(study, seq="FLAIR"):
    from model.imaging.labelmap import LabelMap

    vol = study.volumes[seq]
    labels = np.zeros(vol.shape, np.uint8)
    x, y, z = (n // 2 for n in vol.shape)
    labels[x - 15:x + 15, y - 15:y + 15, z - 5:z + 5] = 2
    return study.with_mask("tumour", LabelMap.on_grid_of(vol, labels, "tumour")), (x, y, z)


def _viewer(study, seq="FLAIR"):
    from model.cached import STUDY

    at = AppTest.from_file(APP, default_timeout=240)
    at.session_state[STUDY] = study
    at.run()
    at.switch_page("pages/viewer.py")
    at.run()
    at.selectbox(key="viewer_seq").set_value(seq)
    at.run()
    assert not at.exception
    return at


def _first_image(at):
    return at.get("image")[0].proto.imgs[0].url


def _crosshair(at):
    text = next(m.value for m in at.markdown if m.value.startswith("**Crosshair**"))
    return tuple(int(v) for v in text.split("= (")[1].split(")")[0].split(","))


def test_toggle_masks_legend_opacity_and_go_to_tumour(demo_study):
    study, (x, y, z) = _with_box(demo_study)
    at = _viewer(study)
    shown = next(w for w in at.multiselect if w.label == "Masks")
    assert UPLOADED in shown.options and UPLOADED in shown.value
    legend = next(m.value for m in at.markdown if UPLOADED in m.value)
    assert "9.0 mL" in legend  # 30 x 30 x 10 voxels of 1 mm³
    with_mask = _first_image(at)
    # on/off
    at.toggle(key=next(t.key for t in at.toggle if t.label == "Show tumour")).set_value(False)
    at.run()
    assert _first_image(at) != with_mask
    at.toggle(key=next(t.key for t in at.toggle if t.label == "Show tumour")).set_value(True)
    at.run()
    assert _first_image(at) == with_mask
    # opacity changes the picture
    at.slider(key="viewer_mask_opacity").set_value(0.8)
    at.run()
    assert _first_image(at) != with_mask
    # only the uploaded mask, then "Go to tumour": the crosshair lands inside the box
    next(w for w in at.multiselect if w.label == "Masks").set_value([UPLOADED])
    at.run()
    at.button(key="viewer_go_tumour").click()
    at.run()
    i, j, k = _crosshair(at)
    assert x - 15 <= i < x + 15 and y - 15 <= j < y + 15 and z - 5 <= k < z + 5
    assert not at.exception


def test_mask_is_drawn_on_a_sequence_on_another_grid(demo_study):
    """A T2 on a 2 mm grid shows the FLAIR-grid mask (resampled through the affines)."""
    t2 = demo_study.volumes["T2"]
    aff = t2.affine.copy()
    aff[:3, :3] *= 2
    coarse = dataclasses.replace(t2, data=np.ascontiguousarray(t2.data[::2, ::2, ::2]), affine=aff,
                                 content_hash=t2.content_hash + "-2mm")
    study = dataclasses.replace(demo_study, volumes={**demo_study.volumes, "T2": coarse})
    study, _ = _with_box(study)
    at = _viewer(study, "T2")
    next(w for w in at.multiselect if w.label == "Masks").set_value([UPLOADED])
    at.run()
    with_mask = _first_image(at)
    at.toggle(key=next(t.key for t in at.toggle if t.label == "Show tumour")).set_value(False)
    at.run()
    assert _first_image(at) != with_mask
    assert not at.exception


def test_no_abnormality_found_is_said_in_words(demo_study, monkeypatch):
    import model.analysis as analysis
    from model.imaging.labelmap import LabelMap
    from model.imaging.measure import tumour_size
    from model.inference.segment import SegmentationResult

    flair = demo_study.volumes["FLAIR"]
    empty = LabelMap.on_grid_of(flair, np.zeros(flair.shape, np.uint8), "predicted tumour")
    seg = SegmentationResult(empty, "FLAIR", ("FLAIR",), ("No abnormality found.",))
    finding = analysis.TumourFinding("none_found", "No abnormality found.", seg, tumour_size(empty))
    monkeypatch.setattr(analysis, "find_tumour", lambda *a, **k: finding)
    at = _viewer(demo_study)
    assert any("No abnormality found" in i.value for i in at.info)
    assert at.button(key="viewer_go_tumour").disabled
    assert not at.exception
