"""Study -> prediction: class probabilities, sequence weights, risk score, attribution maps.

:class:`Predictor` holds one verified checkpoint on the best device (CUDA when available, else
CPU) and is safe to share between sessions: inference runs under ``torch.inference_mode`` and
the attribution methods (:mod:`model.inference.attribution`) register no hooks on the shared network
(Saliency, IntegratedGradients and Occlusion only evaluate or differentiate it; LayerGradCam
hooks a private deep copy).

Example::

    >>> from model.inference.classify import Predictor
    >>> from model.imaging.study import Study
    >>> p = Predictor()
    >>> pred = p.predict(Study.demo())
    >>> round(sum(pred.probabilities.values()), 6)
    1.0
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from model.core.config import DEFAULT_CHECKPOINT
from model.core.errors import CheckpointError, EmptyStudyError
from model.inference.attribution import METHODS
from model.inference.preprocess import N_SLICES, SliceGeometry, volume_to_slices
from model.nets.checkpoint import load_checkpoint
from model.imaging.study import Study
from model.survival.risk import risk_position

#: Fewest voxels along each axis of a volume the model reads (training volumes have >= 20
#: slices of 128x128); fewer means a 2D picture or a slab, not a head volume.
MIN_VOXELS_PER_AXIS = 8

#: Attribution methods offered (Captum class names); see :mod:`model.inference.attribution`.
ATTRIBUTION_METHODS = METHODS


def pick_device() -> torch.device:
    """CUDA when available, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def uncertainty(probabilities: dict[str, float]) -> dict[str, float]:
    """Uncertainty of a class distribution.

    Parameters
    ----------
    probabilities : dict of str to float
        Class -> probability (sums to 1), e.g. :attr:`Prediction.probabilities`.

    Returns
    -------
    dict
        ``entropy``: Shannon entropy divided by ``log(n_classes)``, in [0, 1] (1 = uniform;
        0 for a single class); ``margin``: top-1 minus top-2 probability, in [0, 1].
    """
    p = np.clip(np.array(list(probabilities.values()), dtype=float), 1e-12, 1)
    ent = float(-(p * np.log(p)).sum() / math.log(len(p))) if len(p) > 1 else 0.0
    top = np.sort(p)[::-1]
    return {"entropy": ent, "margin": float(top[0] - (top[1] if len(top) > 1 else 0.0))}


@dataclass
class Prediction:
    """Result of :meth:`Predictor.predict` for one study.

    Attributes
    ----------
    probabilities : dict[str, float]
        class name -> probability (sums to 1).
    predicted_class : str
        the most probable class.
    sequence_weights : dict[str, float]
        sequence used -> fusion attention weight (sums to 1).
    slice_weights : dict[str, list[tuple[int, float]]]
        sequence used -> list of ``(axial slice index in the RAS volume,
        attention weight)``.
    risk_score : float
        Cox log-risk (linear predictor); higher means shorter expected survival.
    risk_percentile : float
        percentile (0-100) of ``risk_score`` among the training patients.
    risk_group : str
        "high" above the training median risk, else "low".
    warnings : list[str], optional
        notes for the user (ignored sequences, missing ones).
    uncertainty : dict, optional
        Monte Carlo dropout summary (Gal & Ghahramani 2016; 30 seeded samples of
        the dropout layers after the deterministic encoder): ``probability_sd`` (class ->
        s.d. of its probability), ``predictive_entropy`` (nats, of the mean probabilities),
        ``entropy_max`` (log of the class count), ``risk_sd`` (s.d. of the risk score),
        ``agreement`` (share of samples whose top class is ``predicted_class``).
    temperature : float, optional
        softmax temperature applied to the logits (temperature scaling, Guo et
        al. ICML 2017; fitted on the validation patients, 1.0 when absent).
    """

    probabilities: dict[str, float]
    predicted_class: str
    sequence_weights: dict[str, float]
    slice_weights: dict[str, list[tuple[int, float]]]
    risk_score: float
    risk_percentile: float
    risk_group: str
    warnings: list[str] = field(default_factory=list)
    uncertainty: dict = field(default_factory=dict)
    temperature: float = 1.0

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

    Parameters
    ----------
    checkpoint_dir
        folder with ``model.safetensors`` + ``model_card.json``
        (default :data:`model.core.config.DEFAULT_CHECKPOINT`).
    device
        torch device; default :func:`pick_device`.

    Raises
    ------
    CheckpointError
        see :func:`model.nets.checkpoint.load_checkpoint`.
    """

    def __init__(self, checkpoint_dir: str | Path | None = None, device: torch.device | str | None = None):
        self.checkpoint_dir = Path(checkpoint_dir or DEFAULT_CHECKPOINT)
        self.device = torch.device(device) if device is not None else pick_device()
        self.net, self.card = load_checkpoint(self.checkpoint_dir, self.device)
        if self.net.config.encoder != "2d":
            # 3D-branch checkpoints exist for the design comparison (training.cv); the slice
            # geometry that maps attributions back onto the study is 2D-only.
            raise CheckpointError(f"{self.checkpoint_dir.name} is a {self.net.config.encoder} "
                                  "design checkpoint; the app serves 2D slice-branch models only.")
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
        """Preprocess the sequences the model uses (see :mod:`model.inference.preprocess`).

        A volume with fewer than :data:`MIN_VOXELS_PER_AXIS` voxels along any axis (a single
        2D picture, a thin slab) is not a brain volume the model can read and is left out.

        Raises
        ------
        EmptyStudyError
            the study has no usable volume of a sequence this model uses.
        """
        warnings = []
        thin = [s for s in self.sequences if s in study.volumes
                and min(study.volumes[s].shape) < MIN_VOXELS_PER_AXIS]
        if thin:
            warnings.append(
                f"{', '.join(thin)} not used: fewer than {MIN_VOXELS_PER_AXIS} voxels along an "
                "axis; the model needs a 3D volume of the head.")
        used = [s for s in self.sequences if s in study.volumes and s not in thin]
        if not used:
            raise EmptyStudyError(
                f"No prediction: this model needs a 3D head volume of at least one of "
                f"{', '.join(self.sequences)}"
                + (f" ({', '.join(thin)} has fewer than {MIN_VOXELS_PER_AXIS} slices along an axis)."
                   if thin else f"; the study has {', '.join(study.sequences) or 'none'}.")
            )
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
            if s in used:
                x[0, i], geometry[s] = volume_to_slices(study.volumes[s].data, k, size)
                present[0, i] = True
        return PreparedStudy(x, present, geometry, warnings)

    def _mc_dropout(self, feats: torch.Tensor, present: torch.Tensor, temperature: float,
                    predicted: int, n: int = 30, seed: int = 0) -> dict:
        """Sample the dropout layers of the head ``n`` times (seeded: same input, same answer)."""
        with torch.random.fork_rng(devices=[]), torch.inference_mode():
            torch.manual_seed(seed)
            rep = feats.expand(n, *feats.shape[1:])
            out = self.net.head(rep, present.expand(n, -1), sample_dropout=True)
        probs = torch.softmax(out["logits"].double() / temperature, 1).cpu().numpy()
        mean = probs.mean(0)
        return {
            "probability_sd": {c: float(v) for c, v in zip(self.classes, probs.std(0))},
            "predictive_entropy": float(-(mean * np.log(np.clip(mean, 1e-12, 1))).sum()),
            "entropy_max": float(np.log(len(self.classes))),
            "risk_sd": float(out["risk"].double().std()),
            "agreement": float((probs.argmax(1) == predicted).mean()),
            "samples": n,
        }

    def predict(self, study: Study, prepared: PreparedStudy | None = None) -> Prediction:
        """Classify a study and score its risk. Same input, same output (eval mode; the Monte
        Carlo dropout uncertainty is seeded).

        Raises
        ------
        EmptyStudyError
            see :meth:`prepare`.
        """
        prep = prepared or self.prepare(study)
        temperature = float(self.card.get("temperature", 1.0))
        present = prep.present.to(self.device)
        with torch.inference_mode():
            feats = self.net.encode(prep.x.to(self.device))
            out = self.net.head(feats, present)
            predicted = int(out["logits"][0].argmax())
            uncertainty = self._mc_dropout(feats, present, temperature, predicted)
        prob = torch.softmax(out["logits"][0].double() / temperature, 0).cpu().numpy()
        seq_w = out["sequence_weights"][0].cpu().numpy()
        slice_w = out["slice_weights"][0].cpu().numpy()
        risk = float(out["risk"][0])
        # one convention (model.survival.risk): percentile = share of training risks <= risk,
        # group = high when risk > the card's threshold (default the training median)
        pos = risk_position(risk, self._cohort_risk, self.card.get("risk_threshold"))
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
            risk_percentile=pos.percentile,
            risk_group=pos.group,
            warnings=list(study.warnings) + prep.warnings,
            uncertainty=uncertainty,
            temperature=temperature,
        )

    def attribution(self, study: Study, method: str = "Saliency", target: int | None = None,
                    prepared: PreparedStudy | None = None, n_steps: int = 16,
                    progress: Callable[[float], None] | None = None,
                    **settings) -> dict[str, np.ndarray]:
        """Captum attribution of the predicted (or ``target``) class, on each volume's grid.

        Delegates to :func:`model.inference.attribution.attribution_maps` (methods, settings, thread
        safety and post-processing are documented there): ``Saliency``, ``LayerGradCam``,
        ``Occlusion`` and ``IntegratedGradients`` (``n_steps`` steps, ``internal_batch_size``
        4). The map on the model's slices is put back on each sequence's RAS voxel grid by
        :func:`model.inference.preprocess.slices_to_volume`.

        Parameters
        ----------
        study : Study
            the study (its sequences the model uses are attributed).
        method : str, optional
            one of :data:`ATTRIBUTION_METHODS`.
        target : int, optional
            class index; default the predicted class.
        prepared : PreparedStudy, optional
            output of :meth:`prepare` to reuse.
        n_steps : int, optional
            IntegratedGradients steps.
        progress : Callable[[float], None], optional
            callback receiving fractions in [0, 1].
        settings
            further keyword settings of :func:`model.inference.attribution.compute_attribution`
            (``internal_batch_size``, ``window``, ``stride``...), and optionally
            ``compute``/``postprocess`` callables replacing the two steps.

        Returns
        -------
        dict[str, np.ndarray]
            sequence -> float32 array with the volume's shape, absolute attribution scaled to
            [0, 1] by its 99.5th percentile per sequence.

        Raises
        ------
        ValueError
            unknown method.
        EmptyStudyError
            see :meth:`prepare`.
        """
        from model.inference.attribution import attribution_maps, check_method

        check_method(method)
        prep = prepared or self.prepare(study)
        return attribution_maps(self.net, prep.x.to(self.device), prep.present.to(self.device),
                                prep.geometry, method, target=target, progress=progress,
                                n_steps=n_steps, **settings)
