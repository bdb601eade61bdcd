"""The multi-sequence classifier (model.nets.classifier): absent sequences are masked out, the
2D and 3D branch designs keep one interface."""

import pytest
import torch

from model.nets.classifier import MultiSequenceNet, NetConfig


def test_network_masks_absent_sequences():
    net = MultiSequenceNet(NetConfig(channels=[4, 8], attention_dim=8)).eval()
    x = torch.randn(2, 3, 5, 32, 32)
    present = torch.tensor([[True, False, True], [False, False, True]])
    with torch.no_grad():
        out = net(x, present)
    w = out["sequence_weights"]
    assert torch.allclose(w.sum(1), torch.ones(2))
    assert float(w[0, 1]) == 0 and float(w[1, 0]) == 0 and float(w[1, 2]) == pytest.approx(1.0)
    # Changing an absent sequence's input changes nothing.
    x2 = x.clone()
    x2[1, 0] = torch.randn(5, 32, 32)
    with torch.no_grad():
        assert torch.allclose(net(x2, present)["logits"][1], out["logits"][1])


def test_three_d_network_uses_one_cube_per_sequence_and_masks_absent_ones():
    cfg = NetConfig(encoder="3d", volume_size=32, dropout=0.0, densenet=[8, 8, 1, 1, 1, 1])
    net = MultiSequenceNet(cfg).eval()
    x = torch.randn(2, 3, 32, 32, 32)
    present = torch.tensor([[True, False, True], [False, True, False]])
    with torch.no_grad():
        out = net(x, present)
        x2 = x.clone()
        x2[0, 1] = torch.randn(32, 32, 32)  # absent: must not matter
        out2 = net(x2, present)
    assert out["logits"].shape == (2, 2) and out["risk"].shape == (2,)
    assert out["slice_weights"].shape == (2, 3, 1)
    assert torch.allclose(out["slice_weights"], torch.ones(2, 3, 1))
    assert torch.allclose(out["sequence_weights"].sum(1), torch.ones(2))
    assert float(out["sequence_weights"][1, 1]) == pytest.approx(1.0)
    assert torch.allclose(out2["logits"], out["logits"])
    with pytest.raises(ValueError, match="encoder"):
        MultiSequenceNet(NetConfig(encoder="4d"))
