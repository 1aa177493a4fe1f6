"""The fast box engine against the slow per-threshold OpenCV reference: identical per-threshold outcomes."""
import numpy as np
import pytest

from wsol.localization.protocol import resize_boxes, threshold_grid
from wsol.localization.reference import score_map_reference
from wsol.localization.threshold import HAVE_NUMBA, score_boxes

SIZES = [(224, 224), (28, 40), (17, 31), (40, 28), (9, 5), (1, 7), (6, 1)]
DELTAS = (30, 50, 70)
BACKENDS = ["opencv"] + (["numba"] if HAVE_NUMBA else [])


def _cases(seed, count, noise_levels=(0.0, 0.0, 0.004, 0.03)):
    from synthetic_maps import random_boxes, smooth_map
    rng = np.random.default_rng(seed)
    for i in range(count):
        h, w = SIZES[i % len(SIZES)]
        noise = noise_levels[i % len(noise_levels)] if h * w < 224 * 224 else 0.0
        s = smooth_map(rng, h, w, noise=noise)
        if i % 11 == 0:
            s = s.astype(np.float32)
        width, height = int(rng.integers(w, 3 * w + 1)), int(rng.integers(h, 3 * h + 1))
        gt = resize_boxes(random_boxes(rng, width, height, int(rng.integers(1, 4))), (width, height), (w, h))
        yield s, gt


def _compare(s, gt, taus, backend):
    ref = score_map_reference(s, gt, taus)
    got = score_boxes(s, gt, taus, backend=backend)
    np.testing.assert_array_equal(got.levels, ref.levels)
    np.testing.assert_array_equal(got.v1_box, ref.largest_box)
    np.testing.assert_array_equal(got.v1_iou, ref.largest_iou)
    np.testing.assert_array_equal(got.all_iou, ref.all_iou)
    for d in DELTAS:  # per-threshold correct flags, the quantity the counts are made of
        np.testing.assert_array_equal(got.v1_iou >= d / 100, ref.largest_iou >= d / 100)
        np.testing.assert_array_equal(got.all_iou >= d / 100, ref.all_iou >= d / 100)


@pytest.mark.parametrize("backend", BACKENDS)
def test_random_maps_interval_001(backend):
    taus = threshold_grid(0.01)
    count = 500 if backend == "numba" else 140
    for s, gt in _cases(1234, count):
        _compare(s, gt, taus, backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_random_maps_interval_0001(backend):
    taus = threshold_grid(0.001)
    for s, gt in _cases(99, 28):
        _compare(s, gt, taus, backend)


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed")
def test_random_binary_patterns_many_holes():
    """Speckled maps with few levels: many components, holes and islands per level."""
    rng = np.random.default_rng(7)
    taus = threshold_grid(0.01)
    for i in range(300):
        h, w = int(rng.integers(2, 30)), int(rng.integers(2, 30))
        levels = int(rng.integers(2, 6))
        s = rng.integers(0, levels, (h, w)) / (levels - 1)
        gt = np.array(rng.integers(0, min(h, w), (2, 4)))
        gt = np.sort(gt.reshape(2, 2, 2), axis=1).transpose(0, 2, 1).reshape(2, 4)[:, [0, 2, 1, 3]]
        _compare(s, gt, taus, "numba")


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed")
def test_random_maps_many_slow():
    taus = threshold_grid(0.001)
    for s, gt in _cases(5, 400):
        _compare(s, gt, taus, "numba")
