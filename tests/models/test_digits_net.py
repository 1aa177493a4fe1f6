"""digits_net: feature-map size, interface, stages, polarity invariance of the stem, options, determinism."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from wsol.models import MODELS, WSOLModel, build_model
from wsol.models.digits import DigitsNet


@pytest.fixture(scope="module")
def model() -> DigitsNet:
    torch.manual_seed(0)
    return build_model("digits_net", num_classes=7).eval()


@pytest.mark.parametrize("size,expected", [((64, 64), (8, 8)), ((48, 64), (6, 8)), ((96, 96), (12, 12))])
@torch.no_grad()
def test_feature_map_is_stride_8(model, size, expected):
    features = model.forward_features(torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(1)))
    assert features.shape == (2, 128, *expected)
    assert model.feature_dim == 128 and model.num_classes == 7


@torch.no_grad()
def test_interface_forward_stages_and_cam(model):
    assert isinstance(model, WSOLModel) and model.classifier is model.fc
    assert model.cam_layer_name == "block5" and dict(model.named_modules())["block5"] is model.stages()[-1]
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    features = model.forward_features(x)
    torch.testing.assert_close(model(x), model.classify(features), rtol=0, atol=1e-6)
    staged = x
    for stage in model.stages():
        staged = stage(staged)
    torch.testing.assert_close(staged, features, rtol=0, atol=1e-6)
    cams = torch.einsum("kc,nchw->nkhw", model.classifier.weight, features)
    torch.testing.assert_close(cams.mean(dim=(2, 3)) + model.classifier.bias, model(x), rtol=1e-5, atol=1e-5)
    groups = model.parameter_groups(lr=0.1)
    assert [g["name"] for g in groups] == ["features", "classifier"]
    assert groups[1]["params"] == list(model.fc.parameters())


@torch.no_grad()
def test_input_norm_and_abs_stem(model):
    """The input is normalised per image and channel (invariant to an affine change of each channel), and the stem
    responds identically to an image and its negative (ink darker or brighter than the background); the latter holds
    exactly for a fresh model in eval mode, whose BatchNorm has zero running mean and zero bias."""
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    scale, shift = torch.tensor([2.0, 0.5, 3.0]).view(1, 3, 1, 1), torch.tensor([1.0, -2.0, 0.3]).view(1, 3, 1, 1)
    torch.testing.assert_close(model.forward_features(x * scale + shift), model.forward_features(x),
                               rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(model.stem(-x), model.stem(x), rtol=1e-5, atol=1e-5)
    plain = MODELS.get("digits_net")(num_classes=3, input_norm=False, abs_stem=False).eval()
    assert not any(isinstance(m, nn.InstanceNorm2d) for m in plain.modules())
    assert isinstance(plain.stem[-1], nn.ReLU)
    assert plain.forward_features(torch.zeros(1, 3, 64, 64)).shape == (1, 128, 8, 8)


def test_widths_and_bad_options():
    narrow = MODELS.get("digits_net")(num_classes=4, widths=(8, 16, 16, 32, 40))
    assert narrow.feature_dim == 40 and narrow.fc.in_features == 40
    with pytest.raises(ValueError, match="widths"):
        MODELS.get("digits_net")(num_classes=4, widths=(8, 16))
    with pytest.raises(ValueError, match="input_norm"):
        MODELS.get("digits_net")(num_classes=4, input_norm=1)
    with pytest.raises(ValueError, match="in_channels"):
        MODELS.get("digits_net")(num_classes=4, in_channels=0)
    with pytest.raises(ValueError, match="digits_net has no large_feature_map variant"):
        build_model("digits_net", num_classes=3, large_feature_map=True)


def _train_steps(seed: int) -> torch.Tensor:
    torch.manual_seed(seed)
    net = MODELS.get("digits_net")(num_classes=10)
    opt = torch.optim.SGD(net.parameter_groups(lr=0.1, classifier_lr_mult=1.0), momentum=0.9, nesterov=True,
                          weight_decay=5e-4)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(2):
        x, y = torch.randn(8, 3, 64, 64, generator=gen), torch.randint(0, 10, (8,), generator=gen)
        loss = nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert torch.isfinite(loss) and all(p.grad is not None for p in net.parameters())
    return torch.cat([p.detach().flatten() for p in net.parameters()])


def test_trains_and_is_deterministic_on_cpu():
    torch.testing.assert_close(_train_steps(0), _train_steps(0), rtol=0, atol=0)


def test_digits_locnet_layout_receptive_field_and_size():
    """16x16 CAM at 64 px (stride 4), a 23-pixel receptive field (measured by back-propagating one cell), 47,482
    parameters (convs 432 + 4,608 + 13,824 + 27,648, BatchNorms 2 x 160, fc 650) and 12,238,848 conv multiply-adds
    (32*32*16*27 + 16*16*32*144 + 16*16*48*288 + 16*16*64*432)."""
    from wsol.models import build_model

    torch.manual_seed(0)
    model = build_model("digits_locnet", num_classes=10, input_norm=False).eval()  # instance norm couples pixels
    x = torch.randn(1, 3, 64, 64, requires_grad=True)
    features = model.forward_features(x)
    assert features.shape == (1, 64, 16, 16)
    features[0, :, 8, 8].sum().backward()
    rows = torch.nonzero(x.grad[0].abs().sum(0).sum(1)).flatten()
    cols = torch.nonzero(x.grad[0].abs().sum(0).sum(0)).flatten()
    assert int(rows[-1] - rows[0]) + 1 == 23 and int(cols[-1] - cols[0]) + 1 == 23
    assert sum(p.numel() for p in model.parameters()) == 47_482
    macs = []
    hooks = [m.register_forward_hook(lambda mod, i, out: macs.append(mod.weight.numel() * out.shape[2] * out.shape[3]))
             for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        model(torch.zeros(1, 3, 64, 64))
    for h in hooks:
        h.remove()
    assert sum(macs) == 32 * 32 * 16 * 27 + 16 * 16 * 32 * 144 + 16 * 16 * 48 * 288 + 16 * 16 * 64 * 432 == 12_238_848
