import numpy as np
import pytest

from wsol.localization.boxes import best_iou, box_iou
from wsol.localization.protocol import (
    Protocol, check_iou_thresholds, contour_box, get_protocol, protocol_names, quantize, register_protocol,
    resize_box, threshold_grid, threshold_levels,
)


def test_iou_inclusive_pixels():
    # identical 1-pixel boxes
    assert box_iou([[0, 0, 0, 0]], [[0, 0, 0, 0]])[0, 0] == 1.0
    # (0,0,1,1) has 4 pixels, (1,1,2,2) has 4, they share 1 pixel: 1 / 7
    assert box_iou([[0, 0, 1, 1]], [[1, 1, 2, 2]])[0, 0] == 1 / 7
    # touching edges without overlap: x ranges 0..1 and 2..3
    assert box_iou([[0, 0, 1, 1]], [[2, 0, 3, 1]])[0, 0] == 0.0
    # nested: 2x2 inside 4x4 -> 4/16
    assert box_iou([[0, 0, 3, 3]], [[1, 1, 2, 2]])[0, 0] == 0.25


def test_iou_degenerate_union_is_zero():
    # inverted boxes give areas <= 0; a non-positive union means IoU 0 (not a division error)
    iou = box_iou([[5, 5, 3, 3]], [[5, 5, 3, 3]])
    assert iou[0, 0] == 0.0
    iou = box_iou([[2, 2, 0, 2]], [[0, 0, 0, 0]])  # area (0-2+1)*(1) = -1, union -1 + 1 - 0 = 0
    assert iou[0, 0] == 0.0


def test_iou_matrix_shape_and_best():
    a = np.array([[0, 0, 9, 9], [5, 5, 14, 14]])
    b = np.array([[0, 0, 9, 9], [10, 10, 19, 19], [5, 5, 14, 14]])
    m = box_iou(a, b)
    assert m.shape == (2, 3) and m.dtype == np.float64
    assert m[0, 0] == 1.0 and m[1, 2] == 1.0
    assert m[0, 2] == 25 / 175
    np.testing.assert_array_equal(best_iou(a, b), [1.0, 1.0])


def test_quantize_truncates_float64():
    s = np.array([[0.0, 1.0, 0.5, 0.999999]], dtype=np.float64)
    np.testing.assert_array_equal(quantize(s), [[0, 255, 127, 254]])
    # float32 maps are widened before multiplying (util.t2n casts to float64)
    s32 = np.array([[0.2]], dtype=np.float32)
    assert quantize(s32)[0, 0] == np.uint8(np.float64(s32[0, 0]) * 255)


def test_threshold_grid_is_numpy_arange():
    np.testing.assert_array_equal(threshold_grid(0.01), np.arange(0, 1, 0.01))
    assert len(threshold_grid(0.001)) == 1000
    assert threshold_grid(0.01)[7] == 0.07000000000000001


def test_threshold_levels_truncate():
    taus = np.array([0.0, 0.5, 0.99])
    np.testing.assert_array_equal(threshold_levels(taus, 255), [0, 127, 252])
    np.testing.assert_array_equal(threshold_levels(taus, 0), [0, 0, 0])
    for t in threshold_grid(0.001):
        assert threshold_levels(np.array([t]), 200)[0] == int(t * np.uint8(200))


def test_contour_box_off_by_one_and_clip():
    assert contour_box(2, 3, 4, 5, 10, 10) == (2, 3, 6, 8)
    assert contour_box(0, 0, 10, 10, 10, 10) == (0, 0, 9, 9)


def test_resize_box_truncation_order():
    assert resize_box((10, 20, 30, 40), (100, 200), (224, 224)) == (22, 22, 67, 44)
    # x * new / old with the product first (float), then int(): 3 * 224 / 500 = 1.344 -> 1
    assert resize_box((3, 3, 500, 375), (500, 375), (224, 224)) == (1, 1, 224, 224)


def test_registry():
    assert {"wsolevaluation", "cutmix"} <= set(protocol_names())
    assert get_protocol("cutmix").fixed_threshold == 0.15
    with pytest.raises(ValueError, match="already registered"):
        register_protocol(Protocol(name="wsolevaluation", description="dup"))
    with pytest.raises(ValueError, match="unknown protocol"):
        get_protocol("nope")


@pytest.mark.parametrize("bad", [0, 101, 2.5, True])
def test_iou_thresholds_checked(bad):
    with pytest.raises(ValueError):
        check_iou_thresholds([bad])
    check_iou_thresholds([1, 100])
