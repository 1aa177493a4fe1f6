"""The slow reference: the box protocol written plainly, one threshold at a time (the test oracle).

Nothing here is clever on purpose. For each tau it thresholds the uint8 map with ``cv2.threshold``, runs
``cv2.findContours(RETR_TREE, CHAIN_APPROX_SIMPLE)``, takes ``cv2.contourArea`` / ``cv2.boundingRect`` of the
contours and scores the boxes against the GT boxes. The conventions come from :mod:`wsol.localization.protocol`.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from wsol.localization.boxes import box_iou
from wsol.localization.protocol import contour_box, quantize

#: The box of "no contour at all".
EMPTY_BOX = (0, 0, 0, 0)


def boxes_at_threshold(q: np.ndarray, level: int) -> tuple[list[tuple[int, int, int, int]], int]:
    """All contour boxes of ``q > level`` and the index of the largest-area contour.

    Args:
        q: (H, W) uint8 quantised map.
        level: integer cut; foreground is ``q > level``.

    Returns:
        ``(boxes, largest)``: one ``xyxy`` box per contour in OpenCV's order (``[EMPTY_BOX]`` when there is no
        contour) and the index in ``boxes`` of the first contour of largest ``cv2.contourArea`` (0 when empty).
    """
    height, width = q.shape
    _, binary = cv2.threshold(q, level, 255, cv2.THRESH_BINARY)
    contours, _ = cv2.findContours(binary, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)
    if len(contours) == 0:
        return [EMPTY_BOX], 0
    areas = [cv2.contourArea(c) for c in contours]
    largest = int(np.argmax(areas))  # first maximum, like max(contours, key=cv2.contourArea)
    boxes = [contour_box(*cv2.boundingRect(c), width, height) for c in contours]
    return boxes, largest


@dataclass
class ReferenceResult:
    """Per-threshold outcome for one map.

    Attributes:
        levels: (T,) int64 integer cut per tau.
        largest_box: (T, 4) int64 box of the largest contour.
        largest_iou: (T,) float64 best IoU of that box over the GT boxes.
        all_iou: (T,) float64 best IoU over all (contour box, GT box) pairs.
    """

    levels: np.ndarray
    largest_box: np.ndarray
    largest_iou: np.ndarray
    all_iou: np.ndarray


def score_map_reference(score_map: np.ndarray, gt_boxes: np.ndarray, taus: np.ndarray, *, all_contours: bool = True
                        ) -> ReferenceResult:
    """Score one map at every tau, one ``cv2.findContours`` per tau.

    Args:
        score_map: (H, W) float scores in [0, 1].
        gt_boxes: (G, 4) integer ``xyxy`` GT boxes already in score-map pixels.
        taus: (T,) float64 thresholds.
        all_contours: when False, skip the all-contour IoU (``all_iou`` is then NaN), as a v1-only evaluator would.
    """
    q = quantize(score_map)
    max_value = int(np.max(q))
    gt = np.asarray(gt_boxes, dtype=np.int64).reshape(-1, 4)
    n = len(taus)
    levels = np.empty(n, dtype=np.int64)
    largest_box = np.empty((n, 4), dtype=np.int64)
    largest_iou = np.empty(n, dtype=np.float64)
    all_iou = np.full(n, np.nan, dtype=np.float64)
    for i, tau in enumerate(taus):
        level = int(tau * max_value)
        boxes, largest = boxes_at_threshold(q, level)
        levels[i] = level
        largest_box[i] = boxes[largest]
        largest_iou[i] = box_iou(np.array([boxes[largest]]), gt).max()
        if all_contours:
            all_iou[i] = box_iou(np.array(boxes), gt).max()
    return ReferenceResult(levels=levels, largest_box=largest_box, largest_iou=largest_iou, all_iou=all_iou)


__all__ = ["EMPTY_BOX", "boxes_at_threshold", "ReferenceResult", "score_map_reference"]
