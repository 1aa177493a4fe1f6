"""Mixup (Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR 2018).

One ``λ ~ Beta(α, α)`` per batch and a random permutation: ``images = λ·x + (1 - λ)·x[perm]``, labels mixed with
the same λ.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from wsol.methods import sampling
from wsol.methods.base import METHODS, MixedBatch, check_batch, check_generator, check_positive

__all__ = ["Mixup", "apply_mixup"]


def apply_mixup(images: Tensor, lam: float, perm: Tensor) -> Tensor:
    """``lam·images + (1 - lam)·images[perm]`` as a new tensor; ``images`` is untouched.

    Args:
        images: float ``(N, C, H, W)``.
        lam: weight of the original images, in [0, 1].
        perm: int64 ``(N,)`` partner indices.

    Returns:
        float ``(N, C, H, W)`` new tensor.
    """
    lam = float(lam)
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must be in [0, 1], got {lam!r}")
    if perm.dim() != 1 or perm.shape[0] != images.shape[0]:
        raise ValueError(f"perm must be ({images.shape[0]},), got {tuple(perm.shape)}")
    out = images[perm.to(images.device)]  # a fresh tensor, safe to modify
    return out.mul_(1.0 - lam).add_(images, alpha=lam)


@METHODS.register("mixup")
class Mixup:
    """Mixup as a training method.

    Args:
        alpha: Beta(α, α) parameter of λ (paper's default 1.0; ImageNet runs used 0.2).
    """

    needs_model = False

    def __init__(self, *, alpha: float = 1.0) -> None:
        self.alpha = check_positive("alpha", alpha)

    def __repr__(self) -> str:
        return f"Mixup(alpha={self.alpha})"

    def __call__(self, images: Tensor, labels: Tensor, *, generator: torch.Generator,
                 model: Optional[torch.nn.Module] = None) -> MixedBatch:
        """Mix a batch (out of place). Consumes one Beta draw, then a permutation; ``model`` is ignored.

        Returns:
            :class:`MixedBatch` with ``lam`` the batch's λ repeated ``N`` times and ``perm``.
        """
        check_batch(images, labels)
        check_generator(generator)
        n = images.shape[0]
        lam = float(sampling.sample_beta(1, self.alpha, self.alpha, generator=generator)[0])
        perm = sampling.permutation(n, generator=generator).to(images.device)
        out = apply_mixup(images, lam, perm)
        lam_t = torch.full((n,), lam, dtype=torch.float32, device=images.device)
        return MixedBatch(images=out, labels_a=labels, labels_b=labels[perm], lam=lam_t, perm=perm)
