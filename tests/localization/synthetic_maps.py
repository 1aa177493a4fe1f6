"""Synthetic inputs for the localization tests: random smooth maps resembling CAMs, with fixed seeds."""
from __future__ import annotations

import cv2
import numpy as np


def smooth_map(rng: np.random.Generator, height: int, width: int, *, noise: float = 0.0) -> np.ndarray:
    """A CAM-like map: a few Gaussian blobs on a low-resolution grid, upsampled, plus optional pixel noise."""
    r = int(rng.integers(3, 15))
    yy, xx = np.mgrid[0:r, 0:r]
    a = 0.25 * rng.random((r, r))
    for _ in range(int(rng.integers(1, 4))):
        cy, cx = rng.uniform(0, r, 2)
        s = rng.uniform(0.1, 0.35) * r
        a += rng.uniform(0.4, 1.0) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
    m = cv2.resize(a.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR).astype(np.float64)
    if noise:
        m += noise * rng.standard_normal((height, width))
    m = np.clip(m, 0, None)
    m -= m.min()
    m /= m.max()
    if rng.random() < 0.2:  # sometimes a map whose maximum is below 1
        m *= rng.uniform(0.05, 1.0)
    return m


def random_boxes(rng: np.random.Generator, width: int, height: int, count: int) -> list[tuple[int, int, int, int]]:
    """``count`` random valid boxes of a width x height image (x1 may equal the width, as in the metadata)."""
    out = []
    for _ in range(count):
        x0, x1 = sorted(int(v) for v in rng.integers(0, width + 1, 2))
        y0, y1 = sorted(int(v) for v in rng.integers(0, height + 1, 2))
        out.append((x0, y0, x1, y1))
    return out
