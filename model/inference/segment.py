"""Tumour (FLAIR-abnormality) segmentation of a study with the trained 2D U-Net.

:class:`Segmenter` loads the sha256-verified checkpoint (``model/checkpoints/segment_lgg``,
trained by :mod:`training.segment`) and :meth:`Segmenter.segment` returns a
:class:`SegmentationResult` whose :class:`~model.imaging.labelmap.LabelMap` lies on the FLAIR
volume's own grid (the reference sequence: the model segments FLAIR abnormality).

From a study to the model and back
----------------------------------
1. FLAIR is required (:class:`~model.core.errors.UnknownSequenceError` otherwise). T1 and T1ce
   are used when the checkpoint's design reads them and the study has them; a sequence on
   another grid is resampled onto FLAIR's (trilinear, world coordinates) with a warning.
2. Each sequence is normalised on its own (:func:`normalise_intensity`: foreground 1st / 99th
   percentiles to 0 / 1, clipped to [0, 1.5]), as in training.
3. Each axial plane (RAS voxel axes 0, 1) inside FLAIR's foreground z-range is resampled
   (bilinear) onto the 128 x 128 model plane, centred on the in-plane centre of FLAIR's
   foreground box:

   * ``"bbox"`` (served: the checkpoint card's ``plane_mode``): the foreground box's longer
     side fills 127 of 128 pixels, as a TCGA head does in the training slices (median over the
     88 patients). Always used when the geometry is unknown or a placeholder.
   * ``"fov"``: a fixed 1.875 mm per model pixel (a guess at the TCGA field of view: 240 mm over
     128 pixels). Measured on the two BraTS 2018 cases it transferred worse than ``"bbox"``
     (mean Dice 0.56 vs 0.76, HD95 17 vs 8 mm; see the model card): the TCGA heads fill the
     plane, so their pixels are nearer 1.5 mm. Kept for comparison (``plane_mode="fov"``).

4. The per-pixel probabilities are resampled back onto FLAIR's voxels (bilinear), thresholded
   at the card's ``threshold`` and post-processed as the card says (chosen by cross-validation).

Planes outside the foreground z-range get no prediction (label 0).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from scipy import ndimage

from model.core.config import CHECKPOINTS_DIR
from model.core.errors import CheckpointError, UnknownSequenceError
from model.imaging.labelmap import LabelMap
from model.imaging.volume import resample_array, same_grid
from model.inference.preprocess import foreground_box, robust_range
from model.nets.checkpoint import verified_card
from model.nets.segmentation import PLANE_SIZE, SegNetConfig, build_segmentation_net, stack_inputs

#: The served segmentation checkpoint.
SEGMENT_CHECKPOINT: Path = CHECKPOINTS_DIR / "segment_lgg"
#: mm per model pixel in ``"fov"`` mode (TCGA-LGG training slices: ~240 mm over 128 pixels).
TCGA_MM_PER_PIXEL = 1.875
#: Model pixels the foreground box's longer side fills in ``"bbox"`` mode (median TCGA head).
TCGA_HEAD_PIXELS = 127.0
#: Post-processing options (see :func:`postprocess`).
POSTPROCESS = ("none", "largest", "drop_small", "fill_holes")
PLANE_MODES = ("fov", "bbox")
MASK_NAME = "predicted tumour (FLAIR abnormality)"

__all__ = ["SEGMENT_CHECKPOINT", "TCGA_MM_PER_PIXEL", "POSTPROCESS", "PLANE_MODES",
           "SegmentationResult", "Segmenter", "normalise_intensity", "postprocess",
           "plane_grid", "to_plane", "from_plane"]


def normalise_intensity(data: np.ndarray) -> np.ndarray:
    """float32 copy of ``data`` with the foreground's 1st / 99th percentiles at 0 / 1, clipped
    to [0, 1.5] (:func:`model.inference.preprocess.robust_range`, as the classifier)."""
    lo, hi = robust_range(data)
    out = np.asarray(data, dtype=np.float32) - lo
    out /= hi - lo
    np.clip(out, 0.0, 1.5, out=out)
    return out


def postprocess(mask: np.ndarray, how: str) -> np.ndarray:
    """Binary mask (slices on axis 0) after ``how``: ``"none"``; ``"largest"`` (the largest 3D
    connected component); ``"drop_small"`` (drop 3D components under 10 % of the largest);
    ``"fill_holes"`` (fill holes per slice)."""
    mask = np.asarray(mask).astype(bool)
    if how == "none" or not mask.any():
        return mask
    if how == "fill_holes":
        return np.stack([ndimage.binary_fill_holes(m) for m in mask])
    lab, n = ndimage.label(mask)
    if n <= 1:
        return mask
    sizes = np.bincount(lab.ravel())[1:]
    if how == "largest":
        return lab == (int(np.argmax(sizes)) + 1)
    if how == "drop_small":
        return np.isin(lab, np.flatnonzero(sizes >= 0.1 * sizes.max()) + 1)
    raise ValueError(f"unknown post-processing {how!r} (choose {POSTPROCESS})")


# ============================================================================ plane mapping

@dataclass(frozen=True)
class PlaneGrid:
    """Where the model plane lies in a volume's axial planes: model pixel ``(u, v)`` samples
    voxel ``(cx + (u - 63.5) * step_x, cy + (v - 63.5) * step_y)`` (voxel units)."""

    cx: float
    cy: float
    step_x: float
    step_y: float
    z0: int
    z1: int
    mode: str


def plane_grid(data: np.ndarray, spacing_mm, geometry_known: bool, mode: str | None = None) -> PlaneGrid:
    """The :class:`PlaneGrid` of a FLAIR volume (see the module docstring, step 3)."""
    mode = mode or ("fov" if geometry_known else "bbox")
    if mode not in PLANE_MODES:
        raise ValueError(f"unknown plane mode {mode!r} (choose {PLANE_MODES})")
    (x0, y0, z0), (x1, y1, z1) = foreground_box(np.asarray(data, dtype=np.float32))
    if mode == "fov":
        sx, sy = TCGA_MM_PER_PIXEL / float(spacing_mm[0]), TCGA_MM_PER_PIXEL / float(spacing_mm[1])
    else:
        sx = sy = max(x1 - x0, y1 - y0, 8) / TCGA_HEAD_PIXELS
    return PlaneGrid((x0 + x1 - 1) / 2.0, (y0 + y1 - 1) / 2.0, sx, sy, int(z0), int(z1), mode)


def _weights(pos: np.ndarray, n: int, width: float) -> np.ndarray:
    """(len(pos), n) linear-interpolation weights sampling an axis of ``n`` voxels (centres at
    0..n-1) at ``pos``, with a triangle kernel of half-width ``width`` >= 1 (antialiasing when
    downsampling; 1 = plain linear interpolation). Zero outside the axis (zero padding)."""
    width = max(1.0, float(width))
    k = np.arange(n, dtype=np.float64)
    w = np.clip(1.0 - np.abs(pos[:, None] - k[None, :]) / width, 0.0, None) / width
    return w.astype(np.float32)


def _axis_positions(g: PlaneGrid) -> tuple[np.ndarray, np.ndarray]:
    centre = (PLANE_SIZE - 1) / 2.0
    pix = np.arange(PLANE_SIZE, dtype=np.float64) - centre
    return g.cx + pix * g.step_x, g.cy + pix * g.step_y


def to_plane(volume: np.ndarray, g: PlaneGrid) -> np.ndarray:
    """(X, Y, Z) volume -> (Z', 128, 128) model planes for z in [z0, z1): separable linear
    resampling (two matrix products), antialiased when the model plane is coarser."""
    X, Y, _ = volume.shape
    pu, pv = _axis_positions(g)
    wx, wy = _weights(pu, X, g.step_x), _weights(pv, Y, g.step_y)
    vol = np.ascontiguousarray(volume, dtype=np.float32)
    Z = vol.shape[2]
    a = (wx @ vol.reshape(X, Y * Z)).reshape(PLANE_SIZE, Y, Z)[:, :, g.z0:g.z1]   # (u, y, z)
    zc = a.shape[2]
    b = wy @ np.ascontiguousarray(a.transpose(1, 0, 2)).reshape(Y, PLANE_SIZE * zc)  # (v, u*z)
    return np.ascontiguousarray(b.reshape(PLANE_SIZE, PLANE_SIZE, zc).transpose(2, 1, 0))  # (z, u, v)


def from_plane(prob: np.ndarray, g: PlaneGrid, shape) -> np.ndarray:
    """(Z', 128, 128) model-plane maps -> float32 (X, Y, Z) on the volume (0 outside [z0, z1))."""
    X, Y, Z = (int(s) for s in shape)
    c = (PLANE_SIZE - 1) / 2.0
    bx = _weights((np.arange(X) - g.cx) / g.step_x + c, PLANE_SIZE, 1.0 / g.step_x)   # (X, 128)
    by = _weights((np.arange(Y) - g.cy) / g.step_y + c, PLANE_SIZE, 1.0 / g.step_y)   # (Y, 128)
    p = np.asarray(prob, dtype=np.float32)
    zc = len(p)
    a = (p.reshape(zc * PLANE_SIZE, PLANE_SIZE) @ by.T).reshape(zc, PLANE_SIZE, Y)   # (z, u, y)
    b = (bx @ np.ascontiguousarray(a.transpose(1, 0, 2)).reshape(PLANE_SIZE, zc * Y))
    out = np.zeros((X, Y, Z), dtype=np.float32)
    out[:, :, g.z0:g.z1] = b.reshape(X, zc, Y).transpose(0, 2, 1)
    return out


# ============================================================================ result + segmenter

@dataclass(frozen=True, eq=False)
class SegmentationResult:
    """A predicted tumour mask and how it was made.

    Attributes:
        labelmap: 0/1 :class:`LabelMap` on the reference sequence's (FLAIR's) grid.
        reference_sequence: ``"FLAIR"``.
        sequences_used: sequences given to the network (FLAIR first).
        warnings: what the user should know (resampling, placeholder geometry, no finding).
        seconds: wall time of :meth:`Segmenter.segment`.
        plane_mode: ``"fov"`` or ``"bbox"`` (module docstring, step 3).
    """

    labelmap: LabelMap
    reference_sequence: str
    sequences_used: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    seconds: float = 0.0
    plane_mode: str = "fov"
    probability: np.ndarray | None = field(default=None, repr=False)

    @property
    def empty(self) -> bool:
        """True when no voxel was labelled ("no abnormality found")."""
        return self.labelmap.n_voxels == 0

    @property
    def no_abnormality_found(self) -> bool:
        """Same as :attr:`empty`, for readers."""
        return self.empty

    @property
    def message(self) -> str:
        """One line for the user."""
        if self.empty:
            return "No abnormality found: the model labelled no FLAIR abnormality in this study."
        vol = self.labelmap.volume_ml
        size = (f"{vol:.1f} mL" if vol is not None else
                f"{self.labelmap.n_voxels} voxels (size unknown: placeholder geometry)")
        return f"Predicted FLAIR abnormality: {size}, from {', '.join(self.sequences_used)}."


class Segmenter:
    """The served tumour segmentation model.

    Args:
        checkpoint_dir: checkpoint folder (default :data:`SEGMENT_CHECKPOINT`).
        device: torch device; default CUDA when available, else CPU.

    Raises:
        CheckpointError: card missing or invalid, weights' sha256 differs from the card, or
            weights that do not fit the card's architecture.
    """

    def __init__(self, checkpoint_dir: str | Path | None = None, device: str | torch.device | None = None):
        self.folder = Path(checkpoint_dir) if checkpoint_dir else SEGMENT_CHECKPOINT
        self.card, weights = verified_card(self.folder)
        try:
            self.config = SegNetConfig.from_dict(self.card["architecture"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"The model card in {self.folder.name} has no valid segmentation "
                                  f"architecture ({exc}).") from None
        self.device = torch.device(device if device is not None else
                                   ("cuda" if torch.cuda.is_available() else "cpu"))
        net = build_segmentation_net(self.config)
        try:
            net.load_state_dict(load_file(str(weights)))
        except RuntimeError as exc:
            raise CheckpointError(f"The weights in {self.folder.name} do not fit the card's "
                                  f"architecture: {str(exc).splitlines()[0]}") from None
        self.net = net.to(self.device).eval()
        self.plane_mode = self.card.get("plane_mode")
        if self.plane_mode not in (None, *PLANE_MODES):
            raise CheckpointError(f"Unknown plane mode {self.plane_mode!r} in the card.")
        self.threshold = float(self.card.get("threshold", 0.5))
        self.postprocessing = str(self.card.get("postprocessing", "none"))
        if self.postprocessing not in POSTPROCESS:
            raise CheckpointError(f"Unknown post-processing {self.postprocessing!r} in the card.")

    @property
    def design(self) -> str:
        return self.config.design

    @torch.no_grad()
    def predict_planes(self, x: np.ndarray, chunk: int = 48) -> np.ndarray:
        """Probabilities (N, 128, 128) of model inputs (N, C, 128, 128)."""
        out = []
        for i in range(0, len(x), chunk):
            t = torch.from_numpy(np.ascontiguousarray(x[i:i + chunk], dtype=np.float32)).to(self.device)
            out.append(torch.sigmoid(self.net(t)[:, 0]).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, PLANE_SIZE, PLANE_SIZE), np.float32)

    def segment(self, study, plane_mode: str | None = None, use: tuple[str, ...] | None = None,
                keep_probability: bool = False) -> SegmentationResult:
        """Segment the FLAIR abnormality of ``study``.

        Args:
            study: a :class:`model.imaging.study.Study` with a FLAIR volume.
            plane_mode: ``"fov"`` / ``"bbox"``; default the card's ``plane_mode`` (else
                ``"fov"`` when FLAIR's geometry is known); ``"bbox"`` whenever the geometry is
                unknown.
            use: optional sequences to give the network besides FLAIR (default: every one the
                design reads and the study has); for per-subset evaluation.
            keep_probability: also return the probability map (X, Y, Z) on FLAIR's grid.

        Raises:
            UnknownSequenceError: the study has no FLAIR (the model segments FLAIR
                abnormality; there is no fallback to another sequence).
        """
        t0 = time.perf_counter()
        if "FLAIR" not in study.volumes:
            raise UnknownSequenceError(
                "Tumour segmentation needs a FLAIR sequence (the model outlines the FLAIR "
                f"abnormality); this study has {', '.join(study.sequences) or 'no sequence'}.")
        flair = study.volumes["FLAIR"]
        warns: list[str] = []
        optional = [s for s in self.config.sequences[1:] if s in study.volumes
                    and (use is None or s in use)]
        planes = {"FLAIR": normalise_intensity(flair.data)}
        for s in optional:
            v = study.volumes[s]
            if same_grid(v, flair):
                data = v.data
            else:
                data = resample_array(v.data, v.affine, flair.affine, flair.shape)
                warns.append(f"{s} was resampled onto the FLAIR grid for segmentation.")
            planes[s] = normalise_intensity(data)
        geometry_known = bool(getattr(flair, "geometry_known", True))
        mode = plane_mode or self.plane_mode
        g = plane_grid(flair.data, flair.spacing_mm, geometry_known,
                       mode if geometry_known else "bbox")
        if not geometry_known:
            warns.append("FLAIR's voxel size is unknown (placeholder geometry): the study was "
                         "scaled by its head outline, and sizes in mm / mL are unknown.")
        p = {s: to_plane(v, g) for s, v in planes.items()}         # (Z', 128, 128) each
        x = stack_inputs(self.design, p["FLAIR"], p.get("T1"), p.get("T1ce"))
        prob = from_plane(self.predict_planes(x), g, flair.shape)
        mask = postprocess(np.moveaxis(prob > self.threshold, 2, 0), self.postprocessing)
        mask = np.moveaxis(mask, 0, 2).astype(np.uint8)
        lm = LabelMap.on_grid_of(flair, mask, MASK_NAME)
        if not mask.any():
            warns.append("No abnormality found.")
        return SegmentationResult(lm, "FLAIR", ("FLAIR", *[s for s in ("T1", "T1ce") if s in planes]),
                                  tuple(warns), time.perf_counter() - t0, g.mode,
                                  prob if keep_probability else None)
