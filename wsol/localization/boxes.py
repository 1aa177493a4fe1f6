"""Pure box operations.

Convention (the wsolevaluation one, see :mod:`wsol.localization.protocol`): boxes are ``xyxy`` integer pixel
indices with *both* ends inclusive, so a box covers ``(x1 - x0 + 1) * (y1 - y0 + 1)`` pixels and ``(0, 0, 0, 0)``
is the single top-left pixel.
"""
from __future__ import annotations

import numpy as np


def box_iou(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """IoU of every pair of boxes, with inclusive pixel areas.

    ``intersection = max(0, min(x1) - max(x0) + 1) * max(0, min(y1) - max(y0) + 1)``,
    ``union = area_a + area_b - intersection`` with ``area = (x1 - x0 + 1) * (y1 - y0 + 1)``; a non-positive union
    gives IoU 0 (this is wsolevaluation's ``calculate_multiple_iou``).

    Args:
        boxes_a: (N, 4) integer ``xyxy`` boxes.
        boxes_b: (M, 4) integer ``xyxy`` boxes.

    Returns:
        (N, M) float64 IoU in [0, 1].
    """
    a = np.asarray(boxes_a, dtype=np.int64).reshape(-1, 4)[:, None, :]
    b = np.asarray(boxes_b, dtype=np.int64).reshape(-1, 4)[None, :, :]
    iw = np.maximum(0, np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]) + 1)
    ih = np.maximum(0, np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]) + 1)
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0] + 1) * (a[..., 3] - a[..., 1] + 1)
    area_b = (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1)
    union = area_a + area_b - inter
    degenerate = union <= 0
    iou = inter / np.where(degenerate, 1, union)
    iou[degenerate] = 0.0
    return iou


def best_iou(boxes: np.ndarray, gt_boxes: np.ndarray) -> np.ndarray:
    """For each box, its largest IoU over ``gt_boxes``.

    Args:
        boxes: (N, 4) integer ``xyxy`` boxes.
        gt_boxes: (M, 4) integer ``xyxy`` boxes, M >= 1.

    Returns:
        (N,) float64.
    """
    return box_iou(boxes, gt_boxes).max(axis=1)


__all__ = ["box_iou", "best_iou"]
