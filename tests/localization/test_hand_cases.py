"""Hand-built maps with the boxes the protocol must give at each threshold."""
import numpy as np
import pytest

from wsol.localization.protocol import threshold_grid
from wsol.localization.reference import score_map_reference
from wsol.localization.threshold import HAVE_NUMBA, boxes_at_thresholds, score_boxes

BACKENDS = ["opencv"] + (["numba"] if HAVE_NUMBA else [])
FAR_GT = np.array([[0, 0, 0, 0]])


def _boxes(s, taus, backend):
    res = score_boxes(s, FAR_GT, np.asarray(taus, dtype=np.float64), backend=backend)
    ref = score_map_reference(s, FAR_GT, np.asarray(taus, dtype=np.float64))
    np.testing.assert_array_equal(res.v1_box, ref.largest_box)
    return [tuple(b) for b in res.v1_box.tolist()]


@pytest.mark.parametrize("backend", BACKENDS)
def test_unimodal(backend):
    s = np.zeros((10, 12))
    s[2:7, 3:9] = 0.5      # q = 127
    s[4:6, 5:7] = 1.0      # q = 255
    # tau 0.0 -> q > 0: the 5x6 block (x 3..8, y 2..6) -> box (3, 2, 9, 7) (one past, not clipped)
    # tau 0.5 -> q > 127: the 2x2 core (x 5..6, y 4..5) -> (5, 4, 7, 6)
    assert _boxes(s, [0.0, 0.4, 0.5, 0.9], backend) == [(3, 2, 9, 7), (3, 2, 9, 7), (5, 4, 7, 6), (5, 4, 7, 6)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_multimodal_largest_by_contour_area(backend):
    s = np.zeros((12, 20))
    s[1:4, 1:4] = 1.0           # 3x3 square: contour area 4
    s[6:7, 5:19] = 0.8          # 1x14 line: contour area 0 despite 14 pixels
    s[8:11, 14:19] = 0.6        # 3x5 block: area 8
    # tau 0 -> all three regions; largest area is the 3x5 block
    # tau 0.7 (q > 178): square and line; the square (area 4) beats the longer line (area 0)
    # tau 0.9: only the square
    assert _boxes(s, [0.0, 0.7, 0.9], backend) == [(14, 8, 19, 11), (1, 1, 4, 4), (1, 1, 4, 4)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_ring_hole_contours(backend):
    s = np.zeros((11, 11))
    s[1:10, 1:10] = 1.0
    s[3:8, 3:8] = 0.0      # a 5x5 hole inside a 9x9 square
    taus = np.array([0.5])
    res = score_boxes(s, np.array([[2, 2, 8, 8]]), taus, backend=backend)
    # outer box (1, 1, 10, 10); hole border runs through x, y = 2..8 -> box (2, 2, 9, 9)
    assert tuple(res.v1_box[0]) == (1, 1, 10, 10)
    assert tuple(res.all_box[0]) == (2, 2, 9, 9)
    assert res.all_iou[0] == 49 / 64
    _, all_boxes = boxes_at_thresholds(s, taus, all_contours=True)
    assert sorted(map(tuple, all_boxes[0].tolist())) == [(1, 1, 10, 10), (2, 2, 9, 9)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_all_zero_map_gives_the_empty_box(backend):
    s = np.zeros((8, 9))
    gt = np.array([[0, 0, 1, 1]])
    res = score_boxes(s, gt, threshold_grid(0.1), backend=backend)
    assert (res.v1_box == 0).all() and (res.all_box == 0).all()
    # the empty box (0, 0, 0, 0) is one pixel and overlaps a GT box at the corner: IoU 1/4
    assert (res.v1_iou == 0.25).all() and (res.all_iou == 0.25).all()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("value", [1.0, 0.3])
def test_constant_map_is_the_whole_image(backend, value):
    s = np.full((6, 9), value)
    # q > int(tau * q) holds everywhere only when the cut is below q: always, since tau < 1
    assert set(_boxes(s, threshold_grid(0.05), backend)) == {(0, 0, 8, 5)}


@pytest.mark.parametrize("backend", BACKENDS)
def test_single_pixel_peaks_and_ties(backend):
    s = np.zeros((7, 9))
    s[1, 1] = 1.0
    s[5, 6] = 1.0
    s[3, 7] = 1.0
    # three single pixels, contour area 0 each: OpenCV takes the first contour, the one starting last in raster
    # order (5, 6) -> box (6, 5, 7, 6)
    assert _boxes(s, [0.0, 0.5], backend) == [(6, 5, 7, 6), (6, 5, 7, 6)]
    # equal-area squares: again the later one in raster order wins
    s = np.zeros((10, 10))
    s[1:3, 6:8] = 1.0
    s[6:8, 1:3] = 1.0
    assert _boxes(s, [0.0], backend) == [(1, 6, 3, 8)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_max_below_one_uses_the_map_maximum(backend):
    s = np.zeros((8, 8))
    s[2:6, 2:6] = 0.2      # q = 51
    s[3:5, 3:5] = 0.4      # q = 102 (the maximum)
    # tau 0.6: cut int(0.6 * 102) = 61 -> only the 2x2 core survives although 0.4 < 0.6
    assert _boxes(s, [0.0, 0.49, 0.5, 0.6], backend) == [(2, 2, 6, 6), (2, 2, 6, 6), (3, 3, 5, 5), (3, 3, 5, 5)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_strict_threshold(backend):
    s = np.zeros((5, 5))
    s[1:4, 1:4] = 100 / 255 + 1e-9   # q = 100
    s[2, 2] = 1.0                    # q = 255
    # int(tau * 255) == 100 exactly at tau = 100/255 rounded up: q = 100 is NOT above the cut
    tau = np.nextafter(100 / 255, 1)
    assert int(tau * 255) == 100
    assert _boxes(s, [0.39, tau], backend) == [(1, 1, 4, 4), (2, 2, 3, 3)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_diamond_ring_tie_between_outer_and_hole(backend):
    # a one-pixel hole whose outer contour and hole contour have the same area (2)
    s = np.zeros((5, 6))
    for y, x in [(1, 2), (2, 1), (2, 3), (3, 2), (2, 4)]:
        s[y, x] = 1.0
    assert _boxes(s, [0.5], backend) == [(1, 1, 5, 4)]
