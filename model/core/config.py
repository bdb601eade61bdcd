"""Configuration read in one place: repository paths, every environment variable, upload caps.

Environment variables (all optional)
------------------------------------
``TUMORBOARD_DATA``
    The shared data folder (training, benchmarks, some tests). Default ``../shared/data``
    next to the repository.
``TUMORBOARD_CHECKPOINT``
    Grade-classifier checkpoint folder the app and the command line serve. Default
    ``model/checkpoints/grade_lgg``.
``TUMORBOARD_LONGITUDINAL_CHECKPOINT``
    Longitudinal (visit-series) checkpoint folder. Default
    ``model/checkpoints/longitudinal_lumiere``.
``TUMORBOARD_TYPE_OOD``
    The tumour-type scope statistics (a ``python -m training.type3d fit-ood --out FILE``
    sidecar). Default ``model/checkpoints/type_figshare/ood_mahalanobis.json``.
``TUMORBOARD_TORCH_THREADS``
    torch threads per forward pass in the server (read when :func:`torch_threads` is called,
    so ``python -m bench --threads`` can set it first). Default: half the CPUs, 1 to 4.
``WORLD_SIZE``
    Set by ``torchrun`` for distributed training (:func:`world_size`).

Paths are read when this module is first imported; a process that changes them must do so
before importing ``model``.

Upload caps
-----------
:data:`MAX_FILE_BYTES` follows ``server.maxUploadSize`` (MB) of ``.streamlit/config.toml`` so
the loader and Streamlit's uploader refuse the same files; the other caps bound what one
upload may decompress to or allocate.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The repository's root folder (the one holding ``app.py``).
REPO_ROOT: Path = Path(__file__).resolve().parents[2]
#: Shared data folder (``$TUMORBOARD_DATA``, default ``../shared/data``).
DATA_DIR: Path = Path(os.environ.get("TUMORBOARD_DATA", REPO_ROOT.parent / "shared" / "data"))
#: BraTS 2023 adult-glioma case BraTS-GLI-00001-000 (see data/demo_study/ATTRIBUTION.md).
DEMO_STUDY_DIR: Path = REPO_ROOT / "data" / "demo_study"
#: Committed survival cohort tables.
COHORT_DIR: Path = REPO_ROOT / "data" / "cohorts"
#: Folder of the committed checkpoints.
CHECKPOINTS_DIR: Path = REPO_ROOT / "model" / "checkpoints"
#: The grade-classifier checkpoint served ($TUMORBOARD_CHECKPOINT overrides).
DEFAULT_CHECKPOINT: Path = Path(os.environ.get("TUMORBOARD_CHECKPOINT",
                                               CHECKPOINTS_DIR / "grade_lgg"))
#: The tumour-type scope (out-of-distribution) statistics served: ``$TUMORBOARD_TYPE_OOD``
#: names a sidecar made by ``python -m training.type3d fit-ood --out FILE`` (a site's own
#: refit, or a test's stand-in); None (unset) = the type checkpoint's ``ood_mahalanobis.json``.
TYPE_OOD_FILE: Path | None = (Path(os.environ["TUMORBOARD_TYPE_OOD"])
                              if os.environ.get("TUMORBOARD_TYPE_OOD", "").strip() else None)
#: The longitudinal checkpoint served ($TUMORBOARD_LONGITUDINAL_CHECKPOINT overrides).
DEFAULT_LONGITUDINAL_CHECKPOINT: Path = Path(os.environ.get(
    "TUMORBOARD_LONGITUDINAL_CHECKPOINT", CHECKPOINTS_DIR / "longitudinal_lumiere"))


def torch_threads() -> int:
    """``$TUMORBOARD_TORCH_THREADS`` as a positive int, or 0 when unset or invalid (the caller
    then chooses, see ``model.cached.configure_torch_threads``)."""
    env = os.environ.get("TUMORBOARD_TORCH_THREADS", "").strip()
    try:
        return max(0, int(env)) if env else 0
    except ValueError:
        return 0


def world_size() -> int:
    """``$WORLD_SIZE`` (set by ``torchrun``), 1 when unset or invalid."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def configured_upload_mb(default: int = 200) -> int:
    """``server.maxUploadSize`` (MB) of ``.streamlit/config.toml``, or ``default`` when the file
    or the key is missing or invalid."""
    try:
        import tomllib

        cfg = tomllib.loads((REPO_ROOT / ".streamlit" / "config.toml").read_text())
        return max(1, int(cfg["server"]["maxUploadSize"]))
    except (OSError, ValueError, KeyError, TypeError, ImportError):
        return default


#: Largest file accepted, compressed or not (bytes): ``server.maxUploadSize`` MB.
MAX_FILE_BYTES: int = configured_upload_mb() * 1024 * 1024
#: Largest decompressed single file accepted (bytes): a 512x512x400 float32 volume is 400 MiB.
MAX_DECOMPRESSED_BYTES: int = 512 * 1024 * 1024
#: Largest total content of a zip or folder (bytes, after decompression).
MAX_ARCHIVE_BYTES: int = 1024 * 1024 * 1024
#: Largest number of files in a zip or folder.
MAX_ARCHIVE_MEMBERS: int = 20_000
#: Largest number of voxels accepted for one volume.
MAX_VOXELS: int = 512 * 512 * 512
#: Most sequences one 4D file may hold as channels; more volumes is a time series.
MAX_CHANNELS: int = 4
#: Largest side of a 2D picture (pixels).
MAX_PICTURE_SIDE: int = 8192
#: Largest rows or columns of one DICOM image.
MAX_DICOM_MATRIX: int = 4096
#: Wall-clock bound (seconds) on reading one archive/folder/DICOM pool: checked between files.
MAX_LOAD_SECONDS: float = 120.0

__all__ = ["REPO_ROOT", "DATA_DIR", "DEMO_STUDY_DIR", "COHORT_DIR", "CHECKPOINTS_DIR",
           "DEFAULT_CHECKPOINT", "DEFAULT_LONGITUDINAL_CHECKPOINT", "torch_threads", "world_size",
           "configured_upload_mb", "MAX_FILE_BYTES", "MAX_DECOMPRESSED_BYTES", "MAX_ARCHIVE_BYTES",
           "MAX_ARCHIVE_MEMBERS", "MAX_VOXELS", "MAX_CHANNELS", "MAX_PICTURE_SIDE",
           "MAX_DICOM_MATRIX", "MAX_LOAD_SECONDS"]
