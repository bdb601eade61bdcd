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
    at.switch_page("app_pages/viewer.py")
    at.run()
    at.toggle(key="viewer_simple").set_value(True)  # the server-rendered viewer (AppTest runs no JS)
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


@pytest.mark.needs_shared("brats_extra/Brats18_CBICA_ASK_1")
def test_uploaded_ground_truth_is_compared_with_the_model(shared_data):
    """A BraTS 2018 case loaded with its whole-tumour ground truth: both masks in the legend,
    and the Dice / volume difference of the two in words."""
    from model.imaging.study import Study

    folder = shared_data / "brats_extra" / "Brats18_CBICA_ASK_1"
    study = Study.from_paths(sorted(folder.glob("*.nii.gz")))
    at = _viewer(study)
    legend = next(m.value for m in at.markdown if "Uploaded: seg_whole_tumor.nii.gz" in m.value)
    assert "83.4 mL" in legend
    if any("Model: FLAIR abnormality" in m.value for m in at.markdown):  # the model is served
        line = next(m.value for m in at.markdown if "vs the model's mask" in m.value)
        assert "Dice 0." in line and "83.4 mL uploaded" in line


def test_dicom_study_offers_a_dicom_seg_download(monkeypatch):
    """A study that came as DICOM gets both downloads; the SEG holds no patient name."""
    import io

    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    import model.analysis as analysis
    from model.imaging.labelmap import LabelMap
    from model.imaging.measure import tumour_size
    from model.imaging.study import Study
    from model.inference.segment import SegmentationResult

    study_uid, series_uid, frame_uid = generate_uid(), generate_uid(), generate_uid()
    rng = np.random.default_rng(0)
    files = []
    for k in range(6):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
        ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study_uid, series_uid, frame_uid
        ds.Modality, ds.SeriesDescription, ds.SeriesNumber, ds.InstanceNumber = "MR", "AX FLAIR", 2, k + 1
        ds.PatientName, ds.PatientID = "Roe^Richard", "MRN443322"
        ds.Rows, ds.Columns, ds.PixelSpacing, ds.SliceThickness = 24, 24, [1.0, 1.0], 3.0
        ds.ImageOrientationPatient, ds.ImagePositionPatient = [1, 0, 0, 0, 1, 0], [0.0, 0.0, 3.0 * k]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.PixelData = rng.integers(100, 1000, (24, 24), dtype=np.uint16).tobytes()
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        files.append((f"IM{k}", buf.getvalue(), None))
    study = Study.from_bytes(files)
    flair = study.volumes["FLAIR"]
    arr = np.zeros(flair.shape, np.uint8)
    arr[8:16, 8:16, 2:4] = 1
    lm = LabelMap.on_grid_of(flair, arr, "predicted tumour")
    finding = analysis.TumourFinding("found", "found", SegmentationResult(lm, "FLAIR", ("FLAIR",)),
                                     tumour_size(lm))
    monkeypatch.setattr(analysis, "find_tumour", lambda *a, **k: finding)
    at = _viewer(study)
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["Download mask (NIfTI)", "Download DICOM SEG"], labels
    assert not at.exception


def _nii_gz(arr, affine):
    import gzip

    import nibabel as nib

    return gzip.compress(nib.Nifti1Image(arr, affine).to_bytes())


@pytest.mark.parametrize("pad,loaded", [(0, True), (2, False)], ids=["same-grid", "other-grid"])
def test_study_page_recognises_an_uploaded_mask(pad, loaded):
    """The Study page lists a label NIfTI as a tumour mask (not a sequence) and loads it with the
    study; a mask on another grid is refused in one line and the previous study stays."""
    from model.cached import STUDY

    aff = np.diag([1.0, 1.0, 2.0, 1.0])
    image = np.random.default_rng(0).uniform(50, 900, (40, 44, 20)).astype(np.float32)
    labels = np.zeros(image.shape, np.uint8)
    labels[10:20, 12:24, 5:10] = 1
    labels[14:18, 15:20, 6:9] = 4
    files = [("case_flair.nii.gz", _nii_gz(image, aff), "application/gzip"),
             ("case_seg.nii.gz", _nii_gz(np.pad(labels, pad), aff), "application/gzip")]
    at = AppTest.from_file(APP, default_timeout=240)
    at.run()
    demo = at.session_state[STUDY]
    at.switch_page("app_pages/upload.py")
    at.run()
    at.get("file_uploader")[0].set_value(files)
    at.run()
    assert [s.label for s in at.selectbox if s.label.startswith("Sequence of")] == [
        "Sequence of case_flair.nii.gz"]
    assert any("Tumour mask case_seg.nii.gz" in c.value and "labels 1, 4" in c.value for c in at.caption)
    at.button(key="load_upload").click()
    at.run()
    assert not at.exception
    study = at.session_state[STUDY]
    if loaded:
        assert study.sequences == ("FLAIR",) and list(study.masks) == ["case_seg.nii.gz"]
        assert study.masks["case_seg.nii.gz"].labels() == {1: int((labels == 1).sum()), 4: 60}
    else:
        assert study is demo
        errors = [e.value for e in at.error]
        assert len(errors) == 1 and "is not on the voxel grid" in errors[0] and "\n" not in errors[0]
        assert "previous study is still loaded" in errors[0]
