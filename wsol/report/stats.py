"""Statistics over seeds and test images for reports: mean ± std, and a paired bootstrap of a difference.

Pure numpy; the metric is a callable, so the same bootstrap serves box, mask, FGSM and OOD numbers.

**The paired bootstrap** (:func:`paired_bootstrap`) asks how far the difference between two methods' mean metric could
move if the experiment were run again with other training seeds and other test images of the same distribution. One
resample:

1. for each of the S seed slots, draw a seed with replacement (the same draw for both methods when both have S
   seeds: seed ``s`` of one method is paired with seed ``s`` of the other, as they share the data order and
   initialisation seed), and
2. draw the test images with replacement, N of N, independently per slot; *both methods get the same images* (the
   pairing that removes the image-difficulty variance both share);
3. compute each method's metric on its drawn seed and images, average over the slots, take the difference.

The interval is the 2.5th and 97.5th percentiles (numpy's linear interpolation) of the resampled differences; a
difference is *resolved* when the interval excludes 0. Resampled images enter a metric as integer weights (how often
each image was drawn), which is how the metric callables take them; :func:`draw_indices` and
:func:`counts_from_indices` are that step, shared with the slow reference in the tests.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

#: A metric under resampling: (one run's data, group -> (B, N_group) float64 image weights) -> (B,) values, or a
#: dict of such arrays (several metrics from one pass; then every result is a dict too).
Statistic = Callable[[Any, Mapping[str, np.ndarray]], "np.ndarray | Mapping[str, np.ndarray]"]


def mean_std(values: Sequence[float]) -> tuple[float, float, int]:
    """``(mean, sample standard deviation (ddof 1; NaN for one value), n)`` of finite values.

    Raises:
        ValueError: no value.
    """
    arr = np.asarray([v for v in values if v is not None], dtype=np.float64)
    if arr.size == 0:
        raise ValueError("no value")
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else math.nan, int(arr.size)


def draw_indices(rng: np.random.Generator, n: int, resamples: int) -> np.ndarray:
    """(B, n) int64 image indices drawn with replacement (one bootstrap sample of ``n`` images per row)."""
    return rng.integers(0, n, size=(resamples, n))


def counts_from_indices(indices: np.ndarray, n: int) -> np.ndarray:
    """(B, n) float64: how often each image occurs in each row of ``indices``."""
    b = indices.shape[0]
    flat = (indices + n * np.arange(b)[:, None]).ravel()
    return np.bincount(flat, minlength=b * n).reshape(b, n).astype(np.float64)


@dataclass(frozen=True)
class BootstrapResult:
    """A difference ``a - b`` of mean metrics with its paired-bootstrap interval.

    Attributes:
        difference: the observed difference of the means over seeds.
        low, high: the interval's bounds.
        level: its coverage (0.95).
        resamples: number of bootstrap resamples.
        paired_seeds: whether seeds were paired (both methods have the same number of seeds).
    """

    difference: float
    low: float
    high: float
    level: float
    resamples: int
    paired_seeds: bool

    @property
    def resolved(self) -> bool:
        """The interval excludes 0."""
        return self.low > 0 or self.high < 0

    def to_dict(self) -> dict[str, Any]:
        return {"difference": self.difference, "ci_low": self.low, "ci_high": self.high, "level": self.level,
                "resamples": self.resamples, "paired_seeds": self.paired_seeds, "resolved": self.resolved}


def paired_bootstrap(statistic: Statistic, runs_a: Sequence[Any], runs_b: Sequence[Any], *,
                     group_sizes: Mapping[str, int], generator: np.random.Generator, resamples: int = 1000,
                     level: float = 0.95) -> "BootstrapResult | dict[str, BootstrapResult]":
    """Paired two-level bootstrap interval of ``mean_s statistic(a_s) - mean_s statistic(b_s)`` (module docstring).

    Args:
        statistic: the metric of one run under image weights (see :data:`Statistic`); with weights of all ones it
            must give the plain metric.
        runs_a, runs_b: one data object per seed of each method (same test images, in the same order).
        group_sizes: image group -> size (e.g. ``{"test": 1000, "ood/gaussian": 1000}``); each group is
            resampled on its own, with the same draw for both methods.
        generator: the source of every draw.
        resamples: B.
        level: coverage of the interval.

    Returns:
        :class:`BootstrapResult` (a dict of them, by name, for a statistic that returns a dict).

    Raises:
        ValueError: no run on a side, a bad level or resample count.
    """
    if not runs_a or not runs_b:
        raise ValueError("both methods need at least one run")
    if not 0 < level < 1 or resamples < 1:
        raise ValueError(f"level must be in (0, 1) and resamples >= 1; got {level!r}, {resamples!r}")
    single = False

    def evaluate(run: Any, weights: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        nonlocal single
        values = statistic(run, weights)
        if isinstance(values, Mapping):
            return {k: np.asarray(v, dtype=np.float64) for k, v in values.items()}
        single = True
        return {"": np.asarray(values, dtype=np.float64)}

    ones = {g: np.ones((1, n), dtype=np.float64) for g, n in group_sizes.items()}
    plain_a = [evaluate(r, ones) for r in runs_a]
    plain_b = [evaluate(r, ones) for r in runs_b]
    names = list(plain_a[0])
    observed = {k: float(np.mean([p[k][0] for p in plain_a]) - np.mean([p[k][0] for p in plain_b])) for k in names}
    sa, sb = len(runs_a), len(runs_b)
    paired = sa == sb
    total_a = {k: np.zeros(resamples) for k in names}
    total_b = {k: np.zeros(resamples) for k in names}
    cols = np.arange(resamples)
    for slot in range(max(sa, sb)):
        weights = {g: counts_from_indices(draw_indices(generator, n, resamples), n) for g, n in group_sizes.items()}
        pick_a = generator.integers(0, sa, size=resamples)
        pick_b = pick_a if paired else generator.integers(0, sb, size=resamples)
        for runs, picks, total, count in ((runs_a, pick_a, total_a, sa), (runs_b, pick_b, total_b, sb)):
            if slot < count:
                values = [evaluate(r, weights) for r in runs]
                for k in names:
                    total[k] += np.stack([v[k] for v in values])[picks, cols]
    alpha = (1 - level) / 2
    results = {}
    for k in names:
        diffs = total_a[k] / sa - total_b[k] / sb
        low, high = np.percentile(diffs, [100 * alpha, 100 * (1 - alpha)])
        results[k] = BootstrapResult(difference=observed[k], low=float(low), high=float(high), level=level,
                                     resamples=resamples, paired_seeds=paired)
    return results[""] if single else results


__all__ = ["Statistic", "mean_std", "draw_indices", "counts_from_indices", "BootstrapResult", "paired_bootstrap"]
