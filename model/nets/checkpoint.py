"""Checkpoints: safetensors weights + a JSON model card, verified before serving.

A checkpoint folder holds ``model.safetensors`` and ``model_card.json``. The card records the
architecture (:class:`model.nets.classifier.NetConfig`), the sequences and classes, preprocessing,
training data with citations and licences, held-out metrics and the sha256 of the weights.
Loading refuses a folder whose weights' sha256 differs from the card (tampering, a partial
copy) or whose tensors do not fit the card's architecture. Weights are never unpickled.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from model.core.config import DEFAULT_CHECKPOINT
from model.core.errors import CheckpointError
from model.core.jsonio import CARD, write_card
from model.nets.classifier import MultiSequenceNet, NetConfig

WEIGHTS = "model.safetensors"

__all__ = ["WEIGHTS", "CARD", "DEFAULT_CHECKPOINT", "sha256_file", "write_checkpoint",
           "save_checkpoint", "read_card", "verified_card", "load_checkpoint",
           "evidence_warning", "read_sidecar"]


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks.

    Parameters
    ----------
    path : Path
        File to hash.

    Returns
    -------
    str
        64 lowercase hex digits.

    Raises
    ------
    OSError
        The file cannot be read.
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_checkpoint(folder: Path, module: torch.nn.Module, card: dict) -> dict:
    """Write ``module``'s weights (safetensors) and ``card`` with ``weights_file`` and the
    weights' ``sha256`` (which :func:`verified_card` checks at load). Returns the card written.

    Shared by every checkpoint kind (image and longitudinal models).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    save_file(state, str(folder / WEIGHTS))
    return write_card(folder, dict(card, weights_file=WEIGHTS, sha256=sha256_file(folder / WEIGHTS)))


def save_checkpoint(folder: Path, net: MultiSequenceNet, card: dict) -> dict:
    """Write weights (safetensors) and the card (with ``architecture`` and ``sha256``) to folder.

    Returns the card as written.
    """
    return write_checkpoint(folder, net, dict(
        card, architecture=net.config.to_dict(), sequences=list(net.config.sequences),
        classes=list(net.config.classes)))


def read_card(folder: Path) -> dict:
    """Parse the model card of a checkpoint folder.

    Raises
    ------
    CheckpointError
        missing or invalid JSON.
    """
    path = Path(folder) / CARD
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"No model card at {path}: not a TumorBoard checkpoint.") from None
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"The model card {path.name} is not valid JSON ({exc.msg}).") from None


def verified_card(folder: Path) -> tuple[dict, Path]:
    """Read a checkpoint's card and check its weights' sha256 against it.

    Returns ``(card, weights_path)``. Shared by every checkpoint kind (image, longitudinal).

    Raises
    ------
    CheckpointError
        card missing/invalid, weights missing, or sha256 mismatch.
    """
    folder = Path(folder)
    card = read_card(folder)
    weights = folder / card.get("weights_file", WEIGHTS)
    if not weights.exists():
        raise CheckpointError(f"Weights file {weights.name} is missing from {folder}.")
    digest = sha256_file(weights)
    if digest != card.get("sha256"):
        raise CheckpointError(
            f"The weights in {folder.name} do not match their model card (sha256 {digest[:12]}... "
            f"expected {str(card.get('sha256'))[:12]}...). Refusing to serve a modified checkpoint."
        )
    return card, weights


def load_checkpoint(folder: Path, device: torch.device | str = "cpu") -> tuple[MultiSequenceNet, dict]:
    """Build the network from the card and load verified weights, in eval mode on ``device``.

    Raises
    ------
    CheckpointError
        card missing/invalid, sha256 mismatch, or weights that do not match the
        card's sequences, classes or architecture.
    """
    card, weights = verified_card(folder)
    try:
        config = NetConfig(**card["architecture"])
    except (KeyError, TypeError) as exc:
        raise CheckpointError(f"The model card has no valid architecture ({exc}).") from None
    if list(config.sequences) != list(card.get("sequences", [])) or list(config.classes) != list(
        card.get("classes", [])
    ):
        raise CheckpointError("The model card's sequences or classes disagree with its architecture.")
    try:
        net = MultiSequenceNet(config)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"The model card has no valid architecture ({exc}).") from None
    try:
        state = load_file(str(weights))
        net.load_state_dict(state, strict=True)
    except Exception as exc:
        raise CheckpointError(
            f"The weights do not fit the architecture in the model card ({type(exc).__name__}: "
            f"{str(exc)[:200]})."
        ) from None
    net.eval().to(device)
    return net, card


def evidence_warning(card: dict) -> str | None:
    """A warning for the user when cross-validation did not show the served design to beat
    chance, else None.

    Reads ``card["cross_validation"]["shipped_pooled_roc_auc"]`` = ``[AUC, lo, hi]`` (pooled
    out-of-fold ROC AUC of the served design with its percentile-bootstrap 95% CI, written by
    ``training.cv``). Chance is AUC 0.5; the warning is given when the CI's lower bound does
    not exceed it.
    """
    cv = card.get("cross_validation") or {}
    auc = cv.get("shipped_pooled_roc_auc")
    if not auc or len(auc) != 3 or not auc[1] <= 0.5:
        return None
    return (f"Not shown to beat chance: in {cv.get('n_folds', 5)}-fold cross-validation on "
            f"{cv.get('n_patients')} patients this design's ROC AUC was {auc[0]:.2f} "
            f"(95% CI {auc[1]:.2f}-{auc[2]:.2f}; chance is 0.50). Treat the class as a "
            "demonstration of the method, not as evidence about this patient.")


def read_sidecar(folder: Path, name: str, required_key: str) -> dict | None:
    """An optional JSON report that training writes next to a checkpoint (``cv.json`` by
    ``training.cv``, ``attribution_eval.json`` by ``training.attribution_eval``).

    Returns the parsed dict, or None when the file is missing, not valid JSON, or lacks
    ``required_key`` (the pages then say how to produce it).
    """
    try:
        data = json.loads((Path(folder) / name).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and required_key in data else None
