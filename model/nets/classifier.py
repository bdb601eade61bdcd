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

``NetConfig.encoder = "3d"`` swaps each branch for a 3D MONAI ``DenseNet`` (Huang et al., CVPR
2017) on the whole foreground cube of the sequence (``volume_size``³ voxels); slice attention
then pools a single item (weight 1), and the sequence fusion and heads are unchanged. It is the
design compared against the 2D branches in ``training.cv``; the app serves only 2D checkpoints.
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
    #: "2d": slice encoders + slice attention (served); "3d": one volume encoder per branch.
    encoder: str = "2d"
    #: 3D only: edge of the cube each sequence is resampled to (voxels).
    volume_size: int = 64
    #: 3D only: MONAI DenseNet init_features, growth_rate, block_config (DenseNet-121 is
    #: 64, 32, (6, 12, 24, 16): 5.2 s per training step here, too slow for 5-fold CV on 2 cores).
    densenet: list[int] = field(default_factory=lambda: [16, 16, 2, 4, 8, 6])

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


class VolumeEncoder(nn.Module):
    """3D MONAI DenseNet on one sequence's cube: (N, 1, D, H, W) float -> (N, C_last) features.

    Same interface as :class:`SliceEncoder` (``features_only`` deterministic, ``forward`` adds
    dropout). The DenseNet's own head (ReLU, global average pool, linear) projects to
    ``channels[-1]`` features so the fusion and heads are shared with the 2D design.
    """

    def __init__(self, channels: list[int], dropout: float, densenet: list[int]):
        super().__init__()
        from monai.networks.nets import DenseNet

        init, growth, *blocks = densenet
        self.features = DenseNet(spatial_dims=3, in_channels=1, out_channels=channels[-1],
                                 init_features=init, growth_rate=growth,
                                 block_config=tuple(blocks), dropout_prob=0.0)
        self.drop = nn.Dropout(dropout)

    def features_only(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

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

    Parameters
    ----------
    config : NetConfig
        Architecture; ``config.sequences`` fixes the order of the S input channels.

    Raises
    ------
    ValueError
        ``config.encoder`` is neither ``"2d"`` nor ``"3d"``.

    Notes
    -----
    ``forward(x, present)``:

    x : torch.Tensor
        float32 (B, S, K, H, W), S = len(config.sequences) in config order; absent sequences
        may hold anything (they are masked out). For ``encoder="3d"`` K = H = W =
        ``volume_size`` (a cube per sequence) and ``slice_weights`` has K = 1.
    present : torch.Tensor
        bool (B, S), at least one True per row.

    It returns a dict: ``logits`` float32 (B, n_classes), ``risk`` float32 (B,) Cox log-risk,
    ``sequence_weights`` (B, S) (zero for absent sequences, rows sum to 1), ``slice_weights``
    (B, S, K) (each row sums to 1).
    """

    def __init__(self, config: NetConfig):
        super().__init__()
        self.config = config
        d = config.channels[-1]
        if config.encoder not in ("2d", "3d"):
            raise ValueError(f"encoder must be '2d' or '3d', not {config.encoder!r}")
        self.branches = nn.ModuleDict({
            s: (SliceEncoder(config.channels, config.dropout) if config.encoder == "2d"
                else VolumeEncoder(config.channels, config.dropout, config.densenet))
            for s in config.sequences
        })
        self.slice_pool = nn.ModuleDict(
            {s: GatedAttentionPool(d, config.attention_dim) for s in config.sequences}
        )
        self.fusion = GatedAttentionPool(d, config.attention_dim)
        self.head_drop = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(d, len(config.classes))
        self.risk_head = nn.Linear(d, 1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Deterministic slice features: x (B, S, K, H, W) -> (B, S, K, D) (K = 1 for 3D)."""
        b, s, k, h, w = x.shape
        if self.config.encoder == "3d":
            return torch.stack([
                self.branches[name].features_only(x[:, i].unsqueeze(1)).unsqueeze(1)
                for i, name in enumerate(self.config.sequences)
            ], dim=1)
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
