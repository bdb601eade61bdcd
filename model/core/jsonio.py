"""Strict JSON helpers shared by checkpoints, model cards and reports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

#: File name of a checkpoint's model card.
CARD = "model_card.json"


def json_safe(x):
    """A JSON-safe copy of ``x``.

    numpy scalars become Python numbers, NaN/inf become None (strict JSON, which browsers and
    other languages' parsers accept), dict keys become str, tuples become lists; other values
    are returned as they are.

    Parameters
    ----------
    x : object
        Nested dicts, lists, tuples and scalars.

    Returns
    -------
    object
        The same structure, serialisable by :func:`json.dumps` with ``allow_nan=False``.
    """
    if isinstance(x, dict):
        return {str(k): json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_safe(v) for v in x]
    if isinstance(x, (np.bool_, bool)):
        return bool(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x) if np.isfinite(x) else None
    return x


def write_card(folder: Path, card: dict) -> dict:
    """Write ``card`` as ``folder/model_card.json`` (strict JSON through :func:`json_safe`).

    Reports added after training (baselines, cross-validation) go through here too; the
    weights and their sha256 are untouched.

    Parameters
    ----------
    folder : Path
        Existing checkpoint folder.
    card : dict
        The model card.

    Returns
    -------
    dict
        The card as written (after :func:`json_safe`).
    """
    card = json_safe(card)
    (Path(folder) / CARD).write_text(json.dumps(card, indent=2) + "\n")
    return card


__all__ = ["CARD", "json_safe", "write_card"]
