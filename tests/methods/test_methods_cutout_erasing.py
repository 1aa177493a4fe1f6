import math

import pytest
import torch

from wsol.methods import Cutout, RandomErasing, apply_cutout, sample_cutout_boxes, sample_erasing_boxes
from wsol.methods.cutout import hole_size
from wsol.methods.random_erasing import apply_erasing
from wsol.methods.regions import box_area, union_masks


def _images(shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) + 5.0  # never 0 before filling


def _loop_fill(images, boxes, fill):
    out = images.clone()
    for i in range(images.shape[0]):
        for x0, y0, x1, y1 in boxes[i].tolist():
            out[i, :, y0:y1, x0:x1] = fill
    return out


def test_cutout_hole_sizes_and_positions_over_many_draws():
    n, h, w = 4000, 32, 32
    boxes = sample_cutout_boxes(n, height=h, width=w, generator=torch.Generator().manual_seed(0), size=16)
    bw, bh = boxes[..., 2] - boxes[..., 0], boxes[..., 3] - boxes[..., 1]
    assert int(bw.max()) == 16 and int(bh.max()) == 16 and int(bw.min()) >= 8 and int(bh.min()) >= 8
    assert int(boxes[..., :2].min()) >= 0 and int(boxes[..., 2].max()) <= w and int(boxes[..., 3].max()) <= h
    # centre uniform over {0..31}: a hole is unclipped in x iff 8 <= cx <= 24, i.e. 17/32 of the time
    unclipped_x = (bw == 16).double().mean().item()
    assert unclipped_x == pytest.approx(17 / 32, abs=4 * math.sqrt(0.25 / n))
    # mean hole area: width = min(32, cx + 8) - max(0, cx - 8): 8..15 for cx < 8, 16 for 8..24, 15..9 for 25..31
    e_side = (17 * 16 + sum(range(8, 16)) + sum(range(9, 16))) / 32  # = 14
    assert float(box_area(boxes).double().mean()) == pytest.approx(e_side ** 2, rel=0.02)


@pytest.mark.parametrize("shape", [(5, 3, 17, 23), (2, 1, 8, 8)])
def test_cutout_equals_loop_and_outside_untouched(shape):
    images = _images(shape)
    before = images.clone()
    batch = Cutout(num_holes=3, size=0.4)(images, torch.zeros(shape[0], dtype=torch.long),
                                           generator=torch.Generator().manual_seed(1))
    assert torch.equal(images, before)
    assert batch.boxes.shape == (shape[0], 3, 4)
    assert torch.equal(batch.images, _loop_fill(images, batch.boxes, 0.0))
    mask = union_masks(batch.boxes, height=shape[2], width=shape[3])[:, None].expand_as(images)
    assert torch.equal(batch.images[~mask], images[~mask]) and bool((batch.images[mask] == 0).all())


def test_hole_size_conventions():
    assert hole_size(16, height=17, width=23) == (16, 16)
    assert hole_size(0.5, height=17, width=23) == (8, 12)  # round(8.5) = 8 (half to even), round(11.5) = 12
    assert hole_size(1, height=8, width=8) == (1, 1) and hole_size(1.0, height=8, width=8) == (8, 8)
    for bad in (0, -3, 0.0, 1.5, True, "16"):
        with pytest.raises(ValueError, match=repr(bad).replace("(", r"\(")):
            hole_size(bad, height=8, width=8)


def test_cutout_constant_fill_and_errors():
    out = apply_cutout(torch.ones(1, 2, 4, 4), torch.tensor([[[1, 1, 3, 2]]]), fill=-2.5)
    assert out[0, :, 1, 1:3].eq(-2.5).all() and out.eq(-2.5).sum() == 4
    with pytest.raises(ValueError, match="nan"):
        Cutout(fill=float("nan"))
    with pytest.raises(ValueError, match="num_holes"):
        Cutout(num_holes=0)


def test_random_erasing_parameter_ranges_over_many_draws():
    n, h, w = 6000, 224, 224
    boxes = sample_erasing_boxes(n, height=h, width=w, generator=torch.Generator().manual_seed(0))[:, 0]
    bw, bh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    erased = bw > 0
    # probability 0.5; at 224 px almost every image finds a fitting rectangle within 10 tries
    assert float(erased.double().mean()) == pytest.approx(0.5, abs=4 * math.sqrt(0.25 / n))
    bw, bh = bw[erased].double(), bh[erased].double()
    frac = bw * bh / (h * w)
    assert float(frac.min()) >= 0.02 * 0.93 and float(frac.max()) <= 0.4 * 1.07
    ratio = bh / bw
    assert float(ratio.min()) >= 0.3 * 0.95 and float(ratio.max()) <= (1 / 0.3) * 1.05
    assert float(torch.log(ratio).mean()) == pytest.approx(0.0, abs=0.05)  # log-uniform, symmetric range
    assert bool((bh < h).all()) and bool((bw < w).all())
    assert int(boxes[:, :2].min()) >= 0 and int(boxes[:, 2].max()) <= w and int(boxes[:, 3].max()) <= h
    # rectangles whose side exceeds the image are retried: large areas with extreme ratios are rarer than uniform
    assert float(frac.mean()) < 0.21


def test_random_erasing_gives_up_when_nothing_fits():
    g = torch.Generator().manual_seed(0)
    # a 1-pixel-high image admits no h with 1 <= h < H
    assert bool((sample_erasing_boxes(50, height=1, width=30, generator=g, prob=1.0) == 0).all())
    # S_e >= 95 on 10x10: h <= 9 needs 95·r < 90.25 (r < 0.95) and w <= 9 needs 95/r < 90.25 (r > 1.05)
    boxes = sample_erasing_boxes(200, height=10, width=10, generator=g, prob=1.0, area=(0.95, 1.0))
    assert bool((boxes == 0).all())


@pytest.mark.parametrize("fill", ["random", "mean", 1.25])
def test_random_erasing_fill_and_outside_untouched(fill):
    shape = (64, 3, 40, 30)
    images = _images(shape, seed=3)
    before = images.clone()
    batch = RandomErasing(prob=1.0, fill=fill)(images, torch.zeros(64, dtype=torch.long),
                                               generator=torch.Generator().manual_seed(2))
    assert torch.equal(images, before)
    mask = union_masks(batch.boxes, height=40, width=30)[:, None].expand_as(images)
    assert torch.equal(batch.images[~mask], images[~mask])
    inside = batch.images[mask]
    assert inside.numel() > 1000
    if fill == "random":
        assert float(inside.mean()) == pytest.approx(0.0, abs=0.05)
        assert float(inside.std()) == pytest.approx(1, abs=0.05)
    else:
        assert bool((inside == (0.0 if fill == "mean" else 1.25)).all())


def test_random_erasing_errors():
    for kwargs, text in [({"prob": -0.1}, "-0.1"), ({"area": (0.5, 0.1)}, r"\(0.5, 0.1\)"),
                         ({"ratio": (0.0, 2.0)}, r"\(0.0, 2.0\)"), ({"fill": "noise"}, "'noise'"),
                         ({"max_attempts": 0}, "max_attempts")]:
        with pytest.raises(ValueError, match=text):
            RandomErasing(**kwargs)
    with pytest.raises(ValueError, match="boxes"):
        apply_erasing(torch.zeros(2, 1, 4, 4), torch.zeros(2, 4, dtype=torch.long), 0.0)
