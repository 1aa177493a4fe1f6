"""Score maps from raw CAMs as the published evaluation makes them: resize, then per-image min-max.

wsolevaluation's ``inference.py``: ``cv2.resize(cam, (W, H), interpolation=cv2.INTER_CUBIC)`` on the float64 CAM,
then ``normalize_scoremap``: ``cam -= cam.min(); cam /= cam.max()``, a constant map becoming all zeros. (It also
turns a map with NaN into zeros; here NaN is an error, since it means a broken model.)
"""
from __future__ import annotations

import cv2
import numpy as np


def normalize_cam(cam: np.ndarray) -> np.ndarray:
    """Min-max normalisation of one map to [0, 1] in float64; a constant map gives zeros.

    Raises:
        ValueError: the map holds NaN or infinity.
    """
    out = np.array(cam, dtype=np.float64)  # a copy
    if not np.isfinite(out).all():
        raise ValueError("CAM contains NaN or infinity")
    lo, hi = out.min(), out.max()
    if lo == hi:
        return np.zeros_like(out)
    out -= lo
    out /= out.max()
    return out


def resize_and_normalize(cams: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bicubic resize (OpenCV) of every map to ``size`` then :func:`normalize_cam`.

    Args:
        cams: ``(N, h, w)`` or ``(h, w)`` raw CAMs (any float dtype).
        size: ``(width, height)`` of the output.

    Returns:
        float64 ``(N, height, width)`` (or ``(height, width)``) in [0, 1].
    """
    arr = np.asarray(cams)
    single = arr.ndim == 2
    if single:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(f"cams must be (N, h, w) or (h, w), got shape {arr.shape}")
    width, height = size
    out = np.empty((arr.shape[0], height, width), dtype=np.float64)
    for i, cam in enumerate(arr):
        resized = cv2.resize(cam.astype(np.float64), (width, height), interpolation=cv2.INTER_CUBIC)
        out[i] = normalize_cam(resized)
    return out[0] if single else out
