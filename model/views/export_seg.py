"""A mask as a DICOM Segmentation object (``highdicom``) referencing its source MR series.

The SEG is binary, one segment ("Tumour", FLAIR abnormality), one frame per source slice that
holds a labelled pixel (empty frames omitted), on the source images' own pixel grid: each
source pixel takes the label of the mask voxel nearest to its world position (the mask may be
on another sequence's grid; nearest neighbour through the affines). It references the source
series by its Study / Series / SOP Instance UIDs and shares its Frame of Reference, so it
opens on top of the images in 3D Slicer, OHIF or a PACS.

**No patient detail**: the source images are rebuilt from
:class:`~model.imaging.io.dicom_ref.DicomReference` (UIDs and geometry only), with
``PatientName`` "Anonymous^", ``PatientID`` "ANONYMOUS" and every other patient / study
identifying attribute empty; the SEG copies those, so it carries no name, ID, birth date,
sex, dates, accession number, institution or physician of the source.
"""

from __future__ import annotations

import io

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from model.core.errors import StudyError
from model.imaging.io.dicom_ref import DicomReference, pixel_world_ras, reference_for, valid_uid
from model.imaging.labelmap import LabelMap

ANONYMOUS_NAME = "Anonymous^"
ANONYMOUS_ID = "ANONYMOUS"
SEGMENT_LABEL = "Tumour"

__all__ = ["labelmap_to_dicom_seg", "study_reference", "source_datasets", "ANONYMOUS_NAME",
           "ANONYMOUS_ID"]


def study_reference(study, labelmap: LabelMap | None = None) -> DicomReference | None:
    """The DICOM series a SEG of ``labelmap`` should reference: the study's volume on the
    mask's grid when it came from DICOM, else the first volume that did; None when the study
    has no DICOM volume (then only the NIfTI export applies)."""
    vols = list(study.volumes.values())
    if labelmap is not None:
        vols.sort(key=lambda v: not labelmap.same_grid(v))
    return next((r for r in map(reference_for, vols) if r is not None), None)


def source_datasets(ref: DicomReference) -> list[Dataset]:
    """Stand-in source images (one per slice, no pixel data, no patient detail) with exactly
    what highdicom reads from them: UIDs, modality, matrix size and plane geometry."""
    out = []
    for n, sl in enumerate(ref.slices):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = sl.sop_class_uid
        ds.file_meta.MediaStorageSOPInstanceUID = sl.sop_instance_uid
        ds.SOPClassUID = sl.sop_class_uid
        ds.SOPInstanceUID = sl.sop_instance_uid
        ds.StudyInstanceUID = ref.study_instance_uid
        ds.SeriesInstanceUID = ref.series_instance_uid
        ds.FrameOfReferenceUID = ref.frame_of_reference_uid
        ds.Modality = "MR"
        ds.SeriesNumber = ref.series_number
        ds.InstanceNumber = n + 1
        ds.PatientName = ANONYMOUS_NAME
        ds.PatientID = ANONYMOUS_ID
        for kw in ("PatientBirthDate", "PatientSex", "StudyDate", "StudyTime", "StudyID",
                   "AccessionNumber", "ReferringPhysicianName"):
            setattr(ds, kw, "")
        ds.Rows, ds.Columns = ref.rows, ref.columns
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.PixelSpacing = [float(v) for v in sl.pixel_spacing]
        ds.ImageOrientationPatient = [float(v) for v in sl.orientation]
        ds.ImagePositionPatient = [float(v) for v in sl.position]
        if sl.thickness:
            ds.SliceThickness = float(sl.thickness)
        out.append(ds)
    return out


def _frames(labelmap: LabelMap, ref: DicomReference) -> np.ndarray:
    """(slices, rows, columns) uint8 0/1: the mask sampled at every source pixel."""
    inv = np.linalg.inv(labelmap.affine)
    mask = labelmap.array > 0
    shape = np.array(mask.shape)
    out = np.zeros((len(ref.slices), ref.rows, ref.columns), np.uint8)
    for k, sl in enumerate(ref.slices):
        world = pixel_world_ras(sl, ref.rows, ref.columns)
        ijk = np.rint(world @ inv[:3, :3].T + inv[:3, 3]).astype(np.int64)
        ok = np.all((ijk >= 0) & (ijk < shape), axis=-1)
        frame = np.zeros((ref.rows, ref.columns), bool)
        frame[ok] = mask[ijk[ok][:, 0], ijk[ok][:, 1], ijk[ok][:, 2]]
        out[k] = frame
    return out


def labelmap_to_dicom_seg(labelmap: LabelMap, source) -> bytes:
    """DICOM SEG bytes of ``labelmap`` referencing its source series.

    Parameters
    ----------
    labelmap : LabelMap
        The mask (every non-zero label is the one segment).
    source : DicomReference or Volume
        The source series: the reference the DICOM reader kept
        (:func:`model.imaging.io.dicom_ref.reference_for`, :func:`study_reference`) or a
        volume read from DICOM. Pydicom datasets of the original files are **not** taken (they
        hold patient details, which the SEG would copy).

    Returns
    -------
    bytes
        A DICOM Part 10 file (Segmentation Storage, binary, explicit VR little endian).

    Raises
    ------
    StudyError
        No usable reference (the study did not come as a single-frame DICOM series with
        well-formed UIDs), or ``highdicom`` is not installed.
    """
    if not isinstance(source, DicomReference) and hasattr(source, "content_hash"):
        source = reference_for(source)  # a Volume read from DICOM
    if source is None:
        raise StudyError("No DICOM reference: the study did not come as a DICOM series with "
                         "well-formed UIDs and slice geometry, so no DICOM SEG can point at it.")
    if not isinstance(source, DicomReference):
        raise StudyError("A DICOM SEG is written from the reference the DICOM reader kept "
                         "(model.imaging.io.dicom_ref.reference_for), not from source files.")
    if not source.slices:
        raise StudyError("The source series has no slice to reference.")
    try:
        import highdicom as hd
        from pydicom.sr.codedict import codes
    except ImportError:  # pragma: no cover - requirements.txt pins highdicom
        raise StudyError("DICOM SEG export needs the highdicom package.") from None
    import model

    sources = source_datasets(source)
    frames = _frames(labelmap, source)
    if not frames.any():
        raise StudyError("The mask is empty (no abnormality found): there is nothing to write "
                         "as a DICOM SEG.")
    algo = hd.AlgorithmIdentificationSequence(
        name="TumorBoard segmentation", family=codes.cid7162.ArtificialIntelligence,
        version=str(getattr(model, "__version__", "1")))
    segment = hd.seg.SegmentDescription(
        segment_number=1, segment_label=SEGMENT_LABEL,
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Neoplasm,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=algo)
    seg = hd.seg.Segmentation(
        source_images=sources, pixel_array=frames,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[segment], series_instance_uid=hd.UID(), series_number=900,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="TumorBoard",
        manufacturer_model_name="TumorBoard", software_versions=str(getattr(model, "__version__", "1")),
        device_serial_number="0", series_description="TumorBoard tumour mask",
        content_label="TUMOUR", content_description="Tumour mask (FLAIR abnormality)",
        omit_empty_frames=True)
    if not valid_uid(seg.SOPInstanceUID):  # pragma: no cover - highdicom makes valid UIDs
        raise StudyError("highdicom produced an invalid UID.")
    buf = io.BytesIO()
    seg.save_as(buf, enforce_file_format=True) if _takes_enforce(seg) else seg.save_as(buf)
    return buf.getvalue()


def _takes_enforce(ds) -> bool:
    import inspect

    return "enforce_file_format" in inspect.signature(ds.save_as).parameters
