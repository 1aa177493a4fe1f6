"""CutMix (Yun et al., "CutMix: Regularization Strategy to Train Strong Classifiers with Localizable Features",
ICCV 2019).

A box of relative side ``sqrt(1 - λ)``, ``λ ~ Beta(β, β)``, is cut from a partner image (a random permutation of
the batch) and pasted into each image; labels are mixed in proportion to the area **actually pasted** after the box
is clipped to the image: ``λ = 1 - (x1 - x0)(y1 - y0) / (W·H)``.

Box construction (pixel convention of :mod:`wsol.methods.regions`): ``cut_w = int(W·sqrt(1 - λ))``,
``cut_h = int(H·sqrt(1 - λ))``; centre pixel ``cx`` uniform on ``{0..W-1}``, ``cy`` on ``{0..H-1}``; box
``x0 = cx - cut_w // 2``, ``x1 = x0 + cut_w`` (same in ``y``), clipped to the image.

Two modes:

``"batch"`` (the paper's): one λ, one box and one permutation for the whole batch. :func:`cutmix_` writes the
    pasted area into the given tensor **in place** and touches nothing else, so its cost is proportional to the box
    area; :func:`apply_cutmix` leaves its input alone and returns a new tensor (one full copy, unavoidable for
    out-of-place semantics).
``"sample"``: each sample has its own λ and box (and whether it is mixed at all); the masks come from broadcast
    comparisons of index grids (no Python loop over samples). Always out of place.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from wsol.methods import sampling
from wsol.methods.base import (METHODS, MixedBatch, check_batch, check_choice, check_generator, check_positive,
                               check_probability, unmixed)
from wsol.methods.regions import box_area, box_masks, centred_boxes

__all__ = ["CutMix", "sample_cutmix_boxes", "cutmix_lambda", "apply_cutmix", "cutmix_"]

MODES = ("batch", "sample")


def sample_cutmix_boxes(n: int, *, height: int, width: int, generator: torch.Generator,
                        beta: float = 1.0) -> tuple[Tensor, Tensor]:
    """Draw ``n`` CutMix boxes and their area-corrected λ.

    Consumes from ``generator``, in order: one Beta draw (see :func:`wsol.methods.sampling.sample_beta`), ``n``
    uniforms for ``cx``, ``n`` uniforms for ``cy``.

    Args:
        n: number of boxes.
        height, width: image size ``H, W`` in pixels (>= 1).
        generator: source of randomness.
        beta: the Beta(β, β) parameter (> 0).

    Returns:
        ``(boxes, lam)``: int64 ``(n, 4)`` clipped half-open ``xyxy`` boxes and float32 ``(n,)`` in [0, 1], the
        fraction of the image **not** pasted over, on ``generator.device``.
    """
    check_generator(generator)
    beta = check_positive("beta", beta)
    if height < 1 or width < 1:
        raise ValueError(f"image size must be positive, got height={height}, width={width}")
    lam = sampling.sample_beta(n, beta, beta, generator=generator).to(generator.device)
    ratio = torch.sqrt(1.0 - lam)
    cut_w = torch.floor(width * ratio).to(torch.int64)
    cut_h = torch.floor(height * ratio).to(torch.int64)
    cx = sampling.randint_below(width, (n,), generator=generator)
    cy = sampling.randint_below(height, (n,), generator=generator)
    boxes = centred_boxes(cx, cy, cut_w, cut_h, height=height, width=width)
    return boxes, cutmix_lambda(boxes, height=height, width=width)


def cutmix_lambda(boxes: Tensor, *, height: int, width: int) -> Tensor:
    """float32 ``(...)`` λ = 1 - area(box) / (H·W) for clipped half-open boxes ``(..., 4)``."""
    return (1.0 - box_area(boxes).to(torch.float64) / float(height * width)).to(torch.float32)


def _check_perm(perm: Tensor, n: int) -> None:
    if perm.dim() != 1 or perm.shape[0] != n or perm.dtype != torch.int64:
        raise ValueError(f"perm must be int64 ({n},), got {tuple(perm.shape)} {perm.dtype}")


def cutmix_(images: Tensor, box: Tensor, perm: Tensor) -> Tensor:
    """Paste ``images[perm]``'s box region into ``images``, **in place**; only the box pixels are written.

    The partner pixels are gathered (a copy of the box region only) before writing, so ``perm`` may map a sample
    to itself or form cycles safely.

    Args:
        images: float ``(N, C, H, W)``; modified in place.
        box: int64 ``(4,)`` one clipped half-open box for the whole batch.
        perm: int64 ``(N,)`` partner indices.

    Returns:
        ``images`` itself.
    """
    if box.shape != (4,):
        raise ValueError(f"cutmix_ takes one box of shape (4,), got {tuple(box.shape)}")
    _check_perm(perm, images.shape[0])
    x0, y0, x1, y1 = (int(v) for v in box.tolist())
    if x1 > x0 and y1 > y0:
        region = images[:, :, y0:y1, x0:x1]
        region.copy_(region[perm.to(images.device)])
    return images


def apply_cutmix(images: Tensor, boxes: Tensor, perm: Tensor) -> Tensor:
    """CutMix out of place: a new tensor whose box pixels come from the partner image; ``images`` is untouched.

    Args:
        images: float ``(N, C, H, W)``.
        boxes: int64 ``(4,)`` (one box for the batch) or ``(N, 4)`` (one box per sample), clipped half-open.
        perm: int64 ``(N,)`` partner indices.

    Returns:
        float ``(N, C, H, W)`` new tensor.
    """
    n, _, h, w = images.shape
    _check_perm(perm, n)
    if boxes.shape == (4,):
        return cutmix_(images.clone(), boxes, perm)
    if boxes.shape != (n, 4):
        raise ValueError(f"boxes must be (4,) or ({n}, 4), got {tuple(boxes.shape)}")
    mask = box_masks(boxes.to(images.device), height=h, width=w)[:, None]  # (N, 1, H, W)
    return torch.where(mask, images[perm.to(images.device)], images)


@METHODS.register("cutmix")
class CutMix:
    """CutMix as a training method.

    Args:
        beta: Beta(β, β) parameter of λ (paper: 1.0).
        prob: probability of applying CutMix (per batch in ``"batch"`` mode, per sample in ``"sample"`` mode);
            the paper uses 1.0 on ImageNet and 0.5 on CIFAR.
        mode: ``"batch"`` (one box for the batch, the paper's) or ``"sample"`` (one box per sample).
        in_place: ``"batch"`` mode only: write the pasted area into the caller's ``images`` **in place** (cost
            proportional to the box area) instead of returning a new tensor.
    """

    needs_model = False

    def __init__(self, *, beta: float = 1.0, prob: float = 1.0, mode: str = "batch", in_place: bool = False) -> None:
        self.beta = check_positive("beta", beta)
        self.prob = check_probability("prob", prob)
        self.mode = check_choice("mode", mode, MODES)
        if not isinstance(in_place, bool):
            raise ValueError(f"in_place must be a bool, got {in_place!r}")
        if in_place and mode != "batch":
            raise ValueError(f"in_place=True needs mode='batch', got mode={mode!r}")
        self.in_place = in_place

    def __repr__(self) -> str:
        return f"CutMix(beta={self.beta}, prob={self.prob}, mode={self.mode!r}, in_place={self.in_place})"

    def __call__(self, images: Tensor, labels: Tensor, *, generator: torch.Generator,
                 model: Optional[torch.nn.Module] = None) -> MixedBatch:
        """Mix a batch.

        Args:
            images: float ``(N, C, H, W)``; modified only when the method was built with ``in_place=True``.
            labels: int64 ``(N,)``.
            generator: source of all randomness.
            model: ignored.

        Returns:
            :class:`MixedBatch` with ``boxes`` int64 ``(N, 1, 4)`` (the pasted region; empty where not mixed) and
            ``perm``.
        """
        check_batch(images, labels)
        check_generator(generator)
        n, _, h, w = images.shape
        dev = images.device
        k = 1 if self.mode == "batch" else n
        apply = sampling.uniform((k,), generator=generator) < self.prob
        boxes, lam = sample_cutmix_boxes(k, height=h, width=w, generator=generator, beta=self.beta)
        perm = sampling.permutation(n, generator=generator).to(dev)
        boxes, lam, apply = boxes.to(dev), lam.to(dev), apply.to(dev)
        if self.mode == "batch":
            if not bool(apply[0]):
                return unmixed(images, labels)
            box = boxes[0]
            out = cutmix_(images, box, perm) if self.in_place else apply_cutmix(images, box, perm)
            return MixedBatch(images=out, labels_a=labels, labels_b=labels[perm], lam=lam.expand(n).clone(),
                              boxes=box.expand(n, 1, 4), perm=perm)
        boxes = torch.where(apply[:, None], boxes, torch.zeros_like(boxes))
        lam = torch.where(apply, lam, torch.ones_like(lam))
        out = apply_cutmix(images, boxes, perm)
        return MixedBatch(images=out, labels_a=labels, labels_b=labels[perm], lam=lam, boxes=boxes[:, None],
                          perm=perm)
