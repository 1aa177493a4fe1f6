"""OOD detectors: classifier outputs -> one score per sample, **higher = more in-distribution**.

Registered in :data:`DETECTORS` (names for the CLI come from ``DETECTORS.names()``):

``msp``
    Maximum softmax probability (Hendrycks & Gimpel, ICLR 2017; the baseline of the CutMix paper's OOD table).
    Values in (0, 1]; confident predictions saturate to exactly 1.0 in floating point, which makes tie groups
    that :mod:`wsol.ood.metrics` handles (pass float64 logits to saturate later).
``max_logit``
    The largest logit (Hendrycks et al., "Scaling out-of-distribution detection", 2022).
``energy``
    Negative free energy ``T * logsumexp(logits / T)`` (Liu et al., NeurIPS 2020); option ``temperature`` (T > 0,
    default 1).
``entropy``
    Negative Shannon entropy of the softmax in nats, ``sum_c p_c log p_c``; values in ``[-log C, 0]``.
``odin``
    ODIN (Liang et al., ICLR 2018): temperature-scaled MSP of an input perturbed against the gradient of the
    temperature-scaled max log-softmax; options ``temperature`` (default 1000) and ``epsilon`` (default 0.0014).
    Needs the model, so only :func:`score_batch` computes it.

The logit-based detectors are pure functions of an ``(N, C)`` logit tensor (:func:`scores_from_logits`);
:func:`score_batch` runs the model and works for every detector.
"""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import Tensor, nn

from wsol.registry import Registry

__all__ = ["DETECTORS", "Detector", "register_detector", "scores_from_logits", "score_batch", "msp", "max_logit",
           "energy", "entropy", "odin"]


@dataclass(frozen=True)
class Detector:
    """A registered detector.

    Attributes:
        name: registry name.
        fn: ``fn(logits, **opts) -> scores`` when ``needs_model`` is false, else ``fn(model, images, **opts)``.
        needs_model: whether scores need the model and the images rather than the logits alone.
    """

    name: str
    fn: Callable[..., Tensor]
    needs_model: bool = False

    def option_names(self) -> tuple[str, ...]:
        """The keyword-only options ``fn`` accepts."""
        params = inspect.signature(self.fn).parameters.values()
        return tuple(p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY)

    def check_options(self, opts: dict[str, Any]) -> None:
        """Raises ``ValueError`` naming any option ``fn`` does not accept."""
        unknown = sorted(set(opts) - set(self.option_names()))
        if unknown:
            valid = ", ".join(self.option_names()) or "none"
            raise ValueError(f"unknown option(s) {unknown} for OOD detector {self.name!r}; valid: {valid}")


#: OOD detectors by name (see the module docstring).
DETECTORS: Registry[Detector] = Registry("ood detector")


def register_detector(name: str, *,
                      needs_model: bool = False) -> Callable[[Callable[..., Tensor]], Callable[..., Tensor]]:
    """Decorator that registers a score function in :data:`DETECTORS` (a duplicate name raises ``ValueError``)."""
    def decorator(fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
        DETECTORS.add(name, Detector(name=name, fn=fn, needs_model=needs_model))
        return fn
    return decorator


def _check_logits(logits: Tensor) -> None:
    if not isinstance(logits, Tensor):
        raise ValueError(f"logits must be a torch.Tensor, got {type(logits).__name__}")
    if logits.ndim != 2 or logits.shape[1] < 1:
        raise ValueError(f"logits must have shape (N, C) with C >= 1, got {tuple(logits.shape)}")
    if not logits.is_floating_point():
        raise ValueError(f"logits must be floating point, got {logits.dtype}")


def _check_temperature(temperature: float) -> float:
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not (
            math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    return float(temperature)


@register_detector("msp")
def msp(logits: Tensor) -> Tensor:
    """Maximum softmax probability: ``(N, C)`` logits -> ``(N,)`` scores in (0, 1], the logits' dtype."""
    _check_logits(logits)
    return logits.softmax(dim=1).amax(dim=1)


@register_detector("max_logit")
def max_logit(logits: Tensor) -> Tensor:
    """Largest logit: ``(N, C)`` -> ``(N,)``, the logits' dtype."""
    _check_logits(logits)
    return logits.amax(dim=1)


@register_detector("energy")
def energy(logits: Tensor, *, temperature: float = 1.0) -> Tensor:
    """Negative free energy ``T * logsumexp(logits / T)``: ``(N, C)`` -> ``(N,)``, the logits' dtype.

    Args:
        logits: ``(N, C)`` floating point.
        temperature: ``T > 0``; as ``T -> 0`` the score tends to the max logit.
    """
    _check_logits(logits)
    t = _check_temperature(temperature)
    return t * torch.logsumexp(logits / t, dim=1)


@register_detector("entropy")
def entropy(logits: Tensor) -> Tensor:
    """Negative softmax entropy in nats, ``sum_c p_c log p_c``: ``(N, C)`` -> ``(N,)`` in ``[-log C, 0]``.

    Classes with probability exactly 0 (``-inf`` logits or underflow) contribute 0.
    """
    _check_logits(logits)
    log_p = logits.log_softmax(dim=1)
    p = log_p.exp()
    return torch.where(p > 0, p * log_p, torch.zeros_like(p)).sum(dim=1)


@register_detector("odin", needs_model=True)
def odin(model: nn.Module, images: Tensor, *, temperature: float = 1000.0, epsilon: float = 0.0014) -> Tensor:
    """ODIN score (Liang et al., ICLR 2018): ``max softmax(f(x') / T)`` with ``x' = x - eps * sign(-grad_x S)``.

    ``S = log max_c softmax(f(x) / T)_c``; the step therefore moves each input in the direction that *raises* the
    temperature-scaled confidence, which raises in-distribution scores more than OOD ones.

    The perturbation is applied **in the model's input space**, i.e. to ``images`` exactly as given (normalised
    with ImageNet mean/std for the wsol models): ``epsilon`` is in units of normalised input, not of [0, 1]
    pixels. (Liang et al.'s code takes the step in [0, 1] pixel units, i.e. ``epsilon / std_c`` per channel in
    normalised units; ``epsilon=0.0014 / 0.226`` approximates that for ImageNet statistics.)
    ``sign(0) = 0`` (the reference code maps a zero gradient to ``+1``; exact zeros are rare).

    Gradients are taken with respect to the input only (``torch.autograd.grad``): the model's train/eval mode,
    its parameters' ``requires_grad`` and ``.grad`` are left unchanged and ``images`` is not modified. Put the
    model in eval mode yourself (the usual case): in train mode, batch-norm layers would update their running
    statistics during the two forward passes.

    Args:
        model: classifier returning ``(N, C)`` logits.
        images: float ``(N, 3, H, W)`` model inputs.
        temperature: ``T > 0``.
        epsilon: perturbation size ``>= 0`` in input units; 0 gives the temperature-scaled MSP.

    Returns:
        ``(N,)`` scores in (0, 1], detached, on the images' device.
    """
    t = _check_temperature(temperature)
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not (
            math.isfinite(epsilon) and epsilon >= 0):
        raise ValueError(f"epsilon must be a finite number >= 0, got {epsilon!r}")
    if not isinstance(images, Tensor) or not images.is_floating_point():
        raise ValueError(f"images must be a floating-point torch.Tensor, got {getattr(images, 'dtype', type(images))}")
    x = images.detach().requires_grad_(True)  # a new leaf sharing storage; never written to
    with torch.enable_grad():
        logits = model(x)
        _check_logits(logits)
        neg_log_max_softmax = -(logits / t).log_softmax(dim=1).amax(dim=1)
        (grad,) = torch.autograd.grad(neg_log_max_softmax.sum(), x)
    perturbed = images.detach() - float(epsilon) * grad.sign()
    with torch.no_grad():
        return msp(model(perturbed) / t)


def scores_from_logits(logits: Tensor, detector: str, **opts: Any) -> Tensor:
    """Scores of a logit-based detector: ``(N, C)`` float logits -> ``(N,)`` scores in the logits' dtype.

    Args:
        logits: ``(N, C)`` floating-point classifier outputs (not modified).
        detector: a name in :data:`DETECTORS` other than ``"odin"``.
        **opts: the detector's keyword-only options (e.g. ``temperature=`` for ``energy``).

    Raises:
        ValueError: unknown detector, unknown option, bad logits, or a detector that needs the model.
    """
    det = DETECTORS.get(detector)
    if det.needs_model:
        raise ValueError(f"OOD detector {detector!r} needs the model and the images; use score_batch()")
    det.check_options(opts)
    return det.fn(logits, **opts)


def score_batch(model: nn.Module, images: Tensor, *, detector: str, **opts: Any) -> Tensor:
    """Scores of one batch for any detector: ``(N, 3, H, W)`` model inputs -> detached ``(N,)`` scores.

    Logit-based detectors run ``model(images)`` once under ``torch.no_grad()``; ``odin`` needs gradients with
    respect to the input (see :func:`odin`). The model's mode is not changed: call ``model.eval()`` first.

    Args:
        model: classifier returning ``(N, C)`` logits.
        images: what the model takes (normalised images); not modified.
        detector: a name in :data:`DETECTORS`.
        **opts: the detector's keyword-only options.

    Raises:
        ValueError: unknown detector or option, or bad model outputs.
    """
    det = DETECTORS.get(detector)
    det.check_options(opts)
    if det.needs_model:
        return det.fn(model, images, **opts).detach()
    with torch.no_grad():
        logits = model(images)
    return det.fn(logits, **opts).detach()
