"""Study -> prediction: class probabilities, sequence weights, risk score, attribution maps.

:class:`Predictor` holds one verified checkpoint on the best device (CUDA when available, else
CPU) and is safe to share between sessions: inference runs under ``torch.inference_mode`` and
the attribution methods used here register no hooks on the shared network (Captum
``Saliency`` and ``IntegratedGradients`` only differentiate the input).

Example::

    >>> from model.predictor import Predictor
    >>> from model.study import Study
    >>> p = Predictor()
    >>> pred = p.predict(Study.demo())
    >>> round(sum(pred.probabilities.values()), 6)
    1.0
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from model.checkpoint import DEFAULT_CHECKPOINT, load_checkpoint
from model.errors import EmptyStudyError
from model.preprocess import N_SLICES, SliceGeometry, slices_to_volume, volume_to_slices
from model.study import Study

#: Attribution methods offered (Captum class names).
ATTRIBUTION_METHODS = ("Saliency", "IntegratedGradients")


def pick_device() -> torch.device:
    """CUDA when available, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass
class Prediction:
    """Result of :meth:`Predictor.predict` for one study.

    Attributes:
        probabilities: class name -> probability (sums to 1).
        predicted_class: the most probable class.
        sequence_weights: sequence used -> fusion attention weight (sums to 1).
        slice_weights: sequence used -> list of ``(axial slice index in the RAS volume,
            attention weight)``.
        risk_score: Cox log-risk (linear predictor); higher means shorter expected survival.
        risk_percentile: percentile (0-100) of ``risk_score`` among the training patients.
        risk_group: "high" above the training median risk, else "low".
        warnings: notes for the user (ignored sequences, missing ones).
    """

    probabilities: dict[str, float]
    predicted_class: str
    sequence_weights: dict[str, float]
    slice_weights: dict[str, list[tuple[int, float]]]
    risk_score: float
    risk_percentile: float
    risk_group: str
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class PreparedStudy:
    """Model input of one study: ``x`` float32 (1, S, K, H, W), ``present`` bool (1, S),
    and per used sequence the :class:`SliceGeometry` to map results back."""

    x: torch.Tensor
    present: torch.Tensor
    geometry: dict[str, SliceGeometry]
    warnings: list[str]


class Predictor:
    """A loaded, verified checkpoint ready to predict.

    Args:
        checkpoint_dir: folder with ``model.safetensors`` + ``model_card.json``
            (default :data:`model.checkpoint.DEFAULT_CHECKPOINT`).
        device: torch device; default :func:`pick_device`.

    Raises:
        CheckpointError: see :func:`model.checkpoint.load_checkpoint`.
    """

    def __init__(self, checkpoint_dir: str | Path | None = None, device: torch.device | str | None = None):
        self.checkpoint_dir = Path(checkpoint_dir or DEFAULT_CHECKPOINT)
        self.device = torch.device(device) if device is not None else pick_device()
        self.net, self.card = load_checkpoint(self.checkpoint_dir, self.device)
        self.sequences: list[str] = list(self.net.config.sequences)
        self.classes: list[str] = list(self.net.config.classes)
        self._cohort_risk = self._load_cohort_risk()

    def _load_cohort_risk(self) -> np.ndarray:
        path = self.checkpoint_dir / "cohort_risk.csv"
        if not path.exists():
            return np.array([float(self.card.get("risk_threshold", 0.0))])
        import csv
        with open(path) as fh:
            rows = [r for r in csv.DictReader(fh) if r["split"] == "train"]
        return np.sort(np.array([float(r["risk_score"]) for r in rows]))

    def prepare(self, study: Study) -> PreparedStudy:
        """Preprocess the sequences the model uses (see :mod:`model.preprocess`).

        Raises:
            EmptyStudyError: the study has none of the sequences this model uses.
        """
        used = [s for s in self.sequences if s in study.volumes]
        if not used:
            raise EmptyStudyError(
                f"This model needs at least one of {', '.join(self.sequences)}; the study has "
                f"{', '.join(study.sequences) or 'none'}."
            )
        warnings = []
        ignored = [s for s in study.sequences if s not in self.sequences]
        if ignored:
            warnings.append(f"{', '.join(ignored)} not used: the model was not trained on it.")
        missing = [s for s in self.sequences if s not in study.volumes]
        if missing:
            warnings.append(f"{', '.join(missing)} missing: prediction uses {', '.join(used)} only.")
        k = int(self.card.get("preprocessing", {}).get("n_slices", N_SLICES))
        size = int(self.card.get("preprocessing", {}).get("slice_size", 128))
        x = torch.zeros(1, len(self.sequences), k, size, size)
        present = torch.zeros(1, len(self.sequences), dtype=torch.bool)
        geometry = {}
        for i, s in enumerate(self.sequences):
            if s in study.volumes:
                x[0, i], geometry[s] = volume_to_slices(study.volumes[s].data, k, size)
                present[0, i] = True
        return PreparedStudy(x, present, geometry, warnings)

    def predict(self, study: Study, prepared: PreparedStudy | None = None) -> Prediction:
        """Classify a study and score its risk. Same input, same output (eval mode, no sampling).

        Raises:
            EmptyStudyError: see :meth:`prepare`.
        """
        prep = prepared or self.prepare(study)
        with torch.inference_mode():
            out = self.net(prep.x.to(self.device), prep.present.to(self.device))
        prob = torch.softmax(out["logits"][0].double(), 0).cpu().numpy()
        seq_w = out["sequence_weights"][0].cpu().numpy()
        slice_w = out["slice_weights"][0].cpu().numpy()
        risk = float(out["risk"][0])
        pct = float(100.0 * np.searchsorted(self._cohort_risk, risk) / max(1, len(self._cohort_risk)))
        threshold = float(self.card.get("risk_threshold", np.median(self._cohort_risk)))
        used = [s for i, s in enumerate(self.sequences) if prep.present[0, i]]
        return Prediction(
            probabilities={c: float(p) for c, p in zip(self.classes, prob)},
            predicted_class=self.classes[int(prob.argmax())],
            sequence_weights={s: float(seq_w[self.sequences.index(s)]) for s in used},
            slice_weights={
                s: [(int(z), float(w)) for z, w in
                    zip(prep.geometry[s].z_index, slice_w[self.sequences.index(s)])]
                for s in used
            },
            risk_score=risk,
            risk_percentile=pct,
            risk_group="high" if risk > threshold else "low",
            warnings=list(study.warnings) + prep.warnings,
        )

    def attribution(self, study: Study, method: str = "Saliency", target: int | None = None,
                    prepared: PreparedStudy | None = None, n_steps: int = 16,
                    progress: Callable[[float], None] | None = None) -> dict[str, np.ndarray]:
        """Captum attribution of the predicted (or ``target``) class, on each volume's grid.

        Methods: ``Saliency`` (|d logit / d input|; Simonyan et al. 2014) and
        ``IntegratedGradients`` (Sundararajan et al. 2017; zero baseline, ``n_steps`` steps,
        ``internal_batch_size`` 4 to bound memory). The map on the model's slices is put back
        on each sequence's RAS voxel grid by :func:`model.preprocess.slices_to_volume`.

        Returns:
            sequence -> float32 array with the volume's shape, absolute attribution scaled to
            [0, 1] by its 99.5th percentile per sequence.
        Raises:
            ValueError: unknown method.
        """
        from captum.attr import IntegratedGradients, Saliency

        if method not in ATTRIBUTION_METHODS:
            raise ValueError(f"Unknown attribution method {method!r}; use one of {ATTRIBUTION_METHODS}.")
        prep = prepared or self.prepare(study)
        x = prep.x.to(self.device).requires_grad_(True)
        present = prep.present.to(self.device)
        if target is None:
            with torch.inference_mode():
                target = int(self.net(prep.x.to(self.device), present)["logits"][0].argmax())

        def forward(inp: torch.Tensor) -> torch.Tensor:
            return self.net(inp, present.expand(inp.shape[0], -1))["logits"]

        if progress:
            progress(0.05)
        with torch.enable_grad():
            if method == "Saliency":
                attr = Saliency(forward).attribute(x, target=target, abs=True)
            else:
                attr = IntegratedGradients(forward).attribute(
                    x, baselines=torch.zeros_like(x), target=target, n_steps=n_steps,
                    internal_batch_size=4,
                ).abs()
        if progress:
            progress(0.8)
        attr = attr.detach().cpu()[0]
        maps = {}
        for i, s in enumerate(self.sequences):
            if s not in prep.geometry:
                continue
            vol = slices_to_volume(attr[i], prep.geometry[s])
            scale = float(np.percentile(vol[vol > 0], 99.5)) if (vol > 0).any() else 1.0
            maps[s] = np.clip(vol / max(scale, 1e-12), 0, 1).astype(np.float32)
        if progress:
            progress(1.0)
        return maps
