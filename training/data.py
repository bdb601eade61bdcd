"""Training datasets built from ``../shared/data`` (see its README for origin and licences).

``TCGA-LGG`` (``tcga_lgg_flair_seg``): 3D T1 (pre-contrast), T1ce (post-contrast) and FLAIR
volumes of lower-grade glioma patients, WHO grade II vs III, with overall survival from
TCGA-CDR (``tcga_clinical/tcga_lgg_flair_seg_survival.csv``, Liu et al., Cell 2018).

The source volumes have no geometry (identity affine); their array layout is (column, row,
slice) of radiological images with anterior up, i.e. the RAS array flipped on both in-plane
axes. :func:`load_tcga_patient` flips them back so training sees exactly what
:func:`model.inference.preprocess.volume_to_slices` makes of a RAS study.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import torch

from model.core.config import DATA_DIR
from model.inference.preprocess import SLICE_SIZE, foreground_box, slices_to_cube, volume_to_slices

#: ``../shared/data`` next to the repository, or ``$TUMORBOARD_DATA`` (:mod:`model.core.config`).
SHARED_DATA = DATA_DIR

TCGA_FILES = {"T1": "t1_pre.nii.gz", "T1ce": "t1_post.nii.gz", "FLAIR": "flair.nii.gz"}
GRADE_CLASSES = ["WHO grade II", "WHO grade III"]
#: figshare_cheng ``label`` 1, 2, 3 (Cheng et al. 2015).
TYPE_CLASSES = ["meningioma", "glioma", "pituitary tumour"]


@dataclass
class Case:
    """One patient, preprocessed once.

    Attributes:
        patient_id: e.g. ``TCGA_CS_4942``.
        slices: sequence -> float16 tensor (Z_fg, SLICE_SIZE, SLICE_SIZE), every foreground
            slice in ascending z (missing sequences absent).
        label: class index (-1 when unknown).
        time_days: overall survival time in days (NaN when unknown).
        event: 1 death observed, 0 censored (-1 when unknown).
        tumor_area: sequence -> float32 (Z_fg,) voxels of the expert FLAIR-abnormality mask in
            each slice of ``slices`` (TCGA-LGG only; used to supervise slice attention).
    """

    patient_id: str
    slices: dict[str, torch.Tensor]
    label: int
    time_days: float = float("nan")
    event: int = -1
    tumor_area: dict[str, np.ndarray] | None = None


def load_tcga_labels(data_dir: Path, survival_csv: Path | None) -> pd.DataFrame:
    """Labels of the TCGA-LGG image patients.

    Returns a frame indexed by ``patient_id`` with ``label`` (0 = grade II, 1 = grade III,
    -1 unknown), ``has_T1``, ``has_T1ce`` (bool: False where the source copied FLAIR into that
    channel), ``time_days`` and ``event`` (from TCGA-CDR OS / OS.time when given).
    The grade codes are decoded as in ``shared/data/README.md`` §8 (1 = G2, 2 = G3); the one
    patient without codes takes its grade from TCGA-CDR.

    Raises:
        FileNotFoundError: ``labels.csv`` missing in ``data_dir``.
    """
    lab = pd.read_csv(data_dir / "labels.csv")
    df = pd.DataFrame({
        "patient_id": lab["patient_id"],
        "label": lab["neoplasm_histologic_grade"].map({1: 0, 2: 1}),
        "has_T1": lab["has_t1_pre"].fillna(1).astype(bool),
        "has_T1ce": lab["has_t1_post"].fillna(1).astype(bool),
    }).set_index("patient_id")
    df["time_days"] = np.nan
    df["event"] = -1
    if survival_csv is not None and Path(survival_csv).exists():
        sv = pd.read_csv(survival_csv)
        sv["patient_id"] = sv["bcr_patient_barcode"].str.replace("-", "_")
        sv = sv.set_index("patient_id")
        common = df.index.intersection(sv.index)
        df.loc[common, "time_days"] = pd.to_numeric(sv.loc[common, "OS.time"], errors="coerce")
        ev = pd.to_numeric(sv.loc[common, "OS"], errors="coerce")
        df.loc[common, "event"] = ev.fillna(-1).astype(int)
        cdr_grade = sv.loc[common, "histological_grade"].map({"G2": 0, "G3": 1})
        missing = df.loc[common, "label"].isna()
        df.loc[common[missing.values], "label"] = cdr_grade[missing.values]
    df["label"] = df["label"].fillna(-1).astype(int)
    return df


def load_tcga_patient(folder: Path, has: dict[str, bool]
                      ) -> tuple[dict[str, torch.Tensor], dict[str, np.ndarray]]:
    """Preprocess one TCGA-LGG patient folder into per-sequence slice stacks.

    Returns ``(slices, tumor_area)``: sequence -> float16 (Z_fg, SLICE_SIZE, SLICE_SIZE) over
    every foreground slice, and sequence -> float32 (Z_fg,) mask voxels per slice (zeros when
    the folder has no ``mask.nii.gz``). Sequences missing at source (``has[seq]`` False) are
    left out.
    """
    out, area = {}, {}
    mask_path = folder / "mask.nii.gz"
    per_z = (np.asarray(nib.load(mask_path).dataobj) > 0).sum(axis=(0, 1)).astype(np.float32) \
        if mask_path.exists() else None
    for seq, fname in TCGA_FILES.items():
        if not has.get(seq, True):
            continue
        arr = np.asarray(nib.load(folder / fname).dataobj, dtype=np.float32)
        ras = np.ascontiguousarray(arr[::-1, ::-1, :])
        (_, _, z0), (_, _, z1) = foreground_box(ras)
        slices, _ = volume_to_slices(ras, z_index=np.arange(z0, z1))
        out[seq] = slices.to(torch.float16)
        area[seq] = per_z[z0:z1] if per_z is not None else np.zeros(z1 - z0, np.float32)
    return out, area


def load_tcga_cases(data_dir: Path, survival_csv: Path | None,
                    patients: list[str] | None = None) -> list[Case]:
    """Load and preprocess TCGA-LGG patients (all, or ``patients``), labelled ones only."""
    labels = load_tcga_labels(data_dir, survival_csv)
    if patients is not None:
        labels = labels.loc[[p for p in patients if p in labels.index]]
    cases = []
    for pid, row in labels.iterrows():
        if row["label"] < 0 or not (data_dir / pid).is_dir():
            continue
        slices, area = load_tcga_patient(data_dir / pid, {"T1": row["has_T1"], "T1ce": row["has_T1ce"]})
        cases.append(Case(pid, slices, int(row["label"]), float(row["time_days"]), int(row["event"]),
                          area))
    return cases


def sample_indices(n: int, k: int, rng: np.random.Generator | None) -> np.ndarray:
    """K slice indices out of n: sorted random draw (training) or evenly spaced (rng None)."""
    if rng is None:
        return np.round(np.linspace(0, n - 1, k)).astype(np.int64)
    return np.sort(rng.choice(n, size=k, replace=n < k))


def collate(cases: list[Case], sequences: list[str], k: int,
            rng: np.random.Generator | None = None, augment=None,
            seq_dropout: float = 0.0, cube: int = 0) -> dict[str, torch.Tensor]:
    """Stack cases into a batch for :class:`model.nets.classifier.MultiSequenceNet`.

    With ``cube`` > 0 (the 3D design) each sequence is its whole foreground stack resampled to
    a ``cube``³ volume (:func:`model.inference.preprocess.slices_to_cube`) and ``k`` is ignored.

    Returns ``x`` float32 (B, S, K, H, W) (K = H = W = ``cube`` for the 3D design), ``present`` bool (B, S), ``label`` int64 (B,),
    ``time`` float32 (B,), ``event`` bool (B,), ``tumor_area`` float32 (B, S, K) mask voxels
    of each chosen slice (0 where unknown). With ``rng`` the slices are a random draw and
    each present sequence is dropped with probability ``seq_dropout`` (one always kept).
    """
    b, s = len(cases), len(sequences)
    x = (torch.zeros(b, s, cube, cube, cube) if cube
         else torch.zeros(b, s, k, SLICE_SIZE, SLICE_SIZE))
    area = torch.zeros(b, s, 1 if cube else k)
    present = torch.zeros(b, s, dtype=torch.bool)
    for i, c in enumerate(cases):
        avail = [j for j, q in enumerate(sequences) if q in c.slices]
        if rng is not None and seq_dropout > 0 and len(avail) > 1:
            keep = [j for j in avail if rng.random() >= seq_dropout]
            avail = keep or [int(rng.choice(avail))]
        for j in avail:
            st = c.slices[sequences[j]]
            present[i, j] = True
            if cube:
                v = slices_to_cube(st, cube)
                # MONAI array transforms want channel-first: (1, D, H, W).
                x[i, j] = torch.as_tensor(augment(v[None]))[0] if augment is not None else v
                continue
            idx = sample_indices(st.shape[0], k, rng)
            v = st[torch.from_numpy(idx)].float()
            if augment is not None:
                v = torch.as_tensor(augment(v))
            x[i, j] = v
            if c.tumor_area is not None:
                area[i, j] = torch.from_numpy(c.tumor_area[sequences[j]][idx])
    return {
        "x": x,
        "present": present,
        "label": torch.tensor([c.label for c in cases], dtype=torch.int64),
        "time": torch.tensor([c.time_days for c in cases], dtype=torch.float32),
        "event": torch.tensor([c.event == 1 for c in cases], dtype=torch.bool),
        "tumor_area": area,
    }


def load_figshare_cases(data_dir: Path, patients: list[str] | None = None,
                        max_slices: int = 0) -> list[Case]:
    """Figshare (Cheng et al. 2015) T1ce slices as one-slice cases, tumour type labels.

    Each JPEG (rows = anterior..posterior for axial slices, radiological display; coronal and
    sagittal slices are mixed in the source) is treated as a one-slice volume and goes through
    :func:`model.inference.preprocess.volume_to_slices`, like a study. ``Case.patient_id`` is the
    patient (``labels.csv`` ``patient_id``, read as text) so that splits stay by patient.

    Raises:
        FileNotFoundError: ``labels.csv`` missing.
    """
    from PIL import Image

    lab = pd.read_csv(data_dir / "labels.csv", dtype={"patient_id": str})
    if patients is not None:
        lab = lab[lab["patient_id"].isin(set(patients))]
    if max_slices:
        lab = lab.groupby("patient_id").head(max_slices)
    cases = []
    for row in lab.itertuples():
        img = np.asarray(Image.open(data_dir / "images" / f"{row.id}.jpg").convert("L"),
                         dtype=np.float32)
        ras = np.ascontiguousarray(img.T[::-1, ::-1])[:, :, None]
        slices, _ = volume_to_slices(ras, z_index=np.array([0]))
        cases.append(Case(str(row.patient_id), {"T1ce": slices.to(torch.float16)},
                          int(row.label) - 1))
    return cases


#: Columns of a training manifest (``training.train --manifest``).
MANIFEST_SEQUENCE_COLUMNS = ("T1", "T1ce", "T2", "FLAIR")


def load_manifest_cases(manifest: Path) -> tuple[list[Case], list[str], list[str]]:
    """Cases from a hospital's own manifest CSV, so it can retrain without code changes.

    Columns: ``patient_id``; one path column per sequence present (any of T1, T1ce, T2, FLAIR;
    NIfTI, relative paths are relative to the CSV); ``label`` (class name, text); optional
    ``time_days`` (overall survival, days) and ``event`` (1 death, 0 censored). Volumes go
    through the app's loader (:class:`model.imaging.study.Study`, RAS) and preprocessing.

    Returns ``(cases, sequences, classes)``; classes sorted alphabetically.

    Raises:
        ValueError: missing ``patient_id``/``label`` columns or no sequence column.
        model.core.errors.StudyError: a listed file cannot be loaded (message names the file).
    """
    from model.imaging.study import Study

    manifest = Path(manifest)
    df = pd.read_csv(manifest, dtype={"patient_id": str, "label": str})
    missing = {"patient_id", "label"} - set(df.columns)
    seqs = [s for s in MANIFEST_SEQUENCE_COLUMNS if s in df.columns]
    if missing or not seqs:
        raise ValueError(f"Manifest {manifest.name} needs patient_id, label and at least one of "
                         f"{', '.join(MANIFEST_SEQUENCE_COLUMNS)} (missing: {sorted(missing)}).")
    classes = sorted(df["label"].dropna().unique())
    cases = []
    for row in df.itertuples(index=False):
        r = row._asdict()
        paths = {s: r[s] for s in seqs if isinstance(r[s], str) and r[s]}
        study = Study.from_paths([manifest.parent / p for p in paths.values()], list(paths))
        slices = {}
        for seq, vol in study.volumes.items():
            (_, _, z0), (_, _, z1) = foreground_box(vol.data)
            st, _ = volume_to_slices(vol.data, z_index=np.arange(z0, z1))
            slices[seq] = st.to(torch.float16)
        t = float(r.get("time_days", np.nan)) if "time_days" in df.columns else float("nan")
        e = int(r["event"]) if "event" in df.columns and pd.notna(r["event"]) else -1
        cases.append(Case(str(r["patient_id"]), slices, classes.index(r["label"]), t, e))
    return cases, seqs, classes
