"""Tumour type (meningioma / glioma / pituitary tumour) of a 3D study, from T1ce slices through
the tumour.

The served type model (``model/checkpoints/type_figshare``) was trained on Cheng et al.'s figshare
T1ce slices: 512x512 at 0.49 mm reduced to 256x256, so **0.98 mm pixels over a 251 mm field of
view**, with axial, coronal and sagittal slices mixed, each slice chosen to show the tumour. A 3D
study is turned into slices of the same kind (:func:`tumour_slices`):

1. **Which slices.** In each of the three planes, the slices whose tumour cross-section is at
   least :data:`MIN_AREA_FRACTION` of that plane's largest cross-section (the tumour's central
   part, as a radiologist picking a slice would show it), at most :data:`SLICES_PER_PLANE`
   evenly spaced among them. The mask comes from the segmenter or is given (it may lie on another
   sequence's grid, e.g. FLAIR: it is moved onto the T1ce grid by nearest neighbour in world
   coordinates).
2. **Pixel spacing.** Where the geometry is known each slice is resampled (bilinear) to
   :data:`TARGET_MM` pixels and centred on a 256x256 canvas (251 mm, figshare's field of view).
   Where it is not (placeholder affine) the in-plane field of view is *assumed* to be figshare's
   (``256 x 0.98 mm``): the slice is stretched to 256 pixels, only axial slices are used (the
   slice thickness is unknown, so coronal/sagittal reformats would be distorted), and the result
   says so.
3. **Display orientation** as the figshare JPEGs: axial row 0 anterior, column 0 the patient's
   right; coronal row 0 superior, column 0 right; sagittal row 0 superior, column 0 anterior. Then
   the exact training path: ``volume_to_slices`` on the 256x256 picture (foreground box, 128x128,
   robust intensity scaling).

**Aggregation (fixed before measuring): mean of the slice probabilities**, the rule under which
the card's held-out patient accuracy was measured (``training.train.patient_mean``), so the
evidence shown next to the answer describes the same estimator.

**Measured** (``study_eval.json``, ``path_check.json``; gliomas only, no 3D meningioma or
pituitary study was available): share called glioma on the 80 TCGA-LGG patients with a real
T1ce 0.34 with the plain training path, 0.44 with the 240 px minimum crop, 0.66 with crop +
intensity standardisation (served); BraTS demo: glioma; raw TCGA-FG-6692: glioma before
its sequences were registered, meningioma 0.46 vs glioma 0.45 after (out of scope either way,
so nothing is shown). The served path
costs accuracy on the model's own 38 held-out figshare patients (0.82 vs 0.87, more pituitary
-> glioma): part of the 3D gain may be a shift towards "glioma". Goal (>= 0.90) not reached.
On skull-stripped copies of those 38 patients' slices (``strip_check.json``) it falls to 0.61,
most pituitary tumours called glioma: a skull-stripped study's "glioma" (the BraTS demo's) is
partly that bias, which is why the scope rule's refusal of such studies stands.

Example::

    >>> from model.imaging.study import Study
    >>> clf = TumourTypeClassifier()
    >>> res = clf.classify(Study.demo(), mask)          # mask: bool array or LabelMap
    >>> res.predicted, res.n_slices
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from model.core.config import CHECKPOINTS_DIR
from model.core.errors import EmptyStudyError
from model.inference.preprocess import foreground_box, robust_range, volume_to_slices
from model.nets.checkpoint import load_checkpoint

#: The served tumour-type checkpoint.
TYPE_CHECKPOINT = CHECKPOINTS_DIR / "type_figshare"
#: Pixel spacing of the figshare training slices (0.49 mm at 512 px, reduced 2x).
TARGET_MM = 0.98
#: Canvas of a training slice (pixels): 256 x 0.98 mm = 251 mm field of view.
CANVAS = 256
#: A slice is "through the tumour" when its cross-section is at least this share of the plane's
#: largest one.
MIN_AREA_FRACTION = 0.5
#: Slices used per plane at most (evenly spaced among the qualifying ones).
SLICES_PER_PLANE = 5
#: Smallest square crop (pixels on the 0.98 mm canvas) around the foreground: the median
#: foreground-box side of the figshare training slices (measured on every 10th slice: 240 px,
#: 5-95 %: 187-256 px), so a skull-stripped brain is shown at the training pixel scale.
MIN_CROP_PX = 240
#: Planes: name -> RAS axis the slices are taken along.
PLANES = {"axial": 2, "coronal": 1, "sagittal": 0}


@dataclass
class SliceEvidence:
    """One classified slice: plane, index along that plane's RAS axis, tumour pixels in the
    slice (voxels of the mask), and the slice's class probabilities."""

    plane: str
    index: int
    tumour_voxels: int
    probabilities: dict[str, float]


@dataclass
class TumourTypeResult:
    """Tumour type of one study.

    Attributes:
        probabilities: class -> probability (mean of the slice probabilities; sums to 1).
        predicted: most probable class.
        n_slices: slices classified.
        per_slice: the slice evidence (:class:`SliceEvidence`), plane by plane.
        evidence: how good the model is on patients it never saw (from the card and
            ``cv.json``): ``cv_accuracy`` + ``cv_accuracy_ci95`` + ``cv_n_patients`` (5-fold
            patient-level cross-validation on figshare's published folds), ``test_accuracy`` +
            ``test_accuracy_ci95`` + ``test_n_patients`` (the served model's own held-out
            patients), ``study_eval`` (share of 3D gliomas called glioma, when measured), and a
            ``note`` that no 3D meningioma or pituitary study was available.
        warnings: one-line notes for the user (assumed geometry, planes left out, ...).
        geometry: ``"known"`` (resampled to 0.98 mm) or ``"fov_matched"``.
        features: (n_slices, D) penultimate features of the slices, for the out-of-distribution
            score (:mod:`model.inference.scope`); not serialised by :meth:`to_dict`.
    """

    probabilities: dict[str, float]
    predicted: str
    n_slices: int
    per_slice: list[SliceEvidence]
    evidence: dict
    warnings: list[str] = field(default_factory=list)
    geometry: str = "known"
    features: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("features", None)
        return d


# ============================================================================ geometry helpers

def is_placeholder_affine(affine: np.ndarray) -> bool:
    """True for an identity 3x3 part with zero translation (the 1 mm placeholder a conversion
    tool writes when the source has no geometry, e.g. the TCGA-LGG Kaggle volumes)."""
    a = np.asarray(affine, dtype=np.float64)
    return bool(np.allclose(a[:3, :3], np.eye(3)) and np.allclose(a[:3, 3], 0.0))


def geometry_known(volume) -> bool:
    """The volume's voxel size can be trusted: its ``geometry_known`` flag (when it has one)
    and not a placeholder affine."""
    return bool(getattr(volume, "geometry_known", True)) and not is_placeholder_affine(volume.affine)


def mask_on_grid(mask, volume) -> np.ndarray:
    """A boolean mask on ``volume``'s voxel grid.

    Args:
        mask: bool/int array of ``volume.shape``, or anything with ``array`` and ``affine``
            (a :class:`model.imaging.labelmap.LabelMap`), possibly on another grid (moved by
            nearest neighbour in world coordinates), or a segmentation result with a
            ``labelmap`` (:class:`model.inference.segment.SegmentationResult`, FLAIR grid).
    Raises:
        ValueError: a plain array whose shape differs from the volume's.
    """
    if hasattr(mask, "labelmap"):  # a model.inference.segment.SegmentationResult
        mask = mask.labelmap
    if hasattr(mask, "array") and hasattr(mask, "affine"):
        arr = np.asarray(mask.array) > 0
        if arr.shape == tuple(volume.shape) and np.allclose(mask.affine, volume.affine, atol=1e-3):
            return arr
        from scipy.ndimage import map_coordinates

        vox = np.linalg.inv(np.asarray(mask.affine)) @ np.asarray(volume.affine)
        grid = np.indices(volume.shape, dtype=np.float32).reshape(3, -1)
        src = vox[:3, :3] @ grid + vox[:3, 3:4]
        out = map_coordinates(arr.astype(np.uint8), src, order=0, mode="constant", cval=0)
        return out.reshape(volume.shape) > 0
    arr = np.asarray(mask) > 0
    if arr.shape != tuple(volume.shape):
        raise ValueError(f"mask shape {arr.shape} differs from the volume's {tuple(volume.shape)}")
    return arr


def display_slice(data: np.ndarray, plane: str, index: int) -> np.ndarray:
    """The figshare display of one slice of a RAS (X, Y, Z) array: axial row 0 anterior,
    column 0 patient right; coronal row 0 superior, column 0 right; sagittal row 0 superior,
    column 0 anterior. Returns (rows, columns)."""
    if plane == "axial":
        s = data[:, :, index]                    # (x, y)
        return s[::-1, ::-1].T                   # rows: y descending, cols: x descending
    if plane == "coronal":
        s = data[:, index, :]                    # (x, z)
        return s[::-1, ::-1].T                   # rows: z descending, cols: x descending
    if plane == "sagittal":
        s = data[index, :, :]                    # (y, z)
        return s[::-1, ::-1].T                   # rows: z descending, cols: y descending
    raise ValueError(f"unknown plane {plane!r}")


def display_spacing(spacing: tuple[float, float, float], plane: str) -> tuple[float, float]:
    """(row, column) pixel size in mm of :func:`display_slice` of ``plane``."""
    sx, sy, sz = spacing
    return {"axial": (sy, sx), "coronal": (sz, sx), "sagittal": (sz, sy)}[plane]


def resample_to_canvas(img: np.ndarray, pixel_mm: tuple[float, float] | None,
                       target_mm: float = TARGET_MM, canvas: int = CANVAS) -> np.ndarray:
    """Resample a display slice to ``target_mm`` pixels and centre it on a ``canvas`` square.

    ``pixel_mm`` None (unknown geometry): field-of-view matched, the slice is stretched so its
    larger side spans the canvas (figshare's 251 mm) and the aspect ratio of its pixel grid is
    kept. Centring is on the slice's non-zero bounding box (the head), zero padding outside.

    Returns float32 (canvas, canvas).
    """
    img = np.asarray(img, dtype=np.float32)
    h, w = img.shape
    if pixel_mm is None:
        f = canvas / max(h, w)
        fr = fc = f
    else:
        fr, fc = pixel_mm[0] / target_mm, pixel_mm[1] / target_mm
    nh, nw = max(1, int(round(h * fr))), max(1, int(round(w * fc)))
    t = torch.from_numpy(np.ascontiguousarray(img))[None, None]
    r = F.interpolate(t, size=(nh, nw), mode="bilinear", align_corners=False,
                      antialias=nh < h or nw < w)[0, 0].numpy()
    nz = np.argwhere(r > r.min() + 0.05 * (np.percentile(r, 99) - r.min() + 1e-6))
    if len(nz):
        cy, cx = (nz.min(0) + nz.max(0)) // 2
    else:
        cy, cx = nh // 2, nw // 2
    out = np.zeros((canvas, canvas), dtype=np.float32)
    y0, x0 = int(cy) - canvas // 2, int(cx) - canvas // 2
    sy0, sx0 = max(y0, 0), max(x0, 0)
    sy1, sx1 = min(y0 + canvas, nh), min(x0 + canvas, nw)
    out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = r[sy0:sy1, sx0:sx1]
    return out


def picture_to_model_slice(img: np.ndarray, min_side: int = 0, size: int = 128) -> torch.Tensor:
    """A displayed 2D picture (rows, columns) through the figshare training path
    (:func:`training.data.load_figshare_cases` -> ``volume_to_slices``): (1, size, size) float32.

    ``min_side`` > 0: the square crop around the foreground is at least ``min_side`` pixels
    (zero padding), so a small foreground (a skull-stripped brain) keeps the training pixel
    scale instead of being blown up to fill the frame. With ``min_side`` 0, or a foreground at
    least that large, this is exactly ``volume_to_slices``.
    """
    ras = np.ascontiguousarray(np.asarray(img, dtype=np.float32).T[::-1, ::-1])[:, :, None]
    if not min_side:
        t, _ = volume_to_slices(ras, z_index=np.array([0]), size=size)
        return t
    lo, hi = robust_range(ras)
    (x0, y0, _), (x1, y1, _) = foreground_box(ras)
    side = max(x1 - x0, y1 - y0, 8, int(min_side))
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    bx, by = cx - side // 2, cy - side // 2
    X, Y = ras.shape[:2]
    crop = np.zeros((1, side, side), dtype=np.float32)
    sx0, sx1 = max(bx, 0), min(bx + side, X)
    sy0, sy1 = max(by, 0), min(by + side, Y)
    crop[0, sx0 - bx:sx1 - bx, sy0 - by:sy1 - by] = ras[sx0:sx1, sy0:sy1, 0]
    crop -= lo
    crop /= hi - lo
    np.clip(crop, 0.0, 1.5, out=crop)
    t = torch.from_numpy(crop).transpose(1, 2).flip(1, 2)
    return F.interpolate(t[None], size=(size, size), mode="bilinear", antialias=side > size,
                         align_corners=False)[0].contiguous()


#: Intensity standardisation (Nyul, Udupa & Zhang, IEEE TMI 2000): percentiles of a model
#: slice's foreground (pixels above :data:`FG_LEVEL`) mapped piecewise-linearly onto the mean
#: percentiles of the figshare training slices (sidecar ``intensity_landmarks.json``, made by
#: ``python -m training.type3d fit-landmarks``); linear extrapolation beyond the end landmarks.
LANDMARK_PCTS = (1, 10, 20, 30, 40, 50, 60, 70, 80, 90, 99)
FG_LEVEL = 0.05
LANDMARKS_FILE = "intensity_landmarks.json"
#: Name of the served 3D slice path in ``path_check.json`` / ``study_eval.json`` variants.
SERVED_PATH = "min crop + standardised"


def landmarks(x: np.ndarray) -> np.ndarray | None:
    """Foreground percentiles (:data:`LANDMARK_PCTS`) of one model slice; None when it has
    fewer than 100 foreground pixels."""
    v = np.asarray(x, dtype=np.float64).ravel()
    v = v[v > FG_LEVEL]
    return np.percentile(v, LANDMARK_PCTS) if v.size >= 100 else None


def standardise(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Map one model slice's intensities so its foreground landmarks land on ``ref``.

    Piecewise linear through ``(0, 0)``, the landmarks, and extrapolated with the last
    segment's slope above the top landmark; clipped to [0, 1.5] as the training inputs.
    """
    x = np.asarray(x, dtype=np.float32)
    lm = landmarks(x)
    if lm is None:
        return x
    src = np.concatenate([[0.0], lm])
    dst = np.concatenate([[0.0], np.asarray(ref, dtype=np.float64)])
    keep = np.concatenate([[True], np.diff(src) > 1e-6])  # strictly increasing knots
    src, dst = src[keep], dst[keep]
    out = np.interp(x, src, dst)
    hi = x > src[-1]
    if hi.any() and len(src) >= 2:
        slope = (dst[-1] - dst[-2]) / (src[-1] - src[-2])
        out[hi] = dst[-1] + slope * (x[hi] - src[-1])
    return np.clip(out, 0.0, 1.5).astype(np.float32)


def choose_indices(area: np.ndarray, min_fraction: float = MIN_AREA_FRACTION,
                   per_plane: int = SLICES_PER_PLANE) -> np.ndarray:
    """Slice indices whose tumour area is >= ``min_fraction`` of the largest, at most
    ``per_plane`` of them evenly spaced (ascending). Empty when the mask is empty."""
    area = np.asarray(area)
    if area.size == 0 or area.max() <= 0:
        return np.zeros(0, dtype=np.int64)
    ok = np.flatnonzero(area >= min_fraction * area.max())
    if len(ok) > per_plane:
        ok = ok[np.round(np.linspace(0, len(ok) - 1, per_plane)).astype(int)]
    return ok.astype(np.int64)


def tumour_slices(volume, mask, min_crop_px: int = MIN_CROP_PX
                  ) -> tuple[list[tuple[str, int, int]], torch.Tensor, list[str], str]:
    """Model slices of the T1ce ``volume`` through the tumour ``mask``.

    Returns ``(where, x, warnings, geometry)``: ``where`` (plane, index, tumour voxels) per
    slice, ``x`` float32 (N, 1, 128, 128), notes for the user, and ``"known"`` /
    ``"fov_matched"``.

    Raises:
        EmptyStudyError: the mask is empty.
    """
    m = mask_on_grid(mask, volume)
    if not m.any():
        raise EmptyStudyError("No tumour in the mask: the tumour type needs slices through a tumour.")
    known = geometry_known(volume)
    warnings = []
    if known:
        planes = list(PLANES)
        spacing = tuple(float(s) for s in volume.spacing_mm)
    else:
        planes = ["axial"]
        spacing = None
        warnings.append(
            "Voxel size unknown (placeholder geometry): slices were matched to the training "
            "field of view (256 x 0.98 mm assumed in-plane), axial plane only.")
    data = np.asarray(volume.data, dtype=np.float32)
    where, xs = [], []
    for plane in planes:
        ax = PLANES[plane]
        other = tuple(a for a in range(3) if a != ax)
        area = m.sum(axis=other)
        for idx in choose_indices(area):
            img = display_slice(data, plane, int(idx))
            px = display_spacing(spacing, plane) if spacing else None
            xs.append(picture_to_model_slice(resample_to_canvas(img, px), min_crop_px))
            where.append((plane, int(idx), int(area[idx])))
    return where, torch.cat(xs)[:, None], warnings, "known" if known else "fov_matched"


def aggregate(prob: np.ndarray) -> np.ndarray:
    """Patient probabilities from slice probabilities (N, C): their mean (the rule of the
    card's held-out patient metrics)."""
    prob = np.asarray(prob, dtype=np.float64)
    if prob.ndim != 2 or len(prob) == 0:
        raise ValueError("expected a non-empty (N, C) array of slice probabilities")
    p = prob.mean(0)
    return p / p.sum()


def card_evidence(folder: Path) -> dict:
    """Held-out evidence for the answer from ``cv.json``, the card and ``study_eval.json``."""
    ev: dict = {"note": "No 3D meningioma or pituitary study was available to test on; "
                        "on 3D studies only gliomas were measured."}
    try:
        cv = json.loads((folder / "cv.json").read_text())
        pooled = cv["variants"]["2d"]["pooled"]
        ev.update(cv_accuracy=pooled["accuracy"], cv_accuracy_ci95=pooled["accuracy_ci95"],
                  cv_f1_macro=pooled.get("f1_macro"), cv_n_patients=pooled["n_patients"],
                  cv_what="5-fold patient-level cross-validation, figshare published folds (2D slices)")
    except (OSError, KeyError, ValueError):
        pass
    try:
        card = json.loads((folder / "model_card.json").read_text())
        test = card["metrics"]["test"]
        ev.update(test_accuracy=test["accuracy"], test_accuracy_ci95=test["accuracy_ci95"],
                  test_n_patients=test["n_patients"])
    except (OSError, KeyError, ValueError):
        pass
    try:
        pc = json.loads((folder / "path_check.json").read_text())["variants"][SERVED_PATH]
        ev.update(path_check_accuracy=pc["accuracy"], path_check_accuracy_ci95=pc["accuracy_ci95"],
                  path_check_n_patients=pc["n_patients"],
                  path_check_what="the served model's own held-out figshare patients through the "
                                  "3D-study slice path (crop + intensity standardisation)")
    except (OSError, KeyError, ValueError):
        pass
    try:
        se = json.loads((folder / "study_eval.json").read_text())
        ev["study_eval"] = {k: se[k] for k in ("glioma_fraction", "n_studies") if k in se}
    except (OSError, KeyError, ValueError):
        pass
    return ev


class TumourTypeClassifier:
    """The served type model applied to 3D studies.

    Args:
        checkpoint_dir: default :data:`TYPE_CHECKPOINT`.
        device: torch device (default CPU).
        standardise_intensity: apply :func:`standardise` to study slices when the checkpoint
            folder has ``intensity_landmarks.json``.
        min_crop_px: smallest crop around the foreground (:data:`MIN_CROP_PX`; 0 = plain
            training crop).
    Raises:
        CheckpointError: see :func:`model.nets.checkpoint.load_checkpoint`.
    """

    def __init__(self, checkpoint_dir: str | Path | None = None, device: str = "cpu",
                 standardise_intensity: bool = True, min_crop_px: int = MIN_CROP_PX):
        self.checkpoint_dir = Path(checkpoint_dir or TYPE_CHECKPOINT)
        self.net, self.card = load_checkpoint(self.checkpoint_dir, device)
        self.device = torch.device(device)
        self.classes = list(self.card["classes"])
        self.temperature = float(self.card.get("temperature", 1.0))
        self.evidence = card_evidence(self.checkpoint_dir)
        self.min_crop_px = int(min_crop_px)
        lm = self.checkpoint_dir / LANDMARKS_FILE
        self.reference_landmarks = (np.array(json.loads(lm.read_text())["reference"])
                                    if standardise_intensity and lm.exists() else None)

    def standardise_batch(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, H, W) model slices with :func:`standardise` applied (unchanged without the
        landmarks sidecar)."""
        if self.reference_landmarks is None:
            return x
        return torch.stack([torch.from_numpy(standardise(s[0].numpy(), self.reference_landmarks))[None]
                            for s in x])

    @torch.inference_mode()
    def predict_slices(self, x: torch.Tensor, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
        """(N, 1, 128, 128) model slices -> (probabilities (N, C), penultimate features (N, D)),
        temperature-scaled as the card says."""
        seq = self.net.config.sequences[0]
        probs, feats = [], []
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size].to(self.device)
            f = self.net.branches[seq].features_only(xb)
            logits = self.net.classifier(f)
            probs.append(torch.softmax(logits.double() / self.temperature, 1).cpu().numpy())
            feats.append(f.double().cpu().numpy())
        return np.concatenate(probs), np.concatenate(feats)

    def classify(self, study, mask, sequence: str = "T1ce") -> TumourTypeResult:
        """Tumour type of ``study`` from its ``sequence`` volume through ``mask``.

        Args:
            study: anything with ``volumes`` (sequence -> volume with ``data``, ``affine``,
                ``spacing_mm``, ``shape``) — a :class:`model.imaging.study.Study`.
            mask: tumour mask (bool array on the T1ce grid or a LabelMap on any grid).
        Raises:
            EmptyStudyError: no T1ce volume, or an empty mask.
        """
        vol = study.volumes.get(sequence)
        if vol is None:
            raise EmptyStudyError(f"The tumour type needs a {sequence} (post-contrast T1) volume; "
                                  f"the study has {', '.join(study.volumes) or 'none'}.")
        where, x, warnings, geom = tumour_slices(vol, mask, self.min_crop_px)
        prob, feats = self.predict_slices(self.standardise_batch(x))
        p = aggregate(prob)
        per = [SliceEvidence(pl, i, a, {c: float(v) for c, v in zip(self.classes, pr)})
               for (pl, i, a), pr in zip(where, prob)]
        return TumourTypeResult(
            probabilities={c: float(v) for c, v in zip(self.classes, p)},
            predicted=self.classes[int(p.argmax())], n_slices=len(per), per_slice=per,
            evidence=dict(self.evidence), warnings=warnings, geometry=geom, features=feats)


__all__ = ["TumourTypeClassifier", "TumourTypeResult", "SliceEvidence", "tumour_slices",
           "aggregate", "resample_to_canvas", "display_slice", "display_spacing",
           "choose_indices", "mask_on_grid", "geometry_known", "is_placeholder_affine",
           "picture_to_model_slice", "TYPE_CHECKPOINT", "TARGET_MM"]
