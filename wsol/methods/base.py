"""What every training method returns (:class:`MixedBatch`) and the losses that read it.

A *method* turns a batch ``(images, labels)`` into a :class:`MixedBatch`. Label mixing is carried in the
two-target form ``(labels_a, labels_b, lam)``: sample ``i`` is worth ``lam[i]`` of class ``labels_a[i]`` and
``1 - lam[i]`` of class ``labels_b[i]``. Methods that do not mix labels (vanilla, cutout, random erasing,
KeepAugment's selective cut) return ``labels_b = None`` and ``lam`` all ones.

The two-target loss :func:`mixed_cross_entropy` and the soft-target loss
``soft_cross_entropy(logits, soft_targets(batch, K))`` are the same number (cross-entropy is linear in the target
distribution); the tests hold them equal to 1e-6.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Optional, Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor

from wsol.registry import Registry

__all__ = ["METHODS", "MixedBatch", "FeatureMix", "Method", "mixed_cross_entropy", "soft_targets", "soft_cross_entropy",
           "check_batch", "check_generator",
           "check_probability", "check_positive", "check_choice", "unmixed"]

#: Training methods by name; each entry is a class built with keyword-only options (see :class:`Method`).
METHODS: Registry = Registry("method")


@dataclass(frozen=True)
class FeatureMix:
    """Instruction to mix an intermediate feature map inside the model (see :mod:`wsol.methods.feature_cutmix`).

    Attributes:
        stage: index ``k`` of the model stage *after* which the features are mixed (0-based, into
            ``model.stages()``).
        rel_box: float32 ``(4,)`` box ``(x0, y0, x1, y1)`` in relative coordinates, each in [0, 1]
            (fractions of the width / height); mapped to any feature resolution by
            :func:`wsol.methods.feature_cutmix.feature_box`.
        perm: int64 ``(N,)`` partner of each sample (a permutation of ``0..N-1``).
    """

    stage: int
    rel_box: Tensor
    perm: Tensor


@dataclass(frozen=True)
class MixedBatch:
    """A batch after a training method, plus what the loss (and tests / figures) need.

    Attributes:
        images: float ``(N, C, H, W)``; may be the caller's own tensor (vanilla, feature-level mixing, or a method
            built with ``in_place=True``).
        labels_a: int64 ``(N,)`` the original labels.
        labels_b: int64 ``(N,)`` labels of the partner images, or ``None`` when no label mixing happened.
        lam: float32 ``(N,)`` in [0, 1], weight of ``labels_a`` (all ones when not mixing).
        boxes: optional int64 ``(N, R, 4)`` regions the method changed, ``xyxy`` half-open pixel boxes
            (``x0 <= x < x1``, ``y0 <= y < y1``); an empty box (``x0 == x1`` or ``y0 == y1``) means "none".
        perm: optional int64 ``(N,)`` partner indices (``labels_b == labels_a[perm]``).
        feature_mix: optional :class:`FeatureMix` the training loop applies inside the model.
    """

    images: Tensor
    labels_a: Tensor
    labels_b: Optional[Tensor]
    lam: Tensor
    boxes: Optional[Tensor] = None
    perm: Optional[Tensor] = None
    feature_mix: Optional[FeatureMix] = None

    @property
    def is_mixed(self) -> bool:
        """Whether the labels are mixed (``labels_b`` is set)."""
        return self.labels_b is not None

    def replace(self, **changes) -> "MixedBatch":
        """A copy with some fields replaced (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)


@runtime_checkable
class Method(Protocol):
    """What a registered method looks like: built with keyword-only options, then called per batch."""

    needs_model: bool

    def __call__(self, images: Tensor, labels: Tensor, *, generator: torch.Generator,
                 model: Optional[torch.nn.Module] = None) -> MixedBatch: ...


def check_batch(images: Tensor, labels: Tensor) -> None:
    """Raise ``ValueError`` unless ``images`` is float ``(N, C, H, W)`` and ``labels`` int64 ``(N,)``."""
    if not isinstance(images, Tensor) or images.dim() != 4 or not images.is_floating_point():
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        dtype = images.dtype if isinstance(images, Tensor) else None
        raise ValueError(f"images must be a float tensor (N, C, H, W), got {shape} {dtype}")
    if not isinstance(labels, Tensor) or labels.dim() != 1 or labels.dtype != torch.int64:
        shape = tuple(labels.shape) if isinstance(labels, Tensor) else type(labels).__name__
        dtype = labels.dtype if isinstance(labels, Tensor) else None
        raise ValueError(f"labels must be an int64 tensor (N,), got {shape} {dtype}")
    if labels.shape[0] != images.shape[0]:
        raise ValueError(f"labels has {labels.shape[0]} entries for {images.shape[0]} images")
    if images.shape[0] == 0 or images.shape[2] == 0 or images.shape[3] == 0:
        raise ValueError(f"empty batch or image: images shape {tuple(images.shape)}")


def check_generator(generator: object) -> torch.Generator:
    """Return ``generator`` if it is a ``torch.Generator``, else raise ``ValueError``."""
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator, got {generator!r}")
    return generator


def unmixed(images: Tensor, labels: Tensor, **info) -> MixedBatch:
    """A :class:`MixedBatch` with no label mixing (``lam`` all ones)."""
    lam = torch.ones(labels.shape[0], dtype=torch.float32, device=labels.device)
    return MixedBatch(images=images, labels_a=labels, labels_b=None, lam=lam, **info)


def _check_logits(logits: Tensor, n: int) -> None:
    if logits.dim() != 2 or logits.shape[0] != n:
        raise ValueError(f"logits must be (N, K) with N={n}, got {tuple(logits.shape)}")


def mixed_cross_entropy(logits: Tensor, batch: MixedBatch, *, label_smoothing: float = 0.0) -> Tensor:
    """Two-target cross-entropy: ``mean_i [lam_i CE(logits_i, a_i) + (1 - lam_i) CE(logits_i, b_i)]``.

    Args:
        logits: float ``(N, K)`` unnormalised scores.
        batch: the :class:`MixedBatch` the logits were computed from (``labels_b is None`` means plain CE).
        label_smoothing: ``eps`` in [0, 1): each CE uses the target ``(1 - eps) onehot + eps / K`` (as
            ``F.cross_entropy``); the loss stays linear in the targets, so it equals the soft-target loss on
            ``soft_targets(batch, K, label_smoothing=eps)``.

    Returns:
        Scalar tensor (differentiable w.r.t. ``logits``).
    """
    _check_logits(logits, batch.labels_a.shape[0])
    eps = _check_smoothing(label_smoothing)
    ce_a = F.cross_entropy(logits, batch.labels_a, reduction="none", label_smoothing=eps)
    if batch.labels_b is None:
        return ce_a.mean()
    ce_b = F.cross_entropy(logits, batch.labels_b, reduction="none", label_smoothing=eps)
    lam = batch.lam.to(ce_a.dtype)
    return (lam * ce_a + (1.0 - lam) * ce_b).mean()


def _check_smoothing(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) < 1.0:
        raise ValueError(f"label_smoothing must be a number in [0, 1), got {value!r}")
    return float(value)


def soft_targets(batch: MixedBatch, num_classes: int, *, label_smoothing: float = 0.0) -> Tensor:
    """Per-sample target distribution ``lam·onehot(a) + (1 - lam)·onehot(b)``, optionally smoothed.

    Args:
        batch: a :class:`MixedBatch`.
        num_classes: ``K``; every label must lie in ``[0, K)``.
        label_smoothing: ``eps`` in [0, 1): the result is ``(1 - eps) targets + eps / K``.

    Returns:
        float32 ``(N, K)``, rows summing to 1.
    """
    eps = _check_smoothing(label_smoothing)
    if not isinstance(num_classes, int) or num_classes <= 0:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    labels = [batch.labels_a] + ([batch.labels_b] if batch.labels_b is not None else [])
    for lab in labels:
        if lab.numel() and (int(lab.min()) < 0 or int(lab.max()) >= num_classes):
            raise ValueError(f"labels must lie in [0, {num_classes}), got range "
                             f"[{int(lab.min())}, {int(lab.max())}]")
    lam = batch.lam.to(torch.float32)[:, None]
    targets = F.one_hot(batch.labels_a, num_classes).to(torch.float32) * lam
    if batch.labels_b is not None:
        targets = targets + F.one_hot(batch.labels_b, num_classes).to(torch.float32) * (1.0 - lam)
    if eps:
        targets = targets * (1.0 - eps) + eps / num_classes
    return targets


def soft_cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    """Cross-entropy against soft targets: ``mean_i [-sum_k targets_ik log softmax(logits_i)_k]``.

    Args:
        logits: float ``(N, K)``.
        targets: float ``(N, K)``, non-negative rows summing to 1 (not checked).

    Returns:
        Scalar tensor.
    """
    if targets.shape != logits.shape:
        raise ValueError(f"targets shape {tuple(targets.shape)} differs from logits shape {tuple(logits.shape)}")
    _check_logits(logits, logits.shape[0])
    return -(targets.to(logits.dtype) * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


def check_probability(name: str, value: object) -> float:
    """Return ``value`` as a float in [0, 1] or raise ``ValueError`` naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return float(value)


def check_positive(name: str, value: object) -> float:
    """Return ``value`` as a positive finite float or raise ``ValueError`` naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``choices`` or raise ``ValueError`` naming it."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value  # type: ignore[return-value]
