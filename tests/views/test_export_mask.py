"""Masks out: NIfTI (RAS, uint8, voxels x voxel volume = mL) and DICOM SEG (references the
source series, carries no patient detail)."""

import gzip
import io

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from model.core.errors import StudyError
from model.imaging.io.dicom_ref import reference_for
from model.imaging.labelmap import LabelMap
from model.imaging.study import Study
from model.views.export_mask import labelmap_to_dicom_seg, labelmap_to_nifti_bytes


@pytest.mark.parametrize("spacing,flip", [((1.0, 1.0, 1.0), False), ((0.9, 1.1, 5.5), False),
                                          ((2.0, 2.0, 2.0), True)])
def test_nifti_round_trip_keeps_grid_labels_and_volume(spacing, flip):
    arr = np.zeros((12, 14, 10), np.uint8)
    arr[3:7, 4:9, 2:6] = 1
    arr[5, 5, 3] = 4
    aff = np.diag([*spacing, 1.0])
    aff[:3, 3] = (-30.0, 12.5, 4.0)
    if flip:  # an oblique-free RAS grid with an off-centre origin
        aff[:3, 3] = (100.0, -100.0, 0.0)
    lm = LabelMap(arr, aff, "m")
    data = labelmap_to_nifti_bytes(lm)
    assert data[:2] == b"\x1f\x8b"
    img = nib.Nifti1Image.from_bytes(gzip.decompress(data))
    assert img.get_data_dtype() == np.uint8
    assert nib.aff2axcodes(img.affine) == ("R", "A", "S")
    np.testing.assert_allclose(img.affine, aff)
    out = np.asarray(img.dataobj)
    np.testing.assert_array_equal(out, arr)
    vox_ml = abs(np.linalg.det(img.affine[:3, :3])) / 1000
    assert np.count_nonzero(out) * vox_ml == pytest.approx(lm.volume_ml)
    assert img.header["descrip"].tobytes().rstrip(b"\0") == b"TumorBoard mask"


# ------------------------------------------------------------------ DICOM SEG
SECRETS = {"PatientName": "Doe^Jane", "PatientID": "PID778899", "PatientBirthDate": "19500101",
           "InstitutionName": "St Elsewhere Hospital", "AccessionNumber": "ACC5566",
           "ReferringPhysicianName": "House^Gregory", "StudyDate": "20190304", "PatientSex": "F",
           "StudyID": "STU9911"}
MR = "1.2.840.10008.5.1.4.1.1.4"


def _series(n=8, rows=16, cols=20):
    study_uid, series_uid, frame_uid = generate_uid(), generate_uid(), generate_uid()
    rng = np.random.default_rng(0)
    files, uids = [], []
    for k in range(n):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = MR
        uid = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = uid
        ds.SOPClassUID, ds.SOPInstanceUID = MR, uid
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study_uid, series_uid, frame_uid
        ds.Modality = "MR"
        ds.SeriesDescription = "AX FLAIR"
        ds.SeriesNumber, ds.InstanceNumber = 3, k + 1
        for kw, v in SECRETS.items():
            setattr(ds, kw, v)
        ds.Rows, ds.Columns = rows, cols
        ds.PixelSpacing = [1.0, 1.0]
        ds.SliceThickness = 2.0
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [-10.0, -8.0, 2.0 * k]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.PixelData = rng.integers(100, 1000, (rows, cols), dtype=np.uint16).tobytes()
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        files.append((f"IM{k:04d}", buf.getvalue(), None))
        uids.append(uid)
    return files, (study_uid, series_uid, frame_uid), uids


def test_dicom_seg_references_the_source_and_carries_no_patient_detail():
    files, (study_uid, series_uid, frame_uid), uids = _series()
    study = Study.from_bytes(files)
    flair = study.volumes["FLAIR"]
    ref = reference_for(flair)
    assert ref is not None and len(ref.slices) == 8
    arr = np.zeros(flair.shape, np.uint8)
    arr[5:12, 4:10, 2:5] = 1           # voxel axis 2 = slices 2..4
    lm = LabelMap.on_grid_of(flair, arr, "model")
    data = labelmap_to_dicom_seg(lm, ref)
    for secret in SECRETS.values():
        for form in {secret, secret.replace("^", " "), secret.split("^")[0]}:
            assert len(form) < 4 or form.encode() not in data, form
    seg = pydicom.dcmread(io.BytesIO(data))
    for kw in SECRETS:  # every patient/study identifying attribute is anonymised or empty
        assert str(seg.get(kw, "") or "") in ("", "Anonymous^", "ANONYMOUS"), kw
    assert seg.Modality == "SEG" and seg.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4"
    assert seg.StudyInstanceUID == study_uid and seg.FrameOfReferenceUID == frame_uid
    assert seg.SeriesInstanceUID != series_uid
    assert str(seg.PatientName).rstrip("^") == "Anonymous" and seg.PatientID == "ANONYMOUS"
    referenced = {item.ReferencedSOPInstanceUID
                  for s in seg.ReferencedSeriesSequence for item in s.ReferencedInstanceSequence}
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == series_uid
    assert referenced <= set(uids) and referenced
    # one frame per labelled source slice, each with the box's pixel count
    assert int(seg.NumberOfFrames) == 3
    px = seg.pixel_array.reshape(3, 16, 20)
    assert [int(f.sum()) for f in px] == [7 * 6] * 3
    src = [fr.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
           for fr in seg.PerFrameFunctionalGroupsSequence]
    assert sorted(src) == sorted(uids[2:5])  # the labelled slices 2..4, in highdicom's order
    # highdicom reads it back: the frames of source slice 3 hold the box
    import highdicom as hd

    back = hd.seg.segread(io.BytesIO(data))
    px = back.get_pixels_by_source_instance([uids[3]], segment_numbers=[1])
    assert int(px.sum()) == 7 * 6


def test_dicom_seg_refusals():
    files, _, _ = _series(n=3)
    study = Study.from_bytes(files)
    flair = study.volumes["FLAIR"]
    empty = LabelMap.on_grid_of(flair, np.zeros(flair.shape, np.uint8), "m")
    with pytest.raises(StudyError, match="empty"):
        labelmap_to_dicom_seg(empty, reference_for(flair))
    with pytest.raises(StudyError, match="reference"):
        labelmap_to_dicom_seg(empty, [pydicom.Dataset()])


def test_study_reference_picks_the_dicom_series_and_none_for_nifti():
    from model.views.export_mask import study_reference

    files, (study_uid, series_uid, _), _ = _series(n=3)
    study = Study.from_bytes(files)
    ref = study_reference(study)
    assert ref.series_instance_uid == series_uid and ref.study_instance_uid == study_uid
    arr = np.zeros(study.volumes["FLAIR"].shape, np.uint8)
    arr[2:4, 2:4, 1] = 1
    seg = pydicom.dcmread(io.BytesIO(labelmap_to_dicom_seg(
        LabelMap.on_grid_of(study.volumes["FLAIR"], arr, "m"), study.volumes["FLAIR"])))
    assert int(seg.NumberOfFrames) == 1
    img = nib.Nifti1Image(np.random.default_rng(0).uniform(1, 9, (6, 6, 4)).astype(np.float32), np.eye(4))
    nifti = Study.from_bytes([("x_t1.nii.gz", gzip.compress(img.to_bytes()), None)])
    assert study_reference(nifti) is None
    with pytest.raises(StudyError, match="No DICOM reference"):
        labelmap_to_dicom_seg(LabelMap.on_grid_of(nifti.volumes["T1"], np.ones((6, 6, 4), np.uint8), "m"),
                              nifti.volumes["T1"])
