"""The baseline: no training-time mixing or erasing (identity; the caller's tensor is returned, not copied)."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from wsol.methods.base import METHODS, MixedBatch, check_batch, check_generator, unmixed

__all__ = ["Vanilla"]


@METHODS.register("vanilla")
class Vanilla:
    """Identity method: ``images`` is returned as is (same tensor object), ``lam`` all ones."""

    needs_model = False

    def __init__(self) -> None:
        pass

    def __repr__(self) -> str:
        return "Vanilla()"

    def __call__(self, images: Tensor, labels: Tensor, *, generator: torch.Generator,
                 model: Optional[torch.nn.Module] = None) -> MixedBatch:
        """Return the batch unchanged; ``generator`` is checked but not advanced, ``model`` ignored."""
        check_batch(images, labels)
        check_generator(generator)
        return unmixed(images, labels)
