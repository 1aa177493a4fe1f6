"""The scoring engine: score maps + metadata -> metrics dict (boxes or masks), optionally over worker processes.

Score maps on disk: ``SCOREMAP_DIR/<image_id>.npy`` (the layout of :mod:`wsol.localization.scoremaps`), one 2-D
float array per image with values in [0, 1], at any resolution (GT boxes and masks are rescaled to the map, see
:mod:`wsol.localization.protocol`).

Predictions file (for Top-1 / Top-5 Loc and classification accuracy): a JSON object mapping every image id to a
list of 1 to 5 integer class indices, best first::

    {"001.Black_footed_Albatross/Black_Footed_Albatross_0046_18.jpg": [0, 12, 3, 7, 9], ...}

Masks (``localization.txt`` with mask lines): read from ``mask_root/<mask_path>`` as 8-bit grayscale; a mask (and
the ignore file) must have the original image's size from ``image_sizes.txt`` and is resized to the score map with
nearest-neighbour interpolation, then foreground is ``> 0.5`` as in wsolevaluation's ``get_mask``.
"""
from __future__ import annotations

import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import cv2
import numpy as np

from wsol.data.images import load_mask as read_binary_mask
from wsol.data.images import resolve_image_path
from wsol.data.datasets import recorded_roots
from wsol.data.metadata import Metadata, read_metadata
from wsol.errors import InputError
from wsol.localization.metrics import calibrate, make_accumulator
from wsol.localization.scoremaps import MAP_SUFFIX, load_score_map, score_map_items
from wsol.localization.protocol import get_protocol


# --- inputs ----------------------------------------------------------------------------------------------------------

def load_predictions(path: str | os.PathLike) -> dict[str, list[int]]:
    """Read a predictions JSON file (see the module docstring)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("predictions file not found", path=path) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError("predictions file is not valid JSON", path=path, value=str(e)) from None
    if not isinstance(data, dict):
        raise InputError("predictions file must hold a JSON object {image_id: [classes]}", path=path,
                         value=type(data).__name__)
    out: dict[str, list[int]] = {}
    for image_id, preds in data.items():
        if (not isinstance(preds, list) or not 1 <= len(preds) <= 5
                or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in preds)):
            raise InputError(f"predictions for {image_id!r} must be a list of 1 to 5 class indices", path=path,
                             value=preds)
        out[str(image_id)] = list(preds)
    return out


def load_mask(mask_root: str | os.PathLike, mask_paths: Sequence[str], ignore_path: str | None,
              image_size: tuple[int, int] | None, map_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Foreground and ignore masks of one image at the score map's size (wsolevaluation's ``get_mask``; the
    conventions are stated in :mod:`wsol.localization.protocol`, "Masks").

    Each file is resolved safely under ``mask_root``, read with :func:`wsol.data.images.load_mask` (grayscale value
    ``> 0.5``, the protocol's binarisation), checked to be ``image_size`` (width, height; None when the metadata has
    no size for the image: then every file must have the first mask's size) and resized to
    ``map_size`` with ``INTER_NEAREST`` (which commutes with the thresholding); foreground is the union of the
    instances and ignore is the ignore region minus the foreground.

    Returns:
        ``(foreground, ignore)``, (H, W) bool each.
    """
    expected: list = [tuple(image_size) if image_size is not None else None, None]  # size, and the file that set it

    def one(rel: str) -> np.ndarray:
        path = resolve_image_path(mask_root, rel)
        mask = read_binary_mask(path)
        size = (mask.shape[1], mask.shape[0])
        if expected[0] is None:
            expected[:] = [size, path]
        elif size != expected[0]:
            if expected[1] is not None:
                raise InputError(f"mask size differs from the image's first mask {expected[1]} "
                                 f"({expected[0][0]}x{expected[0][1]})", path=path, value=f"{size[0]}x{size[1]}")
            raise InputError(f"mask size differs from the image size {expected[0][0]}x{expected[0][1]}", path=path,
                             value=f"{size[0]}x{size[1]}")
        return cv2.resize(mask.view(np.uint8), tuple(map_size), interpolation=cv2.INTER_NEAREST).astype(bool)

    fg = np.zeros((map_size[1], map_size[0]), dtype=bool)
    for rel in mask_paths:
        fg |= one(rel)
    ignore = np.zeros_like(fg) if not ignore_path else one(ignore_path) & ~fg
    return fg, ignore


# --- the engine ------------------------------------------------------------------------------------------------------

def _check_split(meta: Metadata, where: str | None) -> None:
    if len(meta) == 0:
        raise InputError("empty split (no image ids)", path=where)
    if meta.boxes is None and meta.masks is None:
        raise InputError("split has no localization.txt (no boxes or masks to score against)", path=where)


def _score_chunk(payload: tuple) -> tuple:
    """Worker: score a list of images; returns (accumulator, per-image results or None, load_s, score_s)."""
    kind, settings, meta, items, predictions, mask_root, per_image = payload
    acc = make_accumulator(kind, **settings)
    details = [] if per_image else None
    load_s = score_s = 0.0
    for image_id, source in items:
        t0 = time.perf_counter()
        if isinstance(source, (str, os.PathLike)):
            path = os.fspath(source)
            score_map = load_score_map(path)
        else:
            path, score_map = None, source
        t1 = time.perf_counter()
        load_s += t1 - t0
        label = f"{path}" if path is not None else f"<score map of {image_id}>"
        if kind == "boxes":
            top5 = None if predictions is None else predictions[image_id]
            res = acc.update(score_map, meta.boxes[image_id], meta.sizes[image_id], label=meta.labels[image_id],
                             top5=top5, path=label)
            if details is not None:
                details.append((image_id, res.to_dict()))
        else:
            arr = np.asarray(score_map)
            if arr.ndim != 2:
                raise InputError("score map must be 2-D (H, W)", path=label, value=tuple(arr.shape))
            ann = meta.masks[image_id]
            t2 = time.perf_counter()
            fg, ignore = load_mask(mask_root, ann.mask_paths, ann.ignore_path, meta.sizes.get(image_id),
                                   (arr.shape[1], arr.shape[0]))
            load_s += time.perf_counter() - t2
            t1 += time.perf_counter() - t2
            acc.update(arr, fg, ignore, path=label)
        score_s += time.perf_counter() - t1
    return acc, details, load_s, score_s


def _chunks(items: Iterable[tuple[str, Any]], size: int) -> Iterator[list[tuple[str, Any]]]:
    chunk: list[tuple[str, Any]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _run(items: Iterable[tuple[str, Any]], meta: Metadata, *, kind: str, settings: dict,
         predictions: Mapping[str, Sequence[int]] | None, mask_root: str | os.PathLike | None, workers: int,
         per_image: bool, where: str | None, predictions_path: str | None, chunk_size: int = 32) -> tuple:
    known = set(meta.image_ids)
    seen: set[str] = set()

    def checked() -> Iterator[tuple[str, Any]]:
        for image_id, source in items:
            if image_id not in known:
                raise InputError("score map for an image id not in the split", path=where, value=image_id)
            if image_id in seen:
                raise InputError("score map given twice for an image id", path=where, value=image_id)
            seen.add(image_id)
            yield image_id, source

    def payloads() -> Iterator[tuple]:
        for chunk in _chunks(checked(), chunk_size):
            sub = meta.select([i for i, _ in chunk])
            preds = None if predictions is None else {i: predictions[i] for i, _ in chunk if i in predictions}
            if predictions is not None:
                for i, _ in chunk:
                    if i not in predictions:
                        raise InputError("no prediction for image id", path=predictions_path, value=i)
            yield kind, settings, sub, chunk, preds, mask_root, per_image

    acc = make_accumulator(kind, **settings)
    details: dict[str, dict] = {}
    load_s = score_s = 0.0
    t0 = time.perf_counter()
    if workers <= 1:
        results: Iterable[tuple] = map(_score_chunk, payloads())
        for part, det, ls, ss in results:
            acc.merge(part)
            details.update(det or [])
            load_s += ls
            score_s += ss
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for part, det, ls, ss in pool.map(_score_chunk, payloads()):
                acc.merge(part)
                details.update(det or [])
                load_s += ls
                score_s += ss
    wall = time.perf_counter() - t0
    missing = [i for i in meta.image_ids if i not in seen]
    if missing:
        raise InputError(f"no score map for {len(missing)} image id(s) of the split, first", path=where,
                         value=missing[0])
    return acc, details, {"load_s": load_s, "score_s": score_s, "wall_s": wall}


def score_maps(items: Iterable[tuple[str, np.ndarray]], metadata: Metadata, *, protocol: str = "wsolevaluation",
               interval: float | None = None, iou_thresholds: Sequence[int] | None = None,
               fixed_threshold: float | None = None, predictions: Mapping[str, Sequence[int]] | None = None,
               mask_root: str | os.PathLike | None = None, workers: int = 1, per_image: bool = False,
               backend: str = "auto") -> dict:
    """Score an iterable of ``(image_id, score_map)`` against one metadata split.

    Box splits give the :meth:`BoxAccumulator.compute` keys; mask splits give ``pxap`` and ``pr_curve`` (and need
    ``mask_root``). Every image id of the split must come exactly once. ``workers > 1`` scores chunks of images in
    worker processes; the result is identical (integer counts are merged).

    Args:
        items: ``(image_id, map)`` pairs; ``map`` may also be a path to a ``.npy`` file (loaded by the worker).
        metadata: the split.
        protocol, interval, iou_thresholds, fixed_threshold: see :class:`BoxAccumulator`.
        predictions: image id -> predicted classes (best first, 1 to 5) for Top-k Loc.
        mask_root: folder the mask paths of a mask split are relative to.
        workers: processes (1: in this process).
        per_image: add ``per_image`` {image_id: per-tau boxes and IoUs} to the result (box splits).
        backend: box engine backend (identical results).

    Returns:
        the metrics dict, plus ``timing`` (``load_s`` and ``score_s`` summed over workers, ``wall_s``).
    """
    out, _ = _score(items, metadata, protocol=protocol, interval=interval, iou_thresholds=iou_thresholds,
                    fixed_threshold=fixed_threshold, predictions=predictions, mask_root=mask_root, workers=workers,
                    per_image=per_image, backend=backend, where=None, predictions_path=None)
    return out


def _score(items: Iterable[tuple[str, Any]], metadata: Metadata, *, protocol: str, interval: float | None,
           iou_thresholds: Sequence[int] | None, fixed_threshold: float | None,
           predictions: Mapping[str, Sequence[int]] | None, mask_root: str | os.PathLike | None, workers: int,
           per_image: bool, backend: str, where: str | None, predictions_path: str | None) -> tuple[dict, Any]:
    _check_split(metadata, where)
    if workers < 1:
        raise ValueError(f"workers must be >= 1 ({workers!r})")
    kind = "boxes" if metadata.boxes is not None else "masks"
    if kind == "masks" and mask_root is None:
        raise InputError("a mask split needs a mask root (--mask-root)", path=where)
    if kind == "masks" and predictions is not None:
        raise InputError("predictions apply to box splits only", path=where)
    settings = {"protocol": protocol, "interval": interval, "iou_thresholds": iou_thresholds,
                "fixed_threshold": fixed_threshold, "backend": backend}
    if kind == "masks":
        settings = {"protocol": protocol, "interval": interval}
    acc, details, timing = _run(items, metadata, kind=kind, settings=settings, predictions=predictions,
                                mask_root=mask_root, workers=workers, per_image=per_image, where=where,
                                predictions_path=predictions_path)
    out = acc.compute()
    if kind == "masks":
        out["protocol"] = get_protocol(protocol).name
    if per_image and kind == "boxes":
        out["per_image"] = {i: details[i] for i in metadata.image_ids}
    out["timing"] = timing
    return out, acc


def score_directory(scoremap_dir: str | os.PathLike, metadata: Metadata | str | os.PathLike, *,
                    interval: float | None = None, iou_thresholds: Sequence[int] | None = None,
                    protocol: str = "wsolevaluation", fixed_threshold: float | None = None,
                    predictions: str | os.PathLike | None = None, mask_root: str | os.PathLike | None = None,
                    calibrate_on: tuple[str | os.PathLike, Metadata | str | os.PathLike] | None = None,
                    workers: int = 1, per_image: bool = False, backend: str = "auto") -> dict:
    """Score ``SCOREMAP_DIR/<image_id>.npy`` against a metadata split (the engine of ``wsol score``).

    Args:
        scoremap_dir: folder of score maps.
        metadata: a :class:`Metadata` or a split folder (read with :func:`read_metadata`).
        interval, iou_thresholds, protocol, fixed_threshold: see :class:`BoxAccumulator`.
        predictions: predictions JSON file (module docstring) for Top-k Loc.
        mask_root: mask folder for mask splits (PxAP); default: the one recorded in the prepared dataset's
            ``dataset.json`` when ``metadata`` is a split folder.
        calibrate_on: ``(scoremap_dir2, metadata2)`` of a held-out split (``train_fullsup``): tau* is chosen there
            and the result gains ``calibrated`` (this split's BoxAcc at tau*, see :func:`calibrate`).
        workers: worker processes.
        per_image: include per-image boxes and IoUs.
        backend: box engine backend.

    Returns:
        the metrics dict of :func:`score_maps`, JSON-ready, with ``scoremap_dir`` and (for a split folder)
        ``metadata``: what ``wsol score`` writes.

    Example::

        from wsol.api import score_directory
        r = score_directory("maps/", "datasets/cub/test", calibrate_on=("maps_fullsup/", "datasets/cub/train_fullsup"))
        print(r["maxboxacc"], r["maxboxacc_v2"], r["calibrated"]["box_acc_v2"])
    """
    def resolve(meta: Metadata | str | os.PathLike) -> tuple[Metadata, str | None]:
        if isinstance(meta, Metadata):
            return meta, None
        return read_metadata(meta), os.fspath(meta)

    meta, where = resolve(metadata)
    _check_split(meta, where)
    if mask_root is None and where is not None:
        mask_root = recorded_roots(where)[1]
    preds = None if predictions is None else load_predictions(predictions)
    items = score_map_items(Path(scoremap_dir), meta)
    common = dict(protocol=protocol, interval=interval, iou_thresholds=iou_thresholds,
                  fixed_threshold=fixed_threshold, workers=workers, backend=backend)
    out, acc = _score(items, meta, predictions=preds, mask_root=mask_root, per_image=per_image, where=where,
                      predictions_path=None if predictions is None else os.fspath(predictions), **common)
    if calibrate_on is not None:
        if meta.boxes is None:
            raise InputError("calibration applies to box splits only", path=where)
        cal_dir, cal_meta = calibrate_on
        cmeta, cwhere = resolve(cal_meta)
        _check_split(cmeta, cwhere)
        if cmeta.boxes is None:
            raise InputError("calibration split has no boxes", path=cwhere)
        _, cal_acc = _score(score_map_items(Path(cal_dir), cmeta), cmeta, predictions=None, mask_root=None,
                            per_image=False, where=cwhere, predictions_path=None, **common)
        out["calibrated"] = calibrate(cal_acc, acc)
        out["calibrated"]["calibration_split"] = {"scoremap_dir": os.fspath(cal_dir), "num_images": len(cmeta)}
    out["scoremap_dir"] = os.fspath(scoremap_dir)
    if where is not None:
        out["metadata"] = where
    return out


__all__ = ["MAP_SUFFIX", "load_predictions", "load_score_map", "load_mask", "score_maps", "score_directory"]
