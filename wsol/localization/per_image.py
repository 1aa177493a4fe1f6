"""Per-image localization outcomes: what ``wsol evaluate --per-image FILE`` writes, and the metrics recomputed from it.

The accumulators keep counts only; paired statistics between two checkpoints (bootstrap intervals over test images,
``wsol paper compare``) need to know *which* images each model gets right. A :class:`PerImageRecorder` sits beside an
accumulator and keeps, per image, exactly what the accumulator counted, so that every headline number can be
recomputed from the file to the last bit (:func:`box_metrics`, :func:`mask_metrics`), also under resampling weights.

File format (``.npz``, numpy's zip of arrays; read it with :func:`read_per_image` or ``numpy.load``), in the split's
``image_ids.txt`` order:

box splits (``kind = "boxes"``)
    ``image_ids`` (N,) str; ``labels`` (N,) int64; ``top5`` (N, K) int64 predicted classes, best first (K =
    min(5, classes); absent without predictions); ``thresholds`` (T,) the tau grid; ``ious`` (D,) int64 the IoU
    thresholds in percent; ``hits_v1`` / ``hits_all`` (N, D, T) bool: the largest-contour box / the best box over
    all contours reaches IoU >= ious[d] / 100 at tau t (MaxBoxAcc and MaxBoxAccV2 count these); ``fixed_threshold``
    and ``fixed_iou`` (N,) float64, the largest-contour box's best IoU at the protocol's fixed tau (GT-known Loc);
    ``box_threshold`` and ``box`` (N, 4) int64 ``xyxy`` in the score-map frame with its best IoU ``box_iou`` (N,):
    the predicted box at tau* when the evaluation was calibrated, else at the fixed tau; ``calibrated_index`` the
    index of tau* in ``thresholds`` (-1 without calibration); ``loc_iou`` and ``score_size`` (height, width).
mask splits (``kind = "masks"``)
    ``image_ids``, ``labels``, ``edges`` (B + 1,) the PxAP bin edges, ``pos_hist`` / ``neg_hist`` (N, B) int64 each
    image's foreground / background score histograms.

Both carry ``kind`` and ``info`` (a JSON string: checkpoint, metadata, protocol, ...). Memory and file size grow as
N x D x T bits (ImageNet's 50,000 images on a 0.001 grid: about 100 MB in memory, compressed on disk).
"""
from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from wsol.errors import InputError
from wsol.localization.metrics import (
    V2_IOUS, BoxAccumulator, ImageResult, MaskAccumulator, pxap_from_histograms,
)

#: Version of the file layout (in ``info``).
PER_IMAGE_VERSION = 1


class PerImageRecorder:
    """Keeps what an accumulator counted, image by image (see the module docstring for the arrays).

    Args:
        accumulator: the :class:`BoxAccumulator` or :class:`MaskAccumulator` the images are also added to (its
            settings fix the grid; it is not modified here).
        box_tau_index: index into the tau grid of the predicted box to keep (tau*), or ``None`` for the fixed tau.
    """

    def __init__(self, accumulator: BoxAccumulator | MaskAccumulator, *, box_tau_index: Optional[int] = None) -> None:
        self.kind = "boxes" if isinstance(accumulator, BoxAccumulator) else "masks"
        self.accumulator = accumulator
        self.box_tau_index = box_tau_index
        self.rows: list[tuple] = []

    def add(self, position: int, image_id: str, label: int, outcome: ImageResult | tuple[np.ndarray, np.ndarray], *,
            top5: Optional[Sequence[int]] = None, score_size: tuple[int, int] = (0, 0)) -> None:
        """Record one image.

        Args:
            position: the image's index in the split (rows are sorted by it).
            image_id, label: the image.
            outcome: what ``accumulator.update`` returned for it.
            top5: predicted classes, best first (box splits).
            score_size: (height, width) of the score map.
        """
        if self.kind == "masks":
            pos, neg = outcome
            self.rows.append((position, image_id, int(label), pos, neg))
            return
        from wsol.localization.threshold import correct_at

        acc = self.accumulator
        res: ImageResult = outcome
        ious = acc.count_ious
        hits_v1 = np.packbits(correct_at(res.v1_iou, ious), axis=-1)
        hits_all = np.packbits(correct_at(res.all_iou, ious), axis=-1)
        if self.box_tau_index is None:
            box, box_iou = res.fixed_box, res.fixed_iou
        else:
            box, box_iou = res.v1_box[self.box_tau_index], float(res.v1_iou[self.box_tau_index])
        self.rows.append((position, image_id, int(label), None if top5 is None else [int(c) for c in top5],
                          hits_v1, hits_all, float(res.fixed_iou), np.asarray(box, dtype=np.int64), float(box_iou),
                          tuple(score_size)))

    def merge(self, other: "PerImageRecorder") -> "PerImageRecorder":
        """Take ``other``'s rows (same accumulator settings); returns ``self``."""
        self.rows += other.rows
        return self

    def arrays(self) -> dict[str, np.ndarray]:
        """The rows as the file's arrays, in split order (see the module docstring)."""
        rows = sorted(self.rows, key=lambda r: r[0])
        if not rows:
            raise ValueError("no image was recorded")
        out: dict[str, np.ndarray] = {"kind": np.array(self.kind),
                                      "image_ids": np.array([r[1] for r in rows]),
                                      "labels": np.array([r[2] for r in rows], dtype=np.int64)}
        acc = self.accumulator
        if self.kind == "masks":
            out.update(edges=acc.edges, pos_hist=np.stack([r[3] for r in rows]).astype(np.int64),
                       neg_hist=np.stack([r[4] for r in rows]).astype(np.int64))
            return out
        nt = len(acc.taus)
        if rows[0][3] is not None:
            k = max(len(r[3]) for r in rows)
            out["top5"] = np.array([r[3] + [-1] * (k - len(r[3])) for r in rows], dtype=np.int64)
        out.update(
            thresholds=acc.taus, ious=np.array(acc.count_ious, dtype=np.int64),
            hits_v1=np.unpackbits(np.stack([r[4] for r in rows]), axis=-1, count=nt).astype(bool),
            hits_all=np.unpackbits(np.stack([r[5] for r in rows]), axis=-1, count=nt).astype(bool),
            fixed_threshold=np.float64(acc.fixed_threshold), fixed_iou=np.array([r[6] for r in rows]),
            box_threshold=np.float64(acc.fixed_threshold if self.box_tau_index is None
                                     else acc.taus[self.box_tau_index]),
            box=np.stack([r[7] for r in rows]), box_iou=np.array([r[8] for r in rows]),
            calibrated_index=np.int64(-1 if self.box_tau_index is None else self.box_tau_index),
            loc_iou=np.int64(acc.protocol.loc_iou), score_size=np.array(rows[0][9], dtype=np.int64))
        return out


def image_scores(data: Mapping[str, Any]) -> np.ndarray:
    """The per-image score a gallery ranks by: the IoU of the kept box (``box_iou``: at tau* when calibrated) for a
    box split; each image's own PxAP (percent, from its histograms) for a mask split, NaN for an image without
    foreground pixels.

    Raises:
        ValueError: a file of neither kind.
    """
    if data.get("kind") == "boxes" and "box_iou" in data:
        return np.asarray(data["box_iou"], dtype=np.float64)
    if data.get("kind") == "masks":
        out = np.full(len(data["pos_hist"]), np.nan)
        for i, (pos, neg) in enumerate(zip(data["pos_hist"], data["neg_hist"])):
            if pos.sum() > 0:
                out[i] = pxap_from_histograms(pos, neg)[0]
        return out
    raise ValueError("a gallery needs a box or mask split's per-image file")


def gallery_indices(data: Mapping[str, Any], *, count: int, seed: int = 0) -> dict[str, list[int]]:
    """Images to show from a per-image file: the ``count`` best and worst by :func:`image_scores` (the kept box's
    IoU, or the image's own PxAP on a mask split; images without a score are left out of these two), ties broken by
    split order, and ``count`` drawn at random (seeded, without replacement, in split order).

    Returns:
        ``{"best": [...], "worst": [...], "random": [...]}`` of split positions (fewer when the split is smaller).

    Raises:
        ValueError: a file of neither kind, or ``count < 1``.
    """
    return rank_gallery(image_scores(data), count=count, seed=seed)


def rank_gallery(score: np.ndarray, *, count: int, seed: int = 0) -> dict[str, list[int]]:
    """:func:`gallery_indices` from the per-image scores themselves (NaN: no score), for a caller that keeps them.

    Raises:
        ValueError: ``count < 1``.
    """
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count!r}")
    n = len(score)
    scored = np.flatnonzero(np.isfinite(score))
    k = min(count, len(scored))
    s = score[scored]
    order = scored[np.lexsort((scored, -s))]  # score descending, then split order
    worst = scored[np.lexsort((scored, s))]
    chosen = np.sort(np.random.default_rng(seed).choice(n, size=min(count, n), replace=False))
    return {"best": order[:k].tolist(), "worst": worst[:k].tolist(), "random": chosen.tolist()}


def write_per_image(path: str | os.PathLike, arrays: Mapping[str, np.ndarray], *, info: Mapping[str, Any]) -> None:
    """Write the arrays and ``info`` (JSON-ready) as a compressed ``.npz``, atomically."""
    from wsol.fileio import atomic_write_bytes

    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays, info=np.array(json.dumps({"version": PER_IMAGE_VERSION, **info})))
    atomic_write_bytes(path, buffer.getvalue())


_REQUIRED = {"boxes": ("image_ids", "labels", "thresholds", "ious", "hits_v1", "hits_all", "fixed_iou",
                       "fixed_threshold", "box", "box_iou", "box_threshold", "calibrated_index", "loc_iou"),
             "masks": ("image_ids", "labels", "edges", "pos_hist", "neg_hist")}


def read_per_image(path: str | os.PathLike) -> dict[str, Any]:
    """A per-image file as a dict of arrays (``info`` decoded to a dict, ``kind`` to a str).

    Raises:
        InputError: missing or unreadable file, or one that is not a per-image file (one line).
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            out: dict[str, Any] = {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise InputError("per-image file not found", path=path) from None
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise InputError(f"not a readable per-image file (.npz): {e}", path=path) from None
    kind = str(out.get("kind", ""))
    if kind not in _REQUIRED or "info" not in out:
        raise InputError("not a per-image file (written by `wsol evaluate --per-image`)", path=path)
    missing = [k for k in _REQUIRED[kind] if k not in out]
    if missing:
        raise InputError(f"per-image file lacks {', '.join(missing)}", path=path)
    out["kind"] = kind
    out["info"] = json.loads(str(out["info"]))
    return out


# --------------------------------------------------------------------------------------- metrics from the rows
def _weights(n: int, weights: Optional[np.ndarray]) -> np.ndarray:
    """``(B, n)`` float64 weights (``None``: one row of ones, the plain metric)."""
    if weights is None:
        return np.ones((1, n), dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 2 or w.shape[1] != n:
        raise ValueError(f"weights must have shape (B, {n}), got {w.shape}")
    return w


def _pct(counts: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """``count * 100. / total`` (the accumulators' float64 formula), broadcast over the last axes."""
    return counts * 100. / totals.reshape(totals.shape + (1,) * (counts.ndim - 1))


def box_acc(data: Mapping[str, Any], weights: Optional[np.ndarray] = None, *, iou: int, all_contours: bool,
            tau_index: Optional[int] = None) -> np.ndarray:
    """BoxAcc (%) at IoU threshold ``iou``: ``(B, T)`` over the tau grid, or ``(B,)`` at ``tau_index``.

    ``all_contours=False`` is the largest-contour box (MaxBoxAcc), ``True`` the best box of all contours (V2).
    """
    hits = data["hits_all" if all_contours else "hits_v1"]
    ious = [int(d) for d in data["ious"]]
    if iou not in ious:
        raise ValueError(f"the per-image file has IoU thresholds {ious}, not {iou}")
    w = _weights(hits.shape[0], weights)
    chosen = hits[:, ious.index(iou), :] if tau_index is None else hits[:, ious.index(iou), tau_index]
    return _pct(_count(w, chosen), w.sum(axis=1))


def _count(w: np.ndarray, hits: np.ndarray) -> np.ndarray:
    """``w @ hits`` as exact integer-valued float64 (float32 products: exact below 2**24 per count)."""
    if hits.ndim == 1:
        return w @ hits.astype(np.float64)
    return (w.astype(np.float32) @ hits.astype(np.float32)).astype(np.float64)


def box_metrics(data: Mapping[str, Any], weights: Optional[np.ndarray] = None) -> dict[str, np.ndarray]:
    """The box metrics of a per-image file, recomputed; with ``weights`` (B, N) one value per weight row.

    Integer weights are a resample of the images (weight 2: the image twice), which is how the paired bootstrap uses
    them. With ``weights=None`` the values equal ``wsol evaluate``'s to the last bit.

    Returns:
        (B,) float64 arrays: ``maxboxacc`` (largest contour, IoU 50, best tau), ``maxboxacc_v2`` (all contours, mean
        over IoU 30 / 50 / 70 of the best tau each), ``gt_known_loc`` (fixed tau), with predictions ``top1_cls``,
        ``top5_cls``, ``top1_loc`` (fixed tau); when calibrated, ``gt_known_loc_calibrated`` and
        ``top1_loc_calibrated`` (tau* as chosen on the calibration split: not re-chosen per resample).
    """
    hits_v1, hits_all = data["hits_v1"], data["hits_all"]
    n, _, nt = hits_v1.shape
    w = _weights(n, weights)
    total = w.sum(axis=1)
    ious = [int(d) for d in data["ious"]]
    loc = ious.index(int(data["loc_iou"]))
    v1 = _pct(_count(w, hits_v1[:, ious.index(50), :]), total)
    out = {"maxboxacc": v1.max(axis=1)}
    out["maxboxacc_v2"] = np.mean([_pct(_count(w, hits_all[:, ious.index(d), :]), total).max(axis=1)
                                   for d in V2_IOUS], axis=0)
    known = data["fixed_iou"] >= int(data["loc_iou"]) / 100
    out["gt_known_loc"] = _pct(w @ known.astype(np.float64), total)
    i = int(data["calibrated_index"])
    if i >= 0:
        out["gt_known_loc_calibrated"] = _pct(w @ hits_v1[:, ious.index(50), i].astype(np.float64), total)
    if "top5" in data:
        top5, labels = data["top5"], data["labels"]
        top1_hit = top5[:, 0] == labels
        out["top1_cls"] = _pct(w @ top1_hit.astype(np.float64), total)
        out["top5_cls"] = _pct(w @ (top5 == labels[:, None]).any(axis=1).astype(np.float64), total)
        out["top1_loc"] = _pct(w @ (top1_hit & known).astype(np.float64), total)
        if i >= 0:
            out["top1_loc_calibrated"] = _pct(w @ (top1_hit & hits_v1[:, loc, i]).astype(np.float64), total)
    return out


def mask_metrics(data: Mapping[str, Any], weights: Optional[np.ndarray] = None) -> dict[str, np.ndarray]:
    """``{"pxap": (B,)}`` from a mask split's per-image histograms (equal to ``wsol evaluate``'s with no weights)."""
    pos, neg = data["pos_hist"], data["neg_hist"]
    w = _weights(pos.shape[0], weights)
    pos_sum, neg_sum = w @ pos.astype(np.float64), w @ neg.astype(np.float64)
    return {"pxap": np.array([pxap_from_histograms(p, q)[0] for p, q in zip(pos_sum, neg_sum)])}


__all__ = ["PER_IMAGE_VERSION", "PerImageRecorder", "image_scores", "gallery_indices", "rank_gallery",
           "write_per_image", "read_per_image", "box_acc", "box_metrics", "mask_metrics"]
