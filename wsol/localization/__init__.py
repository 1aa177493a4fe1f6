"""Localization scoring: score maps -> boxes -> MaxBoxAcc (v1, V2), Top-k Loc, GT-known Loc, PxAP.

Conventions (the wsolevaluation quirks) live in :mod:`wsol.localization.protocol`; pure box ops in
:mod:`~wsol.localization.boxes`; maps -> boxes at all thresholds in :mod:`~wsol.localization.threshold`;
accumulators in :mod:`~wsol.localization.metrics`; the engine over files in :mod:`~wsol.localization.engine`;
the slow per-threshold oracle in :mod:`~wsol.localization.reference`.
"""
from __future__ import annotations

from wsol.localization.boxes import best_iou, box_iou
from wsol.localization.engine import load_predictions, score_directory, score_maps
from wsol.localization.metrics import BoxAccumulator, ImageResult, MaskAccumulator, calibrate
from wsol.localization.protocol import (
    DEFAULT_PROTOCOL, Protocol, get_protocol, protocol_names, quantize, register_protocol, resize_box,
    threshold_grid, threshold_levels,
)
from wsol.localization.threshold import MapBoxes, boxes_at_thresholds, check_score_map, score_boxes

__all__ = [
    "box_iou", "best_iou", "BoxAccumulator", "MaskAccumulator", "ImageResult", "calibrate", "score_maps",
    "score_directory", "load_predictions", "Protocol", "DEFAULT_PROTOCOL", "get_protocol", "protocol_names",
    "register_protocol", "quantize", "threshold_grid", "threshold_levels", "resize_box", "MapBoxes",
    "boxes_at_thresholds", "score_boxes", "check_score_map",
]
