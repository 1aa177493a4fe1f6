"""Score maps to boxes at every threshold, exactly as the protocol's per-threshold OpenCV loop, but all at once.

Two backends give identical numbers:

``"numba"`` (the default; numba is a dependency for it)
    One pass of union-find over the pixels in decreasing order of the uint8 value builds every 8-connected
    foreground component at every distinct level ``T`` (``q > T``); a second pass in the exactly reverse order
    builds the 4-connected background components that can be holes. Nothing is done per tau: taus sharing
    ``int(tau * max q)`` share a level, and only distinct levels (at most 255) are snapshot. Pixels store only a
    component id; the union-find and per-component boxes and areas live in one small table row per id (see
    :mod:`wsol.localization._kernel`).

``"opencv"`` (the fallback)
    ``cv2.findContours`` once per *distinct* level (not per tau), boxes and IoU vectorised.

Why the numba backend is exact (verified against ``cv2.findContours`` in the tests):

* Boxes. The outer border of a component passes through its extreme pixels, so its ``boundingRect`` is the
  component's pixel bounding box. A hole border is traced through the foreground pixels 4-adjacent to the hole;
  the hole's leftmost pixel has its left neighbour on that border, and so on, so the hole contour's bounding
  rect is the hole's bounding box grown by one pixel on each side.
* Areas (``cv2.contourArea`` of an outer border, the v1 "largest" criterion). Put a vertex at every pixel centre.
  In each "cell" (the unit square between 4 neighbouring pixel centres) the traced 8-connected border cuts off
  exactly the corners that are not in the component: a cell with 4 corners inside contributes 1, with 3 corners
  1/2 (the border runs along the diagonal), with 2 or fewer 0 (an edge, a diagonal segment or a point). Hence
  ``area(region of C) = #cells(4 corners in C) + #cells(3 corners in C) / 2``, additive over components and
  maintained incrementally: a cell gains 1/2 when its 3rd and its 4th corner enter the foreground. The outer
  border also encloses C's holes, and whatever lies inside them, so
  ``contourArea(outer(C)) = area(C) + sum over holes Z of C of [area(Z) + sum over islands I in Z of
  contourArea(outer(I))]``, where the area of a background piece is counted the same way from the other side (a
  cell gives 1/2 to the background component of each of its first two background corners). The inclusion tree
  is found from first pixels: the pixel above a component's (or hole's) raster-first pixel lies in its
  enclosing hole (or component).
* Ties. ``cv2.findContours`` lists contours in depth-first order with the top-level ones by decreasing raster
  index of their first pixel, and a hole (or anything inside it) has a strictly smaller area than the component
  around it; so ``max(contours, key=cv2.contourArea)`` is the component of largest area and, among equal areas,
  of largest raster index of its first pixel.
* Which pixels the background pass visits. Let ``fill[p]`` be the smallest, over 4-connected paths from the image
  border to ``p``, of the largest value on the path. Then ``p`` lies in a hole at level ``T`` iff
  ``q[p] <= T < fill[p]``, so a pixel with ``fill[p] == q[p]`` is in no hole at any level: from its own level on it
  belongs to the background component touching the border (the "outside"). Two raster scans of the
  reconstruction by erosion give an upper bound ``J >= fill`` (exact on the border); only the candidates
  ``J > q`` and their 4-neighbours are visited, every other pixel stands for the outside, and a visited
  non-candidate joins the outside when it enters. A hole at level ``T`` has only candidates as pixels and
  foreground pixels as 4-neighbours, so it is built exactly as by a pass over every pixel; and a candidate in a
  component touching the border reaches, within that component, a first non-candidate, which is visited and
  joins the outside, so it never passes for a hole. On CAM-like maps about a third of the pixels are visited.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from wsol.errors import InputError
from wsol.localization.boxes import box_iou
from wsol.localization.protocol import contour_box, quantize, threshold_levels

try:  # optional compiled kernel
    from wsol.localization import _kernel
    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - depends on the environment
    _kernel = None  # type: ignore[assignment]
    HAVE_NUMBA = False

BACKENDS = ("auto", "numba", "opencv")
EMPTY_BOX = (0, 0, 0, 0)


def resolve_backend(backend: str) -> str:
    """``"auto"`` -> ``"numba"`` when numba is importable, else ``"opencv"``; other names are checked."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r} (choose from {BACKENDS})")
    if backend == "auto":
        return "numba" if HAVE_NUMBA else "opencv"
    if backend == "numba" and not HAVE_NUMBA:
        raise ValueError("backend 'numba' requested but numba is not installed")
    return backend


def check_score_map(score_map: np.ndarray, *, path: str | None = None) -> np.ndarray:
    """Validate a score map and return it as a float64 array.

    Raises:
        InputError: not 2-D, empty, not numeric, NaN/inf, or values outside [0, 1]; the message names ``path``.
    """
    a = np.asarray(score_map)
    if a.ndim != 2:
        raise InputError("score map must be 2-D (H, W)", path=path, value=tuple(a.shape))
    if a.size == 0:
        raise InputError("score map is empty", path=path, value=tuple(a.shape))
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer) or a.dtype == np.bool_):
        raise InputError("score map is not numeric", path=path, value=str(a.dtype))
    a = a.astype(np.float64, copy=False)
    lo, hi = float(np.min(a)), float(np.max(a))
    if np.isnan(lo) or np.isnan(hi):
        raise InputError("score map contains NaN", path=path, value=float("nan"))
    if lo < 0.0 or hi > 1.0:
        bad = lo if lo < 0.0 else hi
        raise InputError("score map values must lie in [0, 1]", path=path, value=bad)
    return a


@dataclass
class MapBoxes:
    """Outcome of one score map at every tau (T taus).

    Attributes:
        levels: (T,) int64 integer cut ``int(tau * max q)`` per tau.
        v1_box: (T, 4) int64 box of the largest-area contour (``xyxy``, map pixels).
        v1_iou: (T,) float64 its best IoU over the GT boxes.
        all_iou: (T,) float64 best IoU over all (contour box, GT box) pairs.
        all_box: (T, 4) int64 a contour box reaching ``all_iou`` (the first found on ties).
    """

    levels: np.ndarray
    v1_box: np.ndarray
    v1_iou: np.ndarray
    all_iou: np.ndarray
    all_box: np.ndarray


def contour_boxes(q: np.ndarray, level: int) -> tuple[np.ndarray, int]:
    """All contour boxes of ``q > level`` (OpenCV order) and the index of the largest-area one.

    Args:
        q: (H, W) uint8 quantised map (see :func:`wsol.localization.protocol.quantize`).
        level: integer cut.

    Returns:
        ``((N, 4) int64 boxes, index)``; ``[[0, 0, 0, 0]]`` and 0 when there is no contour.
    """
    height, width = q.shape
    binary = (q > level).astype(np.uint8)
    contours, _ = cv2.findContours(binary, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)
    if len(contours) == 0:
        return np.zeros((1, 4), dtype=np.int64), 0
    areas = [cv2.contourArea(c) for c in contours]
    boxes = np.array([contour_box(*cv2.boundingRect(c), width, height) for c in contours], dtype=np.int64)
    return boxes, int(np.argmax(areas))


def boxes_at_thresholds(score_map: np.ndarray, taus: np.ndarray, *, all_contours: bool = False
                        ) -> tuple[np.ndarray, list[np.ndarray] | None]:
    """Map -> boxes at every tau (pure; one ``findContours`` per distinct level).

    Args:
        score_map: (H, W) scores in [0, 1] (any float dtype).
        taus: (T,) float64 thresholds in [0, 1).
        all_contours: also return every contour box per tau.

    Returns:
        ``(largest, all)``: (T, 4) int64 ``xyxy`` boxes of the largest-area contour per tau, and (when asked) a
        list of T arrays (N_t, 4) with every contour box; ``(0, 0, 0, 0)`` stands for "no contour".
    """
    q = quantize(score_map)
    levels = threshold_levels(taus, int(q.max()))
    uniq, inverse = np.unique(levels, return_inverse=True)
    per_level = [contour_boxes(q, int(t)) for t in uniq]
    largest = np.array([b[i] for b, i in per_level], dtype=np.int64).reshape(-1, 4)[inverse]
    if not all_contours:
        return largest, None
    return largest, [per_level[k][0] for k in inverse]


def score_boxes(score_map: np.ndarray, gt_boxes: np.ndarray, taus: np.ndarray, *, backend: str = "auto",
                all_contours: bool = True) -> MapBoxes:
    """Boxes and best IoUs of one score map at every tau.

    Args:
        score_map: (H, W) scores in [0, 1], already validated (see :func:`check_score_map`).
        gt_boxes: (G, 4) integer ``xyxy`` GT boxes in score-map pixels (already rescaled), G >= 1.
        taus: (T,) float64 thresholds.
        backend: ``"auto"``, ``"numba"`` or ``"opencv"`` (identical results).
        all_contours: compute the all-contour (V2) IoUs too; otherwise ``all_iou`` is all zeros.
    """
    q = quantize(score_map)
    gt = np.ascontiguousarray(np.asarray(gt_boxes, dtype=np.int64).reshape(-1, 4))
    if gt.shape[0] == 0:
        raise ValueError("at least one GT box is needed")
    max_value = int(q.max())
    levels = threshold_levels(taus, max_value)
    n = len(taus)
    if max_value == 0:  # no foreground at any tau: the single candidate (0, 0, 0, 0)
        iou = float(box_iou(np.array([EMPTY_BOX]), gt).max())
        zeros = np.zeros((n, 4), dtype=np.int64)
        return MapBoxes(levels, zeros, np.full(n, iou), np.full(n, iou if all_contours else 0.0), zeros.copy())
    uniq, inverse = np.unique(levels, return_inverse=True)
    # the kernel packs x into 23 bits and keeps int32 tables; larger maps (never seen in practice) use OpenCV
    if resolve_backend(backend) == "numba" and q.shape[1] < (1 << 23) and q.size < (1 << 30):
        v1_box, v1_iou, all_iou, all_box = _kernel.scan_levels(np.ascontiguousarray(q), uniq, gt, all_contours,
                                                               *_kernel.TABLES)
    else:
        k = len(uniq)
        v1_box = np.zeros((k, 4), dtype=np.int64)
        all_box = np.zeros((k, 4), dtype=np.int64)
        v1_iou = np.zeros(k)
        all_iou = np.zeros(k)
        for i, t in enumerate(uniq):
            boxes, largest = contour_boxes(q, int(t))
            ious = box_iou(boxes, gt).max(axis=1)
            v1_box[i] = boxes[largest]
            v1_iou[i] = ious[largest]
            if all_contours:
                j = int(np.argmax(ious))
                all_iou[i] = ious[j]
                all_box[i] = boxes[j]
    return MapBoxes(levels=levels, v1_box=v1_box[inverse], v1_iou=v1_iou[inverse], all_iou=all_iou[inverse],
                    all_box=all_box[inverse])


def correct_at(ious: np.ndarray, iou_thresholds: Sequence[int]) -> np.ndarray:
    """(D, T) bool: ``iou >= delta / 100`` for each IoU threshold ``delta`` (percent)."""
    return np.stack([ious >= (d / 100) for d in iou_thresholds]) if len(iou_thresholds) else \
        np.zeros((0, len(ious)), dtype=bool)


__all__ = ["HAVE_NUMBA", "BACKENDS", "resolve_backend", "check_score_map", "MapBoxes", "contour_boxes",
           "boxes_at_thresholds", "score_boxes", "correct_at"]
