"""Longitudinal networks: causal recurrent models over a patient's visits (torch modules only).

For each endpoint (overall survival ``os``, time to progression ``ttp``) an ensemble of small
unidirectional LSTMs (or GRUs) reads the per-visit input vectors in time order and outputs, after
each visit ``k``, a log relative hazard (Cox scale) that depends only on visits ``0..k``.
Turning a visit table into those input vectors, loading checkpoints and predicting timelines is
:mod:`model.inference.longitudinal`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

__all__ = ["LongitudinalConfig", "LongitudinalNet", "LongitudinalEnsemble"]


@dataclass
class LongitudinalConfig:
    """Architecture of :class:`LongitudinalEnsemble` (stored in the model card)."""

    n_inputs: int
    hidden: int = 8
    cell: str = "lstm"  # "lstm" or "gru"
    dropout: float = 0.5
    n_members: int = 5
    skip: bool = True  # linear path from the current visit's inputs to the heads
    outputs: tuple[str, ...] = ("os", "ttp")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["outputs"] = list(self.outputs)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "LongitudinalConfig":
        d = dict(d)
        d["outputs"] = tuple(d.get("outputs", ("os", "ttp")))
        return cls(**d)


class LongitudinalNet(nn.Module):
    """One causal recurrent network for one endpoint: visit embedding -> LSTM/GRU -> log hazard.

    ``forward(x)``: x float32 (B, T, F) -> float32 (B, T, 1); output ``[:, k]`` is the risk
    after visit ``k`` and depends only on ``x[:, :k+1]`` (unidirectional; padding at the end of
    shorter sequences never affects their real steps). With ``cfg.skip`` a linear term of the
    current visit's inputs is added (the network then contains a last-observation Cox model as
    a special case).

    Parameters
    ----------
    cfg : LongitudinalConfig
        Architecture (``n_inputs`` = F, ``hidden``, ``cell``, ``dropout``, ``skip``).

    Raises
    ------
    ValueError
        ``cfg.cell`` is neither ``"lstm"`` nor ``"gru"``.
    """

    def __init__(self, cfg: LongitudinalConfig):
        super().__init__()
        if cfg.cell not in ("lstm", "gru"):
            raise ValueError(f"cell must be 'lstm' or 'gru', not {cfg.cell!r}")
        self.embed = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(cfg.n_inputs, cfg.hidden),
                                   nn.Tanh())
        rnn = nn.LSTM if cfg.cell == "lstm" else nn.GRU
        self.rnn = rnn(cfg.hidden, cfg.hidden, batch_first=True)
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.hidden, 1)
        self.skip = nn.Linear(cfg.n_inputs, 1, bias=False) if cfg.skip else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.rnn(self.embed(x))
        out = self.head(self.drop(h))
        if self.skip is not None:
            out = out + self.skip(x)
        return out


class LongitudinalEnsemble(nn.Module):
    """Per endpoint (``cfg.outputs``), the mean of ``cfg.n_members`` :class:`LongitudinalNet`
    (one per inner cross-validation fold).

    ``forward(x)``: x float32 (B, T, F) -> float32 (B, T, len(outputs)) log relative hazards
    after each visit, in the order of ``cfg.outputs``.
    """

    def __init__(self, cfg: LongitudinalConfig):
        super().__init__()
        self.config = cfg
        self.endpoints = nn.ModuleDict(
            {o: nn.ModuleList(LongitudinalNet(cfg) for _ in range(cfg.n_members)) for o in cfg.outputs})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.stack([m(x) for m in self.endpoints[o]]).mean(0)
                          for o in self.config.outputs], dim=-1)
