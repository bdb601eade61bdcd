"""A single 2D picture (PNG, JPEG) as a one-slice study.

The picture is assumed to be an axial slice in the radiological display convention (row 0
anterior, column 0 the patient's right); its pixel size is unknown, so the volume's geometry
is flagged unknown (``Volume.geometry_known`` False).
"""

from __future__ import annotations

import io
import warnings as _warnings

import numpy as np

from model.core import config
from model.core.errors import StudyError, UnreadableFileError, UploadTooLargeError, WrongDimensionsError
from model.imaging.sequences import recognise_sequence
from model.imaging.volume import Volume, make_volume

def read_picture(raw: bytes, name: str, digest: str) -> list[Volume]:
    from PIL import Image

    try:
        with _warnings.catch_warnings():
            _warnings.simplefilter("ignore")
            im = Image.open(io.BytesIO(raw))
            w, h = im.size
            if not (1 <= w <= config.MAX_PICTURE_SIDE and 1 <= h <= config.MAX_PICTURE_SIDE):
                raise UploadTooLargeError(f"{name} is {w}x{h} pixels, above the "
                                          f"{config.MAX_PICTURE_SIDE} pixel limit.")
            im.load()
            if im.mode in ("L", "I", "F", "I;16", "I;16B", "I;16L", "1"):
                pix = np.asarray(im, dtype=np.float32)
            else:
                rgb = np.asarray(im.convert("RGB"), dtype=np.float32)
                if np.abs(rgb - rgb[..., :1]).max() > 3:
                    raise WrongDimensionsError(
                        f"{name} is a colour picture, not a greyscale MRI slice. Upload the MRI "
                        "volume (NIfTI or DICOM).")
                pix = rgb[..., 0]
    except StudyError:
        raise
    except Exception as exc:
        raise UnreadableFileError(f"{name}: the picture is truncated or corrupt "
                                  f"({type(exc).__name__}). Upload the complete file.") from None
    if pix.ndim != 2:
        raise WrongDimensionsError(f"{name}: unexpected picture layout.")
    # Picture in the radiological display convention: row 0 anterior, column 0 patient right.
    data = np.ascontiguousarray(pix[::-1, ::-1].T)[..., None]
    warns = [f"{name}: a single 2D picture, loaded as a one-slice study. Its pixel size is unknown "
             "(1 mm assumed) and it is assumed to be an axial slice shown in the radiological "
             "convention (patient's right on the left, anterior at the top). Upload the 3D "
             "volume if you have it."]
    return [make_volume(data, np.eye(4), name, digest, "PNG" if raw[:4] == b"\x89PNG" else "JPEG",
                        warns, hint=recognise_sequence(name), geometry_known=False)]

