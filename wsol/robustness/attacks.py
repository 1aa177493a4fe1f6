"""Gradient-sign adversarial attacks in pixel space (FGSM, L-inf PGD) and accuracy under attack.

Conventions of :mod:`wsol.robustness`, stated once here:

* **Pixel space.** Images are float ``(N, C, H, W)`` tensors with values in ``[0, 1]``; every model handed to this
  package maps such images to logits ``(N, K)``. A wsol backbone expects ImageNet-normalised input, so wrap it first:
  ``PixelSpaceModel(build_model(...))``. Passing a bare :class:`~wsol.models.base.WSOLModel` raises ``ValueError``,
  and so do images outside ``[0, 1]`` (the usual sign that already-normalised images were given).
* **Budgets** ``eps`` and step sizes ``alpha`` are in the same ``[0, 1]`` units (``8/255 = 0.0314``); values above 1
  raise, since they almost always mean a budget given in 0-255 units.
* **Loss.** Cross-entropy **summed** over the batch, so each image's gradient does not depend on the batch it is in.
* **Model state.** During an attack the model runs in eval mode (BatchNorm running statistics, no dropout) with every
  parameter's ``requires_grad`` switched off, so autograd records and computes only the path to the input
  (``torch.autograd.grad`` with respect to the images; no parameter ``.grad`` is read or written, no weight gradient
  is computed). Every module's ``training`` flag and every parameter's ``requires_grad`` are restored on return, also
  when the model raises. Evaluators (:func:`attack_accuracy` and those of :mod:`wsol.robustness.occlusion`) likewise
  run the model in eval mode and restore each module's flag.
* **Top-k.** ``top5`` counts a sample as correct when its label is among the ``min(5, K)`` largest logits, so with
  ``K <= 5`` classes it is 100 % by definition. Ties between logits follow ``torch.topk``.
* **Devices** are arguments: nothing here moves a model; evaluators move each batch to ``device`` when given.

Batches for the evaluators are ``(images, labels, ...)`` tuples/lists (extra items ignored) or mappings with keys
``"image"`` and ``"label"``; ``images`` in ``[0, 1]``, ``labels`` integer ``(N,)``. A ``DataLoader`` works as is.
"""
from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wsol.constants import IMAGENET_MEAN, IMAGENET_STD
from wsol.models.base import WSOLModel

__all__ = ["PixelSpaceModel", "fgsm", "fgsm_reference", "pgd", "attack_accuracy", "TopKCounter", "ATTACKS",
           "check_pixel_images"]

#: Attack names accepted by :func:`attack_accuracy`.
ATTACKS = ("fgsm", "pgd")

DeviceLike = Union[torch.device, str, None]


class PixelSpaceModel(nn.Module):
    """A model that takes images in ``[0, 1]``: normalises them with ``mean``/``std``, then calls ``model``.

    ``PixelSpaceModel(m)(x) == m((x - mean) / std)``. ``mean`` and ``std`` are non-persistent buffers (they follow
    ``.to(device)`` but stay out of the state dict), cast to the input's dtype at each call. ``train()``/``eval()``
    reach ``model`` as for any child module.

    Args:
        model: network taking normalised images ``(N, C, H, W)`` and returning logits ``(N, K)``.
        mean: per-channel mean of the normalisation, in ``[0, 1]`` units (default ImageNet's).
        std: per-channel standard deviation (> 0), same length as ``mean``.
    """

    def __init__(self, model: nn.Module, mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD) -> None:
        super().__init__()
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be an nn.Module, got {type(model).__name__}")
        mean_t = torch.as_tensor(mean, dtype=torch.float32).flatten()
        std_t = torch.as_tensor(std, dtype=torch.float32).flatten()
        if mean_t.numel() == 0 or mean_t.shape != std_t.shape:
            raise ValueError(f"mean and std must be non-empty and of equal length, got mean={tuple(mean)!r}, "
                             f"std={tuple(std)!r}")
        if not (bool(torch.isfinite(mean_t).all()) and bool(torch.isfinite(std_t).all()) and bool((std_t > 0).all())):
            raise ValueError(f"mean must be finite and std finite and positive, got mean={tuple(mean)!r}, "
                             f"std={tuple(std)!r}")
        self.model = model
        self.register_buffer("mean", mean_t.view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", std_t.view(1, -1, 1, 1), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(N, K)`` of images ``x`` ``(N, C, H, W)`` in ``[0, 1]``."""
        if x.dim() != 4 or x.shape[1] != self.mean.shape[1]:
            raise ValueError(f"expected images (N, {self.mean.shape[1]}, H, W), got {tuple(x.shape)}")
        return self.model((x - self.mean.to(x.dtype)) / self.std.to(x.dtype))


# -- checks ---------------------------------------------------------------------------------------------------------
def check_pixel_images(images: object, name: str = "images") -> Tensor:
    """Return ``images`` if it is a floating ``(N, C, H, W)`` tensor with values in ``[0, 1]``, else raise.

    Raises:
        ValueError: wrong type, dtype, rank, or values outside ``[0, 1]`` (NaN included); the message gives them.
    """
    if not isinstance(images, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(images).__name__}")
    if not images.is_floating_point():
        raise ValueError(f"{name} must be a floating tensor in [0, 1], got dtype {images.dtype}")
    if images.dim() != 4:
        raise ValueError(f"{name} must be (N, C, H, W), got shape {tuple(images.shape)}")
    if images.numel():
        lo, hi = float(images.min()), float(images.max())
        if not (0.0 <= lo and hi <= 1.0):  # also catches NaN
            raise ValueError(f"{name} must be in [0, 1] (pixel space; wrap normalised models in PixelSpaceModel and "
                             f"pass un-normalised images), got values in [{lo}, {hi}]")
    return images


def _check_labels(labels: object, n: int, name: str = "labels") -> Tensor:
    if not isinstance(labels, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(labels).__name__}")
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise ValueError(f"{name} must be an integer tensor, got dtype {labels.dtype}")
    if labels.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {tuple(labels.shape)}")
    return labels.to(torch.int64)


def _check_model(model: object) -> nn.Module:
    if not callable(model):
        raise ValueError(f"model must be callable, got {type(model).__name__}")
    if isinstance(model, WSOLModel):
        raise ValueError(f"got a bare {type(model).__name__}, which expects ImageNet-normalised input; "
                         "wrap it as PixelSpaceModel(model) so that it takes images in [0, 1]")
    return model


def _check_budget(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1] pixel units (e.g. 8/255 = 0.0314), got {value!r}")
    return float(value)


def _check_count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return value


def _check_target(targeted: object, target: object, n: int) -> Optional[Tensor]:
    if not isinstance(targeted, bool):
        raise ValueError(f"targeted must be a bool, got {targeted!r}")
    if targeted and target is None:
        raise ValueError("targeted=True needs target (int64 (N,) classes to push the images towards)")
    if not targeted and target is not None:
        raise ValueError("target is only used by targeted attacks; pass targeted=True or leave target=None")
    return _check_labels(target, n, "target") if targeted else None


def _logits_and_classes(logits: object, classes: Tensor) -> None:
    if not isinstance(logits, Tensor) or logits.dim() != 2 or logits.shape[0] != classes.shape[0]:
        shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
        raise ValueError(f"model must return logits (N={classes.shape[0]}, K), got {shape}")
    if classes.numel() and (int(classes.min()) < 0 or int(classes.max()) >= logits.shape[1]):
        raise ValueError(f"classes must be in [0, {logits.shape[1]}), got values in "
                         f"[{int(classes.min())}, {int(classes.max())}]")


# -- model state ------------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def eval_mode(model: nn.Module, *, freeze: bool = False) -> Iterator[nn.Module]:
    """Run ``model`` in eval mode (and with ``requires_grad`` off when ``freeze``); restore both on exit."""
    modules = list(model.modules()) if isinstance(model, nn.Module) else []
    flags = [m.training for m in modules]
    params = [p for p in model.parameters()] if freeze and isinstance(model, nn.Module) else []
    grads = [p.requires_grad for p in params]
    try:
        for m in modules:
            m.training = False
        for p in params:
            p.requires_grad_(False)
        yield model
    finally:
        for m, flag in zip(modules, flags):
            m.training = flag
        for p, flag in zip(params, grads):
            p.requires_grad_(flag)


def _loss_gradient(model: nn.Module, images: Tensor, classes: Tensor) -> tuple[Tensor, Tensor]:
    """``(logits detached, d CE_sum(model(images), classes) / d images)``; the model is used as it is."""
    if torch.is_inference_mode_enabled():
        raise RuntimeError("adversarial attacks need autograd; do not call them under torch.inference_mode()")
    x = images.clone() if images.is_inference() else images.detach()
    x.requires_grad_(True)
    with torch.enable_grad():
        logits = model(x)
        _logits_and_classes(logits, classes)
        loss = F.cross_entropy(logits, classes, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x)
    return logits.detach(), grad


def _sign_step(images: Tensor, grad: Tensor, step: float, targeted: bool) -> Tensor:
    """``x + step * sign(g)`` (``-`` when targeted), unclipped."""
    return images - step * grad.sign() if targeted else images + step * grad.sign()


# -- attacks ----------------------------------------------------------------------------------------------------------
def fgsm(model: nn.Module, images: Tensor, labels: Tensor, *, eps: float, targeted: bool = False,
         target: Optional[Tensor] = None) -> Tensor:
    """Fast Gradient Sign Method (Goodfellow et al., ICLR 2015), one step of size ``eps``.

    Untargeted: ``clip(x + eps * sign(grad_x CE(f(x), labels)), 0, 1)``; targeted:
    ``clip(x - eps * sign(grad_x CE(f(x), target)), 0, 1)``. See the module docstring for the loss and model-state
    conventions; ``images`` is not modified. ``eps = 0`` returns a copy equal to ``images``.

    Args:
        model: pixel-space model (images in ``[0, 1]`` -> logits ``(N, K)``) on ``images``' device.
        images: float ``(N, C, H, W)`` in ``[0, 1]``.
        labels: int ``(N,)`` true classes.
        eps: L-inf budget in ``[0, 1]`` units.
        targeted: push towards ``target`` instead of away from ``labels``.
        target: int ``(N,)`` target classes; required when ``targeted``, forbidden otherwise.

    Returns:
        adversarial images, same shape, dtype and device as ``images``, values in ``[0, 1]``, no autograd history.
    """
    model = _check_model(model)
    images = check_pixel_images(images)
    labels = _check_labels(labels, images.shape[0])
    target = _check_target(targeted, target, images.shape[0])
    eps = _check_budget("eps", eps)
    with eval_mode(model, freeze=True):
        _, grad = _loss_gradient(model, images, target if targeted else labels)
    return _sign_step(images, grad, eps, targeted).clamp_(0.0, 1.0)


def fgsm_reference(model: nn.Module, images: Tensor, labels: Tensor, *, eps: float, targeted: bool = False,
                   target: Optional[Tensor] = None) -> Tensor:
    """FGSM written plainly from the definition, for tests and benchmarks (slow; has side effects).

    Clones the input, sets ``requires_grad``, calls ``.backward()`` (which also fills every parameter's ``.grad``)
    and reads ``x.grad``. The model is put in eval mode and afterwards set back with ``model.train(was_training)``
    (every submodule gets the top-level flag). No argument checks.
    """
    was_training = model.training
    model.eval()
    x = images.clone().requires_grad_(True)
    with torch.enable_grad():
        loss = F.cross_entropy(model(x), target if targeted else labels, reduction="sum")
        loss.backward()
    sign = x.grad.sign()
    adv = x.detach() - eps * sign if targeted else x.detach() + eps * sign
    model.train(was_training)
    return adv.clamp(0.0, 1.0)


def pgd(model: nn.Module, images: Tensor, labels: Tensor, *, eps: float, alpha: float, steps: int,
        random_start: bool = True, generator: Optional[torch.Generator] = None, targeted: bool = False,
        target: Optional[Tensor] = None) -> Tensor:
    """Projected gradient descent with L-inf budget (Madry et al., ICLR 2018), ``steps`` sign steps of ``alpha``.

    ``x_0 = clip(x + u, 0, 1)`` with ``u ~ U[-eps, eps]`` i.i.d. per pixel (``random_start``) or ``x_0 = x``; then
    ``x_{t+1} = P(x_t + alpha * sign(grad CE(f(x_t), labels)))`` (``-`` and ``target`` when targeted), where ``P``
    clips to ``[max(x - eps, 0), min(x + eps, 1)]``: the eps-ball around ``x`` intersected with ``[0, 1]``. Model
    state and loss follow the module docstring; ``images`` is not modified.

    Randomness: the random start draws ``torch.rand(images.shape)`` (``images.dtype``) once from ``generator``, on
    ``generator.device``, and moves it to ``images``' device; nothing else is random.

    Args:
        model: pixel-space model on ``images``' device.
        images: float ``(N, C, H, W)`` in ``[0, 1]``.
        labels: int ``(N,)`` true classes.
        eps: L-inf budget in ``[0, 1]`` units.
        alpha: step size in ``[0, 1]`` units.
        steps: number of gradient steps (>= 0; 0 returns the start point).
        random_start: start from a uniform point of the eps-ball (needs ``generator``).
        generator: source of the random start.
        targeted: push towards ``target`` instead of away from ``labels``.
        target: int ``(N,)`` target classes; required when ``targeted``, forbidden otherwise.

    Returns:
        adversarial images, same shape, dtype and device as ``images``, within ``eps`` of them and in ``[0, 1]``.
    """
    model = _check_model(model)
    images = check_pixel_images(images)
    labels = _check_labels(labels, images.shape[0])
    target = _check_target(targeted, target, images.shape[0])
    eps = _check_budget("eps", eps)
    alpha = _check_budget("alpha", alpha)
    steps = _check_count("steps", steps)
    if not isinstance(random_start, bool):
        raise ValueError(f"random_start must be a bool, got {random_start!r}")
    if random_start and not isinstance(generator, torch.Generator):
        raise ValueError(f"random_start=True needs generator=torch.Generator, got {generator!r}")
    classes = target if targeted else labels
    images = images.detach()
    lower = (images - eps).clamp_(min=0.0)
    upper = (images + eps).clamp_(max=1.0)
    if random_start:
        noise = torch.rand(images.shape, generator=generator, device=generator.device, dtype=images.dtype)
        x = torch.clamp(images + (2.0 * noise.to(images.device) - 1.0) * eps, min=lower, max=upper)
    else:
        x = images.clone()
    with eval_mode(model, freeze=True):
        for _ in range(steps):
            _, grad = _loss_gradient(model, x, classes)
            x = torch.clamp(_sign_step(x, grad, alpha, targeted), min=lower, max=upper)
    return x


# -- accuracy under attack --------------------------------------------------------------------------------------------
class TopKCounter:
    """Accumulator of top-1 / top-5 hits: ``update`` with logits and labels, ``compute``, ``merge`` (for shards).

    Top-5 uses the ``min(5, K)`` largest logits (see the module docstring).
    """

    def __init__(self, *, keep: bool = False) -> None:
        self.total = 0
        self.top1 = 0
        self.top5 = 0
        #: with ``keep``: every image's top-1 hit, in update order
        self.top1_hits: Optional[list[bool]] = [] if keep else None

    def update(self, logits: Tensor, labels: Tensor) -> None:
        """Count the hits of logits ``(N, K)`` against int labels ``(N,)``."""
        labels = _check_labels(labels, logits.shape[0])
        _logits_and_classes(logits, labels)
        k = min(5, logits.shape[1])
        top = logits.topk(k, dim=1).indices
        hits = top == labels.to(top.device)[:, None]
        self.total += int(labels.shape[0])
        self.top1 += int(hits[:, 0].sum())
        self.top5 += int(hits.any(dim=1).sum())
        if self.top1_hits is not None:
            self.top1_hits += hits[:, 0].tolist()

    def merge(self, other: "TopKCounter") -> "TopKCounter":
        """Add ``other``'s counts to this one (in place) and return ``self``."""
        self.total += other.total
        self.top1 += other.top1
        self.top5 += other.top5
        if self.top1_hits is not None and other.top1_hits is not None:
            self.top1_hits += other.top1_hits
        return self

    def compute(self) -> dict[str, Any]:
        """``{"total", "top1", "top5", "top1_pct", "top5_pct"}``; percentages are ``nan`` when nothing was counted."""
        def pct(hits: int) -> float:
            return 100.0 * hits / self.total if self.total else float("nan")
        return {"total": self.total, "top1": self.top1, "top5": self.top5, "top1_pct": pct(self.top1),
                "top5_pct": pct(self.top5)}


def iter_batches(batches: Iterable[Any], device: DeviceLike = None) -> Iterator[tuple[Tensor, Tensor]]:
    """``(images, labels)`` of each batch (see the module docstring), checked and moved to ``device``."""
    for i, batch in enumerate(batches):
        if isinstance(batch, Mapping):
            if "image" not in batch or "label" not in batch:
                raise ValueError(f"batch {i}: a mapping batch needs keys 'image' and 'label', got {sorted(batch)}")
            images, labels = batch["image"], batch["label"]
        elif isinstance(batch, (tuple, list)) and len(batch) >= 2:
            images, labels = batch[0], batch[1]
        else:
            raise ValueError(f"batch {i}: expected (images, labels) or a mapping with 'image' and 'label', "
                             f"got {type(batch).__name__}")
        if device is not None:
            images, labels = images.to(device), labels.to(device)
        images = check_pixel_images(images, f"batch {i} images")
        yield images, _check_labels(labels, images.shape[0], f"batch {i} labels")


def _check_eps_list(eps_list: object) -> list[float]:
    if isinstance(eps_list, (str, bytes)) or not isinstance(eps_list, Iterable):
        raise ValueError(f"eps_list must be a sequence of budgets, got {eps_list!r}")
    values = [_check_budget("eps_list item", e) for e in eps_list]
    if not values:
        raise ValueError("eps_list must not be empty")
    return values


def attack_accuracy(model: nn.Module, batches: Iterable[Any], *, eps_list: Sequence[float], attack: str = "fgsm",
                    alpha: Optional[float] = None, steps: int = 10, random_start: bool = True,
                    generator: Optional[torch.Generator] = None, device: DeviceLike = None,
                    per_image: bool = False) -> dict[str, Any]:
    """Clean and adversarial top-1 / top-5 accuracy for each budget in ``eps_list``, streaming over ``batches``.

    FGSM: one forward + backward per batch gives the clean logits and the gradient sign shared by every budget, then
    one forward per budget. PGD: one no-grad forward for the clean logits, then :func:`pgd` per budget with step
    ``alpha`` (default ``2.5 * eps / steps``, Madry et al.'s rule) drawing its random starts from ``generator``
    (per batch, per budget, in ``eps_list`` order).

    Args:
        model: pixel-space model (see the module docstring), already on ``device``.
        batches: iterable of batches (a ``DataLoader`` or a list), images in ``[0, 1]``.
        eps_list: budgets in ``[0, 1]`` units; ``0`` reproduces the clean accuracy.
        attack: ``"fgsm"`` or ``"pgd"``.
        alpha: PGD step in ``[0, 1]`` units, the same for every budget; ``None`` for ``2.5 * eps / steps``.
        steps: PGD steps (>= 1).
        random_start: PGD random start (needs ``generator``).
        generator: source of PGD's random starts.
        device: where to move each batch; ``None`` leaves them where they are.
        per_image: also return every image's top-1 hit (for paired statistics between models).

    Returns:
        JSON-ready dict: ``attack``, ``eps`` (list), ``settings`` (PGD's ``alpha``/``steps``/``random_start``, else
        empty), ``clean`` and ``adversarial`` (list aligned with ``eps``) of :meth:`TopKCounter.compute` dicts, the
        latter with an extra ``"eps"`` key; with ``per_image``, ``per_image_top1``: ``clean`` (one bool per image,
        in batch order) and ``adversarial`` (one such list per budget).

    Raises:
        ValueError: bad options (the offending value is in the message), or ``batches`` held no image.
    """
    model = _check_model(model)
    eps_values = _check_eps_list(eps_list)
    if attack not in ATTACKS:
        raise ValueError(f"attack must be one of {ATTACKS}, got {attack!r}")
    settings: dict[str, Any] = {}
    if attack == "pgd":
        steps = _check_count("steps", steps)
        if steps < 1:
            raise ValueError(f"steps must be >= 1 for attack='pgd', got {steps!r}")
        if alpha is not None:
            alpha = _check_budget("alpha", alpha)
        if not isinstance(random_start, bool):
            raise ValueError(f"random_start must be a bool, got {random_start!r}")
        if random_start and not isinstance(generator, torch.Generator):
            raise ValueError(f"random_start=True needs generator=torch.Generator, got {generator!r}")
        settings = {"alpha": alpha if alpha is not None else "2.5*eps/steps", "steps": steps,
                    "random_start": random_start}
    elif alpha is not None:
        raise ValueError(f"alpha is a PGD option; attack={attack!r} does not take it (got alpha={alpha!r})")

    clean = TopKCounter(keep=per_image)
    adversarial = [TopKCounter(keep=per_image) for _ in eps_values]
    with eval_mode(model, freeze=True):
        for images, labels in iter_batches(batches, device):
            if attack == "fgsm":
                logits, grad = _loss_gradient(model, images, labels)
                clean.update(logits, labels)
                for eps, counter in zip(eps_values, adversarial):
                    with torch.no_grad():
                        counter.update(model(_sign_step(images, grad, eps, False).clamp_(0.0, 1.0)), labels)
                continue
            with torch.no_grad():
                clean.update(model(images), labels)
            for eps, counter in zip(eps_values, adversarial):
                step = alpha if alpha is not None else 2.5 * eps / steps
                adv = pgd(model, images, labels, eps=eps, alpha=min(step, 1.0), steps=steps,
                          random_start=random_start, generator=generator)
                with torch.no_grad():
                    counter.update(model(adv), labels)
    if clean.total == 0:
        raise ValueError("batches held no images")
    out = {"attack": attack, "eps": eps_values, "settings": settings, "clean": clean.compute(),
           "adversarial": [{"eps": eps, **counter.compute()} for eps, counter in zip(eps_values, adversarial)]}
    if per_image:
        out["per_image_top1"] = {"clean": clean.top1_hits, "adversarial": [c.top1_hits for c in adversarial]}
    return out
