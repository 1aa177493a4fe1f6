"""L-inf PGD: projection, randomness from the generator, relation to FGSM, state hygiene."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from wsol.robustness import fgsm, pgd


def _batch(n: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 12, 12, generator=gen), torch.randint(0, 4, (n,), generator=gen)


@pytest.mark.parametrize("random_start", [False, True])
def test_pgd_stays_in_the_ball_and_in_range(trained_toy, toy_data, random_start):
    x, y = toy_data
    eps = 8 / 255
    adv = pgd(trained_toy, x, y, eps=eps, alpha=eps / 2, steps=5, random_start=random_start,
              generator=torch.Generator().manual_seed(0))
    assert adv.shape == x.shape and adv.dtype == x.dtype
    assert (adv - x).abs().max() <= eps + 1e-6
    assert adv.min() >= 0 and adv.max() <= 1


def test_pgd_random_start_comes_from_the_generator(make_toy):
    model = make_toy(1)
    x, y = _batch(6, 0)
    keep = x.clone()
    a = pgd(model, x, y, eps=0.05, alpha=0.01, steps=2, generator=torch.Generator().manual_seed(3))
    b = pgd(model, x, y, eps=0.05, alpha=0.01, steps=2, generator=torch.Generator().manual_seed(3))
    c = pgd(model, x, y, eps=0.05, alpha=0.01, steps=2, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(x, keep)
    start = pgd(model, x, y, eps=0.05, alpha=0.01, steps=0, generator=torch.Generator().manual_seed(3))
    noise = torch.rand(x.shape, generator=torch.Generator().manual_seed(3))
    expected = torch.clamp(x + (2 * noise - 1) * 0.05, min=(x - 0.05).clamp(min=0), max=(x + 0.05).clamp(max=1))
    assert torch.equal(start, expected)
    assert torch.equal(pgd(model, x, y, eps=0.05, alpha=0.01, steps=0, random_start=False), x)


def test_one_full_step_without_random_start_is_fgsm(make_toy):
    model = make_toy(2)
    x, y = _batch(8, 1)
    for targeted in (False, True):
        target = (y + 1) % 4 if targeted else None
        assert torch.equal(pgd(model, x, y, eps=0.03, alpha=0.03, steps=1, random_start=False, targeted=targeted,
                               target=target),
                           fgsm(model, x, y, eps=0.03, targeted=targeted, target=target))


def test_pgd_is_at_least_as_strong_as_fgsm(trained_toy, toy_data):
    x, y = toy_data
    eps = 0.08
    f_adv = fgsm(trained_toy, x, y, eps=eps)
    p_adv = pgd(trained_toy, x, y, eps=eps, alpha=eps / 4, steps=10, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        f_logits, p_logits = trained_toy(f_adv), trained_toy(p_adv)
    f_acc = (f_logits.argmax(1) == y).float().mean()
    p_acc = (p_logits.argmax(1) == y).float().mean()
    assert p_acc <= f_acc
    assert F.cross_entropy(p_logits, y) >= F.cross_entropy(f_logits, y)


def test_pgd_restores_state(make_toy):
    model = make_toy(3).train()
    model.model.fc.bias.requires_grad_(False)
    x, y = _batch(4, 2)
    pgd(model, x, y, eps=0.03, alpha=0.01, steps=2, generator=torch.Generator().manual_seed(0))
    assert all(m.training for m in model.modules())
    assert [p.requires_grad for p in model.parameters()] == [n != "model.fc.bias" for n, _ in model.named_parameters()]
    assert all(p.grad is None for p in model.parameters())


def test_pgd_errors(make_toy):
    model = make_toy()
    x, y = _batch(2, 3)
    with pytest.raises(ValueError, match="generator"):
        pgd(model, x, y, eps=0.03, alpha=0.01, steps=1)
    with pytest.raises(ValueError, match="steps"):
        pgd(model, x, y, eps=0.03, alpha=0.01, steps=-1, random_start=False)
    with pytest.raises(ValueError, match="alpha"):
        pgd(model, x, y, eps=0.03, alpha=2, steps=1, random_start=False)
