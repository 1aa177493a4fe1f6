import math

import numpy as np
import pytest
import torch

from wsol.methods import CutMix, apply_cutmix, cutmix_, cutmix_lambda, sample_beta, sample_cutmix_boxes
from wsol.methods import sampling
from wsol.methods.regions import box_masks, centred_boxes


def _distinct(n, c, h, w, seed=0):
    return torch.randn(n, c, h, w, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------- λ equals the pasted area

@pytest.mark.parametrize("box", [(0, 0, 5, 4), (3, 2, 23, 17), (18, 0, 23, 6), (0, 12, 7, 17), (0, 0, 23, 17),
                                 (5, 5, 5, 9), (22, 16, 23, 17)])
def test_lambda_equals_pasted_pixel_count(box):
    h, w = 17, 23
    images = _distinct(4, 3, h, w)
    perm = torch.tensor([1, 2, 3, 0])  # no fixed point, random values: every pasted pixel changes
    box_t = torch.tensor(box)
    out = apply_cutmix(images, box_t, perm)
    changed = (out != images).any(dim=1)  # (N, H, W)
    lam = cutmix_lambda(box_t, height=h, width=w)
    for i in range(4):
        assert float(lam) == pytest.approx(1 - changed[i].sum().item() / (h * w), abs=1e-7)


def test_border_boxes_are_clipped_and_lambda_corrected():
    h, w = 10, 12
    # centre at the corner: a 6x4 box sticks out by half on both axes
    boxes = centred_boxes(torch.tensor([0, 11]), torch.tensor([0, 9]), 6, 4, height=h, width=w)
    assert boxes.tolist() == [[0, 0, 3, 2], [8, 7, 12, 10]]
    lam = cutmix_lambda(boxes, height=h, width=w)
    torch.testing.assert_close(lam, torch.tensor([1 - 6 / 120, 1 - 12 / 120]))
    images = _distinct(2, 1, h, w)
    out = apply_cutmix(images, boxes, torch.tensor([1, 0]))
    assert (out != images).sum().item() == 6 + 12


def test_sampled_lambda_matches_mask_area():
    h, w = 17, 23
    boxes, lam = sample_cutmix_boxes(500, height=h, width=w, generator=torch.Generator().manual_seed(3))
    mask = box_masks(boxes, height=h, width=w)
    torch.testing.assert_close(lam, 1 - mask.sum((1, 2)).to(torch.float32) / (h * w))


# ---------------------------------------------------------------- box statistics (β = 1)

def _expected_box_stats(h, w, grid=400_000):
    """Exact (up to the λ quadrature) statistics of the box rule, enumerating every centre pixel."""
    lam = (np.arange(grid) + 0.5) / grid  # Beta(1, 1) = U(0, 1), midpoint rule
    r = np.sqrt(1 - lam)

    def axis(size, cut):
        c = np.arange(size)
        sizes = np.arange(size + 1)
        x0 = c[None, :] - sizes[:, None] // 2
        x1 = x0 + sizes[:, None]
        clipped = (x0 < 0) | (x1 > size)
        width = np.clip(x1, 0, size) - np.clip(x0, 0, size)
        return clipped.mean(1)[cut], width.mean(1)[cut]

    cw = np.floor(w * r).astype(int)
    ch = np.floor(h * r).astype(int)
    px, ew = axis(w, cw)
    py, eh = axis(h, ch)
    p_clip = np.mean(1 - (1 - px) * (1 - py))
    e_lam = np.mean(1 - ew * eh / (h * w))
    return p_clip, e_lam


def test_box_statistics_beta1():
    h, w, n = 160, 224, 20_000
    seed = 11
    boxes, lam = sample_cutmix_boxes(n, height=h, width=w, generator=torch.Generator().manual_seed(seed))
    # replay the documented draw order: Beta draw, then cx, then cy
    g = torch.Generator().manual_seed(seed)
    raw = sample_beta(n, 1.0, 1.0, generator=g)
    cx = sampling.randint_below(w, (n,), generator=g)
    cy = sampling.randint_below(h, (n,), generator=g)
    cut_w = torch.floor(w * torch.sqrt(1 - raw)).long()
    cut_h = torch.floor(h * torch.sqrt(1 - raw)).long()
    assert torch.equal(boxes, centred_boxes(cx, cy, cut_w, cut_h, height=h, width=w))

    # raw λ ~ U(0, 1)
    assert float(raw.mean()) == pytest.approx(0.5, abs=4 * math.sqrt(1 / 12 / n))
    # centre uniform over pixels: mean (W-1)/2, quartiles
    for c, size in ((cx, w), (cy, h)):
        c = c.double()
        sd = math.sqrt((size ** 2 - 1) / 12 / n)
        assert float(c.mean()) == pytest.approx((size - 1) / 2, abs=4 * sd)
        q = torch.quantile(c, torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64))
        assert torch.allclose(q, torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64) * size, atol=0.02 * size)
        assert int(c.min()) >= 0 and int(c.max()) <= size - 1

    clipped = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) < cut_w * cut_h
    p_clip, e_lam = _expected_box_stats(h, w)
    assert p_clip == pytest.approx(5 / 6, abs=0.01)  # continuous analytic value: 1 - E[(1 - r)^2], r ~ 2r dr
    sd = math.sqrt(p_clip * (1 - p_clip) / n)
    assert float(clipped.double().mean()) == pytest.approx(p_clip, abs=4 * sd)
    sd_lam = float(lam.double().std()) / math.sqrt(n)
    assert float(lam.double().mean()) == pytest.approx(e_lam, abs=4 * sd_lam)
    assert e_lam > 0.5  # clipping shrinks the pasted area below the raw E[1 - λ] = 1/2


# ---------------------------------------------------------------- Beta sampler

def test_beta_sampler_deterministic_moments_and_one_draw():
    a = sample_beta(20_000, 2.0, 5.0, generator=torch.Generator().manual_seed(0))
    b = sample_beta(20_000, 2.0, 5.0, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.dtype == torch.float64
    mean, var = 2 / 7, 10 / (49 * 8)
    assert float(a.mean()) == pytest.approx(mean, abs=4 * math.sqrt(var / 20_000))
    assert float(a.var()) == pytest.approx(var, rel=0.05)
    small = sample_beta(20_000, 0.2, 0.2, generator=torch.Generator().manual_seed(1))
    assert bool(torch.isfinite(small).all()) and float(small.min()) >= 0 and float(small.max()) <= 1
    assert float(small.var()) == pytest.approx(0.25 / 1.4, rel=0.05)
    # advances the torch generator by exactly one draw, whatever the size
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    sample_beta(1000, 1.0, 1.0, generator=g1)
    torch.randint(0, 2 ** 63 - 1, (1,), generator=g2)
    assert torch.equal(torch.rand(3, generator=g1), torch.rand(3, generator=g2))
    with pytest.raises(ValueError, match="-1"):
        sample_beta(3, -1.0, 1.0, generator=g1)


# ---------------------------------------------------------------- per-sample mode vs a loop reference

def _cutmix_loop(images, boxes, perm):
    out = images.clone()
    for i in range(images.shape[0]):
        x0, y0, x1, y1 = boxes[i].tolist()
        out[i, :, y0:y1, x0:x1] = images[int(perm[i]), :, y0:y1, x0:x1]
    return out


@pytest.mark.parametrize("shape", [(7, 3, 17, 23), (5, 2, 8, 8), (1, 3, 5, 9)])
def test_per_sample_mode_equals_loop(shape):
    n, _, h, w = shape
    images = _distinct(*shape, seed=2)
    before = images.clone()
    batch = CutMix(mode="sample", prob=0.7)(images, torch.arange(n), generator=torch.Generator().manual_seed(4))
    assert torch.equal(images, before)
    assert torch.equal(batch.images, _cutmix_loop(images, batch.boxes[:, 0], batch.perm))
    assert torch.equal(batch.labels_b, torch.arange(n)[batch.perm])
    torch.testing.assert_close(batch.lam, cutmix_lambda(batch.boxes[:, 0], height=h, width=w))


def test_per_sample_probability():
    n = 4000
    batch = CutMix(mode="sample", prob=0.5)(torch.zeros(n, 1, 4, 4), torch.zeros(n, dtype=torch.long),
                                            generator=torch.Generator().manual_seed(0))
    applied = (batch.boxes[:, 0, 2] > batch.boxes[:, 0, 0]) | (batch.lam < 1)
    assert float(applied.double().mean()) == pytest.approx(0.5, abs=0.04)
    assert bool((batch.lam[~applied] == 1).all())


# ---------------------------------------------------------------- per-batch mode: in place vs out of place

def test_in_place_changes_only_the_box():
    images = _distinct(6, 3, 17, 23, seed=1)
    copy = images.clone()
    batch = CutMix(in_place=True)(images, torch.arange(6), generator=torch.Generator().manual_seed(0))
    assert batch.images is images  # the caller's tensor, written in place
    x0, y0, x1, y1 = batch.boxes[0, 0].tolist()
    inside = box_masks(batch.boxes[0, 0], height=17, width=23)
    assert torch.equal(images[:, :, ~inside], copy[:, :, ~inside])
    assert torch.equal(images, _cutmix_loop(copy, batch.boxes[:, 0], batch.perm))
    assert bool((batch.boxes == batch.boxes[0]).all())


def test_out_of_place_leaves_input_and_matches_in_place():
    images = _distinct(6, 3, 17, 23, seed=1)
    copy = images.clone()
    out = CutMix()(images, torch.arange(6), generator=torch.Generator().manual_seed(0))
    assert torch.equal(images, copy) and out.images is not images
    inp = CutMix(in_place=True)(copy, torch.arange(6), generator=torch.Generator().manual_seed(0))
    assert torch.equal(out.images, inp.images) and torch.equal(out.lam, inp.lam)


def test_cutmix_in_place_function_handles_cycles():
    images = _distinct(3, 1, 6, 6)
    ref = _cutmix_loop(images, torch.tensor([[1, 1, 4, 5]] * 3), torch.tensor([2, 0, 1]))
    cutmix_(images, torch.tensor([1, 1, 4, 5]), torch.tensor([2, 0, 1]))
    assert torch.equal(images, ref)


def test_batch_probability_zero_is_identity():
    images = _distinct(3, 3, 8, 8)
    batch = CutMix(prob=0.0)(images, torch.arange(3), generator=torch.Generator().manual_seed(0))
    assert batch.images is images and batch.labels_b is None and bool((batch.lam == 1).all())


def test_cutmix_options_errors():
    with pytest.raises(ValueError, match="'diag'"):
        CutMix(mode="diag")
    with pytest.raises(ValueError, match="in_place=True needs mode='batch'"):
        CutMix(mode="sample", in_place=True)
    with pytest.raises(ValueError, match="1.5"):
        CutMix(prob=1.5)
    with pytest.raises(ValueError, match="0"):
        CutMix(beta=0)
    with pytest.raises(ValueError, match=r"\(4, 5\)"):
        apply_cutmix(torch.zeros(2, 1, 4, 4), torch.zeros(4, 5, dtype=torch.long), torch.tensor([1, 0]))
