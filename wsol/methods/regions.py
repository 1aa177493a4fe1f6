"""Pure rectangle maths shared by the region methods (CutMix, Cutout, Random Erasing, KeepAugment).

Convention (stated once): boxes are int64 ``(..., 4)`` tensors ``(x0, y0, x1, y1)`` in pixel indices, **half-open**:
pixel ``(y, x)`` is inside when ``x0 <= x < x1`` and ``y0 <= y < y1``. ``x`` indexes the width (last axis), ``y``
the height. A box with ``x0 == x1`` or ``y0 == y1`` is empty (area 0) and changes nothing.
"""
from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["centred_boxes", "box_area", "box_masks", "union_masks", "intersection_area"]


def centred_boxes(cx: Tensor, cy: Tensor, box_w: Tensor | int, box_h: Tensor | int, *, height: int,
                  width: int) -> Tensor:
    """Boxes of size ``box_w × box_h`` whose centre pixel is ``(cx, cy)``, clipped to the image.

    The unclipped box is ``x0 = cx - box_w // 2``, ``x1 = x0 + box_w`` (so its width is exactly ``box_w`` before
    clipping, for odd sizes too) and likewise in ``y``; both ends are then clipped to ``[0, width]`` / ``[0, height]``.

    Args:
        cx, cy: int64 centre pixels, same shape ``S``.
        box_w, box_h: int64 sizes (>= 0), broadcastable to ``S``.
        height, width: image size in pixels.

    Returns:
        int64 ``S + (4,)`` clipped half-open boxes.
    """
    box_w = torch.as_tensor(box_w, dtype=torch.int64, device=cx.device)
    box_h = torch.as_tensor(box_h, dtype=torch.int64, device=cx.device)
    x0 = cx - box_w // 2
    y0 = cy - box_h // 2
    x1 = x0 + box_w
    y1 = y0 + box_h
    boxes = torch.stack(torch.broadcast_tensors(x0, y0, x1, y1), dim=-1)
    limits = torch.tensor([width, height, width, height], dtype=torch.int64, device=cx.device)
    return torch.minimum(boxes.clamp_min(0), limits)


def box_area(boxes: Tensor) -> Tensor:
    """int64 ``(...)`` pixel count of clipped half-open boxes ``(..., 4)`` (0 for empty boxes)."""
    w = (boxes[..., 2] - boxes[..., 0]).clamp_min(0)
    h = (boxes[..., 3] - boxes[..., 1]).clamp_min(0)
    return w * h


def intersection_area(a: Tensor, b: Tensor) -> Tensor:
    """int64 pixel count of the intersection of two broadcastable box tensors ``(..., 4)``."""
    lo = torch.maximum(a[..., :2], b[..., :2])
    hi = torch.minimum(a[..., 2:], b[..., 2:])
    wh = (hi - lo).clamp_min(0)
    return wh[..., 0] * wh[..., 1]


def box_masks(boxes: Tensor, *, height: int, width: int) -> Tensor:
    """Boolean masks of boxes, built from broadcast comparisons of index grids (no loop).

    Args:
        boxes: int64 ``(..., 4)`` half-open boxes.
        height, width: mask size.

    Returns:
        bool ``(..., height, width)``; True inside the box.
    """
    ys = torch.arange(height, device=boxes.device)
    xs = torch.arange(width, device=boxes.device)
    x0, y0, x1, y1 = (boxes[..., k, None] for k in range(4))
    in_y = (ys >= y0) & (ys < y1)  # (..., H)
    in_x = (xs >= x0) & (xs < x1)  # (..., W)
    return in_y[..., :, None] & in_x[..., None, :]


def union_masks(boxes: Tensor, *, height: int, width: int) -> Tensor:
    """bool ``(N, height, width)`` union of the ``R`` boxes of each sample, ``boxes`` int64 ``(N, R, 4)``."""
    if boxes.dim() != 3 or boxes.shape[-1] != 4:
        raise ValueError(f"boxes must be (N, R, 4), got {tuple(boxes.shape)}")
    return box_masks(boxes, height=height, width=width).any(dim=1)
