"""Accumulators: invariances (merge, permutation), hand-built Top-k / GT-known cases, calibration, PxAP."""
import numpy as np
import pytest

from wsol.errors import InputError
from wsol.localization.metrics import (
    BoxAccumulator, MaskAccumulator, calibrate, pxap_bin_edges, score_histogram,
)
from wsol.localization.protocol import resize_boxes, threshold_grid
from wsol.localization.reference import score_map_reference


def _images(seed, count):
    from synthetic_maps import random_boxes, smooth_map
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        h, w = [(28, 40), (17, 31), (32, 32)][i % 3]
        size = (int(rng.integers(w, 4 * w)), int(rng.integers(h, 4 * h)))
        out.append((smooth_map(rng, h, w), random_boxes(rng, size[0], size[1], int(rng.integers(1, 3))), size,
                    int(rng.integers(0, 4)), [int(c) for c in rng.permutation(6)[:5]]))
    return out


def _run(images, **kw):
    acc = BoxAccumulator(**kw)
    for s, boxes, size, label, top5 in images:
        acc.update(s, boxes, size, label=label, top5=top5)
    return acc


def test_merge_and_permutation_give_the_same_dict():
    images = _images(3, 40)
    whole = _run(images).compute()
    a, b = _run(images[:13]), _run(images[13:])
    assert a.merge(b).compute() == whole
    perm = [images[i] for i in np.random.default_rng(0).permutation(len(images))]
    assert _run(perm).compute() == whole


def test_counts_match_the_reference():
    images = _images(4, 30)
    taus = threshold_grid(0.001)  # the default grid (wsolevaluation's main.py)
    acc = _run(images)
    assert acc.compute()["interval"] == 0.001
    v1 = np.zeros(len(taus), dtype=np.int64)
    all_ = {d: np.zeros(len(taus), dtype=np.int64) for d in (30, 50, 70)}
    for s, boxes, size, _, _ in images:
        ref = score_map_reference(s, resize_boxes(boxes, size, s.shape[::-1]), taus)
        v1 += ref.largest_iou >= 0.5
        for d in all_:
            all_[d] += ref.all_iou >= d / 100
    out = acc.compute()
    assert out["maxboxacc"] == float((v1 * 100. / len(images)).max())
    for d in (30, 50, 70):
        assert out["box_acc_curve"][str(d)] == (all_[d] * 100. / len(images)).tolist()
    assert out["maxboxacc_v2"] == float(np.mean([(all_[d] * 100. / len(images)).max() for d in (30, 50, 70)]))


def test_topk_and_gt_known_hand_built():
    s = np.zeros((20, 20))
    s[5:15, 5:15] = 1.0
    good = [(5, 5, 15, 15)]            # map box is (5, 5, 15, 15): IoU 1
    bad = [(0, 0, 2, 2)]
    acc = BoxAccumulator(protocol="cutmix")
    acc.update(s, good, (20, 20), label=3, top5=[3, 1, 2, 0, 4])   # box ok, top-1 ok
    acc.update(s, good, (20, 20), label=2, top5=[3, 1, 2, 0, 4])   # box ok, top-5 only
    acc.update(s, bad, (20, 20), label=3, top5=[3, 1, 2, 0, 4])    # box wrong
    acc.update(s, good, (20, 20), label=9, top5=[3, 1, 2, 0, 4])   # box ok, class wrong
    out = acc.compute()
    assert out["fixed_threshold"] == 0.15
    assert out["gt_known_loc"] == 75.0
    assert out["top1_loc"] == 25.0 and out["top5_loc"] == 50.0
    assert out["top1_cls"] == 50.0 and out["top5_cls"] == 75.0
    assert out["top1_loc_best"] == 25.0 and out["top1_loc_best_threshold"] == 0.0


def test_iou_100_means_exact_match():
    s = np.zeros((10, 10))
    s[2:5, 2:5] = 1.0                  # box (2, 2, 5, 5)
    acc = BoxAccumulator(iou_thresholds=[100, 1])
    acc.update(s, [(2, 2, 5, 5)], (10, 10))
    acc.update(s, [(2, 2, 5, 6)], (10, 10))
    out = acc.compute()
    # the requested IoUs and MaxBoxAccV2's 30/50/70 (the second GT box, 4x5 inclusive pixels, against the 4x4 box:
    # IoU 16/20 = 0.8, correct up to 80 %)
    assert out["maxboxacc_by_iou"] == {"100": 50.0, "1": 100.0, "30": 100.0, "50": 100.0, "70": 100.0}
    assert out["v2_ious"] == [30, 50, 70]


def test_cutmix_protocol_output_shows_every_iou_its_headline_numbers_use():
    images = _images(6, 30)
    out = _run(images, protocol="cutmix").compute()
    assert out["iou_thresholds"] == [50]
    assert set(out["maxboxacc_by_iou"]) == {"30", "50", "70"} == set(out["box_acc_curve"])
    assert out["maxboxacc_v2"] == pytest.approx(np.mean([out["maxboxacc_by_iou"][k] for k in ("30", "50", "70")]))


def test_calibrated_fixed_threshold_numbers_by_hand():
    """GT-known / Top-1 Loc at the calibrated tau beside the fixed-tau ones. The map has a strong region (the object)
    and an equally large weak one (0.5): the weak one (uint8 127) stays foreground while int(tau 255) < 127, i.e.
    tau < 127 / 255 = 0.49804, and is the largest contour chosen, so the box misses; above, only the object is
    left. The first such tau is 0.499 on the default 0.001 grid (0.498 * 255 = 126.99) and 0.50 on the 0.01 grid."""
    s = np.zeros((10, 10))
    s[2:5, 2:5] = 1.0
    s[6:9, 6:9] = 0.5
    cal, test = BoxAccumulator(), BoxAccumulator()
    cal.update(s, [(2, 2, 5, 5)], (10, 10), label=0, top5=[0])
    test.update(s, [(2, 2, 5, 5)], (10, 10), label=1, top5=[1, 0])   # top-1 right
    test.update(s, [(2, 2, 5, 5)], (10, 10), label=1, top5=[0, 1])   # top-1 wrong, top-5 right
    fixed = test.compute()
    assert (fixed["fixed_threshold"], fixed["gt_known_loc"], fixed["top1_loc"]) == (0.2, 0.0, 0.0)
    out = calibrate(cal, test)
    assert out["threshold_v1"] == 0.499
    assert (out["gt_known_loc"], out["box_acc_v1"], out["top1_loc"], out["top5_loc"]) == (100.0, 100.0, 50.0, 100.0)
    coarse_cal, coarse_test = BoxAccumulator(interval=0.01), BoxAccumulator(interval=0.01)
    coarse_cal.update(s, [(2, 2, 5, 5)], (10, 10), label=0, top5=[0])
    coarse_test.update(s, [(2, 2, 5, 5)], (10, 10), label=1, top5=[1, 0])
    assert calibrate(coarse_cal, coarse_test)["threshold_v1"] == 0.5


def test_calibration_uses_the_other_split():
    images = _images(8, 30)
    cal, test = _run(images[:15]), _run(images[15:])
    out = calibrate(cal, test)
    for d in ("30", "50", "70"):
        i = int(np.argmax(cal.box_acc(int(d))))
        assert out["threshold_by_iou"][d] == float(cal.taus[i])
        assert out["box_acc_by_iou"][d] == float(test.box_acc(int(d))[i])
        assert out["box_acc_by_iou"][d] <= test.compute()["maxboxacc_by_iou"][d]
    i = int(np.argmax(cal.box_acc(50, all_contours=False)))
    assert out["box_acc_v1"] == float(test.box_acc(50, all_contours=False)[i])


def test_merge_rejects_other_settings():
    with pytest.raises(ValueError, match="different settings"):
        BoxAccumulator(interval=0.01).merge(BoxAccumulator(interval=0.02))


def _pxap_direct(maps, masks, ignores, interval):
    """PxAP from the definition: per-pixel precision/recall at each bin edge, pixels kept in memory."""
    edges = pxap_bin_edges(interval)
    pos = np.concatenate([s[m] for s, m in zip(maps, masks)])
    neg = np.concatenate([s[~m & ~ig] for s, m, ig in zip(maps, masks, ignores)])
    # thresholds from the highest edge down; a pixel counts as predicted positive at edge e when score >= e
    ths = edges[::-1][1:]
    tp = np.array([(pos >= e).sum() for e in ths], dtype=np.float64)
    fp = np.array([(neg >= e).sum() for e in ths], dtype=np.float64)
    tp = np.concatenate([[0.0], tp])
    fp = np.concatenate([[0.0], fp])
    precision = np.divide(tp, tp + fp, out=np.full_like(tp, np.nan), where=(tp + fp) > 0)
    recall = tp / len(pos)
    keep = (tp + fp)[1:] > 0
    return float((precision[1:] * np.diff(recall))[keep].sum() * 100)


def test_pxap_against_direct_computation():
    from synthetic_maps import smooth_map
    rng = np.random.default_rng(11)
    maps, masks, ignores = [], [], []
    acc = MaskAccumulator(interval=0.01)
    for i in range(12):
        s = smooth_map(rng, 24, 30)
        m = smooth_map(rng, 24, 30) > 0.6
        ig = (rng.random((24, 30)) < 0.1)
        maps.append(s)
        masks.append(m)
        ignores.append(ig & ~m)
        acc.update(s, m, ig)
    out = acc.compute()
    assert out["pxap"] == pytest.approx(_pxap_direct(maps, masks, ignores, 0.01), abs=1e-9)
    # shards
    a, b = MaskAccumulator(interval=0.01), MaskAccumulator(interval=0.01)
    for k, (s, m, ig) in enumerate(zip(maps, masks, ignores)):
        (a if k % 2 else b).update(s, m, ig)
    assert a.merge(b).compute() == out


def test_score_histogram_equals_numpy_histogram():
    rng = np.random.default_rng(0)
    edges = pxap_bin_edges(0.001)
    x = np.concatenate([rng.random(5000), edges[:-3], [0.0, 1.0], np.nextafter(edges[:-3], 1)])
    np.testing.assert_array_equal(score_histogram(x, edges), np.histogram(x, bins=edges)[0])


def test_mask_size_mismatch_raises():
    acc = MaskAccumulator()
    with pytest.raises(InputError, match="mask size"):
        acc.update(np.zeros((4, 5)), np.zeros((5, 4), dtype=bool), path="m.npy")
