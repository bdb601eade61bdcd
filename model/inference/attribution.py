"""Attribution maps (Captum) of the multi-sequence slice model, on the model input and back on
each sequence's own voxel grid.

Two steps, both injectable (as ``compute_map`` / ``postprocessing`` in MONAI's
``monai.visualize`` classes):

1. **compute** (:func:`compute_attribution`): raw, signed attribution of the target class
   logit w.r.t. the model input ``x`` (1, S, K, H, W) float32. Methods (Captum 0.9):

   * ``Saliency``: gradient of the logit (Simonyan, Vedaldi & Zisserman, ICLR workshop 2014).
   * ``IntegratedGradients``: path integral of gradients from a zero baseline (zero is the
     background value after :func:`model.inference.preprocess.volume_to_slices`); Riemann/Gauss-Legendre
     with ``n_steps`` steps, at most ``internal_batch_size`` steps per forward pass to bound
     memory (Sundararajan, Taly & Yan, ICML 2017).
   * ``Occlusion``: drop of the logit when a ``window`` x ``window`` patch of one slice is set
     to 0, with stride ``stride`` (Zeiler & Fergus, ECCV 2014). Patches never span slices, so it
     is computed slice by slice: only the occluded slice is re-encoded, the other slices'
     features are reused (same logits as the full forward, ~70x fewer encoder passes).
   * ``LayerGradCam``: Grad-CAM on the last stage of each sequence's encoder
     (``net.branches[seq].features[-1]``, 8 x 8 per slice), ReLU, bilinear upsampling to the
     slice size (Selvaraju et al., ICCV 2017).

2. **postprocess** (default :func:`scale_abs`): signed raw maps of the present sequences
   (S_present, K, H, W) -> displayable maps in [0, 1]. Unlike MONAI's default GradCAM
   normaliser (min-max, which sends the maximum of a constant map to 0), the default keeps
   zero at zero and divides by a high percentile.

Then :func:`model.inference.preprocess.slices_to_volume` puts each (K, H, W) map back on the RAS voxel
grid of its sequence, so an overlay lands on the voxels the model saw in every view.

Thread safety: Saliency, IntegratedGradients and Occlusion only differentiate or evaluate the
shared network and register no hooks. LayerGradCam registers forward/backward hooks on a layer,
which on a network shared between sessions would capture other threads' activations (and
another session's ``predict`` would fire them); it therefore runs on a private
``copy.deepcopy`` of the network (5 MB, ~10 ms), never on the shared one.
"""

from __future__ import annotations

import copy
import math
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from model.imaging.volume import same_grid
from model.inference.preprocess import SliceGeometry, slices_to_volume

#: Methods offered in the UI, fastest first.
METHODS = ("Saliency", "LayerGradCam", "Occlusion", "IntegratedGradients")

#: Default settings per method (what the app uses).
DEFAULTS = {
    "n_steps": 16,             # IntegratedGradients
    "internal_batch_size": 4,  # IntegratedGradients: steps per forward pass (memory bound)
    "window": 32,              # Occlusion patch side (model pixels, 128-pixel slices)
    "stride": 32,              # Occlusion stride (= window: 16 patches per slice)
    "perturbations_per_eval": 16,
}

Progress = Callable[[float], None] | None
ComputeFn = Callable[..., torch.Tensor]
PostprocessFn = Callable[[np.ndarray], np.ndarray]


def check_method(method: str) -> None:
    """Raise ValueError naming the valid methods when ``method`` is not one of :data:`METHODS`."""
    if method not in METHODS:
        raise ValueError(f"Unknown attribution method {method!r}; use one of {METHODS}.")


def predicted_target(net: nn.Module, x: torch.Tensor, present: torch.Tensor) -> int:
    """Index of the most probable class for input ``x`` (1, S, K, H, W)."""
    with torch.inference_mode():
        return int(net(x, present)["logits"][0].argmax())


class _Counter:
    """Forward wrapper that reports progress as (calls so far) / (calls expected)."""

    def __init__(self, fn, expected: int, progress: Progress, lo: float = 0.05, hi: float = 0.9):
        self.fn, self.expected, self.progress, self.lo, self.hi = fn, max(1, expected), progress, lo, hi
        self.calls = 0

    def __call__(self, *args):
        out = self.fn(*args)
        self.calls += 1
        if self.progress is not None:
            frac = min(1.0, self.calls / self.expected)
            self.progress(self.lo + (self.hi - self.lo) * frac)
        return out


def _logits_fn(net: nn.Module, present: torch.Tensor):
    def forward(inp: torch.Tensor) -> torch.Tensor:
        return net(inp, present.expand(inp.shape[0], -1))["logits"]
    return forward


def _saliency(net, x, present, target, progress, **_):
    from captum.attr import Saliency

    fwd = _Counter(_logits_fn(net, present), 1, progress)
    return Saliency(fwd).attribute(x.requires_grad_(True), target=target, abs=False)


def _integrated_gradients(net, x, present, target, progress, n_steps=None, internal_batch_size=None, **_):
    from captum.attr import IntegratedGradients

    n_steps = int(n_steps or DEFAULTS["n_steps"])
    ibs = int(internal_batch_size or DEFAULTS["internal_batch_size"])
    fwd = _Counter(_logits_fn(net, present), math.ceil(n_steps / ibs), progress)
    return IntegratedGradients(fwd).attribute(
        x.requires_grad_(True), baselines=torch.zeros_like(x), target=target, n_steps=n_steps,
        internal_batch_size=ibs)


def _layer_gradcam(net, x, present, target, progress, **_):
    """Grad-CAM per present sequence, on a private deep copy of ``net`` (hooks stay local)."""
    from captum.attr import LayerAttribution, LayerGradCam

    private = copy.deepcopy(net).eval()
    _, s, k, h, w = x.shape
    out = torch.zeros_like(x)
    seqs = list(private.config.sequences)
    todo = [i for i in range(s) if bool(present[0, i])]
    fwd = _logits_fn(private, present)
    for n, i in enumerate(todo):
        layer = private.branches[seqs[i]].features[-1]
        cam = LayerGradCam(fwd, layer).attribute(x, target=target, relu_attributions=True)
        # cam: (K, 1, h', w'), one map per slice of this sequence (the branch sees B*K slices).
        up = LayerAttribution.interpolate(cam, (h, w), interpolate_mode="bilinear")
        out[0, i] = up[:, 0].reshape(k, h, w)
        if progress is not None:
            progress(0.05 + 0.85 * (n + 1) / len(todo))
    return out


def _occlusion(net, x, present, target, progress, window=None, stride=None,
               perturbations_per_eval=None, **_):
    """Occlusion slice by slice, re-encoding only the occluded slice (exact, see module doc)."""
    from captum.attr import Occlusion

    window = int(window or DEFAULTS["window"])
    stride = int(stride or DEFAULTS["stride"])
    ppe = int(perturbations_per_eval or DEFAULTS["perturbations_per_eval"])
    _, s, k, _, _ = x.shape
    seqs = list(net.config.sequences)
    out = torch.zeros_like(x)
    with torch.inference_mode():
        feats0 = net.encode(x)  # (1, S, K, D): every slice encoded once
    todo = [(i, z) for i in range(s) if bool(present[0, i]) for z in range(k) if bool(x[0, i, z].any())]
    for n, (i, z) in enumerate(todo):
        q = seqs[i]

        def forward(sl: torch.Tensor, i=i, z=z, q=q) -> torch.Tensor:
            b = sl.shape[0]
            f = feats0.expand(b, -1, -1, -1).clone()
            # A patch over pure background equals the baseline: that slice is unchanged.
            changed = (sl != x[:, i, z][:, None]).flatten(1).any(1)
            if bool(changed.any()):
                f[changed, i, z] = net.branches[q].features_only(sl[changed])
            return net.head(f, present.expand(b, -1))["logits"]

        with torch.inference_mode():
            a = Occlusion(forward).attribute(
                x[:, i, z][:, None], sliding_window_shapes=(1, window, window),
                strides=(1, stride, stride), baselines=0.0, target=target,
                perturbations_per_eval=ppe)
        out[0, i, z] = a[0, 0]
        if progress is not None:
            progress(0.05 + 0.85 * (n + 1) / len(todo))
    return out


_METHODS: dict[str, ComputeFn] = {
    "Saliency": _saliency,
    "IntegratedGradients": _integrated_gradients,
    "Occlusion": _occlusion,
    "LayerGradCam": _layer_gradcam,
}


def compute_attribution(net: nn.Module, x: torch.Tensor, present: torch.Tensor, method: str,
                        target: int | None = None, progress: Progress = None, **settings) -> torch.Tensor:
    """Raw, signed attribution of one study's model input (the default *compute* step).

    Parameters
    ----------
    net : nn.Module
        a :class:`model.nets.classifier.MultiSequenceNet` in eval mode (shared is fine: see the
        module doc on thread safety).
    x : torch.Tensor
        float32 (1, S, K, H, W) model input (:meth:`model.inference.classify.Predictor.prepare`),
        on the network's device.
    present : torch.Tensor
        bool (1, S).
    method : str
        one of :data:`METHODS`.
    target : int, optional
        class index; default the predicted class.
    progress : Progress, optional
        optional callback receiving a fraction in [0, 1] as the work proceeds.
    settings
        ``n_steps``, ``internal_batch_size`` (IntegratedGradients), ``window``,
        ``stride``, ``perturbations_per_eval`` (Occlusion); defaults :data:`DEFAULTS`.

    Returns
    -------
    torch.Tensor
        float32 tensor (1, S, K, H, W) on the CPU, zero for absent sequences, in logit units
        per input unit (Saliency), logit units (IntegratedGradients, Occlusion) or
        activation x gradient units (LayerGradCam, >= 0).

    Raises
    ------
    ValueError
        unknown method.
    """
    check_method(method)
    x = x.detach().clone()
    if target is None:
        target = predicted_target(net, x, present)
    if progress is not None:
        progress(0.02)
    with torch.enable_grad():
        attr = _METHODS[method](net, x, present, target, progress, **settings)
    attr = attr.detach().float().cpu()
    attr[:, ~present[0].cpu()] = 0
    return attr


def scale_abs(maps: np.ndarray, q: float = 99.5, per_sequence: bool = True) -> np.ndarray:
    """Default post-processing: ``|map|`` divided by its ``q``-th percentile of non-zero values,
    clipped to [0, 1].

    Parameters
    ----------
    maps : np.ndarray
        float (S, K, H, W) raw maps of the present sequences.
    q : float, optional
        percentile used as the "full scale" value (robust to a few extreme pixels).
    per_sequence : bool, optional
        scale each sequence on its own (default) or all on a common scale (then
        the maps also compare the sequences with each other).

    Returns
    -------
    np.ndarray
        float32 array of the same shape in [0, 1]; an all-zero map stays zero.
    """
    a = np.abs(np.asarray(maps, dtype=np.float32))
    groups = [a[i] for i in range(a.shape[0])] if per_sequence else [a]
    for g in groups:
        nz = g[g > 0]
        scale = float(np.percentile(nz, q)) if nz.size else 1.0
        g /= max(scale, 1e-12)
        np.clip(g, 0, 1, out=g)
    return a


def to_volumes(maps: np.ndarray, sequences: Sequence[str], geometry: dict[str, SliceGeometry]) -> dict[str, np.ndarray]:
    """Map (S_present, K, H, W) slice maps back to each sequence's RAS volume grid.

    Returns sequence -> float32 array with the volume's shape (see
    :func:`model.inference.preprocess.slices_to_volume`).
    """
    return {s: slices_to_volume(m, geometry[s]) for s, m in zip(sequences, maps)}


def attribution_slices(net: nn.Module, x: torch.Tensor, present: torch.Tensor, method: str,
                       target: int | None = None, compute: ComputeFn = compute_attribution,
                       postprocess: PostprocessFn = scale_abs, progress: Progress = None,
                       **settings) -> np.ndarray:
    """Post-processed maps on the model input: float32 (S, K, H, W), zero for absent
    sequences. ``compute`` and ``postprocess`` are injectable (defaults
    :func:`compute_attribution`, :func:`scale_abs`); the latter sees only present sequences."""
    raw = compute(net, x, present, method, target=target, progress=progress, **settings)[0].numpy()
    idx = np.flatnonzero(present[0].cpu().numpy())
    out = np.zeros_like(raw, dtype=np.float32)
    if idx.size:
        out[idx] = postprocess(raw[idx])
    return out


def attribution_maps(net: nn.Module, x: torch.Tensor, present: torch.Tensor,
                     geometry: dict[str, SliceGeometry], method: str, target: int | None = None,
                     compute: ComputeFn = compute_attribution, postprocess: PostprocessFn = scale_abs,
                     progress: Progress = None, **settings) -> dict[str, np.ndarray]:
    """Attribution maps of one study on each used sequence's RAS voxel grid.

    Parameters
    ----------
    net, x, present, method, target, settings
        see :func:`compute_attribution`.
    geometry : dict[str, SliceGeometry]
        sequence -> :class:`model.inference.preprocess.SliceGeometry` of the present
        sequences (from :meth:`model.inference.classify.Predictor.prepare`).
    compute : ComputeFn, optional
        the raw-map step (injectable), signature of :func:`compute_attribution`.
    postprocess : PostprocessFn, optional
        (S_present, K, H, W) raw -> same shape in [0, 1] (injectable).
    progress : Progress, optional
        callback receiving fractions in [0, 1].

    Returns
    -------
    dict[str, np.ndarray]
        sequence (present ones, model order) -> float32 (X, Y, Z) in [0, 1].

    Raises
    ------
    ValueError
        unknown method.
    """
    seqs = list(net.config.sequences)
    maps = attribution_slices(net, x, present, method, target, compute, postprocess, progress, **settings)
    used = [i for i, s in enumerate(seqs) if bool(present[0, i])]
    vols = to_volumes(maps[used], [seqs[i] for i in used], geometry)
    if progress is not None:
        progress(1.0)
    return vols


def peak_voxel(amap: np.ndarray, z: int | None = None) -> tuple[int, int, int]:
    """Key voxel of an attribution map for display: the strongest voxel of axial slice ``z``.

    Parameters
    ----------
    amap : np.ndarray
        float (X, Y, Z) map on a volume's voxels (see :func:`attribution_maps`).
    z : int, optional
        axial index; default the slice with the largest summed attribution.

    Returns
    -------
    tuple[int, int, int]
        (i, j, k) voxel indices. On an all-zero slice the in-plane position of the map's global
        maximum is used. Shared by the Prediction page and the PDF report, so both show the
        same slices.
    """
    if z is None:
        z = int(np.argmax(amap.sum(axis=(0, 1))))
    plane = amap[:, :, z]
    src = plane if plane.any() else amap
    ij = np.unravel_index(int(np.argmax(src)), src.shape)
    return int(ij[0]), int(ij[1]), int(z)


def map_for_sequence(study, maps: dict[str, np.ndarray], seq: str
                     ) -> tuple[np.ndarray | None, str | None]:
    """The map to overlay on ``seq``: its own, else one of a sequence on the same voxel grid
    (:func:`model.imaging.volume.same_grid`), for sequences the model does not use.

    Returns ``(map (X, Y, Z) or None, the sequence it was computed for or None)``.
    """
    if seq in maps:
        return maps[seq], seq
    for s, m in maps.items():
        if same_grid(study.volumes[s], study.volumes[seq]):
            return m, s
    return None, None
