"""Scope before an answer: may the tumour-type model speak about this study at all?

The type model knows three classes (meningioma, glioma, pituitary tumour) on T1ce slices of a
head. :func:`decide_scope` runs three checks, in order, before any class is shown; each failed
check gives one line for the user starting "Outside what this model knows: ...".

(a) **Field of view / head coverage** (:func:`check_field_of_view`). Thresholds fixed from first
    principles before any result was looked at: an adult head is about 140 (left-right) x 170
    (anterior-posterior) x 120 mm (skull base to vertex); a skull-stripped brain about
    130 x 165 x 100 mm. A study that can show a brain tumour in context must cover at least
    :data:`MIN_INPLANE_MM` (100 mm) along its two longer axes and :data:`MIN_THROUGHPLANE_MM`
    (60 mm, half the head's height: a tumour-centred slab of clinical 5 mm slices) along the
    shortest. Both the grid's extent (field of view) and the extent of the foreground (voxels
    above 5 % of the robust intensity range, the classifier's own foreground,
    :func:`model.inference.preprocess.foreground_box`) must pass: the second catches a large
    grid holding a small crop. When the voxel size is unknown (placeholder geometry) the extent
    is reported as unknown and the same thresholds are applied in voxels at the coarsest usual
    clinical voxel (1 mm in-plane, 5 mm slices): >= 100 voxels along the two longer axes and
    >= 12 slices.
(b) **A tumour must be found** (:func:`check_tumour`): the mask (segmenter or given) holds at
    least :data:`MIN_TUMOUR_ML` (0.5 mL, a sphere of 1 cm diameter: below that a contrast-enhanced
    lesion is not typed on MRI and segmentation noise dominates); with unknown voxel size at least
    :data:`MIN_TUMOUR_VOXELS` (27, a 3x3x3 block).
(c) **Out-of-distribution score** (:class:`MahalanobisScorer`), the ONE rule chosen before
    measuring (Lee, Lee, Lee & Shin, *A simple unified framework for detecting out-of-distribution
    samples and adversarial attacks*, NeurIPS 2018): on the penultimate features f (the 128
    pooled encoder features the linear classifier reads) of each classified slice,
    ``D²(f) = min_c (f - mu_c)^T Sigma^-1 (f - mu_c)`` with class means mu_c and one shared
    covariance Sigma (Ledoit-Wolf shrinkage) of the figshare development slices. The study's
    score is the **median** D² over its classified slices. The threshold is the **95th
    percentile** of that score over figshare patients scored out-of-fold (means and covariance
    fitted on the other four published folds), so about 5 % of in-distribution figshare patients
    are refused by construction. Score above threshold -> out of scope. The statistics and the
    threshold live in ``model/checkpoints/type_figshare/ood_mahalanobis.json``
    (``python -m training.type3d fit-ood``); the measured separation is in the same file.

**Measured (2026-12-02, sidecar ``meta.separation``; rule and threshold not changed after):**
threshold D² = 105.5; figshare out-of-fold patients refused 10/187 (by construction ~5 %);
3D gliomas (80 TCGA-LGG + BraTS demo + raw TCGA) refused 34/82, the BraTS demo among them
(140.4, served segmenter on every sequence: the app's path and the sidecar's agree); out of
scope flagged: the BraTS metastasis 1/1 (166.3), non-brain MR pictures 2/2 (abdomen 228,
shoulder 168), tumour-free axial slices of the same patients 35/82. AUROC (out vs 3D gliomas):
metastasis 0.93 (n = 1!), non-brain 0.95 (n = 2), tumour-free 0.51, all 0.53; vs figshare
out-of-fold 0.85. So the score tells the training images from everything else, but not a
glioma study from a tumour-free slice or a metastasis: it is a domain detector, and with 1
metastasis and 2 non-brain pictures no claim about metastases can be made.

**Why the demo is refused** (``strip_check.json``, ``python -m training.type_strip``): it is
skull-stripped, and every figshare training slice shows the scalp and skull. Skull-stripped
copies of the figshare slices (nothing else changed) are refused out of fold for 86/187
patients instead of 11/187 (median D² 104 vs 86), and the served model's accuracy on its own
38 held-out patients falls from 0.82 to 0.61 (pituitary tumours called glioma): the model does
not know such images, so refusing them is right, not a defect of the rule. The TCGA-LGG
refusals cluster by contributing site (``study_eval.json`` ``with_scope_rule.tcga_lgg_by_site``),
i.e. by scanner and protocol, and their tumour-free slices score alike.

The result is a typed :class:`ScopeDecision`; :func:`assess` runs scope, then the type.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from model.inference.preprocess import foreground_box
from model.inference.tumour_type import TYPE_CHECKPOINT, geometry_known, mask_on_grid

#: Shortest acceptable extent (mm) along the two longer axes of the study.
MIN_INPLANE_MM = 100.0
#: Shortest acceptable extent (mm) along the shortest axis (through-plane).
MIN_THROUGHPLANE_MM = 60.0
#: Unknown voxel size: the same thresholds at 1 mm pixels and 5 mm slices.
MIN_INPLANE_VOXELS = 100
MIN_THROUGHPLANE_VOXELS = 12
#: Smallest tumour typed (mL) and, with unknown voxel size, in voxels.
MIN_TUMOUR_ML = 0.5
MIN_TUMOUR_VOXELS = 27
#: Sidecar with the Mahalanobis statistics and threshold.
OOD_FILE = "ood_mahalanobis.json"
OUTSIDE = "Outside what this model knows: "


@dataclass
class ScopeDecision:
    """Whether the type model may answer for a study.

    Attributes:
        in_scope: True only when every check ran and passed.
        reasons: one line per failed (or not runnable) check, for the user.
        ood_score: the study's median Mahalanobis D² (None when not computed).
        threshold: the D² threshold (None when no statistics are available).
        checks: ``field_of_view``, ``tumour``, ``ood``: each a dict with ``passed`` (bool or
            None when it could not run) and the measured numbers.
    """

    in_scope: bool
    reasons: list[str]
    ood_score: float | None
    threshold: float | None
    checks: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def _extent_ok(ext: list[float], inplane: float, through: float) -> bool:
    e = sorted(ext)
    return e[0] >= through and e[1] >= inplane and e[2] >= inplane


def check_field_of_view(volume) -> dict:
    """Field of view and head coverage of a volume (see the module docstring, check a).

    Returns ``passed``, ``geometry_known``, ``shape``, ``extent_mm`` (grid, None when unknown),
    ``foreground_extent_mm`` (None when unknown), ``foreground_voxels_extent``,
    ``foreground_fraction`` (volume of the foreground box over the grid's), ``thresholds``,
    ``reason`` (None when passed) and, with unknown geometry, ``note``.
    """
    shape = [int(s) for s in volume.shape]
    known = geometry_known(volume)
    (x0, y0, z0), (x1, y1, z1) = foreground_box(np.asarray(volume.data, dtype=np.float32))
    fg_vox = [x1 - x0, y1 - y0, z1 - z0]
    frac = float(np.prod(fg_vox) / max(1, np.prod(shape)))
    out = {"geometry_known": known, "shape": shape, "foreground_voxels_extent": fg_vox,
           "foreground_fraction": frac, "extent_mm": None, "foreground_extent_mm": None,
           "thresholds": {"inplane_mm": MIN_INPLANE_MM, "throughplane_mm": MIN_THROUGHPLANE_MM,
                          "inplane_voxels_if_unknown": MIN_INPLANE_VOXELS,
                          "throughplane_voxels_if_unknown": MIN_THROUGHPLANE_VOXELS}}
    need = (f"at least {MIN_INPLANE_MM:.0f} mm in-plane and {MIN_THROUGHPLANE_MM:.0f} mm "
            "through-plane are needed to show a head")
    if known:
        sp = [float(s) for s in volume.spacing_mm]
        ext = [n * s for n, s in zip(shape, sp)]
        fg = [n * s for n, s in zip(fg_vox, sp)]
        out.update(extent_mm=ext, foreground_extent_mm=fg)
        if not _extent_ok(ext, MIN_INPLANE_MM, MIN_THROUGHPLANE_MM):
            out.update(passed=False, reason=(
                OUTSIDE + "the images cover only " + " x ".join(f"{e:.0f}" for e in ext)
                + f" mm, not a head ({need})."))
        elif not _extent_ok(fg, MIN_INPLANE_MM, MIN_THROUGHPLANE_MM):
            out.update(passed=False, reason=(
                OUTSIDE + "the imaged tissue spans only " + " x ".join(f"{e:.0f}" for e in fg)
                + f" mm, less than a head ({need})."))
        else:
            out.update(passed=True, reason=None)
        return out
    if not _extent_ok(shape, MIN_INPLANE_VOXELS, MIN_THROUGHPLANE_VOXELS) or \
            not _extent_ok(fg_vox, MIN_INPLANE_VOXELS, MIN_THROUGHPLANE_VOXELS):
        out.update(passed=False, reason=(
            OUTSIDE + "the voxel size is unknown and the study has only "
            + " x ".join(str(s) for s in shape) + f" voxels ({MIN_INPLANE_VOXELS} in-plane and "
            f"{MIN_THROUGHPLANE_VOXELS} slices at least), too few for a head."))
    else:
        out.update(passed=True, reason=None,
                   note="Field of view unknown (placeholder geometry): checked in voxels only.")
    return out


def check_tumour(mask, volume) -> dict:
    """A tumour was found: ``passed``, ``n_voxels``, ``volume_ml`` (None when the voxel size is
    unknown), ``reason``. ``mask`` None -> ``passed`` None (no segmentation available)."""
    if mask is None:
        return {"passed": None, "n_voxels": None, "volume_ml": None,
                "reason": "No tumour segmentation was available, so no tumour was found."}
    m = mask_on_grid(mask, volume)
    n = int(m.sum())
    if geometry_known(volume):
        ml = n * float(abs(np.linalg.det(np.asarray(volume.affine)[:3, :3]))) / 1000.0
        ok = ml >= MIN_TUMOUR_ML
        why = f"no tumour of at least {MIN_TUMOUR_ML} mL was found ({ml:.2f} mL segmented)."
    else:
        ml = None
        ok = n >= MIN_TUMOUR_VOXELS
        why = f"no tumour of at least {MIN_TUMOUR_VOXELS} voxels was found ({n} segmented)."
    return {"passed": bool(ok), "n_voxels": n, "volume_ml": ml,
            "reason": None if ok else OUTSIDE + why}


class MahalanobisScorer:
    """Class means, shared precision matrix and threshold of the OOD rule (check c).

    Args:
        means: (C, D) class means of the development features.
        precision: (D, D) inverse of the shared (Ledoit-Wolf) covariance.
        threshold: D² above which a study is out of scope.
        meta: how the statistics and threshold were made, and the measured separation.
    """

    def __init__(self, means: np.ndarray, precision: np.ndarray, threshold: float,
                 meta: dict | None = None):
        self.means = np.asarray(means, dtype=np.float64)
        self.precision = np.asarray(precision, dtype=np.float64)
        self.threshold = float(threshold)
        self.meta = dict(meta or {})

    @classmethod
    def fit(cls, feats: np.ndarray, labels: np.ndarray, threshold: float = float("inf"),
            meta: dict | None = None) -> "MahalanobisScorer":
        """Class means and Ledoit-Wolf shared covariance of (N, D) features with labels (N,)."""
        from sklearn.covariance import LedoitWolf

        feats = np.asarray(feats, dtype=np.float64)
        labels = np.asarray(labels)
        classes = np.unique(labels)
        means = np.stack([feats[labels == c].mean(0) for c in classes])
        centred = feats - means[np.searchsorted(classes, labels)]
        lw = LedoitWolf(assume_centered=True).fit(centred)
        return cls(means, lw.precision_, threshold, meta)

    def slice_scores(self, feats: np.ndarray) -> np.ndarray:
        """Per-slice min over classes of the squared Mahalanobis distance (N,)."""
        f = np.asarray(feats, dtype=np.float64)
        d = f[:, None, :] - self.means[None]
        d2 = np.einsum("ncd,de,nce->nc", d, self.precision, d)
        return d2.min(1)

    def score(self, feats: np.ndarray) -> float:
        """Study score: median slice D²."""
        return float(np.median(self.slice_scores(feats)))

    def to_json(self) -> dict:
        return {"rule": "median over the study's classified slices of min_c squared Mahalanobis "
                        "distance (shared Ledoit-Wolf covariance) on the penultimate features; "
                        "out of scope above threshold",
                "threshold": self.threshold, "means": self.means.tolist(),
                "precision": self.precision.tolist(), "meta": self.meta}

    def save(self, path: Path) -> None:
        from model.core.jsonio import json_safe

        Path(path).write_text(json.dumps(json_safe(self.to_json()), allow_nan=False))

    @classmethod
    def load(cls, path: Path | None = None) -> "MahalanobisScorer | None":
        """The sidecar's scorer (``path``, else ``$TUMORBOARD_TYPE_OOD``
        (:data:`model.core.config.TYPE_OOD_FILE`), else the type checkpoint's
        :data:`OOD_FILE`), or None when the file is missing."""
        from model.core.config import TYPE_OOD_FILE

        path = Path(path or TYPE_OOD_FILE or TYPE_CHECKPOINT / OOD_FILE)
        if not path.exists():
            return None
        d = json.loads(path.read_text())
        return cls(np.array(d["means"]), np.array(d["precision"]), d["threshold"], d.get("meta"))


def check_ood(features: np.ndarray | None, scorer: MahalanobisScorer | None) -> dict:
    """Check c on a study's slice features: ``passed`` (None when it could not run), ``score``,
    ``threshold``, ``reason``."""
    if scorer is None:
        return {"passed": None, "score": None, "threshold": None,
                "reason": "The out-of-distribution statistics are missing, so the study could "
                          "not be compared with the training images."}
    if features is None or len(features) == 0:
        return {"passed": None, "score": None, "threshold": scorer.threshold,
                "reason": "No slice through a tumour was classified, so the study could not be "
                          "compared with the training images."}
    s = scorer.score(features)
    ok = s <= scorer.threshold
    return {"passed": bool(ok), "score": s, "threshold": scorer.threshold,
            "reason": None if ok else OUTSIDE + (
                f"its tumour slices look unlike the training images (distance {s:.0f} above "
                f"the threshold {scorer.threshold:.0f}, which 95% of training-set patients "
                "stay under). The model was trained on T1ce slices that show the skull: "
                "skull-stripped studies (BraTS-style) and some scanners fall outside it.")}


def decide_scope(study, mask=None, type_result=None, scorer: MahalanobisScorer | None = None,
                 sequence: str = "T1ce", load_scorer: bool = True) -> ScopeDecision:
    """Run checks a, b, c on ``study`` (its ``sequence`` volume) and decide.

    Args:
        study: anything with ``volumes`` (a :class:`model.imaging.study.Study`).
        mask: tumour mask (array on the T1ce grid or a LabelMap on any grid), or None.
        type_result: :class:`model.inference.tumour_type.TumourTypeResult` whose ``features``
            are scored (None: check c cannot run).
        scorer: OOD statistics; default the sidecar's (``load_scorer``).
    Returns:
        :class:`ScopeDecision`; ``in_scope`` only when every check passed. A check that could
        not run (no T1ce, no mask, no features) keeps the study out of scope with its reason.
    """
    vol = study.volumes.get(sequence)
    if vol is None:
        reason = (OUTSIDE + f"the tumour type is read from {sequence} (post-contrast T1), which "
                  f"the study does not have ({', '.join(study.volumes) or 'none'}).")
        return ScopeDecision(False, [reason], None, None, {"sequence": {"passed": False,
                                                                        "reason": reason}})
    if scorer is None and load_scorer:
        scorer = MahalanobisScorer.load()
    checks = {"field_of_view": check_field_of_view(vol)}
    if checks["field_of_view"]["passed"]:
        checks["tumour"] = check_tumour(mask, vol)
    else:
        checks["tumour"] = {"passed": None, "reason": None, "skipped": "field of view failed"}
    if checks["tumour"].get("passed"):
        checks["ood"] = check_ood(getattr(type_result, "features", None), scorer)
    else:
        checks["ood"] = {"passed": None, "score": None,
                         "threshold": scorer.threshold if scorer else None, "reason": None,
                         "skipped": "earlier check failed"}
    reasons = [c["reason"] for c in checks.values() if c.get("reason")]
    in_scope = all(c.get("passed") is True for c in checks.values())
    return ScopeDecision(in_scope, reasons, checks["ood"].get("score"),
                         checks["ood"].get("threshold"), checks)


def assess(study, mask, classifier=None, scorer: MahalanobisScorer | None = None,
           sequence: str = "T1ce"):
    """Scope first, then the type: ``(ScopeDecision, TumourTypeResult | None)``.

    The classifier runs only when the field-of-view and tumour checks pass (its slice features
    feed the OOD check); the caller shows the class only when ``decision.in_scope``. The
    result is returned even when the OOD check refuses, so the page can show *why* (its
    slices) without showing the class.

    Args:
        classifier: a :class:`model.inference.tumour_type.TumourTypeClassifier` (default: a
            new one on the served checkpoint; pass a shared one in the app).
    """
    vol = study.volumes.get(sequence)
    pre = decide_scope(study, mask, None, scorer, sequence, load_scorer=False)
    if vol is None or not pre.checks["field_of_view"].get("passed") or \
            not pre.checks["tumour"].get("passed"):
        return pre, None
    if classifier is None:
        from model.inference.tumour_type import TumourTypeClassifier

        classifier = TumourTypeClassifier()
    result = classifier.classify(study, mask, sequence)
    return decide_scope(study, mask, result, scorer, sequence), result


__all__ = ["ScopeDecision", "decide_scope", "assess", "check_field_of_view", "check_tumour", "check_ood",
           "MahalanobisScorer", "MIN_INPLANE_MM", "MIN_THROUGHPLANE_MM", "MIN_TUMOUR_ML"]
