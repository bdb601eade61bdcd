"""Rigid registration of a study's sequences onto its reference sequence (SimpleITK).

Why: a patient moves between series (and the scanner's frame moves when the patient is
landmarked again), so each file's affine is right about its own series only. The raw
TCGA-FG-6692 study has T2/FLAIR on one slice prescription, T1/T1ce on another, and its anatomy
differs between all four (FLAIR's head turned ~17 degrees in-plane against T2's; T1ce lower than
T1 in the same voxel rows): the viewer's crosshair showed the orbits on T1 and the ventricles on
FLAIR. Registration corrects each sequence's **affine**; the voxels stay as stored, and the
viewer's crosshair and the segmenter's resampling onto FLAIR (both through the affines) line up.

Method (a first version was run on the raw TCGA study while finding why it was out of
register; the later changes, smallest step, six starts and the Dice floor, were made on known
motions of the demo study and moved the TCGA result by under 0.3 degrees)
--------------------------------------------------------------------------------------------
* Reference: FLAIR when present (the segmentation model's grid, :mod:`model.inference.segment`,
  so a predicted mask never moves), else T1ce, T1, T2 (:data:`REFERENCE_PREFERENCE`).
* Transform: ``sitk.Euler3DTransform`` (rotation + translation, 6 parameters): the same head
  imaged twice differs by a rigid motion; scale and shear would only fit noise (the voxel sizes
  come from the scanner).
* Metric: Mattes mutual information (32 bins; Mattes et al., IEEE TMI 2003), the standard for
  different contrasts (T1 vs FLAIR), on 10 %, 10 % and 5 % (per level) of the reference head's
  voxels drawn with a fixed seed (deterministic), intensities clipped to their 99.5th
  percentile.
* Optimiser: regular-step gradient descent, scales from physical shift, three levels whose
  working voxels are about 4, 2 mm and native in-plane (``BinShrink``; thick slices are not
  shrunk along z). The coarsest level is started six times, from the headers (identity) and
  from the centres of mass (``MOMENTS``), each turned by -20, 0 and 20 degrees about S (the head
  turning in the coil, the widest motion there), and the best Mattes value continues.
* Independent check (not the optimiser's value): Studholme's normalised mutual information
  ``(H(A) + H(B)) / H(A, B)`` (Pattern Recognit 1999) of a 64-bin joint histogram over the
  reference's head mask, the moving sequence resampled onto the reference grid with MONAI
  (:func:`model.imaging.volume.resample_array`); and the Dice of the two head masks, both
  inside the moving sequence's field of view.

Decision rule (per sequence; constants below)
---------------------------------------------
* One voxel grid for all sequences (preprocessed data such as BraTS): nothing is run.
* A sequence on the reference's grid, a one-slice or thin (< :data:`MIN_SLICES` slices) volume,
  or one with unknown geometry: not registered.
* ``aligned``: the registration moves no point of the reference's field of view by more than
  :data:`ALIGNED_MM`, or it does not gain :data:`MIN_NMI_GAIN` while the head outlines already
  overlap (Dice >= :data:`MIN_DICE_AFTER`): the headers agree; nothing is changed.
* ``applied``: NMI gains at least :data:`MIN_NMI_GAIN`, the head-mask Dice does not drop by more
  than :data:`MAX_DICE_DROP` and reaches :data:`MIN_DICE_AFTER`, the rotation is at most
  :data:`MAX_ROTATION_DEG` and the shift of the head centre at most :data:`MAX_TRANSLATION_MM`
  (a head in a head coil cannot move further; beyond that a failed optimisation is likelier).
* ``refused`` otherwise: the sequence is kept as stored and the study gets a warning that it
  may not line up with the reference; so does an ``aligned`` sequence whose head Dice is
  under :data:`MIN_DICE_AFTER`. A misregistration is never silent. (The Dice floor was
  raised once, from 0.80, on a synthetic case; see :data:`MIN_DICE_AFTER`.)
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from model.imaging.volume import Volume, resample_array, same_grid

__all__ = ["REFERENCE_PREFERENCE", "SequenceAlignment", "AlignmentReport", "align_volumes",
           "register_rigid", "head_mask", "normalised_mutual_information", "mask_dice",
           "alignment_measures"]

#: Reference sequence, first present wins (FLAIR: the segmentation model's grid).
REFERENCE_PREFERENCE = ("FLAIR", "T1ce", "T1", "T2")
#: Largest rotation (degrees, axis-angle) accepted as patient motion between series.
MAX_ROTATION_DEG = 30.0
#: Largest shift (mm) of the reference head centre accepted as patient motion between series.
MAX_TRANSLATION_MM = 80.0
#: Smallest NMI gain for a registration to be applied (NMI is 1 for independent images).
MIN_NMI_GAIN = 0.002
#: Largest drop of the head-mask Dice accepted.
MAX_DICE_DROP = 0.01
#: Head-mask Dice (inside the moving sequence's field of view) below which a sequence does not
#: line up with the reference. First 0.80; raised to 0.90 when a head turned 40-60° (known
#: motion, tests/imaging/test_register.py) was "registered" into a local optimum 30-50° short
#: with Dice 0.81-0.86 (correct registrations: 0.93-0.97).
MIN_DICE_AFTER = 0.90
#: A registration moving no point of the reference field of view by more than this (mm) means
#: the headers already agree: nothing is changed.
ALIGNED_MM = 1.0
#: Fewer slices than this: not registered (a 2D or slab image has no 3D rigid pose).
MIN_SLICES = 4
#: Seed of the metric's voxel sampling (deterministic results).
SEED = 20261202
#: Fraction of the reference head's voxels sampled by the metric per iteration, per level.
SAMPLING = (0.10, 0.10, 0.05)
#: Starting turns about the S axis (degrees) of the coarsest level, each from the headers and
#: from the centres of mass: gradient descent alone stopped 10-15 degrees short of a 25 degree
#: turn (known motion, tests/imaging/test_register.py).
START_YAW_DEG = (-20.0, 0.0, 20.0)
#: Working voxel size (mm) per level of the pyramid (0: native).
LEVELS_MM = (4.0, 2.0, 0.0)
#: Regular-step gradient descent: iterations per level, smallest step, step relaxation. (On
#: TCGA-FG-6692 and on demo volumes moved by known motions, L-BFGS-B and plain gradient descent
#: stopped in worse optima; a 1e-3 smallest step stopped RSGD 1-3 degrees short.)
ITERATIONS, MIN_STEP, RELAXATION = 100, 1e-4, 0.5
#: SimpleITK threads (the app shares a 2-core machine between sessions).
THREADS = max(1, min(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                     else (os.cpu_count() or 1)))

_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])  # RAS <-> LPS (ITK's physical space)
_CACHE: "OrderedDict[tuple, SequenceAlignment]" = OrderedDict()
_CACHE_SIZE = 64


# ============================================================================ results

@dataclass(frozen=True, eq=False)
class SequenceAlignment:
    """How one sequence was aligned with the reference.

    Attributes
    ----------
    sequence, reference
        sequence names, e.g. ``"T1"`` onto ``"FLAIR"``.
    status
        ``"same_grid"`` (on the reference's grid: not registered), ``"skipped"`` (thin,
        one-slice or unknown geometry), ``"aligned"`` (headers already agree, nothing
        changed), ``"applied"`` (affine corrected), ``"refused"`` (kept as stored, warned).
    correction
        float64 (4, 4) rigid matrix (RAS mm) found by the registration: the sequence's
        affine becomes ``correction @ affine`` when applied; identity when not registered.
    rotation_deg
        rotation angle of ``correction`` (axis-angle, degrees).
    angles_deg
        the same rotation as angles about the R, A, S axes (degrees, scipy "xyz" Euler).
    translation_mm
        (R, A, S) shift (mm) that ``correction`` gives the sequence at the reference centre.
    max_displacement_mm
        largest move of a corner of the reference's field of view under ``correction``.
    nmi_before, nmi_after
        normalised mutual information (1-2, higher is better) on the reference grid, from the
        headers / after registration; None when not registered.
    dice_before, dice_after
        Dice of the head masks on the reference grid, same convention.
    mattes
        final Mattes MI value of the optimiser (negative; for the record, not for decisions).
    seconds
        wall time of the registration and measures.
    message
        one line for the user.
    """

    sequence: str
    reference: str
    status: str
    correction: np.ndarray = field(default_factory=lambda: np.eye(4))
    rotation_deg: float = 0.0
    angles_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)
    translation_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    max_displacement_mm: float = 0.0
    nmi_before: float | None = None
    nmi_after: float | None = None
    dice_before: float | None = None
    dice_after: float | None = None
    mattes: float | None = None
    seconds: float = 0.0
    message: str = ""

    @property
    def applied(self) -> bool:
        """True when the sequence's affine was corrected."""
        return self.status == "applied"

    @property
    def misaligned(self) -> bool:
        """True when the sequence may not line up with the reference (a warning was given)."""
        return self.status == "refused" or (
            self.status in ("aligned", "applied") and self.dice_after is not None
            and self.dice_after < MIN_DICE_AFTER)

    def row(self) -> dict:
        """One display row: sequence, onto, result, rotation, shift, NMI and Dice before/after."""
        f3 = (lambda x: "" if x is None else f"{x:.3f}")
        registered = self.nmi_before is not None
        return {
            "sequence": self.sequence, "onto": self.reference,
            "result": _STATUS_WORDS[self.status],
            "rotation (°)": f"{self.rotation_deg:.1f}" if registered else "",
            "shift (mm)": (f"{np.linalg.norm(self.translation_mm):.1f}" if registered else ""),
            "NMI before": f3(self.nmi_before), "NMI after": f3(self.nmi_after),
            "head Dice before": f3(self.dice_before), "head Dice after": f3(self.dice_after),
        }


_STATUS_WORDS = {"same_grid": "on the reference grid", "skipped": "not registered",
                 "aligned": "already aligned", "applied": "registered (rigid)",
                 "refused": "NOT aligned: registration refused"}


@dataclass(frozen=True, eq=False)
class AlignmentReport:
    """The alignment of a study's sequences (``Study.alignment``).

    Attributes
    ----------
    reference
        the reference sequence (its affine never changes).
    status
        ``"one_grid"`` (every sequence on one grid: nothing run), ``"single"`` (one sequence),
        ``"checked"`` (registration run for at least one sequence), ``"skipped"`` (no sequence
        could be registered).
    sequences
        one :class:`SequenceAlignment` per non-reference sequence, in the study's order.
    seconds
        total wall time.
    warnings
        lines for the user (one per sequence that may not line up, one summary when sequences
        were moved).
    """

    reference: str
    status: str
    sequences: tuple[SequenceAlignment, ...] = ()
    seconds: float = 0.0
    warnings: tuple[str, ...] = ()

    def get(self, sequence: str) -> SequenceAlignment | None:
        """The alignment of ``sequence`` (None for the reference or an absent sequence)."""
        return next((a for a in self.sequences if a.sequence == sequence), None)

    @property
    def applied(self) -> tuple[str, ...]:
        """Sequences whose affine was corrected."""
        return tuple(a.sequence for a in self.sequences if a.applied)

    @property
    def misaligned(self) -> tuple[str, ...]:
        """Sequences that may not line up with the reference (each has a warning)."""
        return tuple(a.sequence for a in self.sequences if a.misaligned)

    @property
    def caption(self) -> str:
        """One line for the viewer, e.g. ``"T1, T1ce, T2 registered onto FLAIR (rigid):
        NMI 1.016→1.065, 1.019→1.060, 1.015→1.069."``"""
        if self.status == "one_grid":
            return "All sequences share one voxel grid: no registration needed."
        if self.status == "single":
            return "One sequence: nothing to align."
        parts = []
        moved = [a for a in self.sequences if a.applied]
        if moved:
            nmis = ", ".join(f"{a.nmi_before:.3f}→{a.nmi_after:.3f}" for a in moved)
            parts.append(f"{', '.join(a.sequence for a in moved)} registered onto "
                         f"{self.reference} (rigid): NMI {nmis}.")
        bad = [a.sequence for a in self.sequences if a.misaligned]
        if bad:
            parts.append(f"{', '.join(bad)} may NOT line up with {self.reference}.")
        ok = [a.sequence for a in self.sequences if a.status == "aligned" and not a.misaligned]
        if ok:
            parts.append(f"{', '.join(ok)} already aligned with {self.reference}.")
        if not parts:
            return f"Sequences not registered onto {self.reference}."
        return " ".join(parts)

    def rows(self) -> list[dict]:
        """Display rows (:meth:`SequenceAlignment.row`), one per non-reference sequence."""
        return [a.row() for a in self.sequences]


# ============================================================================ measures

def head_mask(data: np.ndarray) -> np.ndarray:
    """Head (foreground) mask of a volume: voxels above 10 % of the robust range (1st-99th
    percentile of non-background voxels), closed twice and hole-filled per axial slice.

    Parameters
    ----------
    data : np.ndarray
        float (X, Y, Z) volume.

    Returns
    -------
    np.ndarray
        bool (X, Y, Z).
    """
    d = np.asarray(data, dtype=np.float32)
    sample = d.reshape(-1)[:: max(1, d.size // 1_000_000)]
    fg = sample[sample > sample.min()]
    if fg.size < 100:
        return np.ones(d.shape, dtype=bool)
    lo, hi = np.percentile(fg, [1.0, 99.0])
    m = d > lo + 0.1 * (hi - lo)
    m = ndimage.binary_closing(m, iterations=2, border_value=0)
    return np.stack([ndimage.binary_fill_holes(m[:, :, k]) for k in range(m.shape[2])], axis=2)


def normalised_mutual_information(a: np.ndarray, b: np.ndarray, mask: np.ndarray,
                                  bins: int = 64) -> float:
    """Studholme's normalised mutual information ``(H(A) + H(B)) / H(A, B)`` of two images over
    ``mask`` (Studholme, Hill, Hawkes, Pattern Recognition 32:71-86, 1999).

    Parameters
    ----------
    a, b : np.ndarray
        float arrays of one shape (the same voxels).
    mask : np.ndarray
        bool, same shape: the voxels counted.
    bins : int
        histogram bins per image, over each image's 0.5-99.5th percentiles inside ``mask``.

    Returns
    -------
    float
        1 for independent images, 2 for one-to-one intensities; NaN when ``mask`` is empty.
    """
    x = np.asarray(a, dtype=np.float64)[mask]
    y = np.asarray(b, dtype=np.float64)[mask]
    if x.size == 0:
        return float("nan")
    rx, ry = np.percentile(x, [0.5, 99.5]), np.percentile(y, [0.5, 99.5])
    rx[1], ry[1] = max(rx[1], rx[0] + 1e-6), max(ry[1], ry[0] + 1e-6)
    h, _, _ = np.histogram2d(np.clip(x, *rx), np.clip(y, *ry), bins=bins, range=[rx, ry])
    p = h / h.sum()

    def entropy(q):
        q = q[q > 0]
        return float(-(q * np.log(q)).sum())

    hab = entropy(p)
    return (entropy(p.sum(1)) + entropy(p.sum(0))) / hab if hab > 0 else float("nan")


def mask_dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice ``2|A∩B| / (|A| + |B|)`` of two bool arrays (1.0 when both are empty)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    s = int(a.sum()) + int(b.sum())
    return 1.0 if s == 0 else 2.0 * int((a & b).sum()) / s


def alignment_measures(reference: Volume, moving: Volume, moving_affine: np.ndarray,
                       ref_mask: np.ndarray | None = None) -> tuple[float, float]:
    """NMI and head-mask Dice of ``moving`` (placed by ``moving_affine``) against ``reference``,
    on the reference grid (MONAI trilinear resampling; masks nearest neighbour), both counted
    only where the moving sequence has voxels (a thinner slab is not a misalignment).

    Returns
    -------
    (float, float)
        ``(nmi, dice)``: :func:`normalised_mutual_information` over the reference's head mask
        (dilated by 2 voxels in-plane) and :func:`mask_dice` of the two head masks; NaN and 0
        when the moving sequence covers none of the reference's head.
    """
    ref_mask = head_mask(reference.data) if ref_mask is None else ref_mask
    fov = resample_array(np.ones(moving.shape, np.float32), moving_affine, reference.affine,
                         reference.shape, mode="nearest") > 0.5
    region = ndimage.binary_dilation(ref_mask, structure=np.ones((3, 3, 1), bool), iterations=2)
    region &= fov
    moved = resample_array(moving.data, moving_affine, reference.affine, reference.shape)
    mov_mask = resample_array(head_mask(moving.data).astype(np.float32), moving_affine,
                              reference.affine, reference.shape, mode="nearest") > 0.5
    if not (ref_mask & fov).any():
        return float("nan"), 0.0
    return (normalised_mutual_information(reference.data, moved, region),
            mask_dice(ref_mask & fov, mov_mask & fov))


# ============================================================================ registration

def _to_sitk(data: np.ndarray, affine: np.ndarray, clip: bool = True):
    import SimpleITK as sitk

    arr = np.asarray(data, dtype=np.float32)
    if clip:  # bright outliers (fat, vessels) would squeeze the metric's bins
        arr = np.clip(arr, None, np.percentile(arr[:: max(1, arr.size // 1_000_000)], 99.5))
    img = sitk.GetImageFromArray(np.ascontiguousarray(arr.transpose(2, 1, 0)))
    a = _LPS @ np.asarray(affine, dtype=np.float64)
    spacing = np.linalg.norm(a[:3, :3], axis=0)
    img.SetSpacing(spacing.tolist())
    img.SetOrigin(a[:3, 3].tolist())
    img.SetDirection((a[:3, :3] / spacing).ravel().tolist())
    return img


def _shrink_factors(spacing, target_mm: float) -> list[int]:
    if target_mm <= 0:
        return [1, 1, 1]
    return [max(1, int(round(target_mm / float(s)))) for s in spacing]


def _euler_to_matrix(tx) -> np.ndarray:
    """4x4 (LPS) of an Euler3DTransform: x -> R (x - c) + c + t."""
    r = np.asarray(tx.GetMatrix(), dtype=np.float64).reshape(3, 3)
    c = np.asarray(tx.GetCenter(), dtype=np.float64)
    t = np.asarray(tx.GetTranslation(), dtype=np.float64)
    m = np.eye(4)
    m[:3, :3] = r
    m[:3, 3] = c + t - r @ c
    return m


def register_rigid(reference: Volume, moving: Volume,
                   ref_mask: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Rigid (Euler 3D) registration of ``moving`` onto ``reference`` with SimpleITK.

    See the module docstring for the metric, sampling, pyramid and the two starts.

    Parameters
    ----------
    reference, moving : Volume
        RAS volumes with known geometry.
    ref_mask : np.ndarray, optional
        bool head mask of the reference (default :func:`head_mask`); the metric samples there.

    Returns
    -------
    (np.ndarray, float)
        ``(correction, mattes)``: float64 (4, 4) rigid matrix in RAS mm mapping the moving
        sequence's world (as its header says) to the reference's world (its new affine is
        ``correction @ moving.affine``), and the final Mattes MI value.

    Raises
    ------
    RuntimeError
        SimpleITK failed (e.g. no overlap left to sample); callers treat it as a refusal.
    """
    import SimpleITK as sitk

    ref_mask = head_mask(reference.data) if ref_mask is None else ref_mask
    fixed = _to_sitk(reference.data, reference.affine)
    mov = _to_sitk(moving.data, moving.affine)
    fmask = _to_sitk(ndimage.binary_dilation(ref_mask, iterations=2).astype(np.float32),
                     reference.affine, clip=False)

    def level(target_mm):
        ff = _shrink_factors(fixed.GetSpacing(), target_mm)
        mf = _shrink_factors(mov.GetSpacing(), target_mm)
        f = sitk.BinShrink(fixed, ff) if max(ff) > 1 else fixed
        m = sitk.BinShrink(mov, mf) if max(mf) > 1 else mov
        fm = sitk.BinShrink(fmask, ff) if max(ff) > 1 else fmask
        return f, m, sitk.Cast(fm > 0.5, sitk.sitkUInt8)

    def run(tx, images, lr, pct):
        f, m, fm = images
        reg = sitk.ImageRegistrationMethod()
        reg.SetNumberOfThreads(THREADS)
        reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
        reg.SetMetricSamplingStrategy(reg.RANDOM)
        reg.SetMetricSamplingPercentage(pct, seed=SEED)
        reg.SetMetricFixedMask(fm)
        reg.SetInterpolator(sitk.sitkLinear)
        reg.SetOptimizerAsRegularStepGradientDescent(learningRate=lr, minStep=MIN_STEP,
                                                     numberOfIterations=ITERATIONS,
                                                     relaxationFactor=RELAXATION)
        reg.SetOptimizerScalesFromPhysicalShift()
        reg.SetInitialTransform(tx, inPlace=True)
        reg.Execute(f, m)
        return reg.GetMetricValue()

    centre = fixed.TransformContinuousIndexToPhysicalPoint([(s - 1) / 2.0 for s in fixed.GetSize()])
    moments = sitk.Euler3DTransform(sitk.CenteredTransformInitializer(
        fixed, mov, sitk.Euler3DTransform(), sitk.CenteredTransformInitializerFilter.MOMENTS))
    # MOMENTS puts the centre at the reference's centre of mass: move it to the field-of-view
    # centre so both starts report translations about the same point.
    shift = np.asarray(moments.TransformPoint(centre)) - np.asarray(centre)
    coarse = level(LEVELS_MM[0])
    scored = []
    for i, (t, yaw) in enumerate((t, yaw) for t in (np.zeros(3), shift) for yaw in START_YAW_DEG):
        tx = sitk.Euler3DTransform()
        tx.SetCenter(centre)
        tx.SetTranslation([float(v) for v in t])
        tx.SetRotation(0.0, 0.0, float(np.radians(yaw)))  # LPS z = S: a head turning in the coil
        scored.append((run(tx, coarse, 2.0, SAMPLING[0]), i, tx))
    best = min(scored, key=lambda s: (s[0], s[1]))[2]
    value = 0.0
    for target, lr, pct in zip(LEVELS_MM[1:], (1.0, 0.5), SAMPLING[1:]):
        value = run(best, level(target), lr, pct)
    t_lps = _euler_to_matrix(best)           # reference LPS -> moving LPS
    t_ras = _LPS @ t_lps @ _LPS
    return np.linalg.inv(t_ras), float(value)


def _describe(correction: np.ndarray, reference: Volume) -> tuple[float, tuple, tuple, float]:
    from scipy.spatial.transform import Rotation

    r = correction[:3, :3]
    angle = float(np.degrees(np.arccos(np.clip((np.trace(r) - 1) / 2, -1.0, 1.0))))
    angles = tuple(float(a) for a in Rotation.from_matrix(r).as_euler("xyz", degrees=True))
    shape = np.asarray(reference.shape, dtype=np.float64)
    centre = reference.affine @ np.r_[(shape - 1) / 2, 1.0]
    # the shift the correction gives the sequence at the reference centre
    src = np.linalg.solve(correction, centre)
    shift = tuple(float(v) for v in (centre - src)[:3])
    corners = np.array([[i, j, k, 1.0] for i in (0, shape[0] - 1) for j in (0, shape[1] - 1)
                        for k in (0, shape[2] - 1)]) @ reference.affine.T
    moved = corners @ correction.T
    return angle, angles, shift, float(np.linalg.norm((moved - corners)[:, :3], axis=1).max())


def _registrable(v: Volume) -> bool:
    return bool(v.geometry_known) and v.shape[2] >= MIN_SLICES and min(v.shape[:2]) >= 16


def _align_one(reference: Volume, ref_name: str, moving: Volume, seq: str,
               ref_mask: np.ndarray) -> SequenceAlignment:
    t0 = time.perf_counter()
    nmi0, dice0 = alignment_measures(reference, moving, moving.affine, ref_mask)
    try:
        corr, mattes = register_rigid(reference, moving, ref_mask)
    except RuntimeError as exc:  # SimpleITK: e.g. too few samples inside both images
        return SequenceAlignment(
            seq, ref_name, "refused", nmi_before=nmi0, dice_before=dice0,
            seconds=time.perf_counter() - t0,
            message=f"{seq}: the registration onto {ref_name} failed "
                    f"({str(exc).splitlines()[0][:80]}); {seq} is kept as stored and may not "
                    f"line up with {ref_name}.")
    angle, angles, shift, disp = _describe(corr, reference)
    common = dict(correction=corr, rotation_deg=angle, angles_deg=angles, translation_mm=shift,
                  max_displacement_mm=disp, nmi_before=nmi0, dice_before=dice0, mattes=mattes)
    if disp <= ALIGNED_MM:
        return SequenceAlignment(seq, ref_name, "aligned", nmi_after=nmi0, dice_after=dice0,
                                 seconds=time.perf_counter() - t0,
                                 message=f"{seq} already lines up with {ref_name} "
                                         f"(registration moves it at most {disp:.1f} mm).",
                                 **common)
    nmi1, dice1 = alignment_measures(reference, moving, corr @ moving.affine, ref_mask)
    shift_mm = float(np.linalg.norm(shift))
    secs = time.perf_counter() - t0
    if not nmi1 >= nmi0 + MIN_NMI_GAIN and dice0 >= MIN_DICE_AFTER:
        # nothing gained and the headers already put the heads on each other
        return SequenceAlignment(seq, ref_name, "aligned", nmi_after=nmi0, dice_after=dice0,
                                 seconds=secs,
                                 message=f"{seq} already lines up with {ref_name} (a rigid "
                                         f"registration would not improve NMI {nmi0:.3f}).",
                                 **common)
    why = []
    if not nmi1 >= nmi0 + MIN_NMI_GAIN:
        why.append(f"the match did not improve (NMI {nmi0:.3f}→{nmi1:.3f})")
    if not dice1 >= dice0 - MAX_DICE_DROP:
        why.append(f"the head outlines overlap less (Dice {dice0:.2f}→{dice1:.2f})")
    if not dice1 >= MIN_DICE_AFTER:
        why.append(f"the head outlines still differ (Dice {dice1:.2f})")
    if angle > MAX_ROTATION_DEG:
        why.append(f"the rotation found ({angle:.0f}°) is implausibly large")
    if shift_mm > MAX_TRANSLATION_MM:
        why.append(f"the shift found ({shift_mm:.0f} mm) is implausibly large")
    if why:
        return SequenceAlignment(
            seq, ref_name, "refused", nmi_after=nmi1, dice_after=dice1, seconds=secs,
            message=f"{seq} may not line up with {ref_name}: an automatic rigid registration "
                    f"was not applied because {'; '.join(why)}. {seq} is shown and analysed "
                    f"as stored (headers: NMI {nmi0:.3f}, head Dice {dice0:.2f}).", **common)
    return SequenceAlignment(
        seq, ref_name, "applied", nmi_after=nmi1, dice_after=dice1, seconds=secs,
        message=f"{seq} registered onto {ref_name} (rigid: {angle:.1f}°, {shift_mm:.1f} mm): "
                f"NMI {nmi0:.3f}→{nmi1:.3f}, head Dice {dice0:.2f}→{dice1:.2f}.", **common)


#: Reference grids above this many voxels are registered and measured on a block-averaged
#: copy (the correction is in world mm, so it applies to the full grid unchanged).
MAX_REFERENCE_VOXELS = 4_000_000


def _working_reference(ref: Volume) -> Volume:
    """``ref``, or a copy coarsened by an integer factor per axis to at most
    :data:`MAX_REFERENCE_VOXELS` voxels (block means; the affine of the block centres)."""
    if ref.data.size <= MAX_REFERENCE_VOXELS:
        return ref
    f = int(np.ceil((ref.data.size / MAX_REFERENCE_VOXELS) ** (1 / 3)))
    shape = tuple(int(n // f) for n in ref.shape)
    d = ref.data[: shape[0] * f, : shape[1] * f, : shape[2] * f]
    data = d.reshape(shape[0], f, shape[1], f, shape[2], f).mean(axis=(1, 3, 5), dtype=np.float32)
    aff = ref.affine.copy()
    aff[:3, 3] = ref.affine[:3, :3] @ np.full(3, (f - 1) / 2.0) + ref.affine[:3, 3]
    aff[:3, :3] = ref.affine[:3, :3] * f
    return dataclasses.replace(ref, data=np.ascontiguousarray(data), affine=aff)


def _reference_of(volumes: dict[str, Volume], reference: str | None) -> str:
    if reference is not None:
        if reference not in volumes:
            raise KeyError(reference)
        return reference
    return next((s for s in REFERENCE_PREFERENCE if s in volumes), next(iter(volumes)))


def align_volumes(volumes: dict[str, Volume], reference: str | None = None
                  ) -> tuple[dict[str, Volume], AlignmentReport]:
    """Register every sequence onto the reference sequence and correct the affines of those the
    decision rule accepts (module docstring).

    Parameters
    ----------
    volumes : dict of str to Volume
        sequence -> RAS volume (a study's ``volumes``).
    reference : str, optional
        the reference sequence; default the first of :data:`REFERENCE_PREFERENCE` present.

    Returns
    -------
    (dict of str to Volume, AlignmentReport)
        The volumes in the same order (voxels untouched; an applied sequence has
        ``affine = correction @ affine``, a new ``content_hash`` and a note in ``warnings``),
        and the report. Results are cached per (reference, moving) content, so loading the same
        files again does not register again.

    Raises
    ------
    KeyError
        ``reference`` is not one of ``volumes``.
    """
    t0 = time.perf_counter()
    if not volumes:
        return dict(volumes), AlignmentReport("", "single")
    ref_name = _reference_of(volumes, reference)
    ref = volumes[ref_name]
    if len(volumes) == 1:
        return dict(volumes), AlignmentReport(ref_name, "single")
    if all(same_grid(v, ref) for v in volumes.values()):
        return dict(volumes), AlignmentReport(ref_name, "one_grid",
                                              seconds=time.perf_counter() - t0)
    out: dict[str, Volume] = {}
    results: list[SequenceAlignment] = []
    ref_mask = None
    for seq, vol in volumes.items():
        if seq == ref_name:
            out[seq] = vol
            continue
        if same_grid(vol, ref):
            res = SequenceAlignment(seq, ref_name, "same_grid",
                                    message=f"{seq} is on the {ref_name} grid: not registered.")
        elif not (_registrable(vol) and _registrable(ref)):
            res = SequenceAlignment(
                seq, ref_name, "skipped",
                message=f"{seq} was not registered onto {ref_name} (a registration needs known "
                        f"voxel sizes and at least {MIN_SLICES} slices); the two are placed by "
                        "their headers only.")
        else:
            key = (seq, vol.content_hash, ref_name, ref.content_hash)
            res = _CACHE.get(key)
            if res is None:
                if ref_mask is None:
                    work = _working_reference(ref)
                    ref_mask = head_mask(work.data)
                try:
                    res = _align_one(work, ref_name, vol, seq, ref_mask)
                except Exception as exc:  # noqa: BLE001 -- registration is an extra: a failure
                    # in it (a degenerate volume, a library error) must not stop the study
                    # from loading; the sequence stays as stored, and the user is told.
                    res = SequenceAlignment(
                        seq, ref_name, "refused",
                        message=f"{seq} may not line up with {ref_name}: the automatic "
                                f"registration failed ({type(exc).__name__}); {seq} is shown "
                                "and analysed as stored.")
                _CACHE[key] = res
                while len(_CACHE) > _CACHE_SIZE:
                    _CACHE.popitem(last=False)
            else:
                _CACHE.move_to_end(key)
        results.append(res)
        if res.applied:  # the volume's own note, without the sequence name in front
            note = res.message[len(seq) + 1:] if res.message.startswith(seq + " ") else res.message
            digest = hashlib.sha256(
                f"{vol.content_hash}>registered>{ref.content_hash}".encode()).hexdigest()
            vol = dataclasses.replace(vol, affine=res.correction @ vol.affine,
                                      warnings=vol.warnings + (note,), content_hash=digest)
        out[seq] = vol
    warns = [r.message for r in results if r.misaligned and r.status == "refused"]
    warns += [f"{r.sequence} may not line up with {ref_name}: their head outlines overlap "
              f"{r.dice_after:.0%} (Dice) after alignment." for r in results
              if r.misaligned and r.status != "refused"]
    moved = [r for r in results if r.applied]
    if moved:
        nmis = ", ".join(f"{r.sequence} {r.nmi_before:.3f}→{r.nmi_after:.3f}" for r in moved)
        warns.append(f"The sequences were not in register (the patient moved between series, "
                     f"or the scanner's frame changed): {', '.join(r.sequence for r in moved)} "
                     f"{'was' if len(moved) == 1 else 'were'} registered rigidly onto {ref_name} "
                     f"and are shown and analysed aligned (normalised mutual information {nmis}).")
    status = "checked" if any(r.status in ("aligned", "applied", "refused") for r in results) \
        else "skipped"
    return out, AlignmentReport(ref_name, status, tuple(results), time.perf_counter() - t0,
                                tuple(warns))
