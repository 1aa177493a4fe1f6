"""Centre / boundary occlusion: exact masks by hand, fill conventions, accuracy evaluator."""
from __future__ import annotations

import pytest
import torch

from wsol.constants import IMAGENET_MEAN
from wsol.robustness import PixelSpaceModel, boundary_occlusion, center_occlusion, occlusion_accuracy, occlusion_mask


def _m(rows):
    return torch.tensor(rows, dtype=torch.bool)


@pytest.mark.parametrize("height,width,size,expected", [
    (4, 4, 2, [[0, 0, 0, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]]),
    (4, 4, 1, [[0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]),   # odd margin: extra pixel bottom/right
    (4, 4, 3, [[1, 1, 1, 0], [1, 1, 1, 0], [1, 1, 1, 0], [0, 0, 0, 0]]),
    (5, 5, 3, [[0, 0, 0, 0, 0], [0, 1, 1, 1, 0], [0, 1, 1, 1, 0], [0, 1, 1, 1, 0], [0, 0, 0, 0, 0]]),
    (5, 5, 2, [[0, 0, 0, 0, 0], [0, 1, 1, 0, 0], [0, 1, 1, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]]),
    (3, 3, 0, [[0, 0, 0], [0, 0, 0], [0, 0, 0]]),
    (3, 3, 3, [[1, 1, 1], [1, 1, 1], [1, 1, 1]]),
    (3, 3, 7, [[1, 1, 1], [1, 1, 1], [1, 1, 1]]),
    (3, 6, 2, [[0, 0, 1, 1, 0, 0], [0, 0, 1, 1, 0, 0], [0, 0, 0, 0, 0, 0]]),   # non-square: H = 3, W = 6
    (3, 6, 4, [[0, 1, 1, 1, 1, 0], [0, 1, 1, 1, 1, 0], [0, 1, 1, 1, 1, 0]]),   # clipped to H only
])
def test_occlusion_mask_by_hand(height, width, size, expected):
    assert torch.equal(occlusion_mask(height, width, size), _m(expected))


def test_center_and_boundary_fill_by_hand():
    x = torch.full((2, 3, 4, 5), 0.5)
    keep = x.clone()
    inside = _m([[0, 0, 0, 0, 0], [0, 1, 1, 0, 0], [0, 1, 1, 0, 0], [0, 0, 0, 0, 0]])  # size 2 in 4x5
    out = center_occlusion(x, 2, fill="zero")
    assert torch.equal(out, torch.where(inside, torch.tensor(0.0), torch.tensor(0.5)).expand_as(x))
    assert torch.equal(center_occlusion(x, 2, fill=0), out)
    out = boundary_occlusion(x, 2, fill="mean")
    for c, m in enumerate(IMAGENET_MEAN):
        assert torch.equal(out[:, c], torch.where(inside, torch.tensor(0.5), torch.tensor(m)).expand(2, 4, 5))
    out = center_occlusion(x, 2, fill=(0.1, 0.2, 0.3))
    assert torch.equal(out[0, :, 1, 1], torch.tensor([0.1, 0.2, 0.3]))
    assert torch.equal(x, keep)


def test_degenerate_sizes():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 6, 7, generator=gen)
    assert torch.equal(center_occlusion(x, 0, fill="mean"), x)
    assert torch.equal(boundary_occlusion(x, 7, fill="mean"), x)
    assert torch.equal(boundary_occlusion(x, 100, fill="zero"), x)
    assert torch.equal(center_occlusion(x, 7, fill="zero"), torch.zeros_like(x))
    assert torch.equal(boundary_occlusion(x, 0, fill="zero"), torch.zeros_like(x))
    # centre and boundary occlusion partition the image
    for size in range(8):
        both = torch.where(occlusion_mask(6, 7, size), center_occlusion(x, size, fill=0.25),
                           boundary_occlusion(x, size, fill=0.25))
        assert torch.equal(both, torch.full_like(x, 0.25))


def test_mean_fill_is_zero_after_normalisation():
    seen = {}

    class Spy(torch.nn.Module):
        def forward(self, z):
            seen["z"] = z
            return z.mean(dim=(2, 3))

    x = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    PixelSpaceModel(Spy())(center_occlusion(x, 4, fill="mean"))
    assert seen["z"][0, :, 2:6, 2:6].abs().max() < 1e-6


def test_occlusion_errors():
    x = torch.rand(1, 3, 4, 4)
    for fill in ("black", 1.5, -0.1, (0.1, 0.2), True, None):
        with pytest.raises(ValueError, match="fill"):
            center_occlusion(x, 2, fill=fill)
    with pytest.raises(ValueError, match="1 channels"):
        center_occlusion(torch.rand(1, 1, 4, 4), 2, fill="mean")
    for size in (-1, 2.0, True):
        with pytest.raises(ValueError, match="size"):
            boundary_occlusion(x, size, fill=0)


def test_occlusion_accuracy(trained_toy, toy_data):
    x, y = toy_data
    batches = [(x[:70], y[:70]), (x[70:], y[70:])]
    with torch.no_grad():
        clean = int((trained_toy(x).argmax(1) == y).sum())
    out = occlusion_accuracy(trained_toy, batches, sizes=[0, 4, 12], mode="center", fill="zero")
    assert out["mode"] == "center" and out["fill"] == "zero" and out["total"] == 128
    assert [r["size"] for r in out["results"]] == [0, 4, 12]
    assert out["results"][0]["top1"] == clean
    assert out["results"][0]["top1_pct"] == pytest.approx(100 * clean / 128)
    with torch.no_grad():
        direct = int((trained_toy(center_occlusion(x, 4, fill="zero")).argmax(1) == y).sum())
    assert out["results"][1]["top1"] == direct
    out = occlusion_accuracy(trained_toy, batches, sizes=[12, 2], mode="boundary", fill="mean")
    assert out["results"][0]["top1"] == clean
    assert out["results"][1]["top1"] < clean
    with pytest.raises(ValueError, match="mode"):
        occlusion_accuracy(trained_toy, batches, sizes=[2], mode="centre", fill=0)
    with pytest.raises(ValueError, match="sizes must not be empty"):
        occlusion_accuracy(trained_toy, batches, sizes=[], mode="center", fill=0)
    with pytest.raises(ValueError, match="no images"):
        occlusion_accuracy(trained_toy, [], sizes=[2], mode="center", fill=0)
