"""Accuracy under attack: counts against direct computation, eps = 0, streaming inputs, PGD, errors."""
from __future__ import annotations

import math

import pytest
import torch

from wsol.robustness import TopKCounter, attack_accuracy, fgsm


def _batches(x, y, size):
    return [(x[i:i + size], y[i:i + size]) for i in range(0, x.shape[0], size)]


def test_fgsm_accuracy_matches_direct_computation(trained_toy, toy_data):
    x, y = toy_data
    batches = _batches(x, y, 48)  # uneven last batch
    eps_list = [0.0, 4 / 255, 0.1]
    out = attack_accuracy(trained_toy, batches, eps_list=eps_list, attack="fgsm")
    assert out["attack"] == "fgsm" and out["eps"] == eps_list
    assert out["clean"]["total"] == 128
    for entry, eps in zip(out["adversarial"], eps_list):
        hits = 0
        for xb, yb in batches:
            with torch.no_grad():
                hits += int((trained_toy(fgsm(trained_toy, xb, yb, eps=eps)).argmax(1) == yb).sum())
        assert entry["eps"] == eps and entry["top1"] == hits
        assert entry["top1_pct"] == pytest.approx(100 * hits / 128)
        assert entry["top5"] == 128 and entry["top5_pct"] == 100.0  # K = 4 <= 5 classes
    assert out["adversarial"][0]["top1"] == out["clean"]["top1"]  # eps = 0 is the clean accuracy
    assert out["adversarial"][2]["top1"] < out["clean"]["top1"]


def test_per_image_hits_are_the_images_own_outcomes(trained_toy, toy_data):
    x, y = toy_data
    batches = _batches(x, y, 48)
    out = attack_accuracy(trained_toy, batches, eps_list=[0.1], attack="fgsm", per_image=True)
    hits = out["per_image_top1"]
    assert len(hits["clean"]) == 128 and sum(hits["clean"]) == out["clean"]["top1"]
    with torch.no_grad():
        direct = [bool(v) for xb, yb in batches
                  for v in (trained_toy(fgsm(trained_toy, xb, yb, eps=0.1)).argmax(1) == yb).tolist()]
    assert hits["adversarial"][0] == direct
    assert "per_image_top1" not in attack_accuracy(trained_toy, batches, eps_list=[0.1], attack="fgsm")


def test_attack_accuracy_accepts_mapping_batches_and_restores_mode(trained_toy, toy_data):
    x, y = toy_data
    tuples = attack_accuracy(trained_toy, _batches(x, y, 64), eps_list=[0.05])
    trained_toy.train()
    try:
        dicts = attack_accuracy(trained_toy, [{"image": a, "label": b, "image_id": ["?"] * len(b)}
                                              for a, b in _batches(x, y, 64)], eps_list=[0.05], device="cpu")
        assert all(m.training for m in trained_toy.modules())
    finally:
        trained_toy.eval()
    assert tuples == dicts


def test_pgd_accuracy_is_deterministic_and_lower(trained_toy, toy_data):
    x, y = toy_data
    batches = _batches(x, y, 64)
    run = [attack_accuracy(trained_toy, batches, eps_list=[0.0, 0.08], attack="pgd", steps=5,
                           generator=torch.Generator().manual_seed(1)) for _ in range(2)]
    assert run[0] == run[1]
    out = run[0]
    assert out["settings"] == {"alpha": "2.5*eps/steps", "steps": 5, "random_start": True}
    assert out["adversarial"][0]["top1"] == out["clean"]["top1"]
    assert out["adversarial"][1]["top1"] < out["clean"]["top1"]
    fg = attack_accuracy(trained_toy, batches, eps_list=[0.08])
    assert out["adversarial"][1]["top1"] <= fg["adversarial"][0]["top1"]


def test_topk_counter_merge_and_ties():
    a, b = TopKCounter(), TopKCounter()
    logits = torch.tensor([[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [6.0, 5.0, 4.0, 3.0, 2.0, 1.0, 0.0]])
    a.update(logits, torch.tensor([6, 6]))  # first: top-1; second: rank 7, outside the top 5
    b.update(logits, torch.tensor([2, 4]))  # rank 5 and rank 5
    merged = a.merge(b).compute()
    assert merged == {"total": 4, "top1": 1, "top5": 3, "top1_pct": 25.0, "top5_pct": 75.0}
    assert math.isnan(TopKCounter().compute()["top1_pct"])


def test_attack_accuracy_errors(trained_toy, toy_data):
    x, y = toy_data
    batches = _batches(x, y, 64)
    with pytest.raises(ValueError, match="batches held no images"):
        attack_accuracy(trained_toy, [], eps_list=[0.1])
    with pytest.raises(ValueError, match="attack must be one of"):
        attack_accuracy(trained_toy, batches, eps_list=[0.1], attack="cw")
    with pytest.raises(ValueError, match="alpha is a PGD option"):
        attack_accuracy(trained_toy, batches, eps_list=[0.1], alpha=0.01)
    with pytest.raises(ValueError, match="got 4"):
        attack_accuracy(trained_toy, batches, eps_list=[0.0, 4])
    with pytest.raises(ValueError, match="generator"):
        attack_accuracy(trained_toy, batches, eps_list=[0.1], attack="pgd")
    with pytest.raises(ValueError, match=r"batch 0 images must be in \[0, 1\]"):
        attack_accuracy(trained_toy, [(x * 2 - 1, y)], eps_list=[0.1])
    with pytest.raises(ValueError, match="expected \\(images, labels\\)"):
        attack_accuracy(trained_toy, [x], eps_list=[0.1])
