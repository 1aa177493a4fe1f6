"""Seed statistics and the paired bootstrap: hand-computed cases and a slow direct resampling."""
from __future__ import annotations

import math

import numpy as np
import pytest

from wsol.report.stats import counts_from_indices, draw_indices, mean_std, paired_bootstrap


def test_mean_std_against_numpy():
    values = [54.5, 58.7, 50.3]
    mean, std, n = mean_std(values)
    assert (mean, std, n) == (np.mean(values), np.std(values, ddof=1), 3)
    m1, s1, n1 = mean_std([7.0])
    assert m1 == 7.0 and math.isnan(s1) and n1 == 1
    with pytest.raises(ValueError):
        mean_std([])


def test_counts_from_indices_by_hand():
    idx = np.array([[0, 0, 2], [1, 2, 1]])
    assert counts_from_indices(idx, 3).tolist() == [[2, 0, 1], [0, 2, 1]]


def _accuracy(hits, weights):
    w = weights["test"]
    return w @ hits * 100 / w.sum(axis=1)


def test_identical_outcomes_give_a_degenerate_interval():
    a, b = np.ones(5), np.zeros(5)
    r = paired_bootstrap(_accuracy, [a], [b], group_sizes={"test": 5}, generator=np.random.default_rng(0),
                         resamples=200)
    assert (r.difference, r.low, r.high, r.resolved) == (100.0, 100.0, 100.0, True)


def test_two_images_hand_computed_distribution():
    # a = [1, 0], b = [0, 0]: a resample holds image 0 twice (p 1/4), once (1/2) or never (1/4): differences
    # 100, 50, 0; the 2.5 % and 97.5 % quantiles are 0 and 100, and 0 is inside: not resolved
    a, b = np.array([1.0, 0.0]), np.zeros(2)
    r = paired_bootstrap(_accuracy, [a], [b], group_sizes={"test": 2}, generator=np.random.default_rng(1),
                         resamples=4000)
    assert (r.difference, r.low, r.high, r.resolved) == (50.0, 0.0, 100.0, False)
    rng = np.random.default_rng(1)
    idx = draw_indices(rng, 2, 4000)
    share = np.bincount((idx == 0).sum(axis=1), minlength=3) / 4000
    assert share == pytest.approx([0.25, 0.5, 0.25], abs=0.03)


def _max_box_acc(hits, weights):
    """MaxBoxAcc-like statistic: the best threshold's accuracy, a non-linear function of the image weights."""
    w = weights["test"]
    return (w @ hits.astype(np.float64) * 100 / w.sum(axis=1)[:, None]).max(axis=1)


def _slow(runs_a, runs_b, *, n, seed, resamples):
    """The same resampling written out image by image: explicit resampled arrays, the metric from its definition."""
    rng = np.random.default_rng(seed)
    sa, sb = len(runs_a), len(runs_b)
    totals = np.zeros((2, resamples))
    for slot in range(max(sa, sb)):
        idx = draw_indices(rng, n, resamples)
        pick_a = rng.integers(0, sa, size=resamples)
        pick_b = pick_a if sa == sb else rng.integers(0, sb, size=resamples)
        for side, (runs, picks, count) in enumerate(((runs_a, pick_a, sa), (runs_b, pick_b, sb))):
            if slot >= count:
                continue
            for i in range(resamples):
                hits = runs[picks[i]][idx[i]]  # the resampled images, as rows
                totals[side, i] += max(100.0 * sum(row[t] for row in hits) / n for t in range(hits.shape[1]))
    diffs = totals[0] / sa - totals[1] / sb
    return np.percentile(diffs, [2.5, 97.5])


@pytest.mark.parametrize("seeds", [(3, 3), (2, 3)])
def test_fast_bootstrap_equals_slow_direct_resampling(seeds):
    rng = np.random.default_rng(7)
    n = 30
    runs_a = [rng.random((n, 5)) < 0.6 for _ in range(seeds[0])]
    runs_b = [rng.random((n, 5)) < 0.4 for _ in range(seeds[1])]
    fast = paired_bootstrap(_max_box_acc, runs_a, runs_b, group_sizes={"test": n},
                            generator=np.random.default_rng(11), resamples=300)
    low, high = _slow(runs_a, runs_b, n=n, seed=11, resamples=300)
    assert fast.low == pytest.approx(low, abs=1e-9) and fast.high == pytest.approx(high, abs=1e-9)
    assert fast.paired_seeds == (seeds[0] == seeds[1])
    direct = np.mean([_max_box_acc(r, {"test": np.ones((1, n))})[0] for r in runs_a]) - \
        np.mean([_max_box_acc(r, {"test": np.ones((1, n))})[0] for r in runs_b])
    assert fast.difference == pytest.approx(direct)


def test_dict_statistics_give_one_result_per_name():
    a, b = np.array([1.0, 1.0, 0.0]), np.array([0.0, 1.0, 0.0])
    both = paired_bootstrap(lambda d, w: {"acc": _accuracy(d, w), "err": 100 - _accuracy(d, w)}, [a], [b],
                            group_sizes={"test": 3}, generator=np.random.default_rng(0), resamples=100)
    assert both["acc"].difference == pytest.approx(100 / 3) and both["err"].difference == pytest.approx(-100 / 3)
    assert both["acc"].low == pytest.approx(-both["err"].high)


def test_bad_arguments():
    with pytest.raises(ValueError):
        paired_bootstrap(_accuracy, [], [np.ones(2)], group_sizes={"test": 2}, generator=np.random.default_rng(0))
    with pytest.raises(ValueError):
        paired_bootstrap(_accuracy, [np.ones(2)], [np.ones(2)], group_sizes={"test": 2},
                         generator=np.random.default_rng(0), level=1.5)
