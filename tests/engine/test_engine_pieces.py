"""Pure pieces of the training loop: schedule, seeds, batch augmentation, losses, checkpoints."""
from __future__ import annotations

import math
import pickle

import pytest
import torch

from wsol.config import TrainConfig
from wsol.data.memory import augment_batch, eval_batch, normalize_batch, random_crops, random_hflip
from wsol.engine.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from wsol.engine.train import batch_loss, build_method, derive_seed, lr_factor
from wsol.errors import InputError
from wsol.methods.base import MixedBatch


def test_step_schedule_by_hand():
    config = TrainConfig(schedule="step", step_epochs=2, gamma=0.1, epochs=6)
    got = [lr_factor(s, config=config, steps_per_epoch=10) for s in (0, 19, 20, 39, 40, 59)]
    assert got == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])


def test_cosine_schedule_with_warmup_by_hand():
    config = TrainConfig(schedule="cosine", epochs=3, warmup_epochs=1.0)
    spe = 4  # 12 steps, 4 of warm-up, cosine over steps 4..11
    got = [lr_factor(s, config=config, steps_per_epoch=spe) for s in range(12)]
    assert got[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert got[4] == pytest.approx(1.0) and got[11] == pytest.approx(0.0)
    assert got[4 + 7 // 2] == pytest.approx(0.5 * (1 + math.cos(math.pi * 3 / 7)))
    assert all(a >= b for a, b in zip(got[4:], got[5:]))


def test_constant_schedule():
    config = TrainConfig(schedule="constant", epochs=2)
    assert {lr_factor(s, config=config, steps_per_epoch=3) for s in range(6)} == {1.0}


def test_derive_seed_separates_streams():
    seeds = {derive_seed(0, e, r) for e in range(20) for r in range(4)}
    assert len(seeds) == 80 and all(0 <= s < 2 ** 63 for s in seeds)
    assert derive_seed(1, 2, 3) == derive_seed(1, 2, 3)


def test_random_crops_match_a_per_image_slice_reference():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (7, 3, 10, 12), dtype=torch.uint8, generator=g)
    gen_a = torch.Generator().manual_seed(5)
    got = random_crops(images, size=8, pad=2, generator=gen_a)
    gen_b = torch.Generator().manual_seed(5)
    y0 = torch.randint(0, 14 - 8 + 1, (7,), generator=gen_b)
    x0 = torch.randint(0, 16 - 8 + 1, (7,), generator=gen_b)
    padded = torch.zeros((7, 3, 14, 16), dtype=torch.uint8)
    padded[:, :, 2:12, 2:14] = images
    for i in range(7):
        assert torch.equal(got[i], padded[i, :, y0[i]:y0[i] + 8, x0[i]:x0[i] + 8])


def test_random_crops_reach_every_offset():
    images = torch.arange(16, dtype=torch.float32).view(1, 1, 4, 4).expand(400, 1, 4, 4)
    got = random_crops(images, size=2, pad=0, generator=torch.Generator().manual_seed(1))
    assert len({float(c[0, 0, 0]) for c in got}) == 9  # 3 x 3 positions


def test_hflip_flips_about_half_exactly():
    images = torch.arange(6, dtype=torch.float32).view(1, 1, 1, 6).repeat(1000, 1, 1, 1)
    out = random_hflip(images, generator=torch.Generator().manual_seed(2))
    flipped = out[:, 0, 0, 0] == 5
    assert torch.equal(out[flipped], images[flipped].flip(3)) and torch.equal(out[~flipped], images[~flipped])
    assert 430 < int(flipped.sum()) < 570


def test_normalize_and_eval_batch():
    x = torch.full((1, 3, 4, 4), 255, dtype=torch.uint8)
    out = normalize_batch(x)
    assert out[0, :, 0, 0].tolist() == pytest.approx([(1 - 0.485) / 0.229, (1 - 0.456) / 0.224, (1 - 0.406) / 0.225])
    assert torch.equal(eval_batch(x, size=4), out) and eval_batch(x, size=2).shape == (1, 3, 2, 2)
    with pytest.raises(ValueError, match="random_resized_crop"):
        augment_batch(x, crop="random_resized_crop", size=4, pad=0, hflip=False, generator=torch.Generator())


def test_two_target_and_soft_losses_agree_with_label_smoothing():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 5, generator=g)
    batch = MixedBatch(images=torch.zeros(6, 3, 2, 2), labels_a=torch.tensor([0, 1, 2, 3, 4, 0]),
                       labels_b=torch.tensor([1, 1, 3, 0, 2, 4]), lam=torch.rand(6, generator=g))
    for eps in (0.0, 0.1):
        a = batch_loss(logits, batch, kind="two_target", label_smoothing=eps)
        b = batch_loss(logits, batch, kind="soft", label_smoothing=eps)
        assert float(a) == pytest.approx(float(b), rel=1e-6)
    # by hand for one sample: eps-smoothed targets over K = 5
    one = MixedBatch(images=torch.zeros(1, 3, 2, 2), labels_a=torch.tensor([2]), labels_b=None, lam=torch.ones(1))
    logp = torch.log_softmax(logits[:1], dim=1)[0]
    expected = -(0.9 * logp[2] + 0.1 / 5 * logp.sum())
    assert float(batch_loss(logits[:1], one, kind="two_target", label_smoothing=0.1)) == pytest.approx(
        float(expected), rel=1e-6)


def test_build_method_rejects_unknown_options():
    with pytest.raises(ValueError, match="unknown option.*betta.*valid: beta, prob"):
        build_method(TrainConfig(method="cutmix", method_options={"betta": 1}))
    method = build_method(TrainConfig(method="feature_cutmix", method_options={"stages": [0, 1]}))
    assert tuple(method.stages) == (0, 1)


def test_checkpoint_round_trip_and_rng_restore(tmp_path):
    import random

    import numpy as np

    state = rng_state()
    a = (torch.rand(3), np.random.rand(3), random.random())
    set_rng_state(state)
    b = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"format": "wsol-train-checkpoint", "version": 1, "rng": state, "w": torch.ones(2)})
    assert torch.equal(load_checkpoint(path)["w"], torch.ones(2))
    assert not list(tmp_path.glob("*.tmp*"))


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_checkpoint_with_code_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"format": "wsol-train-checkpoint", "x": _Evil()}, f)
    with pytest.raises(InputError, match="refused to load"):
        load_checkpoint(path)
    other = tmp_path / "other.pt"
    torch.save({"a": torch.ones(1)}, other)
    with pytest.raises(InputError, match="not a wsol training checkpoint"):
        load_checkpoint(other)
    with pytest.raises(InputError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "missing.pt")
