"""Cutout (DeVries & Taylor, "Improved Regularization of Convolutional Neural Networks with Cutout", 2017).

``num_holes`` square holes of side ``L`` per image, centre pixel uniform over the image, clipped at the border (so
holes near the border are smaller), filled with ``fill``. Applied **after** normalisation, where 0 is the dataset
mean. The paper's CIFAR-10 setting is one 16×16 hole on 32×32 images (8×8 for CIFAR-100). Boxes follow the
half-open convention of :mod:`wsol.methods.regions`.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor

from wsol.methods import sampling
from wsol.methods.base import METHODS, MixedBatch, check_batch, check_generator, unmixed
from wsol.methods.regions import centred_boxes, union_masks

__all__ = ["Cutout", "hole_size", "sample_cutout_boxes", "apply_cutout", "check_fill"]


def hole_size(size: int | float, *, height: int, width: int) -> tuple[int, int]:
    """The hole's ``(h, w)`` in pixels.

    Args:
        size: an ``int`` >= 1 is a side in pixels (square hole); a ``float`` in (0, 1] is a fraction of each side
            (``h = max(1, round(size·H))``, ``w = max(1, round(size·W))``; a rectangle on non-square images).
            ``1`` means one pixel, ``1.0`` the whole image.
        height, width: image size.
    """
    if isinstance(size, bool) or not isinstance(size, (int, float)):
        raise ValueError(f"size must be an int (pixels) or a float fraction in (0, 1], got {size!r}")
    if isinstance(size, int):
        if size < 1:
            raise ValueError(f"size in pixels must be >= 1, got {size!r}")
        return size, size
    if not (math.isfinite(size) and 0.0 < size <= 1.0):
        raise ValueError(f"size as a fraction must be in (0, 1], got {size!r}")
    return max(1, round(size * height)), max(1, round(size * width))


def check_fill(fill: object) -> float:
    """A finite constant fill value, or ``ValueError``."""
    if isinstance(fill, bool) or not isinstance(fill, (int, float)) or not math.isfinite(fill):
        raise ValueError(f"fill must be a finite number, got {fill!r}")
    return float(fill)


def sample_cutout_boxes(n: int, *, height: int, width: int, generator: torch.Generator, num_holes: int = 1,
                        size: int | float = 16) -> Tensor:
    """Draw Cutout holes.

    Consumes ``n·num_holes`` uniforms for the centre ``x`` then as many for ``y``.

    Returns:
        int64 ``(n, num_holes, 4)`` clipped half-open boxes on ``generator.device``.
    """
    check_generator(generator)
    if isinstance(num_holes, bool) or not isinstance(num_holes, int) or num_holes < 1:
        raise ValueError(f"num_holes must be an int >= 1, got {num_holes!r}")
    hole_h, hole_w = hole_size(size, height=height, width=width)
    cx = sampling.randint_below(width, (n, num_holes), generator=generator)
    cy = sampling.randint_below(height, (n, num_holes), generator=generator)
    return centred_boxes(cx, cy, hole_w, hole_h, height=height, width=width)


def apply_cutout(images: Tensor, boxes: Tensor, *, fill: float = 0.0) -> Tensor:
    """Fill the union of each sample's boxes with ``fill``, out of place (masks from broadcast index grids).

    Args:
        images: float ``(N, C, H, W)``; untouched.
        boxes: int64 ``(N, R, 4)`` half-open boxes.
        fill: constant written inside the holes.

    Returns:
        float ``(N, C, H, W)`` new tensor.
    """
    n, _, h, w = images.shape
    if boxes.dim() != 3 or boxes.shape[0] != n or boxes.shape[2] != 4:
        raise ValueError(f"boxes must be ({n}, R, 4), got {tuple(boxes.shape)}")
    fill = check_fill(fill)
    mask = union_masks(boxes.to(images.device), height=h, width=w)[:, None]
    return images.masked_fill(mask, fill)


@METHODS.register("cutout")
class Cutout:
    """Cutout as a training method (per-sample holes, vectorised, out of place).

    Args:
        num_holes: holes per image (paper: 1).
        size: hole side, ``int`` pixels or ``float`` fraction of the side (see :func:`hole_size`); paper: 16 px on
            CIFAR-10's 32 px images (i.e. ``0.5``).
        fill: value written in the holes (0 = dataset mean after normalisation).
    """

    needs_model = False

    def __init__(self, *, num_holes: int = 1, size: int | float = 16, fill: float = 0.0) -> None:
        if isinstance(num_holes, bool) or not isinstance(num_holes, int) or num_holes < 1:
            raise ValueError(f"num_holes must be an int >= 1, got {num_holes!r}")
        hole_size(size, height=1, width=1)  # validates
        self.num_holes = num_holes
        self.size = size
        self.fill = check_fill(fill)

    def __repr__(self) -> str:
        return f"Cutout(num_holes={self.num_holes}, size={self.size!r}, fill={self.fill})"

    def __call__(self, images: Tensor, labels: Tensor, *, generator: torch.Generator,
                 model: Optional[torch.nn.Module] = None) -> MixedBatch:
        """Cut holes. Returns a :class:`MixedBatch` with ``boxes`` int64 ``(N, num_holes, 4)``; ``model`` ignored."""
        check_batch(images, labels)
        n, _, h, w = images.shape
        boxes = sample_cutout_boxes(n, height=h, width=w, generator=generator, num_holes=self.num_holes,
                                    size=self.size).to(images.device)
        return unmixed(apply_cutout(images, boxes, fill=self.fill), labels, boxes=boxes)
