"""Typed refusals: one exception family per job (studies, checkpoints).

:class:`TumorBoardError` is the root; :class:`StudyError` is every refusal of an uploaded or
given study, :class:`CheckpointError` every refusal of a model checkpoint. Every message is
written for a clinician: it says what is wrong and what to upload instead. Patient details never appear in a message (file names are shown, headers are not).
"""


class TumorBoardError(Exception):
    """Root of every error TumorBoard raises on purpose (a refusal with a plain message)."""


class StudyError(TumorBoardError):
    """Base class of every refusal of an uploaded or given study."""


class UnreadableFileError(StudyError):
    """The file is not a readable NIfTI volume (corrupt, truncated, wrong format)."""


class WrongDimensionsError(StudyError):
    """The image is not a 3D volume (2D image, time series, RGB or complex data)."""


class UnknownSequenceError(StudyError):
    """The MRI sequence (T1, T1ce, T2, FLAIR) cannot be recognised from the file name."""


class DuplicateSequenceError(StudyError):
    """Two files were given for the same sequence."""


class EmptyStudyError(StudyError):
    """No usable sequence was given, or the image holds no signal."""


class UploadTooLargeError(StudyError):
    """The file (or what it decompresses to) is above the configured size cap."""


class TimeSeriesError(WrongDimensionsError):
    """A 4D file holds a time series (fMRI, perfusion, diffusion), not structural sequences."""


class AmbiguousChannelsError(UnknownSequenceError):
    """A file holds several sequences (4D channels, several series) and which is which is unknown."""


class NotMRIError(StudyError):
    """The images are not MRI (CT by DICOM Modality or Hounsfield-like values, X-ray, PET...)."""


class UnsupportedDicomError(StudyError):
    """A DICOM series that cannot be read as one structural volume (mosaic, diffusion, colour,
    localizer or derived images only, undecodable compression)."""


class IncompleteSeriesError(StudyError):
    """A DICOM series whose slices do not form a regular volume (missing, conflicting or unevenly
    spaced slices, mixed orientations or sizes)."""


class GeometryError(StudyError):
    """The voxel-to-world geometry cannot be used (degenerate or extremely sheared affine)."""


class CheckpointError(TumorBoardError):
    """The checkpoint is missing, tampered with (sha256 mismatch) or disagrees with its model card."""


class MixedPatientsError(StudyError):
    """An archive or folder holds images of more than one patient."""


class VisitTableError(StudyError, ValueError):
    """A visit table (CSV of the longitudinal model) that cannot be used: unreadable, missing
    columns, bad values.

    The message says what is wrong and what to upload instead; it never echoes patient data
    beyond column names, row numbers and time point labels.
    """
