"""OOD metrics speed and agreement with scikit-learn (prints one JSON object; not a test).

:func:`wsol.ood.metrics.ood_metrics` on ``--n`` in-distribution scores ``N(1, 1)`` and ``--n`` OOD scores
``N(0, 1)`` (fixed seed; ``--decimals`` rounds them to make tie groups) against the same six numbers from
scikit-learn in the same run: ``roc_auc_score``, ``average_precision_score`` twice (in positive; OOD positive on
negated scores) and ``roc_curve(drop_intermediate=False)`` twice, read off with the rules of
:mod:`wsol.ood.metrics` (TNR at the first threshold whose TPR >= 95%, detection accuracy over every point; FPR at
95% TPR with OOD positive). Reports the medians, the speed-up ``sklearn_ms / ours_ms`` and the largest absolute
difference (in %) between the two sets of numbers.

Median of ``--reps`` timed calls after one warm-up. Run: ``python benchmarks/bench_ood.py``.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys

import numpy as np
import sklearn
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from wsol.ood.metrics import METRIC_NAMES, ood_metrics

from common import median_ms  # noqa: E402  (benchmarks/ is on sys.path when run as a script)


def sklearn_ood_metrics(s_in: np.ndarray, s_out: np.ndarray) -> dict[str, float]:
    """The six metrics of :func:`ood_metrics` from scikit-learn's functions, in %."""
    y = np.concatenate([np.ones(s_in.size, dtype=np.int8), np.zeros(s_out.size, dtype=np.int8)])
    s = np.concatenate([s_in, s_out])
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)  # starts at the threshold +inf
    n_in = s_in.size
    i = int(np.argmax(np.rint(tpr * n_in) * 100 >= 95 * n_in))  # exact integer test of TPR >= 95%
    fpr_o, tpr_o, _ = roc_curve(1 - y, -s, drop_intermediate=False)
    n_out = s_out.size
    j = int(np.argmax(np.rint(tpr_o * n_out) * 100 >= 95 * n_out))
    return {
        "tnr_at_tpr95": 100 * (1 - float(fpr[i])),
        "auroc": 100 * float(roc_auc_score(y, s)),
        "detection_accuracy": 100 * float(np.max(0.5 * (tpr + 1 - fpr))),
        "aupr_in": 100 * float(average_precision_score(y, s)),
        "aupr_out": 100 * float(average_precision_score(1 - y, -s)),
        "fpr_at_tpr95_ood_positive": 100 * float(fpr_o[j]),
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10**6, help="scores per set")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--decimals", type=int, default=None, help="round the scores (tie groups)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    s_in, s_out = rng.normal(1.0, 1.0, args.n), rng.normal(0.0, 1.0, args.n)
    if args.decimals is not None:
        s_in, s_out = np.round(s_in, args.decimals), np.round(s_out, args.decimals)

    ours = ood_metrics(s_in, s_out)
    theirs = sklearn_ood_metrics(s_in, s_out)
    ours_ms = median_ms(lambda: ood_metrics(s_in, s_out), args.reps)
    sklearn_ms = median_ms(lambda: sklearn_ood_metrics(s_in, s_out), args.reps)
    diff = {k: abs(ours[k] - theirs[k]) for k in METRIC_NAMES}
    result = {
        "python": platform.python_version(), "numpy": np.__version__, "scikit_learn": sklearn.__version__,
        "machine": platform.machine(), "n_in": args.n, "n_out": args.n, "seed": args.seed,
        "decimals": args.decimals, "distinct_scores": int(np.unique(np.concatenate([s_in, s_out])).size),
        "reps": args.reps,
        "ours_ms": round(ours_ms, 1), "sklearn_ms": round(sklearn_ms, 1),
        "speedup_sklearn_over_ours": round(sklearn_ms / ours_ms, 2),
        "ours_metrics": {k: ours[k] for k in METRIC_NAMES}, "sklearn_metrics": theirs,
        "max_abs_diff_percent": max(diff.values()), "agree_1e-9": all(d <= 1e-9 for d in diff.values()),
    }
    json.dump(result, sys.stdout, indent=2)
    print()
    return result


if __name__ == "__main__":
    main()
