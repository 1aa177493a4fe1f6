"""OOD detectors: hand values, references, registry behaviour and ODIN's side effects."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from wsol.ood.detectors import DETECTORS, register_detector, score_batch, scores_from_logits

LOGIT_DETECTORS = ("msp", "max_logit", "energy", "entropy")


def _linear_model(seed: int = 0, *, classes: int = 5, side: int = 4) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * side * side, classes))


def _images(n: int = 6, side: int = 4, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, 3, side, side, generator=torch.Generator().manual_seed(seed))


def test_registry_names_and_duplicates():
    assert DETECTORS.names() == ["energy", "entropy", "max_logit", "msp", "odin"]
    assert DETECTORS.get("odin").needs_model and not DETECTORS.get("msp").needs_model
    with pytest.raises(ValueError, match="already registered"):
        register_detector("msp")(lambda logits: logits[:, 0])
    with pytest.raises(ValueError, match="unknown ood detector 'mahalanobis'"):
        scores_from_logits(torch.zeros(1, 2), "mahalanobis")


def test_hand_values_on_uniform_logits():
    logits = torch.zeros(2, 4, dtype=torch.float64)
    assert torch.allclose(scores_from_logits(logits, "msp"), torch.full((2,), 0.25, dtype=torch.float64))
    assert torch.equal(scores_from_logits(logits, "max_logit"), torch.zeros(2, dtype=torch.float64))
    assert torch.allclose(scores_from_logits(logits, "energy"), torch.full((2,), math.log(4), dtype=torch.float64))
    assert torch.allclose(scores_from_logits(logits, "energy", temperature=2.0),
                          torch.full((2,), 2 * math.log(4), dtype=torch.float64))
    assert torch.allclose(scores_from_logits(logits, "entropy"), torch.full((2,), -math.log(4), dtype=torch.float64))


def test_hand_values_two_classes():
    logits = torch.tensor([[0.0, math.log(3.0)]], dtype=torch.float64)  # softmax (1/4, 3/4)
    assert scores_from_logits(logits, "msp").item() == pytest.approx(0.75)
    assert scores_from_logits(logits, "max_logit").item() == pytest.approx(math.log(3))
    assert scores_from_logits(logits, "energy").item() == pytest.approx(math.log(4))
    assert scores_from_logits(logits, "entropy").item() == pytest.approx(0.25 * math.log(0.25) + 0.75 * math.log(0.75))


def test_against_references():
    logits = torch.randn(50, 7, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 3
    assert torch.allclose(scores_from_logits(logits, "entropy"),
                          -torch.distributions.Categorical(logits=logits).entropy())
    assert torch.allclose(scores_from_logits(logits, "msp"), torch.softmax(logits, 1).max(1).values)
    t = 3.5
    assert torch.allclose(scores_from_logits(logits, "energy", temperature=t),
                          t * torch.log(torch.exp(logits / t).sum(1)))
    # energy tends to the max logit as T -> 0
    assert torch.allclose(scores_from_logits(logits, "energy", temperature=1e-4),
                          scores_from_logits(logits, "max_logit"), atol=1e-3)


def test_higher_means_more_confident():
    confident = torch.tensor([[10.0, 0.0, 0.0]])
    flat = torch.tensor([[1.0, 0.5, 0.0]])
    for name in LOGIT_DETECTORS:
        assert scores_from_logits(confident, name) > scores_from_logits(flat, name), name


def test_degenerate_logits():
    one_class = torch.tensor([[2.0], [-1.0]])
    assert torch.equal(scores_from_logits(one_class, "msp"), torch.ones(2))
    assert torch.equal(scores_from_logits(one_class, "entropy"), torch.zeros(2))
    masked = torch.tensor([[0.0, -math.inf, 0.0]])
    assert scores_from_logits(masked, "entropy").item() == pytest.approx(-math.log(2))
    saturated = torch.tensor([[200.0, 0.0]])
    assert scores_from_logits(saturated, "msp").item() == 1.0  # the tie that the metrics must handle
    assert scores_from_logits(saturated, "entropy").item() == 0.0


def test_dtype_kept_and_input_untouched():
    logits = torch.randn(4, 3)
    before = logits.clone()
    for name in LOGIT_DETECTORS:
        out = scores_from_logits(logits, name)
        assert out.dtype == torch.float32 and out.shape == (4,)
        assert scores_from_logits(logits.double(), name).dtype == torch.float64
    assert torch.equal(logits, before)


@pytest.mark.parametrize("logits, match", [
    (torch.zeros(3), r"shape \(N, C\)"),
    (torch.zeros(2, 0), r"shape \(N, C\)"),
    (torch.zeros(2, 3, dtype=torch.int64), "floating point"),
    ([[0.0, 1.0]], "torch.Tensor"),
])
def test_bad_logits(logits, match):
    with pytest.raises(ValueError, match=match):
        scores_from_logits(logits, "msp")


def test_bad_options():
    logits = torch.zeros(2, 3)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['temperature'\] for OOD detector 'msp'"):
        scores_from_logits(logits, "msp", temperature=2.0)
    with pytest.raises(ValueError, match="temprature"):
        scores_from_logits(logits, "energy", temprature=2.0)
    for bad in (0.0, -1.0, math.inf, math.nan, "2"):
        with pytest.raises(ValueError, match="temperature must be"):
            scores_from_logits(logits, "energy", temperature=bad)
    with pytest.raises(ValueError, match="needs the model"):
        scores_from_logits(logits, "odin")
    model, images = _linear_model(), _images()
    with pytest.raises(ValueError, match="epsilon must be"):
        score_batch(model, images, detector="odin", epsilon=-0.1)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['eps'\]"):
        score_batch(model, images, detector="odin", eps=0.1)


@pytest.mark.parametrize("name", LOGIT_DETECTORS)
def test_score_batch_equals_scores_of_logits(name):
    model, images = _linear_model().eval(), _images()
    with torch.no_grad():
        logits = model(images)
    got = score_batch(model, images, detector=name)
    assert not got.requires_grad
    assert torch.equal(got, scores_from_logits(logits, name))


# ---------------------------------------------------------------------------------------------------------- ODIN
def test_odin_matches_closed_form_for_a_linear_model():
    """For ``z = W x + b``: ``grad_x log softmax(z / T)_k = W^T (e_k - p) / T`` with ``k`` the top class."""
    model, images = _linear_model(seed=3).eval(), _images(seed=4).double()
    model = model.double()
    t, eps = 10.0, 0.05
    lin = model[1]
    with torch.no_grad():
        z = model(images)
        p = torch.softmax(z / t, dim=1)
        e_k = nn.functional.one_hot(z.argmax(1), z.shape[1]).double()
        grad_log_s = (e_k - p) @ lin.weight / t  # (N, 3*4*4)
        x_pert = images - eps * torch.sign(-grad_log_s).view_as(images)
        want = torch.softmax(model(x_pert) / t, dim=1).max(1).values
    got = score_batch(model, images, detector="odin", temperature=t, epsilon=eps)
    assert torch.allclose(got, want, atol=1e-12)


def test_odin_without_perturbation_is_temperature_scaled_msp():
    model, images = _linear_model().eval(), _images()
    with torch.no_grad():
        logits = model(images)
    assert torch.allclose(score_batch(model, images, detector="odin", temperature=1.0, epsilon=0.0),
                          scores_from_logits(logits, "msp"))
    assert torch.allclose(score_batch(model, images, detector="odin", epsilon=0.0),
                          scores_from_logits(logits / 1000.0, "msp"))


def test_odin_perturbation_raises_confidence():
    model, images = _linear_model(seed=5).eval().double(), _images(seed=6).double()
    base = score_batch(model, images, detector="odin", temperature=1000.0, epsilon=0.0)
    pert = score_batch(model, images, detector="odin", temperature=1000.0, epsilon=0.01)
    assert torch.all(pert > base)


def test_odin_default_options():
    model, images = _linear_model().eval(), _images()
    assert torch.equal(score_batch(model, images, detector="odin"),
                       score_batch(model, images, detector="odin", temperature=1000.0, epsilon=0.0014))


@pytest.mark.parametrize("training", [False, True])
def test_odin_leaves_model_and_inputs_alone(training):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(4, 3))
    model.train(training)
    model[0].weight.requires_grad_(False)  # a frozen parameter stays frozen
    model[4].weight.grad = torch.full_like(model[4].weight, 7.0)  # an existing .grad stays as it is
    params = {name: p.detach().clone() for name, p in model.named_parameters()}
    images = _images(n=3, side=5)
    images_before = images.clone()
    with torch.no_grad():  # the caller's context must not stop ODIN from taking its gradient
        scores = score_batch(model, images, detector="odin")
    assert scores.shape == (3,) and not scores.requires_grad
    assert torch.all((scores > 0) & (scores <= 1))
    assert model.training is training and all(m.training is training for m in model.modules())
    assert not model[0].weight.requires_grad and model[0].bias.requires_grad and model[4].weight.requires_grad
    assert model[0].weight.grad is None and model[0].bias.grad is None and model[4].bias.grad is None
    assert torch.equal(model[4].weight.grad, torch.full_like(model[4].weight, 7.0))
    for name, p in model.named_parameters():
        assert torch.equal(p, params[name]), name
    assert torch.equal(images, images_before) and not images.requires_grad


def test_odin_is_per_sample_in_eval_mode():
    model, images = _linear_model(seed=7).eval(), _images(n=5, seed=8)
    batch = score_batch(model, images, detector="odin")
    single = torch.cat([score_batch(model, images[i:i + 1], detector="odin") for i in range(5)])
    assert torch.allclose(batch, single)
