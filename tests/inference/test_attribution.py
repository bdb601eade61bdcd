"""Attribution maps: every method on the volume grid, the same voxels in every view, exact
slice-wise Occlusion, LayerGradCam safe under concurrency, injectable steps, eval helpers."""

import gzip
import threading

import nibabel as nib
import numpy as np
import pytest
import torch

from model.inference import attribution as A
from model.nets.classifier import MultiSequenceNet, NetConfig
from model.inference.classify import ATTRIBUTION_METHODS
from model.views.render import VIEWS, extract_slice, pixel_to_voxel, view_axis
from model.imaging.study import Study

FAST = {"n_steps": 4, "internal_batch_size": 2, "window": 64, "stride": 64}


@pytest.fixture(scope="module")
def small_study(demo_study):
    """T1ce + FLAIR of the demo study (two of the model's three sequences: faster)."""
    return Study(volumes={s: demo_study.volumes[s] for s in ("T1ce", "FLAIR")})


@pytest.fixture(scope="module")
def prepared(predictor, small_study):
    return predictor.prepare(small_study)


def test_methods_listed_once():
    assert tuple(ATTRIBUTION_METHODS) == A.METHODS
    assert set(A.METHODS) == {"Saliency", "IntegratedGradients", "Occlusion", "LayerGradCam"}


@pytest.mark.parametrize("method", A.METHODS)
def test_each_method_returns_maps_on_the_volume_grid(predictor, small_study, prepared, method):
    seen = []
    maps = predictor.attribution(small_study, method, prepared=prepared, progress=seen.append, **FAST)
    assert set(maps) == {"T1ce", "FLAIR"}
    assert any(m.any() for m in maps.values())
    for seq, m in maps.items():
        assert m.shape == small_study.volumes[seq].shape
        assert m.dtype == np.float32 and m.min() >= 0 and m.max() <= 1
        # Background far from the head (zero in this skull-stripped study) gets nothing.
        assert m[:5, :5, :].max() == 0
    assert seen and seen[-1] == 1.0 and all(0 <= f <= 1 for f in seen)
    assert seen == sorted(seen)


@pytest.mark.parametrize("method", ["DeepLift", "saliency", "", "GradCAM"])
def test_unknown_method_is_refused(predictor, small_study, method):
    with pytest.raises(ValueError, match="Unknown attribution method"):
        predictor.attribution(small_study, method)
    with pytest.raises(ValueError, match="Unknown attribution method"):
        A.compute_attribution(predictor.net, torch.zeros(1, 3, 2, 8, 8),
                              torch.ones(1, 3, dtype=torch.bool), method)


def _cube_study():
    """An anisotropic, LPS-stored head with a bright cube at known RAS voxels."""
    shape = (48, 56, 20)
    ras = np.zeros(shape, np.float32)
    ii, jj, kk = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    head = ((ii - 24) / 20) ** 2 + ((jj - 28) / 24) ** 2 + ((kk - 10) / 9) ** 2 <= 1
    ras[head] = 100
    cube = (slice(30, 36), slice(14, 20), slice(6, 12))  # right, posterior, middle
    ras[cube] = 400
    # Store it LPS (flip x and y) with 0.9 x 1.1 x 3 mm voxels.
    lps = ras[::-1, ::-1, :].copy()
    aff = np.array([[-0.9, 0, 0, 20.0], [0, -1.1, 0, 30.0], [0, 0, 3.0, -25.0], [0, 0, 0, 1]])
    raw = gzip.compress(nib.Nifti1Image(lps, aff).to_bytes())
    study = Study.from_bytes([("cube_flair.nii.gz", raw, None)])
    assert np.array_equal(study.volumes["FLAIR"].data, ras)
    return study, cube


def test_maps_land_on_the_same_voxels_in_every_view(predictor):
    """With an injected compute step that returns the model input itself, the map brought back
    to the volume must reproduce the volume: the bright cube is where the map peaks, in every
    view and both conventions."""
    study, cube = _cube_study()

    def echo_input(net, x, present, method, target=None, progress=None, **kw):
        return x.detach().cpu().clone()

    maps = predictor.attribution(study, "Saliency", compute=echo_input,
                                 postprocess=lambda m: m / m.max())
    m = maps["FLAIR"]
    vol = study.volumes["FLAIR"].data
    assert m.shape == vol.shape
    inside = np.zeros(vol.shape, bool)
    inside[cube] = True
    hot = m >= 0.6
    assert hot.any()
    # Every hot voxel is in the cube (one voxel of interpolation blur allowed in-plane).
    grown = np.zeros_like(inside)
    grown[29:37, 13:21, 6:12] = True
    assert not (hot & ~grown).any()
    # In each view through the cube centre the brightest pixel maps back into the cube.
    centre = (33, 17, 8)
    for view in VIEWS:
        for convention in ("radiological", "neurological"):
            idx = centre[view_axis(view)]
            img = extract_slice(m, view, idx, convention)
            r, c = np.unravel_index(int(np.argmax(img)), img.shape)
            ijk = pixel_to_voxel(r, c, idx, vol.shape, view, convention)
            assert inside[ijk], (view, convention, ijk)
    # The map follows the image intensities voxel for voxel on the sampled slices.
    z = predictor.prepare(study).geometry["FLAIR"].z_index
    fg = vol[:, :, z] > 0
    assert np.corrcoef(m[:, :, z][fg], vol[:, :, z][fg])[0, 1] > 0.9


def _tiny_net(seed=0):
    torch.manual_seed(seed)
    net = MultiSequenceNet(NetConfig(sequences=["T1", "FLAIR"], classes=["a", "b"], channels=[4, 8],
                                     attention_dim=8)).eval()
    for mod in net.modules():  # non-trivial BatchNorm statistics
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.2, 0.2)
            mod.running_var.uniform_(0.5, 1.5)
    return net


def test_slice_wise_occlusion_equals_captum_on_the_full_input():
    from captum.attr import Occlusion

    net = _tiny_net()
    torch.manual_seed(1)
    x = torch.rand(1, 2, 3, 32, 32)
    x[0, 1, :, :8] = 0  # background rows: skipped windows must still give the same answer
    present = torch.tensor([[True, True]])
    fast = A.compute_attribution(net, x, present, "Occlusion", target=1, window=16, stride=8)

    def forward(inp):
        return net(inp, present.expand(inp.shape[0], -1))["logits"]

    with torch.no_grad():
        ref = Occlusion(forward).attribute(x, sliding_window_shapes=(1, 1, 16, 16), strides=(1, 1, 8, 8),
                                           baselines=0.0, target=1, perturbations_per_eval=16)
    torch.testing.assert_close(fast, ref, atol=2e-5, rtol=1e-4)


def test_absent_sequences_get_zero_and_postprocess_sees_only_present():
    net = _tiny_net()
    x = torch.rand(1, 2, 3, 32, 32)
    present = torch.tensor([[False, True]])
    seen = {}

    def post(m):
        seen["shape"] = m.shape
        return A.scale_abs(m)

    out = A.attribution_slices(net, x, present, "Saliency", postprocess=post)
    assert seen["shape"] == (1, 3, 32, 32)
    assert out.shape == (2, 3, 32, 32) and not out[0].any() and out[1].max() == pytest.approx(1.0)


def test_scale_abs_keeps_zero_at_zero():
    m = np.zeros((2, 1, 4, 4), np.float32)
    m[0, 0, 0, 0] = -3.0
    m[0, 0, 1, 1] = 1.5
    out = A.scale_abs(m, q=100)
    assert out[0, 0, 0, 0] == 1.0 and out[0, 0, 1, 1] == 0.5 and not out[1].any()
    common = A.scale_abs(np.stack([m[0], m[0] * 2]), q=100, per_sequence=False)
    assert common[1].max() == 1.0 and common[0].max() == 0.5


def _hooks(net):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
               for m in net.modules())


def test_layergradcam_concurrent_equals_sequential(predictor, small_study, prepared):
    """Two sessions computing Grad-CAM at once (and a third predicting) get the sequential maps:
    hooks live on a private copy, never on the shared network."""
    flair = Study(volumes={"FLAIR": small_study.volumes["FLAIR"]})
    prep = predictor.prepare(flair)
    ref = predictor.attribution(flair, "LayerGradCam", prepared=prep)["FLAIR"]
    ref_pred = predictor.predict(flair, prep).probabilities
    results, errors = {}, []
    barrier = threading.Barrier(3)

    def gradcam(name):
        try:
            barrier.wait()
            results[name] = predictor.attribution(flair, "LayerGradCam", prepared=prep)["FLAIR"]
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def predict():
        try:
            barrier.wait()
            for _ in range(3):
                results.setdefault("pred", []).append(predictor.predict(flair, prep).probabilities)
        except Exception as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=gradcam, args=(n,)) for n in ("a", "b")] + [threading.Thread(target=predict)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    np.testing.assert_allclose(results["a"], ref, atol=1e-5)
    np.testing.assert_allclose(results["b"], ref, atol=1e-5)
    assert all(p == pytest.approx(ref_pred) for p in results["pred"])
    assert _hooks(predictor.net) == 0


def test_randomised_weights_change_the_maps():
    """Adebayo et al. 2018: re-initialising the model must change the map."""
    from training.attribution_eval import randomised, spearman

    net = _tiny_net()
    torch.manual_seed(3)
    x = torch.rand(1, 2, 4, 32, 32)
    present = torch.tensor([[True, True]])
    cand = (x[0] > 0).numpy()
    for method in ("Saliency", "LayerGradCam"):
        a = A.compute_attribution(net, x, present, method, target=0)[0].numpy()
        again = A.compute_attribution(net, x, present, method, target=0)[0].numpy()
        assert spearman(a, again, cand) == pytest.approx(1.0)
        r = A.compute_attribution(randomised(net, "full", seed=5), x, present, method, target=0)[0].numpy()
        assert spearman(a, r, cand) < 0.9


def test_deletion_curve_ranks_a_known_important_region_first():
    """A toy 'model' whose score only depends on one region: ordering by the true importance
    removes the score much faster than a random ordering (lower deletion AUC, higher insertion)."""
    from training.attribution_eval import FRACTIONS, auc, deletion_insertion, ranking

    x = torch.rand(1, 1, 2, 16, 16) + 0.1
    region = torch.zeros_like(x[0], dtype=torch.bool)
    region[:, :, 4:8, 4:8] = True

    def prob(xb):
        return torch.sigmoid(xb[:, region].sum(1) - 8).numpy()

    cand = (x[0] > 0).numpy()
    true = region.float().numpy()
    d, i = deletion_insertion(prob, x, ranking(true, cand), FRACTIONS)
    rd, ri = deletion_insertion(prob, x, ranking(None, cand, np.random.default_rng(0)), FRACTIONS)
    assert d[0] == pytest.approx(i[-1]) and d[-1] == pytest.approx(i[0])
    assert auc(d) < auc(rd) - 0.1 and auc(i) > auc(ri) + 0.1
    assert auc(np.ones(len(FRACTIONS))) == pytest.approx(1.0)
    # Block ranking: the 4x4 blocks of the region come first, random blocks stay whole.
    order = ranking(true, cand, block=4)
    assert region.numpy().ravel()[order[:32]].all()
    rnd = ranking(None, cand, np.random.default_rng(1), block=4)
    assert sorted(rnd) == sorted(order)
    first = np.unravel_index(rnd[:16], cand.shape)
    assert len({(k, h // 4, w // 4) for _, k, h, w in zip(*first)}) == 1
    db, ib = deletion_insertion(prob, x, order, FRACTIONS)
    rdb, rib = deletion_insertion(prob, x, rnd, FRACTIONS)
    assert auc(db) < auc(rdb) and auc(ib) > auc(rib)
