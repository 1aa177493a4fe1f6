"""Out-of-distribution detection metrics over two 1-D score arrays (pure numpy, every result in %).

Conventions, stated once:

* **Scores**: higher means "more in-distribution" (what every detector in :mod:`wsol.ood.detectors` returns).
  ``scores_in`` are the scores of in-distribution samples, ``scores_out`` those of OOD samples. Any real values
  (``±inf`` included) are accepted; ``NaN`` and empty arrays raise ``ValueError``.
* **Thresholds** are the distinct score values (plus ``±inf`` where a metric says so); a sample is predicted
  *in-distribution* at threshold ``t`` when ``score >= t``. Equal scores form one tie group that always falls on
  the same side of a threshold: there is no interpolation between points of the curves and no random tie breaking.
* **In-distribution is the positive class** (TPR = fraction of in-distribution scores ``>= t``, TNR = fraction of
  OOD scores ``< t``), except for the metrics named ``..._ood_positive`` and for AUPR-Out, which negate the scores
  and treat OOD as positive.

The metrics (:func:`ood_metrics` returns all of them from one sort, O(n log n)):

``tnr_at_tpr95``
    TNR at 95% TPR, in-distribution positive (Hendrycks & Gimpel 2017; the CutMix paper's "TNR at TPR 95%").
    The threshold is the **largest distinct score** ``t`` with ``TPR(t) = P(in >= t) >= 0.95``; the result is
    ``TNR(t) = P(out < t)``. When no threshold gives exactly 95% TPR (tie groups or set sizes that are not
    multiples of 20), this picks the threshold with the *smallest TPR that is still >= 95%*, never one below 95%
    and without interpolation; the TPR actually reached is reported as ``tnr_at_tpr95_tpr`` and the threshold as
    ``tnr_at_tpr95_threshold``. The 95% is compared exactly (``TP >= ceil(0.95 * n_in)`` in integers). Published
    codes differ here, which moves numbers on small or heavily tied sets: Hendrycks' ``fpr_and_fdr_at_recall``
    (Outlier Exposure) takes the distinct threshold whose recall is *nearest* to 95% (possibly below it), and
    ODIN's ``calMetric.tpr95`` averages the FPR over a fixed grid of thresholds whose TPR lies in [94.95%, 95.05%].
``auroc``
    Area under the ROC curve, in-distribution positive, tie groups as diagonal segments (equal to scikit-learn's
    ``roc_auc_score(y_in, scores)``): ``P(in > out) + P(in == out) / 2``.
``detection_accuracy``
    ``max_t (TPR(t) + TNR(t)) / 2`` over the distinct scores and ``t = ±inf`` (so never below 50%).
``aupr_in``, ``aupr_out``
    Average precision with in-distribution positive, and with OOD positive on negated scores; step-wise sums
    ``sum_k (R_k - R_{k-1}) P_k`` over the distinct thresholds without interpolation (equal to scikit-learn's
    ``average_precision_score``).
``fpr_at_tpr95_ood_positive``
    FPR at 95% TPR with **OOD as positive** and the scores negated: the pytorch-ood (``fpr_at_tpr``) / OpenOOD
    (``fpr@95``) convention. The threshold is the smallest distinct score ``t`` with ``P(out <= t) >= 0.95``; the
    result is ``P(in <= t)``, the fraction of in-distribution samples flagged as OOD. (OpenOOD reads it off
    scikit-learn's ``roc_curve`` with ``drop_intermediate=True``, which can differ from this when the curve has
    collinear points of equal steps; pytorch-ood's torchmetrics curve keeps every point, as we do; both compare
    the TPR to 0.95 in floating point, we compare counts exactly.) It is not
    ``100 - tnr_at_tpr95``: the positive class and the threshold side differ.
"""
from __future__ import annotations

import math
from fractions import Fraction
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["auroc_bootstrap_interval", "weighted_ood_metrics", "ood_metrics", "tnr_at_tpr", "fpr_at_tpr_ood_positive", "auroc", "detection_accuracy", "aupr_in",
           "aupr_out", "METRIC_NAMES"]

#: Keys of :func:`ood_metrics` that are percentages of a metric, in a stable order (for tables and CLIs).
METRIC_NAMES: tuple[str, ...] = ("tnr_at_tpr95", "auroc", "detection_accuracy", "aupr_in", "aupr_out",
                                 "fpr_at_tpr95_ood_positive")


class _Groups(NamedTuple):
    """The two score sets as tie groups, ascending.

    Attributes:
        values: float64 ``(k,)`` the distinct scores, strictly increasing.
        in_le: int64 ``(k,)`` number of in-distribution scores ``<= values[j]``.
        out_le: int64 ``(k,)`` number of OOD scores ``<= values[j]``.
        in_lt, out_lt: int64 ``(k,)`` the same counts for ``< values[j]`` (``in_le`` shifted right by one, from 0).
        n_in, n_out: sizes of the two sets.
    """

    values: np.ndarray
    in_le: np.ndarray
    out_le: np.ndarray
    in_lt: np.ndarray
    out_lt: np.ndarray
    n_in: int
    n_out: int


def _check_scores(scores: ArrayLike, name: str) -> np.ndarray:
    """``scores`` as a float64 1-D array; raises ``ValueError`` for other shapes, empty arrays and NaN."""
    arr = np.asarray(scores)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise ValueError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise ValueError(f"{name} must be real, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}); both score sets need at least one value")
    nan = np.isnan(arr)
    if nan.any():
        first = int(np.argmax(nan))
        raise ValueError(f"{name} contains NaN ({int(nan.sum())} of {arr.size} values, first at index {first}: "
                         f"{float(arr[first])!r})")
    return arr


def _groups(scores_in: ArrayLike, scores_out: ArrayLike) -> _Groups:
    """Checks the inputs and builds the tie groups with one sort of the concatenated scores."""
    s_in = _check_scores(scores_in, "scores_in")
    s_out = _check_scores(scores_out, "scores_out")
    n_in = s_in.size
    scores = np.concatenate([s_in, s_out])
    order = np.argsort(scores)  # ties need no stable order: they are grouped below
    ranked = scores[order]
    # index of the last element of every tie group
    last = np.flatnonzero(np.concatenate([ranked[1:] != ranked[:-1], np.ones(1, dtype=bool)]))
    in_le = np.cumsum(order < n_in, dtype=np.int64)[last]
    out_le = last.astype(np.int64) + 1 - in_le
    zero = np.zeros(1, dtype=np.int64)
    return _Groups(values=ranked[last], in_le=in_le, out_le=out_le, in_lt=np.concatenate([zero, in_le[:-1]]),
                   out_lt=np.concatenate([zero, out_le[:-1]]), n_in=int(n_in), n_out=int(s_out.size))


def _min_count(level: float, n: int, name: str) -> int:
    """Smallest integer count ``m`` with ``m / n >= level``, with ``level`` read as the decimal it prints as."""
    if not (isinstance(level, (int, float)) and 0.0 < level <= 1.0):
        raise ValueError(f"{name} must be in (0, 1], got {level!r}")
    return math.ceil(Fraction(repr(float(level))) * n)


def _tnr_at_tpr(g: _Groups, level: float) -> tuple[float, float, float]:
    """(TNR %, TPR % reached, threshold) at the largest distinct score whose TPR is at least ``level``."""
    m = _min_count(level, g.n_in, "tpr")
    in_lt = g.in_lt
    # TP(j) = n_in - in_lt[j] is non-increasing in j; the last j with TP(j) >= m (j = 0 always qualifies)
    j = int(np.searchsorted(in_lt, g.n_in - m, side="right")) - 1
    tnr = 100.0 * float(g.out_lt[j]) / g.n_out
    tpr = 100.0 * float(g.n_in - in_lt[j]) / g.n_in
    return tnr, tpr, float(g.values[j])


def _fpr_at_tpr_ood_positive(g: _Groups, level: float) -> float:
    m = _min_count(level, g.n_out, "tpr")
    # OOD-positive TP(j) = out_le[j] is non-decreasing; the first j with out_le[j] >= m (j = k-1 always qualifies)
    j = int(np.searchsorted(g.out_le, m, side="left"))
    return 100.0 * float(g.in_le[j]) / g.n_in


def _auroc(g: _Groups) -> float:
    c_in = np.diff(g.in_le, prepend=0).astype(np.float64)
    c_out = np.diff(g.out_le, prepend=0).astype(np.float64)
    in_gt = (g.n_in - g.in_le).astype(np.float64)
    # each OOD score beats nothing; it loses to the in-distribution scores above it and ties half with its group
    pairs = float(np.dot(c_out, 2.0 * in_gt + c_in))
    return 100.0 * pairs / (2.0 * g.n_in * g.n_out)


def _detection_accuracy(g: _Groups) -> float:
    tpr = (g.n_in - g.in_lt) / g.n_in
    tnr = g.out_lt / g.n_out
    # t = +inf gives (0 + 1) / 2; t = -inf gives (1 + 0) / 2, the same as t = min score
    return 100.0 * max(0.5, float(np.max(0.5 * (tpr + tnr))))


def _aupr_in(g: _Groups) -> float:
    tp = (g.n_in - g.in_lt).astype(np.float64)
    fp = (g.n_out - g.out_lt).astype(np.float64)
    c_in = np.diff(g.in_le, prepend=0).astype(np.float64)  # recall step of each threshold, times n_in
    return 100.0 * float(np.dot(c_in, tp / (tp + fp))) / g.n_in


def _aupr_out(g: _Groups) -> float:
    tp = g.out_le.astype(np.float64)
    fp = g.in_le.astype(np.float64)
    c_out = np.diff(g.out_le, prepend=0).astype(np.float64)
    return 100.0 * float(np.dot(c_out, tp / (tp + fp))) / g.n_out


def ood_metrics(scores_in: ArrayLike, scores_out: ArrayLike) -> dict[str, float]:
    """Every OOD metric of this module from one sort (see the module docstring for the exact definitions).

    Args:
        scores_in: ``(n_in,)`` real scores of in-distribution samples (higher = more in-distribution); any numeric
            dtype, read as float64 (float32 inputs keep their ties and order).
        scores_out: ``(n_out,)`` scores of OOD samples, same convention.

    Returns:
        ``{"tnr_at_tpr95", "auroc", "detection_accuracy", "aupr_in", "aupr_out", "fpr_at_tpr95_ood_positive"}`` in
        % (0-100), plus ``"tnr_at_tpr95_tpr"`` (the TPR in % actually reached at the chosen threshold, >= 95) and
        ``"tnr_at_tpr95_threshold"`` (that threshold, a raw score, not a percentage).

    Raises:
        ValueError: an input is not 1-D, is empty, or contains NaN (the message names it and the value).
    """
    g = _groups(scores_in, scores_out)
    tnr, tpr, threshold = _tnr_at_tpr(g, 0.95)
    return {
        "tnr_at_tpr95": tnr,
        "auroc": _auroc(g),
        "detection_accuracy": _detection_accuracy(g),
        "aupr_in": _aupr_in(g),
        "aupr_out": _aupr_out(g),
        "fpr_at_tpr95_ood_positive": _fpr_at_tpr_ood_positive(g, 0.95),
        "tnr_at_tpr95_tpr": tpr,
        "tnr_at_tpr95_threshold": threshold,
    }


def tnr_at_tpr(scores_in: ArrayLike, scores_out: ArrayLike, *, tpr: float = 0.95) -> float:
    """TNR in % at the largest distinct score whose TPR (in-distribution positive) is at least ``tpr``.

    ``tpr`` is a fraction in (0, 1], compared exactly as the decimal it prints as (0.95 means 19/20). See the
    module docstring for the rule when no threshold reaches the level exactly.
    """
    return _tnr_at_tpr(_groups(scores_in, scores_out), tpr)[0]


def fpr_at_tpr_ood_positive(scores_in: ArrayLike, scores_out: ArrayLike, *, tpr: float = 0.95) -> float:
    """FPR in % at TPR ``tpr`` with OOD as positive on negated scores (pytorch-ood / OpenOOD convention)."""
    return _fpr_at_tpr_ood_positive(_groups(scores_in, scores_out), tpr)


def auroc(scores_in: ArrayLike, scores_out: ArrayLike) -> float:
    """AUROC in %, in-distribution positive, ties counted one half."""
    return _auroc(_groups(scores_in, scores_out))


def detection_accuracy(scores_in: ArrayLike, scores_out: ArrayLike) -> float:
    """``max_t (TPR + TNR) / 2`` in %, over the distinct scores and ``±inf``."""
    return _detection_accuracy(_groups(scores_in, scores_out))


def aupr_in(scores_in: ArrayLike, scores_out: ArrayLike) -> float:
    """Average precision in %, in-distribution positive (step-wise, as scikit-learn)."""
    return _aupr_in(_groups(scores_in, scores_out))


def aupr_out(scores_in: ArrayLike, scores_out: ArrayLike) -> float:
    """Average precision in %, OOD positive on negated scores (step-wise, as scikit-learn)."""
    return _aupr_out(_groups(scores_in, scores_out))


def roc_points(scores_in: ArrayLike, scores_out: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """ROC curve with in-distribution positive: ``(fpr, tpr)`` in [0, 1], one point per tie group plus (0, 0).

    Thresholds run from the highest distinct score down; a score counts as in-distribution when ``>= t``.
    """
    g = _groups(scores_in, scores_out)
    tpr = (g.n_in - g.in_lt)[::-1] / g.n_in
    fpr = (g.n_out - g.out_lt)[::-1] / g.n_out
    return np.concatenate([[0.0], fpr]), np.concatenate([[0.0], tpr])


def auroc_bootstrap_interval(scores_in: ArrayLike, scores_out: ArrayLike, *, generator: np.random.Generator,
                             num_resamples: int = 1000, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of :func:`auroc` (in %) over the images: the in-distribution and the OOD scores
    are resampled with replacement, each set on its own, ``num_resamples`` times.

    It measures how much the AUROC of *this model* moves with the choice of test and OOD images. It does not
    measure how much it moves with the training seed, which on noise sets is far larger; compare models over seeds
    for that.

    Args:
        scores_in, scores_out: 1-D scores (higher = more in-distribution).
        generator: the source of the resampling (drawn apart from its use, as everywhere).
        num_resamples: bootstrap resamples (>= 1).
        level: coverage in (0, 1).

    Returns:
        ``(low, high)``: the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles (numpy's linear interpolation).
    """
    s_in = _check_scores(scores_in, "scores_in")
    s_out = _check_scores(scores_out, "scores_out")
    if not (isinstance(num_resamples, int) and num_resamples >= 1):
        raise ValueError(f"num_resamples must be a positive integer, got {num_resamples!r}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    idx_in = generator.integers(0, len(s_in), size=(num_resamples, len(s_in)))
    idx_out = generator.integers(0, len(s_out), size=(num_resamples, len(s_out)))
    values = np.array([auroc(s_in[a], s_out[b]) for a, b in zip(idx_in, idx_out)])
    low, high = np.quantile(values, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return float(low), float(high)


def weighted_ood_metrics(scores_in: ArrayLike, scores_out: ArrayLike, weights_in: np.ndarray,
                         weights_out: np.ndarray) -> dict[str, np.ndarray]:
    """``tnr_at_tpr95``, ``auroc`` and ``detection_accuracy`` (in %) under per-sample integer weights, one value per
    weight row: for bootstrap resamples (weight ``k``: the sample drawn ``k`` times).

    With integer weights each value equals :func:`ood_metrics` of the correspondingly repeated score arrays (same tie
    groups, same exact 95% rule). One sort serves every row.

    Args:
        scores_in, scores_out: 1-D scores (higher = more in-distribution).
        weights_in: ``(B, len(scores_in))`` non-negative integer-valued weights, each row with a positive sum;
            ``weights_out`` likewise.

    Returns:
        metric -> float64 ``(B,)``.
    """
    s_in = _check_scores(scores_in, "scores_in")
    s_out = _check_scores(scores_out, "scores_out")
    w_in = np.asarray(weights_in, dtype=np.float64)
    w_out = np.asarray(weights_out, dtype=np.float64)
    if w_in.ndim != 2 or w_in.shape[1] != s_in.size or w_out.ndim != 2 or w_out.shape != (w_in.shape[0], s_out.size):
        raise ValueError(f"weights must be (B, {s_in.size}) and (B, {s_out.size}), got {w_in.shape} and {w_out.shape}")
    values, inverse = np.unique(np.concatenate([s_in, s_out]), return_inverse=True)
    k = values.size

    def group_counts(w: np.ndarray, groups: np.ndarray) -> np.ndarray:
        order = np.argsort(groups, kind="stable")
        g = groups[order]
        starts = np.flatnonzero(np.concatenate([[True], g[1:] != g[:-1]]))
        out = np.zeros((w.shape[0], k))
        out[:, g[starts]] = np.add.reduceat(w[:, order], starts, axis=1)
        return out

    c_in = group_counts(w_in, inverse[:s_in.size])
    c_out = group_counts(w_out, inverse[s_in.size:])
    n_in = c_in.sum(axis=1)
    n_out = c_out.sum(axis=1)
    if (n_in <= 0).any() or (n_out <= 0).any():
        raise ValueError("every weight row needs a positive sum on both sides")
    in_le = np.cumsum(c_in, axis=1)
    out_le = np.cumsum(c_out, axis=1)
    in_lt, out_lt = in_le - c_in, out_le - c_out
    auroc_ = 100.0 * (c_out * (2.0 * (n_in[:, None] - in_le) + c_in)).sum(axis=1) / (2.0 * n_in * n_out)
    tpr = (n_in[:, None] - in_lt) / n_in[:, None]
    tnr = out_lt / n_out[:, None]
    det = 100.0 * np.maximum(0.5, (0.5 * (tpr + tnr)).max(axis=1))
    counts = np.rint(n_in).astype(np.int64)
    m = -((-19 * counts) // 20)  # ceil(0.95 n) in integers, as _min_count
    j = (in_lt <= (counts - m)[:, None] + 0.5).sum(axis=1) - 1
    tnr95 = 100.0 * out_lt[np.arange(len(j)), j] / n_out
    return {"tnr_at_tpr95": tnr95, "auroc": auroc_, "detection_accuracy": det}
