"""OOD metrics: against scikit-learn, a slow reference written from the definitions, and hand-computed cases."""
from __future__ import annotations

import math
import time
import zlib

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from wsol.ood.metrics import (
    METRIC_NAMES, aupr_in, aupr_out, auroc, detection_accuracy, fpr_at_tpr_ood_positive, ood_metrics, tnr_at_tpr,
)

PERCENT_KEYS = METRIC_NAMES + ("tnr_at_tpr95_tpr",)


# ---------------------------------------------------------------------------------------------------- references
def sklearn_metrics(s_in: np.ndarray, s_out: np.ndarray) -> dict[str, float]:
    """The same numbers from scikit-learn's curves (every point kept: ``drop_intermediate=False``)."""
    y = np.r_[np.ones(s_in.size), np.zeros(s_out.size)]
    s = np.r_[s_in, s_out].astype(np.float64)
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)  # first point is the threshold +inf
    i = int(np.argmax(tpr >= 0.95 - 1e-12))
    fpr_o, tpr_o, _ = roc_curve(1 - y, -s, drop_intermediate=False)
    j = int(np.argmax(tpr_o >= 0.95 - 1e-12))
    return {
        "tnr_at_tpr95": 100 * (1 - fpr[i]),
        "tnr_at_tpr95_tpr": 100 * tpr[i],
        "auroc": 100 * roc_auc_score(y, s),
        "detection_accuracy": 100 * float(np.max(0.5 * (tpr + 1 - fpr))),
        "aupr_in": 100 * average_precision_score(y, s),
        "aupr_out": 100 * average_precision_score(1 - y, -s),
        "fpr_at_tpr95_ood_positive": 100 * fpr_o[j],
    }


def slow_metrics(s_in: np.ndarray, s_out: np.ndarray) -> dict[str, float]:
    """Written from the definitions: a loop over the distinct scores, O(n k)."""
    s_in = np.asarray(s_in, dtype=np.float64)
    s_out = np.asarray(s_out, dtype=np.float64)
    values = np.unique(np.r_[s_in, s_out])
    # TNR at 95% TPR: largest t with P(in >= t) >= 0.95
    ok = [t for t in values if np.sum(s_in >= t) * 100 >= 95 * s_in.size]
    t95 = max(ok)
    # FPR at 95% TPR, OOD positive: smallest t with P(out <= t) >= 0.95
    t95o = min(t for t in values if np.sum(s_out <= t) * 100 >= 95 * s_out.size)
    pairs = sum(np.sum(a > s_out) + 0.5 * np.sum(a == s_out) for a in s_in)
    acc = max([0.5] + [0.5 * (np.mean(s_in >= t) + np.mean(s_out < t)) for t in values])
    ap_in, prev = 0.0, 0.0
    for t in values[::-1]:
        tp, fp = np.sum(s_in >= t), np.sum(s_out >= t)
        ap_in += (tp / s_in.size - prev) * tp / (tp + fp)
        prev = tp / s_in.size
    ap_out, prev = 0.0, 0.0
    for t in values:
        tp, fp = np.sum(s_out <= t), np.sum(s_in <= t)
        ap_out += (tp / s_out.size - prev) * tp / (tp + fp)
        prev = tp / s_out.size
    return {
        "tnr_at_tpr95": 100 * np.mean(s_out < t95),
        "tnr_at_tpr95_tpr": 100 * np.mean(s_in >= t95),
        "tnr_at_tpr95_threshold": float(t95),
        "auroc": 100 * pairs / (s_in.size * s_out.size),
        "detection_accuracy": 100 * acc,
        "aupr_in": 100 * ap_in,
        "aupr_out": 100 * ap_out,
        "fpr_at_tpr95_ood_positive": 100 * np.mean(s_in <= t95o),
    }


def assert_metrics_close(got: dict, want: dict, *, atol: float = 1e-9) -> None:
    for key, value in want.items():
        assert got[key] == pytest.approx(value, abs=atol), key


# ------------------------------------------------------------------------------------------------- score sets
def _random(rng, n_in, n_out, shift=1.0):
    return rng.normal(shift, 1.0, n_in), rng.normal(0.0, 1.0, n_out)


def _rounded(rng, n_in, n_out):
    a, b = _random(rng, n_in, n_out, shift=0.5)
    return np.round(a, 1), np.round(b, 1)


def _saturated_softmax(rng, n_in, n_out):
    """MSP-like scores in float32: many exactly 1.0 in both sets, plus other ties."""
    def msp(n, scale):
        logits = rng.normal(0.0, scale, (n, 10)).astype(np.float32)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        return p.max(axis=1).astype(np.float32)

    a, b = msp(n_in, 40.0), msp(n_out, 15.0)
    b[0] = 1.0  # a saturated OOD score ties with the saturated in-distribution ones even in the smallest sets
    assert (a == 1.0).mean() > 0.25 or n_in < 20
    return a, b


CASES = {
    "random": _random,
    "rounded_2_decimals": lambda rng, n, m: tuple(np.round(x, 2) for x in _random(rng, n, m, shift=0.3)),
    "rounded_1_decimal": _rounded,
    "small_integers": lambda rng, n, m: (rng.integers(0, 4, n), rng.integers(0, 3, m)),
    "saturated_softmax": _saturated_softmax,
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("sizes", [(200, 300), (37, 23), (1000, 40), (20, 1), (1, 20), (1, 1)])
def test_against_sklearn_and_slow_reference(case, sizes):
    rng = np.random.default_rng(zlib.crc32(f"{case}{sizes}".encode()))
    s_in, s_out = CASES[case](rng, *sizes)
    got = ood_metrics(s_in, s_out)
    assert_metrics_close(got, sklearn_metrics(np.asarray(s_in), np.asarray(s_out)))
    assert_metrics_close(got, slow_metrics(s_in, s_out))


@pytest.mark.parametrize("seed", range(20))
def test_heavy_ties_many_seeds(seed):
    rng = np.random.default_rng(seed)
    n_in, n_out = int(rng.integers(1, 60)), int(rng.integers(1, 60))
    s_in, s_out = rng.integers(0, 5, n_in) / 4, rng.integers(0, 5, n_out) / 4
    got = ood_metrics(s_in, s_out)
    assert_metrics_close(got, slow_metrics(s_in, s_out))
    assert_metrics_close(got, sklearn_metrics(s_in, s_out))


def test_single_functions_agree_with_ood_metrics():
    rng = np.random.default_rng(3)
    s_in, s_out = _rounded(rng, 150, 90)
    m = ood_metrics(s_in, s_out)
    assert tnr_at_tpr(s_in, s_out) == m["tnr_at_tpr95"]
    assert fpr_at_tpr_ood_positive(s_in, s_out) == m["fpr_at_tpr95_ood_positive"]
    assert auroc(s_in, s_out) == m["auroc"]
    assert detection_accuracy(s_in, s_out) == m["detection_accuracy"]
    assert aupr_in(s_in, s_out) == m["aupr_in"]
    assert aupr_out(s_in, s_out) == m["aupr_out"]


# ------------------------------------------------------------------------------------------ hand-computed cases
def test_hand_case_pairs_and_precision():
    # in = {3, 2}, out = {2, 1}: pairs (3>2, 3>1, 2=2 half, 2>1) = 3.5 / 4
    m = ood_metrics([3.0, 2.0], [2.0, 1.0])
    assert m["auroc"] == pytest.approx(87.5)
    # thresholds 3: P=1, R=1/2; 2: P=2/3, R=1  ->  1/2 + 1/2 * 2/3
    assert m["aupr_in"] == pytest.approx(100 * (0.5 + 0.5 * 2 / 3))
    # OOD positive on -s: thresholds 1: P=1, R=1/2; 2: P=2/3 (out 1, 2 and in 2), R=1
    assert m["aupr_out"] == pytest.approx(100 * (0.5 + 0.5 * 2 / 3))
    # t=3: (1/2 + 1) / 2; t=2: (1 + 1/2) / 2; t=1: (1 + 0) / 2
    assert m["detection_accuracy"] == pytest.approx(75.0)
    # 95% of 2 needs both in scores: t = 2 (TPR 100%), out < 2: {1}
    assert (m["tnr_at_tpr95"], m["tnr_at_tpr95_tpr"], m["tnr_at_tpr95_threshold"]) == (50.0, 100.0, 2.0)


def test_tnr_when_95_percent_is_reached_exactly():
    s_in = np.arange(1, 21, dtype=np.float64)  # 20 scores: t = 2 keeps 19 of them, TPR = 95% exactly
    s_out = np.array([0.0, 1.5, 2.0, 2.5])
    m = ood_metrics(s_in, s_out)
    assert m["tnr_at_tpr95_threshold"] == 2.0
    assert m["tnr_at_tpr95_tpr"] == 95.0
    assert m["tnr_at_tpr95"] == 50.0  # out < 2: {0, 1.5}; the tie 2.0 counts as accepted


def test_tnr_when_no_threshold_gives_95_percent_size():
    # 10 in scores: 9 of them is 90% < 95%, so the threshold must keep all 10 (TPR 100%), never interpolate
    s_in = np.arange(1, 11, dtype=np.float64)
    s_out = np.array([0.0, 0.5, 1.5, 2.5, 11.0])
    m = ood_metrics(s_in, s_out)
    assert (m["tnr_at_tpr95_threshold"], m["tnr_at_tpr95_tpr"]) == (1.0, 100.0)
    assert m["tnr_at_tpr95"] == 40.0


def test_tnr_when_a_tie_group_straddles_95_percent():
    # 20 in scores: 18 at 1.0 (TPR 90%) and 2 at 0.5 (TPR 100% from t = 0.5): 95% falls inside the tie group
    s_in = np.r_[np.ones(18), [0.5, 0.5]]
    s_out = np.array([0.5, 0.4, 0.9])
    m = ood_metrics(s_in, s_out)
    assert (m["tnr_at_tpr95_threshold"], m["tnr_at_tpr95_tpr"]) == (0.5, 100.0)
    assert m["tnr_at_tpr95"] == pytest.approx(100 / 3)  # only 0.4 < 0.5


def test_tnr_at_other_levels():
    s_in = np.arange(1, 11, dtype=np.float64)
    s_out = np.array([0.0, 5.5, 7.5])
    assert tnr_at_tpr(s_in, s_out, tpr=0.5) == pytest.approx(200 / 3)  # t = 6 keeps 5 of 10; out < 6: 0, 5.5
    assert tnr_at_tpr(s_in, s_out, tpr=1.0) == pytest.approx(100 / 3)  # t = 1
    for bad in (0.0, 1.5, -0.1, math.nan):
        with pytest.raises(ValueError, match="tpr"):
            tnr_at_tpr(s_in, s_out, tpr=bad)


def test_fpr_ood_positive_hand_case():
    s_out = np.arange(1, 21, dtype=np.float64)  # OOD flagged when score <= t; t = 19 flags 19 of 20 = 95%
    s_in = np.array([0.0, 1.5, 19.5, 30.0])
    assert fpr_at_tpr_ood_positive(s_in, s_out) == 50.0  # in <= 19: {0, 1.5}


def test_perfectly_separated():
    m = ood_metrics(np.linspace(1, 2, 50), np.linspace(-1, 0, 30))
    for key in ("tnr_at_tpr95", "auroc", "detection_accuracy", "aupr_in", "aupr_out"):
        assert m[key] == 100.0, key
    assert m["fpr_at_tpr95_ood_positive"] == 0.0


def test_perfectly_reversed():
    s_in, s_out = np.linspace(-1, 0, 50), np.linspace(1, 2, 30)
    m = ood_metrics(s_in, s_out)
    assert m["tnr_at_tpr95"] == 0.0
    assert m["auroc"] == 0.0
    assert m["detection_accuracy"] == 50.0  # the thresholds +-inf
    assert m["fpr_at_tpr95_ood_positive"] == 100.0
    assert_metrics_close(m, sklearn_metrics(s_in, s_out))


def test_single_elements():
    m = ood_metrics([1.0], [0.0])
    assert (m["auroc"], m["tnr_at_tpr95"], m["detection_accuracy"], m["aupr_in"], m["aupr_out"],
            m["fpr_at_tpr95_ood_positive"]) == (100.0, 100.0, 100.0, 100.0, 100.0, 0.0)
    m = ood_metrics([0.5], [0.5])  # one tie group: the only threshold accepts both
    assert (m["auroc"], m["tnr_at_tpr95"], m["detection_accuracy"], m["aupr_in"], m["aupr_out"],
            m["fpr_at_tpr95_ood_positive"]) == (50.0, 0.0, 50.0, 50.0, 50.0, 100.0)
    m = ood_metrics([0.0], [1.0])
    assert (m["auroc"], m["tnr_at_tpr95"], m["detection_accuracy"]) == (0.0, 0.0, 50.0)


def test_all_scores_equal():
    m = ood_metrics(np.ones(7), np.ones(5))
    assert (m["auroc"], m["tnr_at_tpr95"], m["detection_accuracy"], m["fpr_at_tpr95_ood_positive"]) == (
        50.0, 0.0, 50.0, 100.0)
    assert m["aupr_in"] == pytest.approx(700 / 12)
    assert m["aupr_out"] == pytest.approx(500 / 12)


def test_infinite_scores_are_ordinary_values():
    m = ood_metrics([np.inf, 1.0], [-np.inf, 1.0])
    assert m["auroc"] == pytest.approx(100 * 3.5 / 4)


# -------------------------------------------------------------------------------------------------- invariances
def test_invariant_to_order_monotone_maps_and_dtype():
    rng = np.random.default_rng(5)
    s_in, s_out = _rounded(rng, 120, 80)
    base = ood_metrics(s_in, s_out)
    base.pop("tnr_at_tpr95_threshold")
    for a, b in [(rng.permutation(s_in), rng.permutation(s_out)), (3 * s_in + 7, 3 * s_out + 7),
                 (np.exp(s_in), np.exp(s_out)), (s_in.astype(np.float32), s_out.astype(np.float32)),
                 (list(s_in), tuple(s_out))]:
        got = ood_metrics(a, b)
        for key, value in base.items():
            assert got[key] == pytest.approx(value, abs=1e-12), key


def test_swapping_the_sets():
    rng = np.random.default_rng(6)
    s_in, s_out = _rounded(rng, 70, 110)
    m = ood_metrics(s_in, s_out)
    swapped = ood_metrics(-s_out, -s_in)  # OOD becomes the positive class with higher scores
    assert swapped["auroc"] == pytest.approx(m["auroc"])
    assert swapped["aupr_in"] == pytest.approx(m["aupr_out"])
    assert swapped["aupr_out"] == pytest.approx(m["aupr_in"])
    assert ood_metrics(s_out, s_in)["auroc"] == pytest.approx(100 - m["auroc"])
    # FPR (OOD positive) on (in, out) is 100 - TNR at 95% TPR with the roles swapped and the scores negated
    assert m["fpr_at_tpr95_ood_positive"] == pytest.approx(100 - swapped["tnr_at_tpr95"])


# ------------------------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize("scores_in, scores_out, match", [
    ([], [1.0], r"scores_in is empty"),
    ([1.0], np.array([]), r"scores_out is empty"),
    ([1.0, np.nan, 2.0], [1.0], r"scores_in contains NaN .*index 1: nan"),
    ([1.0], [np.nan], r"scores_out contains NaN"),
    (np.ones((2, 2)), [1.0], r"1-D, got shape \(2, 2\)"),
    (["a", "b"], [1.0], r"numeric"),
])
def test_bad_input_raises(scores_in, scores_out, match):
    with pytest.raises(ValueError, match=match):
        ood_metrics(scores_in, scores_out)


@pytest.mark.slow
def test_million_scores_under_a_second():
    rng = np.random.default_rng(0)
    s_in, s_out = rng.normal(1, 1, 10**6), rng.normal(0, 1, 10**6)
    ood_metrics(s_in[:1000], s_out[:1000])
    t0 = time.perf_counter()
    ood_metrics(s_in, s_out)
    assert time.perf_counter() - t0 < 1.0


def test_roc_points_equal_sklearn_roc_curve_with_ties():
    from sklearn.metrics import roc_curve

    from wsol.ood.metrics import roc_points

    rng = np.random.default_rng(7)
    a, b = rng.random(60).round(1), rng.random(45).round(1)
    fpr, tpr = roc_points(a, b)
    ref_fpr, ref_tpr, _ = roc_curve(np.r_[np.ones(60), np.zeros(45)], np.r_[a, b], drop_intermediate=False)
    assert np.allclose(fpr, ref_fpr) and np.allclose(tpr, ref_tpr)


def test_auroc_bootstrap_interval_by_hand_and_against_direct_resampling():
    from sklearn.metrics import roc_auc_score

    from wsol.ood.metrics import auroc_bootstrap_interval

    # one image each: every resample is the same pair, the interval collapses on the AUROC
    assert auroc_bootstrap_interval([2.0], [1.0], generator=np.random.default_rng(0), num_resamples=5) == (100.0,
                                                                                                             100.0)
    rng = np.random.default_rng(7)
    s_in, s_out = rng.normal(1.0, 1.0, 60).round(1), rng.normal(0.0, 1.0, 40).round(1)  # rounded: ties
    low, high = auroc_bootstrap_interval(s_in, s_out, generator=np.random.default_rng(3), num_resamples=200,
                                         level=0.9)
    # slow reference: the same draws (in-distribution indices first, then OOD), scikit-learn's AUROC
    g = np.random.default_rng(3)
    a, b = g.integers(0, 60, size=(200, 60)), g.integers(0, 40, size=(200, 40))
    values = [100 * roc_auc_score(np.r_[np.ones(60), np.zeros(40)], np.r_[s_in[i], s_out[j]]) for i, j in zip(a, b)]
    assert (low, high) == pytest.approx(tuple(np.quantile(values, [0.05, 0.95])), abs=1e-9)
    # the population AUROC of N(1, 1) vs N(0, 1) is 100 Phi(1 / sqrt 2) = 76.02: inside a 95 % interval of 1000 each
    big_in, big_out = rng.normal(1.0, 1.0, 1000), rng.normal(0.0, 1.0, 1000)
    low, high = auroc_bootstrap_interval(big_in, big_out, generator=np.random.default_rng(0), num_resamples=300)
    assert low < 76.02 < high and high - low < 6


def test_auroc_bootstrap_interval_rejects_bad_options():
    from wsol.ood.metrics import auroc_bootstrap_interval

    with pytest.raises(ValueError, match="num_resamples"):
        auroc_bootstrap_interval([1.0], [0.0], generator=np.random.default_rng(0), num_resamples=0)
    with pytest.raises(ValueError, match="level"):
        auroc_bootstrap_interval([1.0], [0.0], generator=np.random.default_rng(0), level=1.0)


def test_weighted_metrics_equal_the_metrics_of_repeated_scores():
    """Integer weights are resampled scores: each row equals ood_metrics of the repeated arrays (ties included)."""
    from wsol.ood.metrics import weighted_ood_metrics

    rng = np.random.default_rng(5)
    for _ in range(40):
        n, m = int(rng.integers(1, 30)), int(rng.integers(1, 30))
        s_in, s_out = rng.integers(0, 6, n).astype(float), rng.integers(0, 6, m).astype(float)
        w_in, w_out = rng.integers(0, 3, (4, n)), rng.integers(0, 3, (4, m))
        w_in[:, 0] += 1
        w_out[:, 0] += 1
        got = weighted_ood_metrics(s_in, s_out, w_in, w_out)
        for i in range(4):
            ref = ood_metrics(np.repeat(s_in, w_in[i]), np.repeat(s_out, w_out[i]))
            for key, values in got.items():
                assert values[i] == pytest.approx(ref[key], abs=1e-9), key
    with pytest.raises(ValueError, match="positive sum"):
        weighted_ood_metrics([1.0], [0.0], np.zeros((1, 1)), np.ones((1, 1)))
