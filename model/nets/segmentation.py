"""Tumour segmentation networks (MONAI 2D U-Nets on axial slices) and their input layout.

Two designs are compared under patient-level cross-validation (:mod:`training.segment`):

``"stacked"``
    FLAIR, T1 (pre-contrast) and T1ce stacked as image channels, plus one presence plane per
    optional sequence (T1, T1ce): a missing sequence is all zeros with presence 0. Trained
    with *sequence dropout* (an available T1 / T1ce is dropped at random), so one network
    serves FLAIR-only, FLAIR+T1, FLAIR+T1ce and full studies. 5 input channels.
``"flair"``
    FLAIR alone. 1 input channel.

The network is ``monai.networks.nets.UNet`` (2D, channels 16-32-64-128-256, four stride-2
levels, no residual units, batch norm), one output logit per pixel (sigmoid = probability of
FLAIR abnormality). The model plane is the RAS axial plane (axis 0 = x towards the patient's
right, axis 1 = y anterior) of 128 x 128 pixels; :mod:`model.inference.segment` maps a study
onto it and back.

The paper's design (one small encoder per sequence with attention fusion, as the grade
classifier does) was *not* built for segmentation: the CPU training budget (about 70 minutes of
one core) did not allow a third design in the cross-validation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from monai.networks.nets import UNet

#: Designs this module can build.
DESIGNS = ("stacked", "flair")
#: Image sequences of the stacked design, in channel order.
STACKED_SEQUENCES = ("FLAIR", "T1", "T1ce")
#: Optional sequences (a presence plane each, in this order).
OPTIONAL_SEQUENCES = ("T1", "T1ce")
#: In-plane size of the model plane (pixels).
PLANE_SIZE = 128

__all__ = ["DESIGNS", "STACKED_SEQUENCES", "OPTIONAL_SEQUENCES", "PLANE_SIZE", "SegNetConfig",
           "build_segmentation_net", "stack_inputs"]


@dataclass(frozen=True)
class SegNetConfig:
    """Architecture of a segmentation network (stored in the model card).

    Attributes:
        design: ``"stacked"`` or ``"flair"`` (see the module docstring).
        channels: feature maps per U-Net level.
        strides: downsampling per level (one fewer than ``channels``).
        num_res_units: residual units per block (0 = plain conv blocks).
        dropout: dropout in the U-Net blocks.
    """

    design: str = "stacked"
    channels: tuple[int, ...] = (16, 32, 64, 128, 256)
    strides: tuple[int, ...] = (2, 2, 2, 2)
    num_res_units: int = 0
    dropout: float = 0.0

    def __post_init__(self):
        if self.design not in DESIGNS:
            raise ValueError(f"unknown segmentation design {self.design!r} (choose {DESIGNS})")
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        object.__setattr__(self, "strides", tuple(int(s) for s in self.strides))

    @property
    def in_channels(self) -> int:
        """5 for ``stacked`` (3 images + 2 presence planes), 1 for ``flair``."""
        return len(STACKED_SEQUENCES) + len(OPTIONAL_SEQUENCES) if self.design == "stacked" else 1

    @property
    def sequences(self) -> tuple[str, ...]:
        """Sequences the design reads (FLAIR is always required)."""
        return STACKED_SEQUENCES if self.design == "stacked" else ("FLAIR",)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channels"], d["strides"] = list(self.channels), list(self.strides)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "SegNetConfig":
        keys = {"design", "channels", "strides", "num_res_units", "dropout"}
        return cls(**{k: v for k, v in d.items() if k in keys})


def build_segmentation_net(config: SegNetConfig) -> torch.nn.Module:
    """The MONAI 2D U-Net of ``config`` (one output logit per pixel)."""
    return UNet(spatial_dims=2, in_channels=config.in_channels, out_channels=1,
                channels=config.channels, strides=config.strides,
                num_res_units=config.num_res_units, dropout=config.dropout)


def stack_inputs(design: str, flair: np.ndarray, t1: np.ndarray | None = None,
                 t1ce: np.ndarray | None = None) -> np.ndarray:
    """Network input of ``design`` from normalised planes.

    Args:
        design: ``"stacked"`` or ``"flair"``.
        flair, t1, t1ce: float arrays of equal shape ``(..., H, W)`` (any leading axes, e.g.
            slices), intensities normalised as in :mod:`model.inference.segment`; None for a
            missing (or dropped) sequence.

    Returns:
        float32 array ``(..., C, H, W)``: ``stacked``: FLAIR, T1, T1ce (zeros when missing),
        presence(T1), presence(T1ce); ``flair``: FLAIR only.
    """
    flair = np.asarray(flair, dtype=np.float32)
    if design == "flair":
        return flair[..., None, :, :]
    if design != "stacked":
        raise ValueError(f"unknown segmentation design {design!r}")
    zeros = np.zeros_like(flair)
    chans = [flair, zeros if t1 is None else np.asarray(t1, np.float32),
             zeros if t1ce is None else np.asarray(t1ce, np.float32),
             np.full_like(flair, 0.0 if t1 is None else 1.0),
             np.full_like(flair, 0.0 if t1ce is None else 1.0)]
    return np.stack(chans, axis=-3)
