"""Multi-sequence slice network: one encoder branch per MRI sequence, attention over slices,
attention fusion over sequences, a classification head and a survival-risk head.

Design (after the 2025 multi-modal paper followed by TumorBoard, made to train on a CPU):

* **Branch per sequence.** Each sequence has its own 2D encoder built from MONAI
  ``ResidualUnit`` blocks (4 stages, stride 2, 16-32-64-128 channels), applied to every slice.
* **Slice attention.** Gated attention pooling over the K slices of a branch (Ilse, Tomczak &
  Welling, *Attention-based Deep Multiple Instance Learning*, ICML 2018, eq. 9): weights
  ``a_k = softmax_k(w^T (tanh(V h_k) * sigmoid(U h_k)))``. Order-free, so the direction of the
  slice axis does not matter.
* **Sequence fusion.** Attention over the sequences present in the case (softmax over a learned
  score of each sequence embedding, absent sequences masked out); the per-case weights are
  returned with every prediction.
* **Heads.** Linear class logits and a linear log-risk (Cox model linear predictor).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from monai.networks.blocks import ResidualUnit
from torch import nn


@dataclass
class NetConfig:
    """Architecture hyper-parameters (stored in the model card, used to rebuild the net)."""

    sequences: list[str] = field(default_factory=lambda: ["T1", "T1ce", "FLAIR"])
    classes: list[str] = field(default_factory=lambda: ["WHO grade II", "WHO grade III"])
    channels: list[int] = field(default_factory=lambda: [16, 32, 64, 128])
    attention_dim: int = 64
    dropout: float = 0.2

    def to_dict(self) -> dict:
        return asdict(self)


class SliceEncoder(nn.Module):
    """2D CNN applied to each slice: (N, 1, H, W) float -> (N, C_last) features.

    ``forward`` applies dropout to the pooled features; :meth:`features_only` does not (the
    deterministic part, computed once when dropout is sampled for uncertainty).
    """

    def __init__(self, channels: list[int], dropout: float):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 1
        for c in channels:
            layers.append(ResidualUnit(spatial_dims=2, in_channels=c_in, out_channels=c,
                                       strides=2, kernel_size=3, subunits=2, norm="batch",
                                       dropout=None))
            c_in = c
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(dropout)

    def features_only(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.features(x)).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.features_only(x))


class GatedAttentionPool(nn.Module):
    """Gated attention pooling (Ilse et al. 2018) over a set axis.

    forward(h (B, K, D), mask (B, K) bool or None) -> (pooled (B, D), weights (B, K)).
    """

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.v = nn.Linear(dim, hidden)
        self.u = nn.Linear(dim, hidden)
        self.w = nn.Linear(hidden, 1)

    def forward(self, h: torch.Tensor, mask: torch.Tensor | None = None):
        score = self.w(torch.tanh(self.v(h)) * torch.sigmoid(self.u(h))).squeeze(-1)
        if mask is not None:
            score = score.masked_fill(~mask, float("-inf"))
        a = torch.softmax(score, dim=1)
        if mask is not None:
            a = torch.nan_to_num(a, nan=0.0)
        return torch.einsum("bk,bkd->bd", a, h), a


class MultiSequenceNet(nn.Module):
    """The TumorBoard network.

    forward(x, present):
        x: float32 (B, S, K, H, W), S = len(config.sequences) in config order; absent
            sequences may hold anything (they are masked out).
        present: bool (B, S), at least one True per row.
    returns dict:
        ``logits`` (B, n_classes), ``risk`` (B,) Cox log-risk, ``sequence_weights`` (B, S)
        (zero for absent sequences, rows sum to 1), ``slice_weights`` (B, S, K).
    """

    def __init__(self, config: NetConfig):
        super().__init__()
        self.config = config
        d = config.channels[-1]
        self.branches = nn.ModuleDict(
            {s: SliceEncoder(config.channels, config.dropout) for s in config.sequences}
        )
        self.slice_pool = nn.ModuleDict(
            {s: GatedAttentionPool(d, config.attention_dim) for s in config.sequences}
        )
        self.fusion = GatedAttentionPool(d, config.attention_dim)
        self.head_drop = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(d, len(config.classes))
        self.risk_head = nn.Linear(d, 1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Deterministic slice features: x (B, S, K, H, W) -> (B, S, K, D)."""
        b, s, k, h, w = x.shape
        return torch.stack([
            self.branches[name].features_only(x[:, i].reshape(b * k, 1, h, w)).reshape(b, k, -1)
            for i, name in enumerate(self.config.sequences)
        ], dim=1)

    def head(self, feats: torch.Tensor, present: torch.Tensor,
             sample_dropout: bool = False) -> dict[str, torch.Tensor]:
        """Dropout, slice attention, sequence fusion and heads on (B, S, K, D) features.

        ``sample_dropout`` applies dropout even in eval mode without touching module state, so
        a model shared between threads can be sampled for Monte Carlo dropout uncertainty
        (Gal & Ghahramani, ICML 2016) while others use it; only this cheap part is sampled.
        """
        p = self.config.dropout

        def drop(t: torch.Tensor, module: nn.Module) -> torch.Tensor:
            return F.dropout(t, p, training=True) if sample_dropout else module(t)

        embeds, slice_w = [], []
        for i, name in enumerate(self.config.sequences):
            pooled, a = self.slice_pool[name](drop(feats[:, i], self.branches[name].drop))
            embeds.append(pooled)
            slice_w.append(a)
        e = torch.stack(embeds, dim=1)
        fused, seq_w = self.fusion(e, present)
        z = drop(fused, self.head_drop)
        return {
            "logits": self.classifier(z),
            "risk": self.risk_head(z).squeeze(-1),
            "sequence_weights": seq_w,
            "slice_weights": torch.stack(slice_w, dim=1),
        }

    def forward(self, x: torch.Tensor, present: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.head(self.encode(x), present)
