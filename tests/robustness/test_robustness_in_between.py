"""In-between-class samples: partner sampling, Mixup / CutMix pairs, the "neither class" metric."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from wsol.robustness import cutmix_pairs, in_between_accuracy, mixup_pairs, sample_partners


class Constant(nn.Module):
    """Predicts class ``k`` for every input (logits one-hot)."""

    def __init__(self, k: int, classes: int = 4) -> None:
        super().__init__()
        self.k, self.classes = k, classes

    def forward(self, x):
        return nn.functional.one_hot(torch.full((x.shape[0],), self.k), self.classes).float()


def test_partners_have_a_different_label_and_are_uniform():
    labels = torch.tensor([0, 0, 1, 1, 2])
    gen = torch.Generator().manual_seed(0)
    counts = torch.zeros(5, 5)
    for _ in range(1500):
        p = sample_partners(labels, generator=gen)
        assert p.dtype == torch.int64 and (labels[p] != labels).all()
        counts[torch.arange(5), p] += 1
    # anchor 0 picks among {2, 3, 4}, anchor 4 among {0, 1, 2, 3}
    assert counts[0, :2].sum() == 0 and (counts[0, 2:] / 1500 - 1 / 3).abs().max() < 0.05
    assert (counts[4, :4] / 1500 - 1 / 4).abs().max() < 0.05
    same = sample_partners(torch.tensor([3, 3, 3]), generator=gen)
    assert same.tolist() == [-1, -1, -1]
    assert sample_partners(torch.tensor([], dtype=torch.int64), generator=gen).shape == (0,)
    a = sample_partners(labels, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, sample_partners(labels, generator=torch.Generator().manual_seed(5)))


def test_mixup_and_cutmix_pairs_by_hand():
    x_a, x_b = torch.zeros(1, 1, 4, 4), torch.ones(1, 1, 4, 4)
    assert torch.equal(mixup_pairs(x_a, x_b, 1.0), x_a) and torch.equal(mixup_pairs(x_a, x_b, 0.0), x_b)
    assert torch.allclose(mixup_pairs(x_a, x_b, 0.3), torch.full_like(x_a, 0.7))
    assert torch.equal(cutmix_pairs(x_a, x_b, 0), x_a) and torch.equal(cutmix_pairs(x_a, x_b, 4), x_b)
    assert cutmix_pairs(x_a, x_b, 2)[0, 0].tolist() == [[0, 0, 0, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]]
    with pytest.raises(ValueError, match="lam"):
        mixup_pairs(x_a, x_b, 1.5)


def test_neither_counts_with_a_constant_model():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(6, 3, 8, 8, generator=gen)
    y = torch.tensor([0, 1, 0, 1, 2, 2])
    out = in_between_accuracy(Constant(3), [(x, y)], generator=gen, lams=[0.5], sizes=[4])
    assert out["pairs"] == 6 and out["excluded"] == 0
    assert out["mixup"][0]["neither"] == 6 and out["mixup"][0]["neither_pct"] == 100.0
    assert out["cutmix"][0] == {"size": 4, "lam": 0.75, "total": 6, "neither": 6, "neither_pct": 100.0, "as_a": 0,
                                "as_a_pct": 0.0, "as_b": 0, "as_b_pct": 0.0}
    out = in_between_accuracy(Constant(0), [(x, y), (x[:2], torch.tensor([3, 3]))], generator=gen, lams=[0.5],
                              sizes=[])
    assert out["excluded"] == 2 and out["pairs"] == 6
    r = out["mixup"][0]
    assert r["as_a"] == 2  # anchors 0 and 2 have label 0; the others count as_b when their partner has it
    assert r["neither"] + r["as_a"] + r["as_b"] == r["total"] == 6


def test_in_between_on_trained_model(trained_toy, toy_data):
    x, y = toy_data
    batches = [(x[:64], y[:64]), (x[64:], y[64:])]
    out = in_between_accuracy(trained_toy, batches, generator=torch.Generator().manual_seed(0), lams=[1.0, 0.5, 0.0])
    again = in_between_accuracy(trained_toy, batches, generator=torch.Generator().manual_seed(0), lams=[1.0, 0.5, 0.0])
    assert out == again
    assert [r["size"] for r in out["cutmix"]] == [1, 3, 4, 6, 7, 9, 10]  # k/8 of 12, floored
    assert out["pairs"] == 128 and out["excluded"] == 0
    with torch.no_grad():
        wrong = int((trained_toy(x).argmax(1) != y).sum())
    assert out["mixup"][0]["as_a"] >= 128 - wrong  # lam = 1 is x_a itself
    assert out["mixup"][2]["as_b"] > 0.9 * 128  # lam = 0 is x_b
    for r in out["mixup"] + out["cutmix"]:
        assert r["neither"] + r["as_a"] + r["as_b"] == r["total"] == 128


def test_in_between_errors(trained_toy, toy_data):
    x, y = toy_data
    with pytest.raises(ValueError, match="generator"):
        in_between_accuracy(trained_toy, [(x, y)], generator=None)
    with pytest.raises(ValueError, match="lams"):
        in_between_accuracy(trained_toy, [(x, y)], generator=torch.Generator(), lams=[0.5, 2])
    with pytest.raises(ValueError, match="no images"):
        in_between_accuracy(trained_toy, [], generator=torch.Generator())
