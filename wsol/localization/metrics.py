"""Localization metrics as accumulators: MaxBoxAcc (v1, V2), Top-k Loc, GT-known Loc, PxAP.

Accumulators keep integer counts only (memory O(#thresholds), never O(#images)), so ``merge`` of shards gives
exactly the whole-run result and the order of images does not matter. They never print or read files.

Top-k Loc convention: the box of an image comes from the score map that was passed to ``update``; for Top-1 /
Top-5 Loc that must be the map of the image's *ground-truth* class (the "GT-known" map), as in wsolevaluation's
released score maps. An image is Top-1 correct when its largest-contour (v1) box has IoU >= ``loc_iou`` with a GT
box and the top-1 predicted class equals the label; Top-5 correct when the box is correct and the label is among
the (up to) five predicted classes. Both are reported at the protocol's fixed tau and at the tau that maximises
them; GT-known Loc is the box criterion alone at the fixed tau.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from wsol.errors import InputError
from wsol.localization.protocol import (
    DEFAULT_INTERVAL, Protocol, check_interval, check_iou_thresholds, get_protocol, resize_boxes, threshold_grid,
)
from wsol.localization.threshold import check_score_map, correct_at, resolve_backend, score_boxes

#: IoU thresholds of MaxBoxAccV2 (Choe et al., CVPR 2020).
V2_IOUS: tuple[int, ...] = (30, 50, 70)


def _pct(count: np.ndarray | int, total: int) -> np.ndarray | float:
    """``count * 100. / float(total)`` exactly as wsolevaluation computes accuracies (float64)."""
    return np.asarray(count, dtype=np.float64) * 100. / float(total)


@dataclass
class ImageResult:
    """Per-image outcome (returned by :meth:`BoxAccumulator.update`); taus are the accumulator's grid.

    Attributes:
        gt_boxes: (G, 4) int64 GT boxes rescaled to the score map.
        v1_box: (T, 4) int64 largest-contour box per tau; ``v1_iou`` its best IoU.
        all_box: (T, 4) int64 best all-contour box per tau; ``all_iou`` its IoU.
        fixed_box: (4,) int64 largest-contour box at the fixed tau (GT-known Loc's); ``fixed_iou`` its best IoU.
    """

    gt_boxes: np.ndarray
    v1_box: np.ndarray
    v1_iou: np.ndarray
    all_box: np.ndarray
    all_iou: np.ndarray
    fixed_box: np.ndarray | None = None
    fixed_iou: float | None = None

    def to_dict(self) -> dict:
        out = {"gt_boxes": self.gt_boxes.tolist(), "v1_box": self.v1_box.tolist(), "v1_iou": self.v1_iou.tolist(),
               "all_box": self.all_box.tolist(), "all_iou": self.all_iou.tolist()}
        if self.fixed_box is not None:
            out.update(fixed_box=self.fixed_box.tolist(), fixed_iou=self.fixed_iou)
        return out


class BoxAccumulator:
    """Box metrics over a stream of score maps.

    Args:
        protocol: protocol name or object (default ``"wsolevaluation"``).
        interval: tau-grid interval (default: the protocol's).
        iou_thresholds: IoU thresholds in percent (default: the protocol's), integers in 1..100.
        fixed_threshold: tau for GT-known Loc and fixed-tau Top-k Loc (default: the protocol's).
        backend: ``"auto"``, ``"numba"`` or ``"opencv"``; results are identical.
    """

    def __init__(self, *, protocol: str | Protocol = "wsolevaluation", interval: float | None = None,
                 iou_thresholds: Sequence[int] | None = None, fixed_threshold: float | None = None,
                 backend: str = "auto") -> None:
        self.protocol = get_protocol(protocol)
        self.interval = check_interval(self.protocol.interval if interval is None else interval)
        self.iou_thresholds = check_iou_thresholds(
            self.protocol.iou_thresholds if iou_thresholds is None else iou_thresholds)
        self.fixed_threshold = float(self.protocol.fixed_threshold if fixed_threshold is None else fixed_threshold)
        if not 0.0 <= self.fixed_threshold < 1.0:
            raise ValueError(f"fixed_threshold must lie in [0, 1) ({fixed_threshold!r})")
        self.backend = resolve_backend(backend)
        self.taus = threshold_grid(self.interval)
        self._eval_taus = np.append(self.taus, self.fixed_threshold)
        # every IoU threshold any output needs, sorted
        self._ious = tuple(sorted(set(self.iou_thresholds) | set(V2_IOUS) | {50, self.protocol.loc_iou}))
        nd, nt = len(self._ious), len(self.taus)
        self.num_images = 0
        self.correct_all = np.zeros((nd, nt), dtype=np.int64)
        self.correct_v1 = np.zeros((nd, nt), dtype=np.int64)
        self.gt_known_fixed = 0
        self.num_predictions = 0
        self.top1_cls = 0
        self.top5_cls = 0
        self.top1_loc = np.zeros(nt + 1, dtype=np.int64)  # last entry: the fixed tau
        self.top5_loc = np.zeros(nt + 1, dtype=np.int64)

    # -- state ----------------------------------------------------------------------------------------------------
    def _config(self) -> tuple:
        return (self.protocol, self.interval, self.iou_thresholds, self.fixed_threshold)

    def update(self, score_map: np.ndarray, gt_boxes: Sequence[Sequence[int]], image_size: tuple[int, int], *,
               label: int | None = None, top5: Sequence[int] | None = None, path: str | None = None,
               ) -> ImageResult:
        """Add one image.

        Args:
            score_map: (H, W) scores in [0, 1]; for Top-k Loc, the map of the ground-truth class.
            gt_boxes: GT boxes ``xyxy`` in original-image pixels (at least one).
            image_size: ``(width, height)`` of the original image.
            label: ground-truth class (needed with ``top5``).
            top5: predicted classes, best first (1 to 5 of them); enables Top-k Loc and classification accuracy.
            path: where the map came from, for error messages.

        Returns:
            the per-image :class:`ImageResult`.
        """
        s = check_score_map(score_map, path=path)
        height, width = s.shape
        if len(gt_boxes) == 0:
            raise InputError("image has no GT box", path=path)
        gt = resize_boxes(gt_boxes, image_size, (width, height))
        res = score_boxes(s, gt, self._eval_taus, backend=self.backend)
        ious = self._ious
        nt = len(self.taus)
        v1_ok = correct_at(res.v1_iou, ious)
        self.correct_v1 += v1_ok[:, :nt]
        self.correct_all += correct_at(res.all_iou[:nt], ious)
        loc_ok = v1_ok[ious.index(self.protocol.loc_iou)]
        self.gt_known_fixed += int(loc_ok[nt])
        if top5 is not None:
            if label is None:
                raise ValueError("top5 predictions need the label")
            preds = [int(c) for c in top5]
            if not 1 <= len(preds) <= 5:
                raise InputError("expected 1 to 5 predicted classes", path=path, value=preds)
            top1_hit = preds[0] == int(label)
            top5_hit = int(label) in preds
            self.num_predictions += 1
            self.top1_cls += int(top1_hit)
            self.top5_cls += int(top5_hit)
            if top1_hit:
                self.top1_loc += loc_ok
            if top5_hit:
                self.top5_loc += loc_ok
        self.num_images += 1
        return ImageResult(gt_boxes=gt, v1_box=res.v1_box[:nt], v1_iou=res.v1_iou[:nt], all_box=res.all_box[:nt],
                           all_iou=res.all_iou[:nt], fixed_box=res.v1_box[nt], fixed_iou=float(res.v1_iou[nt]))

    def merge(self, other: "BoxAccumulator") -> "BoxAccumulator":
        """Add the counts of ``other`` (same configuration) into this accumulator; returns ``self``."""
        if not isinstance(other, BoxAccumulator):
            raise ValueError(f"cannot merge a {type(other).__name__} into a BoxAccumulator")
        if other._config() != self._config():
            raise ValueError(f"cannot merge accumulators with different settings ({other._config()!r} vs "
                             f"{self._config()!r})")
        self.num_images += other.num_images
        self.correct_all += other.correct_all
        self.correct_v1 += other.correct_v1
        self.gt_known_fixed += other.gt_known_fixed
        self.num_predictions += other.num_predictions
        self.top1_cls += other.top1_cls
        self.top5_cls += other.top5_cls
        self.top1_loc += other.top1_loc
        self.top5_loc += other.top5_loc
        return self

    _COUNTS = ("correct_all", "correct_v1", "top1_loc", "top5_loc")
    _SCALARS = ("num_images", "gt_known_fixed", "num_predictions", "top1_cls", "top5_cls")

    def state_dict(self) -> dict:
        """JSON-ready settings and counts; :meth:`from_state_dict` rebuilds an equal accumulator (for shards)."""
        out: dict = {"kind": "boxes", "protocol": self.protocol.name, "interval": self.interval,
                     "iou_thresholds": list(self.iou_thresholds), "fixed_threshold": self.fixed_threshold}
        out.update({k: int(getattr(self, k)) for k in self._SCALARS})
        out.update({k: getattr(self, k).tolist() for k in self._COUNTS})
        return out

    @classmethod
    def from_state_dict(cls, state: dict, *, backend: str = "auto") -> "BoxAccumulator":
        """Inverse of :meth:`state_dict`; shapes are checked (``ValueError`` on a mismatch)."""
        acc = cls(protocol=state["protocol"], interval=state["interval"], iou_thresholds=state["iou_thresholds"],
                  fixed_threshold=state["fixed_threshold"], backend=backend)
        for k in cls._SCALARS:
            setattr(acc, k, int(state[k]))
        for k in cls._COUNTS:
            arr = np.asarray(state[k], dtype=np.int64)
            if arr.shape != getattr(acc, k).shape:
                raise ValueError(f"{k} has shape {arr.shape}, expected {getattr(acc, k).shape}")
            setattr(acc, k, arr)
        return acc

    # -- results --------------------------------------------------------------------------------------------------
    @property
    def count_ious(self) -> tuple[int, ...]:
        """Every IoU threshold the counts are kept at (the requested ones, 30/50/70, 50 and the protocol's loc IoU),
        ascending: the first axis of the count arrays."""
        return self._ious

    @property
    def reported_ious(self) -> tuple[int, ...]:
        """The IoU thresholds of the per-IoU outputs: the requested ones and MaxBoxAccV2's 30/50/70, so that every
        headline number can be traced to its curves whatever the protocol asks for."""
        return tuple(sorted(set(self.iou_thresholds) | set(V2_IOUS)))

    def box_acc(self, iou: int, *, all_contours: bool = True) -> np.ndarray:
        """(T,) float64 BoxAcc in percent over the tau grid at IoU threshold ``iou``."""
        if self.num_images == 0:
            raise ValueError("no image was accumulated")
        counts = self.correct_all if all_contours else self.correct_v1
        return _pct(counts[self._ious.index(iou)], self.num_images)

    def compute(self) -> dict:
        """All metrics as a JSON-ready dict (percentages as floats; see the module docstring for conventions).

        Keys: ``num_images``, ``protocol``, ``interval``, ``iou_thresholds``, ``fixed_threshold``,
        ``thresholds``, ``maxboxacc`` (v1: largest contour, IoU 50), ``maxboxacc_v2`` (mean over 30/50/70, all
        contours), ``maxboxacc_by_iou`` / ``best_threshold_by_iou`` / ``box_acc_curve`` (all contours, per
        IoU of :attr:`reported_ious` as a string key; ``v2_ious`` names the three MaxBoxAccV2 averages), the same
        with ``_v1`` for the largest contour, ``gt_known_loc`` (fixed tau), and with predictions ``top1_cls``,
        ``top5_cls``, ``top1_loc``, ``top5_loc`` (fixed tau), ``top1_loc_best``, ``top5_loc_best`` and their
        ``*_threshold``. The best tau is the first one reaching the maximum.
        """
        if self.num_images == 0:
            raise ValueError("no image was accumulated")
        taus = self.taus
        out: dict = {
            "num_images": self.num_images,
            "protocol": self.protocol.name,
            "interval": self.interval,
            "iou_thresholds": list(self.iou_thresholds),
            "fixed_threshold": self.fixed_threshold,
            "loc_iou": self.protocol.loc_iou,
            "thresholds": taus.tolist(),
        }
        curves = {d: self.box_acc(d) for d in self._ious}
        curves_v1 = {d: self.box_acc(d, all_contours=False) for d in self._ious}
        out["maxboxacc"] = float(curves_v1[50].max())
        out["best_threshold"] = float(taus[int(np.argmax(curves_v1[50]))])
        out["maxboxacc_v2"] = float(np.mean([curves[d].max() for d in V2_IOUS]))
        shown = self.reported_ious
        out["v2_ious"] = list(V2_IOUS)
        out["maxboxacc_by_iou"] = {str(d): float(curves[d].max()) for d in shown}
        out["best_threshold_by_iou"] = {str(d): float(taus[int(np.argmax(curves[d]))]) for d in shown}
        out["maxboxacc_v1_by_iou"] = {str(d): float(curves_v1[d].max()) for d in shown}
        out["best_threshold_v1_by_iou"] = {str(d): float(taus[int(np.argmax(curves_v1[d]))]) for d in shown}
        out["box_acc_curve"] = {str(d): curves[d].tolist() for d in shown}
        out["box_acc_curve_v1"] = {str(d): curves_v1[d].tolist() for d in shown}
        out["gt_known_loc"] = float(_pct(self.gt_known_fixed, self.num_images))
        if self.num_predictions:
            if self.num_predictions != self.num_images:
                raise ValueError(f"predictions were given for {self.num_predictions} of {self.num_images} images")
            n = self.num_predictions
            top1 = _pct(self.top1_loc, n)
            top5 = _pct(self.top5_loc, n)
            out["top1_cls"] = float(_pct(self.top1_cls, n))
            out["top5_cls"] = float(_pct(self.top5_cls, n))
            out["top1_loc"] = float(top1[-1])
            out["top5_loc"] = float(top5[-1])
            i1, i5 = int(np.argmax(top1[:-1])), int(np.argmax(top5[:-1]))
            out["top1_loc_best"] = float(top1[i1])
            out["top1_loc_best_threshold"] = float(taus[i1])
            out["top5_loc_best"] = float(top5[i5])
            out["top5_loc_best_threshold"] = float(taus[i5])
            out["top1_loc_curve"] = top1[:-1].tolist()
            out["top5_loc_curve"] = top5[:-1].tolist()
        return out


def calibrate(calibration: BoxAccumulator, test: BoxAccumulator) -> dict:
    """Choose tau* on one split (e.g. ``train_fullsup``) and report the other split at tau*.

    For each IoU threshold (all contours) and for v1 (IoU 50), tau* is the first tau maximising BoxAcc on
    ``calibration``; the result is ``test``'s BoxAcc at that tau (no maximum over the test split).

    Returns:
        ``threshold_by_iou``, ``box_acc_by_iou`` (:attr:`BoxAccumulator.reported_ious`), ``box_acc_v2`` (mean over
        30/50/70), ``threshold_v1``, ``box_acc_v1`` (largest region, IoU 50 at tau*), ``gt_known_loc`` (the same
        number under its usual name: GT-known Loc at the calibrated tau), and with predictions ``top1_loc`` /
        ``top5_loc`` at that tau, to set beside the fixed-tau numbers of ``compute()``.
    """
    if calibration._config() != test._config():
        raise ValueError("calibration and test accumulators have different settings")
    taus = test.taus
    out: dict = {"threshold_by_iou": {}, "box_acc_by_iou": {}}
    chosen: dict[int, float] = {}
    for d in test.reported_ious:
        i = int(np.argmax(calibration.box_acc(d)))
        chosen[d] = float(test.box_acc(d)[i])
        out["threshold_by_iou"][str(d)] = float(taus[i])
        out["box_acc_by_iou"][str(d)] = chosen[d]
    out["box_acc_v2"] = float(np.mean([chosen[d] for d in V2_IOUS]))
    i = int(np.argmax(calibration.box_acc(50, all_contours=False)))
    out["threshold_v1"] = float(taus[i])
    out["box_acc_v1"] = float(test.box_acc(50, all_contours=False)[i])
    out["gt_known_loc"] = out["box_acc_v1"]
    if test.num_predictions:
        out["top1_loc"] = float(_pct(test.top1_loc[i], test.num_predictions))
        out["top5_loc"] = float(_pct(test.top5_loc[i], test.num_predictions))
    return out


def localization_results(test: "Accumulator", calibration: "Accumulator | None" = None) -> dict:
    """``test.compute()``, plus ``calibrated`` (:func:`calibrate`) when a calibration accumulator is given.

    Raises:
        ValueError: calibration with a mask accumulator on either side (it applies to box splits only).
    """
    results = test.compute()
    if calibration is not None:
        if not isinstance(test, BoxAccumulator) or not isinstance(calibration, BoxAccumulator):
            raise ValueError("calibration applies to box splits only")
        results["calibrated"] = calibrate(calibration, test)
    return results


# --- PxAP ------------------------------------------------------------------------------------------------------------

def pxap_bin_edges(interval: float) -> np.ndarray:
    """wsolevaluation's PxAP bin edges: the tau grid followed by 1.0, 2.0, 3.0 (T + 3 edges, T + 2 bins)."""
    return np.append(threshold_grid(interval), [1.0, 2.0, 3.0])


def score_histogram(scores: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``np.histogram(scores, bins=edges)[0]`` as int64, computed with one ``searchsorted`` (same bins).

    Bin ``i`` holds ``edges[i] <= s < edges[i + 1]`` (the last bin also its right edge); scores lie in [0, 1].
    """
    idx = np.searchsorted(edges, np.asarray(scores, dtype=np.float64).ravel(), side="right") - 1
    idx = np.minimum(idx, len(edges) - 2)
    return np.bincount(idx, minlength=len(edges) - 1).astype(np.int64)


def pxap_from_histograms(pos_hist: np.ndarray, neg_hist: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """PxAP (percent) and the precision / recall curves from positive / negative score histograms.

    Follows ``MaskEvaluator.compute``: cumulative counts from the highest bin down, precision ``tp / (tp + fp)``,
    recall ``tp / (tp + fn)``, ``AP = sum(precision[1:] * diff(recall))`` over points with ``tp + fp > 0``, x 100.

    Returns:
        ``(pxap, precision, recall)``; the curves run from the highest threshold down (NaN precision where
        nothing is predicted positive).
    """
    tp = pos_hist[::-1].cumsum()
    fn = int(pos_hist.sum()) - tp
    fp = neg_hist[::-1].cumsum()
    if ((tp + fn) <= 0).all():
        raise ValueError("no positive ground-truth pixel in the evaluated set")
    if ((tp + fp) <= 0).all():
        raise ValueError("no positive prediction in the evaluated set")
    non_zero = (tp + fp) != 0
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = tp / (tp + fp)
        recall = tp / (tp + fn)
    auc = (precision[1:] * np.diff(recall))[non_zero[1:]].sum()
    auc *= 100
    return float(auc), precision, recall


class MaskAccumulator:
    """Pixel-level AP (PxAP) over a stream of score maps with GT masks; keeps two histograms of counts.

    Args:
        interval: tau-grid interval (bins as wsolevaluation's ``MaskEvaluator``; default 0.001, the published one).
    """

    def __init__(self, *, interval: float = DEFAULT_INTERVAL) -> None:
        self.interval = check_interval(interval)
        self.edges = pxap_bin_edges(self.interval)
        self.num_images = 0
        self.pos_hist = np.zeros(len(self.edges) - 1, dtype=np.int64)
        self.neg_hist = np.zeros(len(self.edges) - 1, dtype=np.int64)

    def update(self, score_map: np.ndarray, mask: np.ndarray, ignore: np.ndarray | None = None, *,
               path: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Add one image.

        Args:
            score_map: (H, W) scores in [0, 1].
            mask: (H, W) bool foreground (any instance).
            ignore: (H, W) bool region to leave out (pixels that are also foreground stay foreground).
            path: where the map came from, for error messages.

        Returns:
            this image's int64 positive and negative score histograms (PxAP of a set of images is
            :func:`pxap_from_histograms` of their sums).
        """
        s = check_score_map(score_map, path=path)
        fg = np.asarray(mask, dtype=bool)
        if fg.shape != s.shape:
            raise InputError("mask size differs from the score map", path=path,
                             value=f"{fg.shape[::-1]} vs {s.shape[::-1]}")
        neg = ~fg
        if ignore is not None:
            ig = np.asarray(ignore, dtype=bool)
            if ig.shape != s.shape:
                raise InputError("ignore mask size differs from the score map", path=path,
                                 value=f"{ig.shape[::-1]} vs {s.shape[::-1]}")
            neg &= ~ig
        pos, negs = score_histogram(s[fg], self.edges), score_histogram(s[neg], self.edges)
        self.pos_hist += pos
        self.neg_hist += negs
        self.num_images += 1
        return pos, negs

    def merge(self, other: "MaskAccumulator") -> "MaskAccumulator":
        """Add the histograms of ``other`` (same interval); returns ``self``."""
        if not isinstance(other, MaskAccumulator):
            raise ValueError(f"cannot merge a {type(other).__name__} into a MaskAccumulator")
        if other.interval != self.interval:
            raise ValueError(f"cannot merge mask accumulators with intervals {other.interval} and {self.interval}")
        self.num_images += other.num_images
        self.pos_hist += other.pos_hist
        self.neg_hist += other.neg_hist
        return self

    def state_dict(self) -> dict:
        """JSON-ready interval and histograms; :meth:`from_state_dict` rebuilds an equal accumulator."""
        return {"kind": "masks", "interval": self.interval, "num_images": self.num_images,
                "pos_hist": self.pos_hist.tolist(), "neg_hist": self.neg_hist.tolist()}

    @classmethod
    def from_state_dict(cls, state: dict) -> "MaskAccumulator":
        """Inverse of :meth:`state_dict`."""
        acc = cls(interval=state["interval"])
        acc.num_images = int(state["num_images"])
        for k in ("pos_hist", "neg_hist"):
            arr = np.asarray(state[k], dtype=np.int64)
            if arr.shape != getattr(acc, k).shape:
                raise ValueError(f"{k} has shape {arr.shape}, expected {getattr(acc, k).shape}")
            setattr(acc, k, arr)
        return acc

    def compute(self) -> dict:
        """``pxap`` (percent), ``precision`` / ``recall`` curves (highest threshold first), counts."""
        if self.num_images == 0:
            raise ValueError("no image was accumulated")
        auc, precision, recall = pxap_from_histograms(self.pos_hist, self.neg_hist)
        return {
            "num_images": self.num_images,
            "interval": self.interval,
            "pxap": auc,
            "pr_curve": {"precision": [None if np.isnan(p) else float(p) for p in precision],
                         "recall": recall.tolist()},
            "num_positive_pixels": int(self.pos_hist.sum()),
            "num_negative_pixels": int(self.neg_hist.sum()),
        }


#: Either accumulator.
Accumulator = BoxAccumulator | MaskAccumulator


def make_accumulator(kind: str, *, protocol: str | Protocol = "wsolevaluation", interval: float | None = None,
                     iou_thresholds: Sequence[int] | None = None, fixed_threshold: float | None = None,
                     backend: str = "auto") -> Accumulator:
    """A fresh accumulator for a ``"boxes"`` or ``"masks"`` split; the mask interval defaults to the protocol's.

    Raises:
        ValueError: unknown kind or invalid settings.
    """
    if kind == "boxes":
        return BoxAccumulator(protocol=protocol, interval=interval, iou_thresholds=iou_thresholds,
                              fixed_threshold=fixed_threshold, backend=backend)
    if kind == "masks":
        return MaskAccumulator(interval=get_protocol(protocol).interval if interval is None else interval)
    raise ValueError(f"accumulator kind must be 'boxes' or 'masks'; got {kind!r}")


def accumulator_from_state(state: dict) -> Accumulator:
    """Rebuild a box or mask accumulator from its ``state_dict()`` (by its ``kind``).

    Raises:
        ValueError: not an accumulator state, or counts whose shapes do not fit the settings.
    """
    kind = state.get("kind") if isinstance(state, dict) else None
    if kind == "boxes":
        return BoxAccumulator.from_state_dict(state)
    if kind == "masks":
        return MaskAccumulator.from_state_dict(state)
    raise ValueError(f"not an accumulator state (kind {kind!r})")


def merge_states(states: Sequence[dict]) -> Accumulator:
    """One accumulator holding the counts of every state (shards, ranks); equal to a single whole run.

    Raises:
        ValueError: no state, or states with different settings.
    """
    if not states:
        raise ValueError("no accumulator state to merge")
    total = accumulator_from_state(states[0])
    for state in states[1:]:
        total.merge(accumulator_from_state(state))
    return total


__all__ = ["V2_IOUS", "Accumulator", "make_accumulator", "accumulator_from_state", "merge_states",
           "localization_results", "ImageResult", "BoxAccumulator", "calibrate", "pxap_bin_edges", "score_histogram",
           "pxap_from_histograms", "MaskAccumulator"]
