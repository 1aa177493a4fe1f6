"""Scoring protocols: every convention of box and mask scoring, stated once.

A :class:`Protocol` names a complete, reproducible way of turning score maps into localization numbers. The default,
``"wsolevaluation"``, reproduces the published evaluator of Choe et al. (CVPR 2020, clovaai/wsolevaluation,
``evaluation.py``) bit for bit. Its conventions, some of them quirks that change numbers, are implemented *only* by
the functions of this module; every other module (the fast engine, the slow reference, the accumulators) calls them.

The ``wsolevaluation`` conventions (the expressions quoted are those of ``evaluation.py`` and ``util.py``):

1. **Quantisation.** ``scoremap_image = (scoremap * 255).astype(np.uint8)`` on a float64 map (``util.t2n`` casts to
   ``np.float`` and ``check_scoremap_validity`` insists on it). The product is truncated toward zero, i.e.
   ``q = floor(255 * s)`` computed in float64: a float32 map is first widened to float64 (exactly), then multiplied.
   See :func:`quantize`.
2. **Threshold grid.** ``cam_threshold_list = list(np.arange(0, 1, cam_curve_interval))``, floating-point values
   included (``0.07`` on that grid is ``0.07000000000000001``). See :func:`threshold_grid`. The interval is
   **0.001** by default (:data:`DEFAULT_INTERVAL`): the published tables of Choe et al. come from ``main.py``, whose
   ``--cam_curve_interval`` defaults to 0.001 (``config.py``); only the standalone ``evaluation.py`` defaults to 0.01
   (and its README example passes 0.01). ``--interval 0.01`` reproduces numbers computed that way. A finer grid can
   only raise MaxBoxAcc (the 0.01 grid is a subset of the 0.001 grid up to floating-point rounding of the grid
   values) and changes PxAP by the finer histogram bins.
3. **Binary map.** ``cv2.threshold(src=scoremap_image, thresh=int(threshold * np.max(scoremap_image)), maxval=255,
   type=cv2.THRESH_BINARY)``: a pixel is foreground iff ``q > int(tau * max(q))`` -- *strictly* greater, and the
   cut is ``int()`` (truncation) of a float64 product. An all-zero map therefore has no foreground at any tau. See
   :func:`threshold_levels`.
4. **Candidate regions.** ``cv2.findContours(..., mode=cv2.RETR_TREE, method=cv2.CHAIN_APPROX_SIMPLE)``: the outer
   border of every 8-connected foreground component *and* the border of every hole (a 4-connected background
   component that does not reach the image border). With no contour at all the candidate list is the single box
   ``[0, 0, 0, 0]``.
5. **Largest region** (MaxBoxAcc v1): ``max(contours, key=cv2.contourArea)``, the largest *polygon area* of the
   traced border (not the pixel count), the first in OpenCV's order on ties.
6. **Box of a contour.** ``x, y, w, h = cv2.boundingRect(contour)``; ``x1 = min(x + w, width - 1)``,
   ``y1 = min(y + h, height - 1)``. Since ``w = xmax - xmin + 1`` this box reaches one pixel *past* the region and is
   then clipped to the last pixel: an off-by-one that is part of the protocol. See :func:`contour_box`.
7. **GT boxes** are rescaled from the original image to the score map with ``resize_bbox``:
   ``int(x0 * new_w / image_w)`` with all three operands as Python floats and the product taken first, likewise for
   ``y0``, ``x1``, ``y1``. wsolevaluation always rescales to 224 x 224; here the target is the score map's own size,
   which is the same thing for 224 x 224 maps. See :func:`resize_box`.
8. **IoU** (``calculate_multiple_iou``) counts inclusive pixels: ``area = (x1 - x0 + 1) * (y1 - y0 + 1)``,
   ``intersection = max(0, min(x1) - max(x0) + 1) * max(0, min(y1) - max(y0) + 1)``, and a non-positive union gives
   IoU 0. See :func:`wsol.localization.boxes.box_iou`.
9. **Correctness** at IoU threshold delta (an integer percentage): ``iou >= delta / 100`` with the best IoU over all
   (candidate box, GT box) pairs. ``MaxBoxAcc = max`` over tau of the percentage of correct images;
   MaxBoxAccV2 is the mean over delta in {30, 50, 70} with all contours as candidates.

**Masks** (PxAP; wsolevaluation's ``get_mask``, the one statement of these conventions here):

10. *Binarisation.* Every mask and ignore file is read as 8-bit grey and a pixel is set where ``value > 0.5``: on
    0..255 files every non-zero pixel (CUB's soft segmentations and OpenImages' 0/255 instance masks alike). 16-bit
    files are read at their own scale with the same rule, colour files through ITU-R 601 luma
    (:func:`wsol.data.images.load_mask`).
11. *Instances and ignore.* The foreground is the union of an image's instance masks; the ignore region is its
    ignore file minus that foreground. An image without an ignore file (an empty ignore path, which wsolevaluation's
    ``get_mask`` cannot read) has no ignore region.
12. *Resizing.* Each file is resized to the score map with ``cv2.INTER_NEAREST`` (wsolevaluation: to 224 x 224,
    the same thing for 224 x 224 maps); nearest-neighbour resizing commutes with the thresholding, so resizing the
    grey file or the binary mask gives the same pixels. wsolevaluation never compares a mask's size with its
    image's; we require an image's files to agree with each other and, where ``image_sizes.txt`` gives a size, with
    it, as a guard against mismatched files (:func:`wsol.localization.engine.load_mask`).
13. *Scores.* PxAP (``MaskEvaluator``) bins the *raw* float scores (not the quantised ones) of the non-ignored
    pixels with ``np.histogram(scores, bins=np.append(cam_threshold_list, [1.0, 2.0, 3.0]))`` and
    ``auc = (precision[1:] * np.diff(recall))[non_zero_indices[1:]].sum() * 100``; see
    :mod:`wsol.localization.metrics`. The bins follow the interval, so PxAP too depends on it (slightly).

The ``"cutmix"`` protocol is the localization setting of the CutMix paper (Yun et al., ICCV 2019): a single fixed
threshold of 15% of the map's maximum, the largest region, IoU >= 0.5 ("GT-known Loc" / Top-1 Loc). The CutMix
paper gives no code for it; we implement "15% of the maximum" with exactly the wsolevaluation conventions above
(``q > int(0.15 * max(q))`` on the uint8 map, largest contour area), so that at tau = 0.15 the two protocols
agree and CutMix numbers can be read off the same curves. Everything else is as ``"wsolevaluation"``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from wsol.registry import Registry

#: 8-bit quantisation scale of wsolevaluation (``scoremap * 255``).
QUANT_SCALE = 255
#: Threshold-grid interval of wsolevaluation's ``main.py`` (``--cam_curve_interval``), which produced its tables.
DEFAULT_INTERVAL = 0.001


@dataclass(frozen=True)
class Protocol:
    """A named box-scoring protocol (see the module docstring for the conventions every protocol here shares).

    Attributes:
        name: registry name.
        description: one line, printed with results.
        interval: default threshold-grid interval (``np.arange(0, 1, interval)``; also PxAP's histogram bins).
        iou_thresholds: default IoU thresholds in percent for the all-contour curves (MaxBoxAccV2 averages them).
        fixed_threshold: the tau at which GT-known Loc and fixed-tau Top-1/Top-5 Loc are reported.
        loc_iou: IoU threshold in percent for GT-known Loc and Top-k Loc (largest region, v1 box).
    """

    name: str
    description: str
    interval: float = DEFAULT_INTERVAL
    iou_thresholds: tuple[int, ...] = (30, 50, 70)
    fixed_threshold: float = 0.2
    loc_iou: int = 50

    def __post_init__(self) -> None:
        check_interval(self.interval)
        check_iou_thresholds(self.iou_thresholds)
        if not 0.0 <= self.fixed_threshold < 1.0:
            raise ValueError(f"fixed_threshold must lie in [0, 1) ({self.fixed_threshold!r})")
        check_iou_thresholds((self.loc_iou,))


#: Named protocols (a duplicate name raises; CLI choices come from :func:`protocol_names`).
PROTOCOLS: Registry[Protocol] = Registry("protocol")


def register_protocol(protocol: Protocol) -> Protocol:
    """Add ``protocol`` to the registry; a duplicate name raises ``ValueError``."""
    PROTOCOLS.add(protocol.name, protocol)
    return protocol


def get_protocol(name: str | Protocol) -> Protocol:
    """The registered protocol called ``name`` (a :class:`Protocol` is returned unchanged)."""
    return name if isinstance(name, Protocol) else PROTOCOLS.get(name)


def protocol_names() -> list[str]:
    """Registered protocol names, sorted (for CLI ``choices``)."""
    return PROTOCOLS.names()


# --- the conventions -------------------------------------------------------------------------------------------------

def check_interval(interval: float) -> float:
    """Validate a threshold-grid interval (``0 < interval <= 1``) and return it as a float."""
    value = float(interval)
    if not (math.isfinite(value) and 0.0 < value <= 1.0):
        raise ValueError(f"threshold interval must lie in (0, 1] ({interval!r})")
    return value


def check_iou_thresholds(ious: Sequence[int]) -> tuple[int, ...]:
    """Validate IoU thresholds: integers in 1..100 (percent; 100 means an exact box match), no duplicates."""
    out = []
    for v in ious:
        if isinstance(v, bool) or int(v) != v or not 1 <= int(v) <= 100:
            raise ValueError(f"IoU thresholds must be integers in 1..100 ({v!r})")
        out.append(int(v))
    if not out:
        raise ValueError("at least one IoU threshold is needed")
    if len(set(out)) != len(out):
        raise ValueError(f"duplicate IoU thresholds ({list(ious)!r})")
    return tuple(out)


def threshold_grid(interval: float) -> np.ndarray:
    """The tau grid ``np.arange(0, 1, interval)`` exactly as wsolevaluation makes it.

    Returns:
        float64 array, ascending, first value 0.0, all values < 1.
    """
    return np.arange(0, 1, check_interval(interval)).astype(np.float64)


def quantize(score_map: np.ndarray) -> np.ndarray:
    """The uint8 map of wsolevaluation: ``(float64(s) * 255).astype(uint8)`` (truncation toward zero).

    Args:
        score_map: (H, W) scores in [0, 1]; any float dtype (widened to float64 first, as ``util.t2n`` does).

    Returns:
        (H, W) uint8, values ``floor(255 * s)`` computed in float64.
    """
    return (np.asarray(score_map, dtype=np.float64) * QUANT_SCALE).astype(np.uint8)


def threshold_levels(taus: np.ndarray, max_value: int) -> np.ndarray:
    """Integer cut of each tau: foreground is ``q > level``, with ``level = int(tau * max(q))``.

    Args:
        taus: (T,) float64 thresholds in [0, 1).
        max_value: ``max(q)`` of the uint8 map, 0..255.

    Returns:
        (T,) int64 levels in 0..254 (``int()`` of the float64 product, i.e. truncation).
    """
    return (np.asarray(taus, dtype=np.float64) * float(max_value)).astype(np.int64)


def contour_box(x: int, y: int, w: int, h: int, width: int, height: int) -> tuple[int, int, int, int]:
    """Box of a contour from its ``cv2.boundingRect``: ``(x, y, min(x + w, width - 1), min(y + h, height - 1))``.

    The box reaches one pixel past the region (``x + w``) before being clipped to the last column/row: a quirk of
    wsolevaluation kept on purpose. Coordinates are ``xyxy`` pixel indices of the score map, both ends inclusive
    for IoU purposes.
    """
    return x, y, min(x + w, width - 1), min(y + h, height - 1)


def resize_box(box: Sequence[int], image_size: tuple[int, int], map_size: tuple[int, int]
               ) -> tuple[int, int, int, int]:
    """Rescale a GT box from the original image to the score map: ``int(x * new_w / image_w)`` per coordinate.

    Args:
        box: ``(x0, y0, x1, y1)`` integers in original-image pixels.
        image_size: ``(width, height)`` of the original image.
        map_size: ``(width, height)`` of the score map.
    """
    x0, y0, x1, y1 = map(float, box)
    image_w, image_h = map(float, image_size)
    new_w, new_h = map(float, map_size)
    return (int(x0 * new_w / image_w), int(y0 * new_h / image_h),
            int(x1 * new_w / image_w), int(y1 * new_h / image_h))


def resize_boxes(boxes: Sequence[Sequence[int]], image_size: tuple[int, int], map_size: tuple[int, int]
                 ) -> np.ndarray:
    """:func:`resize_box` for several boxes; returns an (N, 4) int64 array."""
    return np.array([resize_box(b, image_size, map_size) for b in boxes], dtype=np.int64).reshape(-1, 4)


def iou_cut(delta: int) -> float:
    """The IoU a box needs to be correct at threshold ``delta`` percent: ``delta / 100`` (compared with ``>=``)."""
    return delta / 100


# --- the registered protocols -----------------------------------------------------------------------------------

DEFAULT_PROTOCOL = "wsolevaluation"

register_protocol(Protocol(
    name="wsolevaluation",
    description="clovaai/wsolevaluation: uint8 map, q > int(tau*max q), RETR_TREE contours, +1 IoU",
    interval=DEFAULT_INTERVAL,
    fixed_threshold=0.2,
))
register_protocol(Protocol(
    name="cutmix",
    description="CutMix paper: tau = 0.15 of the (uint8) max, largest region, IoU >= 0.5; wsolevaluation quirks",
    interval=DEFAULT_INTERVAL,
    fixed_threshold=0.15,
    iou_thresholds=(50,),
))


__all__ = [
    "Protocol", "register_protocol", "get_protocol", "protocol_names", "DEFAULT_PROTOCOL", "DEFAULT_INTERVAL",
    "QUANT_SCALE",
    "check_interval", "check_iou_thresholds", "threshold_grid", "quantize", "threshold_levels", "contour_box",
    "resize_box", "resize_boxes", "iou_cut",
]
