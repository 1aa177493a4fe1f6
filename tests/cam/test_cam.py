"""CAM, Grad-CAM, Grad-CAM++ and the published normalisation."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from wsol.cam import cam_from_features, class_activation_maps, grad_cam, normalize_cam, resize_and_normalize
from wsol.models.builder import build_model


def test_cam_by_hand():
    f = torch.tensor([[[[1.0, 2.0]], [[3.0, -1.0]]]])  # (1, 2, 1, 2)
    w = torch.tensor([[1.0, 0.0], [2.0, 1.0], [0.0, -1.0]])  # (3, 2)
    expected = torch.tensor([[[1.0, 2.0]], [[5.0, 3.0]], [[-3.0, 1.0]]]) / 2  # mean over the 2 channels
    assert torch.allclose(cam_from_features(f, w), expected[None])
    assert torch.allclose(cam_from_features(f, w, torch.tensor([1])), expected[1][None])
    assert torch.allclose(cam_from_features(f, w, torch.tensor([[2, 0]])), expected[[2, 0]][None])


def test_cam_shapes_and_errors():
    f = torch.randn(2, 4, 3, 5)
    w = torch.randn(6, 4)
    assert cam_from_features(f, w, torch.tensor([[0, 1, 2], [3, 4, 5]])).shape == (2, 3, 3, 5)
    with pytest.raises(ValueError, match="classes must lie in"):
        cam_from_features(f, w, torch.tensor([0, 6]))
    with pytest.raises(ValueError, match="weight must be"):
        cam_from_features(f, torch.randn(6, 3))


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("resnet18", num_classes=7).eval()


def test_model_cams_equal_features_times_weights(model):
    x = torch.randn(3, 3, 48, 40, generator=torch.Generator().manual_seed(1))
    labels = torch.tensor([0, 6, 2])
    logits, cams = class_activation_maps(model, x, labels)
    feats = model.forward_features(x).detach()
    w = model.fc.weight.detach()
    by_hand = torch.stack([(w[labels[i]][:, None, None] * feats[i]).mean(0) for i in range(3)])
    assert torch.allclose(cams, by_hand, atol=1e-6)
    assert torch.allclose(logits, model(x), atol=1e-5)
    _, top = class_activation_maps(model, x, top=2)
    assert top.shape == (3, 2) + cams.shape[1:]


def test_gradcam_is_relu_cam_times_a_positive_factor_on_a_gap_linear_net(model):
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    labels = torch.tensor([3, 5])
    _, cams = class_activation_maps(model, x, labels)
    _, g = grad_cam(model, x, labels)
    h, w = cams.shape[1:]
    factor = model.feature_dim / (h * w)  # d logit / d A = w_k / (h w); CAM uses the channel mean
    assert torch.allclose(g, cams.clamp(min=0) * factor, rtol=1e-4, atol=1e-6)


def test_gradcam_leaves_the_model_as_it_was(model):
    model.train()
    flags = [p.requires_grad for p in model.parameters()]
    x = torch.randn(2, 3, 32, 32)
    try:
        grad_cam(model, x, torch.tensor([0, 1]))
        grad_cam(model, x, plus=True)
        assert model.training
    finally:
        model.eval()
    assert all(p.grad is None for p in model.parameters())
    assert [p.requires_grad for p in model.parameters()] == flags
    assert not model.layer4._forward_hooks and torch.is_grad_enabled()


def test_gradcam_removes_its_hook_when_the_forward_fails():
    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 2, 1)

        def forward(self, x):
            self.conv(x)
            raise RuntimeError("boom")

    net = Broken()
    with pytest.raises(RuntimeError, match="boom"):
        grad_cam(net, torch.randn(1, 3, 4, 4), torch.tensor([0]), layer="conv")
    assert not net.conv._forward_hooks and torch.is_grad_enabled()
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        grad_cam(net, torch.randn(1, 3, 4, 4), layer="nope")


def test_gradcam_plus_plus_by_hand_on_a_tiny_net():
    # y = sum_k v_k * mean_xy(A_k) with A = conv output: g = v_k / (hw) constant per channel
    net = nn.Sequential(nn.Conv2d(1, 2, 1, bias=False), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 1,
                                                                                                          bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[[[1.0]]], [[[-1.0]]]]))
        net[3].weight.copy_(torch.tensor([[2.0, 1.0]]))
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    _, m = grad_cam(net, x, torch.tensor([0]), layer=net[0], plus=True)
    a = torch.stack([x[0, 0], -x[0, 0]])
    g = torch.tensor([2.0, 1.0]) / 4
    s = a.sum(dim=(1, 2))
    alpha = g ** 2 / (2 * g ** 2 + s * g ** 3)
    weights = 4 * alpha * g.clamp(min=0)
    expected = (weights[:, None, None] * a).sum(0).clamp(min=0)
    assert torch.allclose(m[0], expected)


def test_normalize_like_wsolevaluation():
    cam = np.array([[1.0, 3.0], [5.0, 2.0]])
    assert np.array_equal(normalize_cam(cam), np.array([[0.0, 0.5], [1.0, 0.25]]))
    assert np.array_equal(normalize_cam(np.full((3, 2), 7.0)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="NaN"):
        normalize_cam(np.array([[np.nan, 1.0]]))


def test_resize_and_normalize_matches_opencv_bicubic():
    rng = np.random.default_rng(0)
    cams = rng.standard_normal((2, 7, 5)).astype(np.float32)
    out = resize_and_normalize(cams, (20, 30))
    assert out.shape == (2, 30, 20) and out.dtype == np.float64
    for i in range(2):
        ref = cv2.resize(cams[i].astype(np.float64), (20, 30), interpolation=cv2.INTER_CUBIC)
        ref = (ref - ref.min()) / (ref - ref.min()).max()
        assert np.allclose(out[i], ref, atol=0, rtol=0)
        assert out[i].min() == 0.0 and out[i].max() == 1.0
