"""Typed refusals raised by study loading and the predictor.

Every message is written for a clinician: it says what is wrong and what to upload instead.
Patient details never appear in a message (file names are shown, headers are not).
"""


class StudyError(Exception):
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


class CheckpointError(Exception):
    """The checkpoint is missing, tampered with (sha256 mismatch) or disagrees with its model card."""
