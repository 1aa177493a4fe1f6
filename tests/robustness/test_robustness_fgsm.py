"""FGSM and the pixel-space wrapper: exactness against the naive reference, state hygiene, errors, effect."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from wsol.constants import IMAGENET_MEAN, IMAGENET_STD
from wsol.models import build_model
from wsol.robustness import PixelSpaceModel, fgsm, fgsm_reference


def _digits(seed: int = 0, classes: int = 5) -> PixelSpaceModel:
    torch.manual_seed(seed)
    return PixelSpaceModel(build_model("digits_net", num_classes=classes, widths=(4, 8, 8, 8, 8))).eval()


def _batch(n: int, side: int, seed: int, classes: int, dtype=torch.float32, height: int | None = None):
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 3, height or side, side, generator=gen, dtype=dtype),
            torch.randint(0, classes, (n,), generator=gen))


# -- PixelSpaceModel --------------------------------------------------------------------------------------------------
def test_pixel_space_model_normalises_then_calls(make_toy):
    inner = make_toy(1).model
    wrapped = PixelSpaceModel(inner).eval()
    x, _ = _batch(3, 12, 0, 4)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(wrapped(x), inner((x - mean) / std), rtol=0, atol=0)
    assert set(wrapped.state_dict()) == {f"model.{k}" for k in inner.state_dict()}  # mean/std not persisted
    wrapped.train()
    assert inner.training and inner.bn.training


def test_pixel_space_model_errors(make_toy):
    inner = make_toy().model
    with pytest.raises(ValueError, match="equal length"):
        PixelSpaceModel(inner, mean=(0.5, 0.5), std=(0.2, 0.2, 0.2))
    with pytest.raises(ValueError, match="positive"):
        PixelSpaceModel(inner, mean=(0.5,) * 3, std=(0.2, 0.0, 0.2))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        PixelSpaceModel(inner)(torch.rand(2, 1, 8, 8))


# -- exactness ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("targeted", [False, True])
@pytest.mark.parametrize("which", ["toy", "digits_net", "float64"])
def test_fgsm_bit_identical_to_reference(make_toy, which, targeted):
    if which == "toy":
        model, (x, y), eps = make_toy(3), _batch(16, 12, 1, 4), 8 / 255
    elif which == "digits_net":
        model, (x, y), eps = _digits(), _batch(8, 32, 2, 5, height=24), 4 / 255  # non-square on purpose
    else:
        model, (x, y), eps = make_toy(4).double(), _batch(8, 12, 3, 4, dtype=torch.float64), 0.05
    target = (y + 1) % 4 if targeted else None
    fast = fgsm(model, x, y, eps=eps, targeted=targeted, target=target)
    ref = fgsm_reference(model, x, y, eps=eps, targeted=targeted, target=target)
    assert fast.dtype == ref.dtype == x.dtype and fast.device == ref.device
    assert torch.equal(fast, ref)


def test_fgsm_eps_zero_and_range(make_toy):
    model = make_toy(5)
    x, y = _batch(8, 12, 4, 4)
    x[0] = 0.0
    x[1] = 1.0  # saturated images: the clip must hold
    keep = x.clone()
    assert torch.equal(fgsm(model, x, y, eps=0.0), x)
    adv = fgsm(model, x, y, eps=0.1)
    assert torch.equal(x, keep)  # input untouched
    assert adv.min() >= 0 and adv.max() <= 1
    assert (adv - x).abs().max() <= 0.1 + 1e-6
    assert not adv.requires_grad and adv.grad_fn is None
    moved = (adv - x).abs()
    interior = (x > 0.1) & (x < 0.9) & (moved > 0)  # pixels the clip cannot reach (zero gradient: no move)
    assert interior.sum() > 100
    assert torch.allclose(moved[interior], torch.tensor(0.1), atol=1e-6)


def test_fgsm_restores_model_state_and_writes_no_grad(make_toy):
    model = make_toy(6)
    model.train()
    model.model.bn.eval()  # a mixed state must come back as it was
    model.model.conv1.weight.requires_grad_(False)
    flags = {name: m.training for name, m in model.named_modules()}
    req = {name: p.requires_grad for name, p in model.named_parameters()}
    bn_stats = model.model.bn.running_mean.clone()
    x, y = _batch(4, 12, 5, 4)
    with torch.no_grad():  # works under no_grad too
        adv = fgsm(model, x, y, eps=0.03)
    assert not torch.equal(adv, x)
    assert {name: m.training for name, m in model.named_modules()} == flags
    assert {name: p.requires_grad for name, p in model.named_parameters()} == req
    assert all(p.grad is None for p in model.parameters())
    assert torch.equal(model.model.bn.running_mean, bn_stats)  # ran in eval mode: statistics not updated


def test_fgsm_restores_state_when_the_model_raises(make_toy):
    model = make_toy(7).train()
    x, _ = _batch(2, 12, 6, 4)
    with pytest.raises(ValueError, match="classes must be in"):
        fgsm(model, x, torch.tensor([0, 9]), eps=0.1)
    assert all(m.training for m in model.modules())
    assert all(p.requires_grad for p in model.parameters())


def test_fgsm_batches_are_independent(make_toy):
    model = make_toy(8)
    x, y = _batch(16, 12, 7, 4)
    whole = fgsm(model, x, y, eps=0.05)
    parts = torch.cat([fgsm(model, x[:5], y[:5], eps=0.05), fgsm(model, x[5:], y[5:], eps=0.05)])
    assert (whole != parts).float().mean() < 1e-3  # summed loss: per-image gradients, up to float noise


def test_fgsm_errors(make_toy):
    model = make_toy()
    x, y = _batch(2, 12, 0, 4)
    with pytest.raises(ValueError, match="PixelSpaceModel"):
        fgsm(build_model("digits_net", num_classes=4, widths=(4, 8, 8, 8, 8)), x, y, eps=0.1)
    with pytest.raises(ValueError, match="got 8"):
        fgsm(model, x, y, eps=8)
    with pytest.raises(ValueError, match="finite"):
        fgsm(model, x, y, eps=float("nan"))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fgsm(model, (x - 0.45) / 0.22, y, eps=0.1)
    with pytest.raises(ValueError, match="dtype"):
        fgsm(model, (x * 255).to(torch.uint8), y, eps=0.1)
    with pytest.raises(ValueError, match="needs target"):
        fgsm(model, x, y, eps=0.1, targeted=True)
    with pytest.raises(ValueError, match="targeted=True"):
        fgsm(model, x, y, eps=0.1, target=y)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        fgsm(model, x, y[:1], eps=0.1)
    with pytest.raises(RuntimeError, match="inference_mode"):
        with torch.inference_mode():
            fgsm(model, x, y, eps=0.1)


# -- effect on a trained model --------------------------------------------------------------------------------------
def test_untargeted_fgsm_lowers_accuracy(trained_toy, toy_data):
    x, y = toy_data
    with torch.no_grad():
        clean = (trained_toy(x).argmax(1) == y).float().mean()
        adv = (trained_toy(fgsm(trained_toy, x, y, eps=0.15)).argmax(1) == y).float().mean()
    assert clean > 0.95
    assert adv < clean - 0.2


def test_targeted_fgsm_raises_target_probability(trained_toy, toy_data):
    x, y = toy_data
    target = (y + 1) % 4
    adv = fgsm(trained_toy, x, y, eps=0.1, targeted=True, target=target)
    with torch.no_grad():
        before = F.softmax(trained_toy(x), 1).gather(1, target[:, None]).squeeze(1)
        after = F.softmax(trained_toy(adv), 1).gather(1, target[:, None]).squeeze(1)
    assert after.mean() > before.mean() + 0.05
    assert (after > before).float().mean() > 0.9
