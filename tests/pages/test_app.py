"""The app driven headless through every page with streamlit.testing.v1.AppTest."""

import pytest
from streamlit.testing.v1 import AppTest

from model.core.config import REPO_ROOT

APP = str(REPO_ROOT / "app.py")


@pytest.fixture()
def app():
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    assert not at.exception
    return at


def test_every_page_runs_on_the_demo_study(app):
    assert app.session_state["study"].sequences == ("T1", "T1ce", "T2", "FLAIR")
    for page in ("app_pages/viewer.py", "app_pages/prediction.py", "app_pages/survival.py",
                 "app_pages/longitudinal.py", "app_pages/model_card.py", "app_pages/upload.py"):
        app.switch_page(page)
        app.run()
        assert not app.exception, page
        assert not app.error, (page, [e.value for e in app.error])
    # The study survived the page switches.
    assert app.session_state["study"].sequences == ("T1", "T1ce", "T2", "FLAIR")


def test_viewer_slider_moves_the_slice(app):
    app.switch_page("app_pages/viewer.py")
    app.run()
    app.toggle(key="viewer_simple").set_value(True)  # the server-rendered viewer (no JS here)
    app.run()
    img_before = app.get("image")[0].proto.imgs[0].url
    app.slider(key="viewer_axial_T1").set_value(20)
    app.run()
    assert not app.exception
    assert app.get("image")[0].proto.imgs[0].url != img_before


GLIOMA = {"age_years": 45.0, "tumour_type": "glioma"}  # what set_clinical_inputs stores


@pytest.fixture()
def admitted(monkeypatch):
    """A scope rule that admits every study (tests/inference/synthetic.py): these tests are
    about the grade's page plumbing (class line, attribution map, MC dropout), which the served
    rule keeps closed for an out-of-scope study whatever the clinical inputs say."""
    from tests.inference.synthetic import admit_every_study

    return admit_every_study(monkeypatch)


def test_prediction_and_attribution_map(app, admitted):
    app.session_state["clinical_inputs"] = dict(GLIOMA)  # the experimental grade: gliomas only
    app.switch_page("app_pages/prediction.py")
    app.run()
    classes = app.session_state["prediction"].probabilities
    top = max(classes, key=classes.get)
    assert any(w.value.startswith(f"{top} (p = {classes[top]:.2f}); cross-validated ROC AUC")
               for w in app.warning)
    app.button(key="attr_compute").click()
    app.run()
    assert not app.exception
    assert "Overlay opacity" in [s.label for s in app.slider]
    assert len(app.session_state["attribution_maps"]) == 1


def _upload(app, files):
    app.switch_page("app_pages/upload.py")
    app.run()
    uploader = app.get("file_uploader")[0]
    uploader.set_value(files)
    app.run()
    app.button(key="load_upload").click()
    app.run()
    assert not app.exception


@pytest.mark.needs_shared("demo_cases/tcga_fg_6692_raw")
def test_upload_real_study_replaces_the_demo(app, tcga_raw):
    files = [(p.name, p.read_bytes(), "application/gzip") for p in sorted(tcga_raw.glob("*_t1c.nii.gz"))]
    files += [(p.name, p.read_bytes(), "application/gzip") for p in sorted(tcga_raw.glob("*_fla.nii.gz"))]
    _upload(app, files)
    study = app.session_state["study"]
    assert study.sequences == ("T1ce", "FLAIR")
    assert study.volumes["FLAIR"].shape == (208, 256, 26)
    app.session_state["clinical_inputs"] = dict(GLIOMA)
    app.switch_page("app_pages/prediction.py")
    app.run()
    assert not app.exception
    # The experimental grade model was trained on T1, T1ce and FLAIR: not shown without T1.
    assert "prediction" not in app.session_state
    assert any("this study lacks T1" in i.value for i in app.info)


def test_bad_upload_shows_error_and_keeps_study(app, demo_dir):
    before = app.session_state["study"].key
    data = (demo_dir / "BraTS-GLI-00001-000-t1c.nii.gz").read_bytes()
    _upload(app, [("broken_t1c.nii.gz", data[:20000], "application/gzip")])
    errors = [e.value for e in app.error]
    assert any("truncated" in e and "previous study is still loaded" in e for e in errors)
    assert app.session_state["study"].key == before


@pytest.mark.needs_shared("figshare_cheng")
def test_one_slice_study_runs_on_viewer_and_prediction(app, shared_data):
    """A single 2D picture is a one-slice study: pages must not crash on 1-voxel axes."""
    images = shared_data / "figshare_cheng" / "images"
    jpg = sorted(images.glob("*.jpg"))[0]
    _upload(app, [("slice_t1ce.jpg", jpg.read_bytes(), "image/jpeg")])
    if app.session_state["study"].sequences != ("T1ce",):  # the sequence must be chosen first
        app.selectbox[0].set_value("T1ce")
        app.run()
        app.button(key="load_upload").click()
        app.run()
    study = app.session_state["study"]
    assert study.sequences == ("T1ce",) and study.volumes["T1ce"].shape[2] == 1
    assert any("slice" in w.lower() for w in study.warnings)
    for page in ("app_pages/viewer.py", "app_pages/prediction.py"):
        app.switch_page(page)
        app.run()
        assert not app.exception, page


def test_prediction_page_shows_mc_dropout_uncertainty(app, admitted):
    app.session_state["clinical_inputs"] = dict(GLIOMA)
    app.switch_page("app_pages/prediction.py")
    app.run()
    mc = app.session_state["prediction"].uncertainty
    captions = " ".join(c.value for c in app.caption)
    assert f"{mc['agreement']:.0%} of samples agree" in captions


def test_model_page_shows_the_cross_validated_design_comparison(app):
    import json

    from model.core.config import DEFAULT_CHECKPOINT

    cv = json.loads((DEFAULT_CHECKPOINT / "cv.json").read_text())
    app.switch_page("app_pages/model_card.py")
    app.run()
    assert not app.exception
    tables = [d.value for d in [*app.dataframe, *app.table]]  # the wide ones are st.table
    table = next(t for t in tables if "AUC (mean ± sd of folds)" in t.columns)
    assert list(table["id"]) == list(cv["variants"])
    v = cv["variants"]["2d"]
    assert table.loc[table["id"] == "2d", "AUC (mean ± sd of folds)"].item() == \
        f"{v['mean']['roc_auc']:.2f} ± {v['sd']['roc_auc']:.2f}"
    lo, hi = v["pooled"]["roc_auc_ci95"]
    assert table.loc[table["id"] == "2d", "pooled AUC [95% CI]"].item() == \
        f"{v['pooled']['roc_auc']:.2f} [{lo:.2f}, {hi:.2f}]"
    assert table.loc[table["id"] == "majority", "pooled AUC [95% CI]"].item() == "n/a"
    assert any(cv["decision"] in m.value for m in app.markdown)
    # The served design did not beat chance in CV: the page says so in plain words.
    assert (lo <= 0.5) == any("Not shown to beat chance" in w.value for w in app.warning)


def test_viewer_overlays_a_loaded_tumour_mask(demo_study):
    """Study.masks (label maps) are offered on the grid they belong to and drawn in colour."""
    import numpy as np

    from model.cached import STUDY
    from model.imaging.labelmap import LabelMap

    flair = demo_study.volumes["FLAIR"]
    labels = np.zeros(flair.shape, np.uint8)
    x, y, z = (n // 2 for n in flair.shape)
    labels[x - 15:x + 15, y - 15:y + 15, z - 5:z + 5] = 2
    study = demo_study.with_mask("tumour", LabelMap.on_grid_of(flair, labels, "tumour"))
    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state[STUDY] = study
    at.run()
    at.switch_page("app_pages/viewer.py")
    at.run()
    at.toggle(key="viewer_simple").set_value(True)
    at.run()
    at.selectbox(key="viewer_seq").set_value("FLAIR")
    at.run()
    assert not at.exception
    masks = next(w for w in at.multiselect if w.label == "Masks")
    assert "Uploaded: tumour" in masks.options and "Uploaded: tumour" in masks.value
    with_mask = at.get("image")[0].proto.imgs[0].url
    masks.set_value([m for m in masks.value if m != "Uploaded: tumour"])
    at.run()
    assert not at.exception
    assert at.get("image")[0].proto.imgs[0].url != with_mask
