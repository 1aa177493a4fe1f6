"""Checkpoint evaluation: images -> logits + CAM of the ground-truth class -> the scoring engine's accumulators.

One streaming pass (maps are never all in memory): a DataLoader decodes images, the model computes logits and the
CAM of each image's ground-truth class (``cam``, ``gradcam`` or ``gradcam++``), the CAMs are resized to the
evaluation frame (``image_size x image_size``, bicubic) and min-max normalised exactly as wsolevaluation's
``inference.py`` does, and scoring threads feed them to :class:`~wsol.localization.metrics.BoxAccumulator` (with the
top-5 predictions, for Top-k Loc) or :class:`~wsol.localization.metrics.MaskAccumulator` (PxAP). The compiled box
kernel releases the GIL, so scoring threads run beside the model; each thread owns an accumulator and they are
merged at the end (integer counts: the result does not depend on the number of threads or on the order).
"""
from __future__ import annotations

import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset

from wsol.cam import CAMS, resize_and_normalize
from wsol.data.datasets import WSOLDataset, collate
from wsol.errors import InputError
from wsol.localization.metrics import BoxAccumulator, MaskAccumulator, make_accumulator
from wsol.localization.per_image import PerImageRecorder
from wsol.localization.scoremaps import save_score_map
from wsol.models.base import WSOLModel


# --------------------------------------------------------------------------------------------------- evaluation
@dataclass(frozen=True)
class EvalSettings:
    """How to evaluate.

    Attributes:
        cam: a registered CAM method (:data:`wsol.cam.CAMS`: ``"cam"``, ``"gradcam"``, ``"gradcam++"``, plugins').
        protocol, interval, iou_thresholds: scoring (see :class:`~wsol.localization.metrics.BoxAccumulator`).
        image_size: side of the network input and of the score maps (wsolevaluation: 224).
        batch_size: images per forward pass.
        workers: DataLoader worker processes.
        score_threads: scoring threads beside the model (0: score in the main thread).
        shard: ``(i, n)``: evaluate images ``i, i + n, i + 2n, ...`` of the split.
    """

    cam: str = "cam"
    protocol: str = "wsolevaluation"
    interval: Optional[float] = None
    iou_thresholds: Optional[tuple[int, ...]] = None
    image_size: int = 224
    batch_size: int = 32
    workers: int = 0
    score_threads: int = 1
    shard: tuple[int, int] = (0, 1)

    def __post_init__(self) -> None:
        if self.cam not in CAMS:
            raise ValueError(f"cam must be one of {', '.join(CAMS.names())}; got {self.cam!r}")
        i, n = self.shard
        if not (isinstance(i, int) and isinstance(n, int) and n >= 1 and 0 <= i < n):
            raise ValueError(f"shard must be (i, n) with 0 <= i < n; got {self.shard!r}")
        for name in ("image_size", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1; got {getattr(self, name)!r}")
        if self.workers < 0 or self.score_threads < 0:
            raise ValueError("workers and score_threads must be >= 0")


@dataclass
class EvalOutcome:
    """What :func:`evaluate_split` returns: the accumulator and timings."""

    accumulator: BoxAccumulator | MaskAccumulator
    timing: dict[str, float] = field(default_factory=dict)
    per_image: Optional[PerImageRecorder] = None


class _Scorer:
    """Scoring threads, each with its own accumulator, fed through a bounded queue (backpressure on the model)."""

    def __init__(self, kind: str, settings: EvalSettings, meta: Any, save_dir: Optional[Path], *,
                 per_image: bool = False, box_tau_index: Optional[int] = None) -> None:
        self.kind, self.settings, self.meta, self.save_dir = kind, settings, meta, save_dir
        n = settings.score_threads
        self.accs = [make_accumulator(kind, protocol=settings.protocol, interval=settings.interval,
                                      iou_thresholds=settings.iou_thresholds) for _ in range(max(1, n))]
        self.recorders = [PerImageRecorder(a, box_tau_index=box_tau_index) for a in self.accs] if per_image else None
        self.position = {image_id: i for i, image_id in enumerate(meta.image_ids)} if per_image else {}
        self.score_s = [0.0] * max(1, n)
        self.error: Optional[BaseException] = None
        self.queue: queue.Queue = queue.Queue(maxsize=2 * max(1, n))
        self.threads = [threading.Thread(target=self._work, args=(k,), daemon=True) for k in range(n)]
        for t in self.threads:
            t.start()
        self.wait_s = 0.0

    def _score(self, k: int, job: tuple) -> None:
        t0 = time.perf_counter()
        ids, maps, labels, top5, masks, ignores = job
        acc = self.accs[k]
        for j, image_id in enumerate(ids):
            where = f"<score map of {image_id}>"
            preds = [int(c) for c in top5[j]]
            if self.kind == "boxes":
                outcome = acc.update(maps[j], self.meta.boxes[image_id], self.meta.sizes[image_id],
                                     label=int(labels[j]), top5=preds, path=where)
            else:
                fg = masks[j]
                outcome = acc.update(maps[j], fg, ignores[j] & ~fg, path=where)
            if self.recorders is not None:
                self.recorders[k].add(self.position[image_id], image_id, int(labels[j]), outcome, top5=preds,
                                      score_size=maps[j].shape)
            if self.save_dir is not None:
                save_score_map(self.save_dir, image_id, maps[j])
        self.score_s[k] += time.perf_counter() - t0

    def _work(self, k: int) -> None:
        while True:
            job = self.queue.get()
            if job is None:
                return
            if self.error is None:
                try:
                    self._score(k, job)
                except BaseException as e:  # re-raised in the main thread
                    self.error = e

    def submit(self, job: tuple) -> None:
        if self.error is not None:
            raise self.error
        if not self.threads:
            self._score(0, job)
            return
        t0 = time.perf_counter()
        self.queue.put(job)
        self.wait_s += time.perf_counter() - t0

    def finish(self) -> tuple[BoxAccumulator | MaskAccumulator, float, Optional[PerImageRecorder]]:
        for _ in self.threads:
            self.queue.put(None)
        for t in self.threads:
            t.join()
        if self.error is not None:
            raise self.error
        acc = self.accs[0]
        for other in self.accs[1:]:
            acc.merge(other)
        recorder = None
        if self.recorders is not None:
            recorder = self.recorders[0]
            for other in self.recorders[1:]:
                recorder.merge(other)
        return acc, sum(self.score_s), recorder


def evaluate_split(model: WSOLModel, dataset: WSOLDataset, *, settings: EvalSettings, device: torch.device,
                   save_dir: Optional[str | os.PathLike] = None, per_image: bool = False,
                   box_tau_index: Optional[int] = None, progress: bool = False) -> EvalOutcome:
    """Evaluate ``model`` on ``dataset`` (its shard ``settings.shard``) in one streaming pass.

    Args:
        model: the network, on ``device``; put in eval mode here and left so.
        dataset: a split opened with ``localization="boxes"`` or ``"masks"`` and the evaluation transform at
            ``settings.image_size``.
        settings: see :class:`EvalSettings`.
        device: where the model runs.
        save_dir: also write every score map as ``<image_id>.npy`` (float64, ``image_size`` square) there.
        per_image: also keep every image's outcome (:class:`~wsol.localization.per_image.PerImageRecorder`).
        box_tau_index: with ``per_image``: the tau-grid index of the predicted box to keep (None: the fixed tau).
        progress: tqdm bar.

    Returns:
        the accumulator (``compute()`` gives the metrics; ``state_dict()`` a shard's state), ``per_image`` (the
        recorder, or None) and ``timing``:
        ``model_s`` (forward + CAM + resize), ``score_s`` (summed over scoring threads), ``wait_s`` (the model
        waiting for scorers), ``wall_s``, ``images_per_s``.
    """
    from tqdm import tqdm

    kind = dataset.localization
    if kind not in ("boxes", "masks"):
        raise ValueError("dataset must be opened with localization='boxes' or 'masks'")
    i, n = settings.shard
    indices = list(range(i, len(dataset), n))
    if not indices:
        raise InputError("empty shard: no image to evaluate", value=f"shard {i}/{n} of {len(dataset)} images")
    loader = DataLoader(Subset(dataset, indices), batch_size=settings.batch_size, shuffle=False,
                        num_workers=settings.workers, collate_fn=collate, pin_memory=device.type == "cuda")
    model.eval()
    cam_method = CAMS.get(settings.cam)
    save = Path(save_dir) if save_dir is not None else None
    scorer = _Scorer(kind, settings, dataset.metadata, save, per_image=per_image, box_tau_index=box_tau_index)
    size = (settings.image_size, settings.image_size)
    t_start = time.perf_counter()
    model_s = 0.0
    bar = tqdm(total=len(indices), desc="evaluate", unit="img", disable=not progress, leave=False)
    try:
        for batch in loader:
            t0 = time.perf_counter()
            images = batch["image"].to(device, non_blocking=True)
            labels = batch["label"].to(device)
            logits, cams = cam_method(model, images, labels)
            top5 = logits.topk(min(5, logits.shape[1]), dim=1).indices.cpu().numpy()
            maps = resize_and_normalize(cams.float().cpu().numpy(), size)
            model_s += time.perf_counter() - t0
            masks = batch["mask"].numpy() if "mask" in batch else None
            ignores = batch["ignore"].numpy() if "ignore" in batch else None
            scorer.submit((batch["image_id"], maps, batch["label"].numpy(), top5, masks, ignores))
            bar.update(len(batch["image_id"]))
    finally:
        bar.close()
        acc, score_s, recorder = scorer.finish()
    wall = time.perf_counter() - t_start
    return EvalOutcome(acc, {"model_s": model_s, "score_s": score_s, "wait_s": scorer.wait_s, "wall_s": wall,
                             "images_per_s": len(indices) / max(wall, 1e-9), "num_images": len(indices)},
                       per_image=recorder)


# ------------------------------------------------------------------------------------------------------ the job
def open_checkpoint(checkpoint: str | os.PathLike, *, arch: Optional[str] = None,
                    large_feature_map: Optional[bool] = None, device: str | torch.device = "auto",
                    image_size: Optional[int] = None) -> tuple[Any, torch.device, int]:
    """The set-up every checkpoint job shares: the loaded model, the device and the input size.

    The size is ``image_size``, else the training size recorded in a ``wsol train`` checkpoint, else 224.

    Returns:
        ``(loaded, device, image_size)``, ``loaded`` a :class:`wsol.models.loading.LoadedModel` (model on the CPU).

    Raises:
        InputError: unreadable checkpoint, or a device that is not available (one line).
    """
    from wsol.devices import resolve_device
    from wsol.models.loading import load_model

    loaded = load_model(checkpoint, arch=arch, large_feature_map=large_feature_map)
    try:
        dev = resolve_device(device)
    except ValueError as e:
        raise InputError(str(e)) from None
    return loaded, dev, image_size or loaded.image_size or 224


def open_eval_split(meta_dir: str | os.PathLike, *, image_size: int, images: Optional[str | os.PathLike] = None,
                    mask_root: Optional[str | os.PathLike] = None) -> WSOLDataset:
    """A split with boxes or masks, opened with the evaluation transform at ``image_size``.

    Raises:
        InputError: unreadable metadata, or a split without ``localization.txt``.
    """
    from wsol.data.datasets import open_split
    from wsol.data.metadata import read_metadata
    from wsol.data.transforms import eval_transform

    meta = read_metadata(meta_dir)
    if meta.localization not in ("boxes", "masks"):
        raise InputError("split has no localization.txt (no boxes or masks to score against)", path=meta_dir)
    return open_split(meta_dir, image_root=images, mask_root=mask_root, localization=meta.localization,
                      image_size=image_size, transform=eval_transform(image_size=image_size))


def evaluate_checkpoint(checkpoint: str | os.PathLike, metadata: str | os.PathLike, *,
                        images: Optional[str | os.PathLike] = None, mask_root: Optional[str | os.PathLike] = None,
                        arch: Optional[str] = None, large_feature_map: Optional[bool] = None, cam: str = "cam",
                        protocol: str = "wsolevaluation", interval: Optional[float] = None,
                        iou_thresholds: Optional[tuple[int, ...]] = None, image_size: Optional[int] = None,
                        batch_size: int = 32, workers: int = 2, score_threads: int = 1,
                        calibrate_on: Optional[str | os.PathLike] = None,
                        save_scoremaps: Optional[str | os.PathLike] = None,
                        per_image: Optional[str | os.PathLike] = None, shard: tuple[int, int] = (0, 1),
                        device: str | torch.device = "auto", progress: bool = False) -> Optional[dict[str, Any]]:
    """A checkpoint's localization on a metadata split: the job behind ``wsol evaluate``.

    Loads the checkpoint (:func:`wsol.models.loading.load_model`), streams the split through the model and the
    scoring engine (:func:`evaluate_split`), optionally chooses the threshold on a held-out split, and returns
    every metric with the run's provenance. Under ``torchrun`` each rank evaluates its shard and rank 0 merges the
    counts (the numbers equal a single-process run).

    Args:
        checkpoint: ``wsol train`` ``model.pt`` / ``checkpoint.pt`` or a state dict (torchvision / wsolevaluation).
        metadata: split folder with boxes (MaxBoxAcc, Top-k Loc) or masks (PxAP).
        images, mask_root: image and mask roots (default: those recorded in ``dataset.json``).
        arch, large_feature_map: the architecture when the checkpoint does not say.
        cam: a registered CAM method (``wsol list cams``).
        protocol, interval, iou_thresholds: scoring protocol and its settings (default: the protocol's).
        image_size: network input and score-map side (default: the checkpoint's training size, else 224).
        batch_size, workers, score_threads: throughput settings (the numbers do not depend on them).
        calibrate_on: held-out box split (``train_fullsup``): the result gains ``calibrated`` (this split at the
            threshold chosen there).
        save_scoremaps: also write ``<image_id>.npy`` maps there (:mod:`wsol.localization.scoremaps`).
        per_image: also write every image's outcome to this ``.npz`` file (:mod:`wsol.localization.per_image`:
            predicted classes, which thresholds give a correct box at each IoU, the predicted box at tau* when
            calibrated, else at the fixed tau); the result names it under ``per_image``. Not with shards.
        shard: ``(i, n)``: evaluate every ``n``-th image from ``i``; the result then carries ``shard`` and the
            accumulator ``state`` for :func:`merge_shards`.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or a :class:`torch.device`.
        progress: tqdm bars.

    Returns:
        the results dict that ``wsol evaluate`` writes (``None`` on ranks other than 0 under ``torchrun``).

    Raises:
        InputError: bad checkpoint, split, settings or device (one line).

    Example::

        from wsol.api import evaluate_checkpoint
        r = evaluate_checkpoint("runs/demo/vanilla/model.pt", "datasets/digits/metadata/test",
                                calibrate_on="datasets/digits/metadata/train_fullsup", device="cpu")
        print(r["maxboxacc"], r["maxboxacc_v2"], r["calibrated"]["box_acc_v1"])
    """
    import torch.distributed as dist

    import wsol
    from wsol.engine.distributed import init_from_env, rank_and_world
    from wsol.localization.metrics import localization_results, merge_states

    start = time.perf_counter()
    if per_image is not None and (tuple(shard) != (0, 1) or int(os.environ.get("WORLD_SIZE", "1")) > 1):
        raise InputError("--per-image needs the whole split in one process (no --shard, no torchrun)",
                         value=os.fspath(per_image))
    loaded, dev, size = open_checkpoint(checkpoint, arch=arch, large_feature_map=large_feature_map, device=device,
                                        image_size=image_size)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    started = init_from_env(dev.type)
    rank, _ = rank_and_world()
    try:
        if dist.is_initialized():
            if tuple(shard) != (0, 1):
                raise InputError("--shard and torchrun both split the data; use one of them")
            shard = rank_and_world()
        try:
            settings = EvalSettings(cam=cam, protocol=protocol, interval=interval,
                                    iou_thresholds=tuple(iou_thresholds) if iou_thresholds else None,
                                    image_size=size, batch_size=batch_size, workers=workers,
                                    score_threads=score_threads, shard=tuple(shard))
        except ValueError as e:
            raise InputError(str(e)) from None
        model = loaded.model.to(dev)
        progress = progress and rank == 0
        test_split = open_eval_split(metadata, image_size=size, images=images, mask_root=mask_root)
        cal_split = None if calibrate_on is None else open_eval_split(calibrate_on, image_size=size, images=images,
                                                                       mask_root=mask_root)
        if cal_split is not None and "masks" in (test_split.localization, cal_split.localization):
            raise InputError("calibration applies to box splits only (PxAP has no threshold to calibrate; a mask "
                             "split's held-out split, OpenImages val, serves model selection: evaluate it on its "
                             "own)", path=calibrate_on)
        cal = None
        box_tau_index = None
        if cal_split is not None:  # first, so that per-image boxes can be kept at the calibrated tau
            cal = evaluate_split(model, cal_split, settings=settings, device=dev, progress=progress)
            if per_image is not None and isinstance(cal.accumulator, BoxAccumulator):
                box_tau_index = int(np.argmax(cal.accumulator.box_acc(50, all_contours=False)))
        test = evaluate_split(model, test_split, settings=settings, device=dev, save_dir=save_scoremaps,
                              per_image=per_image is not None, box_tau_index=box_tau_index, progress=progress)
        accs = [test.accumulator] + ([cal.accumulator] if cal is not None else [])
        if dist.is_initialized():  # gather every rank's counts; rank 0 merges
            gathered: list = [None] * dist.get_world_size()
            dist.all_gather_object(gathered, [a.state_dict() for a in accs])
            if rank != 0:
                return None
            accs = [merge_states([part[k] for part in gathered]) for k in range(len(accs))]
            shard = (0, 1)
    finally:
        if started:
            dist.destroy_process_group()
    try:
        results = localization_results(accs[0], accs[1] if len(accs) == 2 else None)
    except ValueError as e:
        raise InputError(str(e), path=calibrate_on) from None
    if len(accs) == 2:
        results["calibrated"]["calibration_split"] = {"metadata": os.fspath(calibrate_on),
                                                      "num_images": accs[1].num_images}
    results.update({
        "metadata": os.fspath(metadata), "checkpoint": os.fspath(checkpoint), **loaded.provenance(), "cam": cam,
        "image_size": size, "wsol_version": wsol.__version__, "device": str(dev), "world_size": world,
        "timing": {**test.timing, "total_s": time.perf_counter() - start},
    })
    if tuple(shard) != (0, 1):
        results["shard"] = list(shard)
        results["state"] = [a.state_dict() for a in accs]
    if per_image is not None:
        from wsol.localization.per_image import write_per_image

        info = {k: results.get(k) for k in ("checkpoint", "checkpoint_sha256", "metadata", "cam", "image_size",
                                            "protocol", "interval", "wsol_version")}
        write_per_image(per_image, test.per_image.arrays(), info=info)
        results["per_image"] = os.fspath(per_image)
    return results


#: Settings every shard of one evaluation must share.
SHARD_KEYS = ("checkpoint_sha256", "cam", "image_size", "metadata")
#: Provenance copied from the first shard into the merged result.
PROVENANCE_KEYS = ("metadata", "checkpoint", "checkpoint_sha256", "checkpoint_kind", "arch", "num_classes",
                   "large_feature_map", "cam", "image_size", "wsol_version")


def merge_shards(parts: list[str | os.PathLike]) -> dict[str, Any]:
    """Combine ``evaluate_checkpoint(..., shard=(i, n))`` results (JSON files) into the whole-run result.

    The parts must be shards ``0 .. n-1`` of one evaluation (same checkpoint, CAM, size and split), each once; the
    numbers equal those of one unsharded run. The job behind ``wsol merge``.

    Returns:
        the metrics of the whole split (``calibrated`` too when the parts carry a calibration split), the first
        part's provenance, ``merged_from`` and ``timing`` (the parts' summed time).

    Raises:
        InputError: unreadable part, not a shard result, missing / repeated shards, parts that differ.

    Example::

        from wsol.api import merge_shards
        merged = merge_shards(["part0.json", "part1.json"])
    """
    import json

    from wsol.localization.metrics import accumulator_from_state, localization_results

    loaded = []
    for path in parts:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError("part not found", path=path) from None
        except json.JSONDecodeError as e:
            raise InputError("invalid JSON", path=path, line=e.lineno, value=e.msg) from None
        if not isinstance(data, dict) or "state" not in data or "shard" not in data:
            raise InputError("not a shard result (written by `wsol evaluate --shard i/n`)", path=path)
        loaded.append((path, data))
    if not loaded:
        raise InputError("no part to merge")
    first = loaded[0][1]
    n = first["shard"][1]
    seen = sorted(d["shard"][0] for _, d in loaded)
    if any(d["shard"][1] != n for _, d in loaded) or seen != list(range(n)):
        raise InputError(f"parts must be shards 0..{n - 1} of {n}, each once", path=loaded[0][0], value=f"got {seen}")
    for path, d in loaded[1:]:
        for k in SHARD_KEYS:
            if d.get(k) != first.get(k):
                raise InputError(f"parts differ in {k}", path=path, value=f"{d.get(k)} vs {first.get(k)}")
    accs: list = []
    for path, d in loaded:
        try:
            mine = [accumulator_from_state(s) for s in d["state"]]
            if accs and len(mine) != len(accs):
                raise ValueError(f"{len(mine)} accumulator states, the first part has {len(accs)}")
            accs = [a.merge(b) for a, b in zip(accs, mine)] if accs else mine
        except (ValueError, KeyError, TypeError) as e:
            raise InputError(f"cannot merge this part: {e}", path=path) from None
    try:
        results = localization_results(accs[0], accs[1] if len(accs) == 2 else None)
    except ValueError as e:
        raise InputError(str(e), path=loaded[0][0]) from None
    results.update({k: first[k] for k in PROVENANCE_KEYS if k in first})
    results["merged_from"] = [os.fspath(p) for p, _ in loaded]
    results["timing"] = {"sum_of_parts_total_s": sum(d["timing"]["total_s"] for _, d in loaded)}
    return results


def cam_examples(model: WSOLModel, dataset: WSOLDataset, *, indices: list[int], threshold: Optional[float],
                 device: torch.device, cam: str = "cam") -> dict[str, Any]:
    """CAMs with the ground truth (and the predicted boxes) of a few images, for figures (CAM grids, galleries).

    Args:
        model: the network, on ``device``, in eval mode.
        dataset: a box or mask split opened with the evaluation transform (see :func:`open_eval_split`).
        indices: the images to show.
        threshold: CAM threshold of the predicted box (largest region, e.g. the calibrated ``threshold_v1``); not
            used on a mask split (None there).
        device: where the model runs.
        cam: a registered CAM method.

    Returns:
        ``images`` uint8 ``(N, S, S, 3)`` (de-normalised), ``maps`` float64 ``(N, S, S)`` in [0, 1] (the evaluated
        score maps), ``labels``; a box split adds ``gt_boxes`` (per image ``(G, 4)`` xyxy in the S×S frame) and
        ``pred_boxes`` (per image one ``[x0, y0, x1, y1]``), a mask split ``gt_masks`` and ``ignore_masks`` (bool
        ``(N, S, S)``: the union of the instance masks and the ignore region, as scored).
    """
    from wsol.data.transforms import denormalize
    from wsol.localization.protocol import resize_boxes
    from wsol.localization.threshold import score_boxes

    samples = [dataset[i] for i in indices]
    size = (dataset.image_size, dataset.image_size)
    images = torch.stack([s["image"] for s in samples]).to(device)
    labels = torch.tensor([s["label"] for s in samples], dtype=torch.int64, device=device)
    _, cams = CAMS.get(cam)(model, images, labels)
    maps = resize_and_normalize(cams.float().cpu().numpy(), size)
    images_u8 = (denormalize(images.cpu()).permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    if dataset.localization == "masks":
        return {"images": images_u8, "maps": maps, "labels": [int(s["label"]) for s in samples],
                "gt_masks": np.stack([s["mask"].numpy() for s in samples]),
                "ignore_masks": np.stack([s["ignore"].numpy() for s in samples])}
    tau = np.array([threshold])
    meta = dataset.metadata
    gts = [resize_boxes(meta.boxes[s["image_id"]], meta.sizes[s["image_id"]], size) for s in samples]
    return {"images": images_u8, "maps": maps, "gt_boxes": gts,
            "pred_boxes": [score_boxes(m, g, tau).v1_box[0].tolist() for m, g in zip(maps, gts)],
            "labels": [int(s["label"]) for s in samples]}


#: The variants :func:`mixed_cam_examples` shows, in order.
MIXED_VARIANTS = ("original", "mixup", "cutout", "cutmix")


def mixed_cam_examples(model: WSOLModel, dataset: WSOLDataset, *, index_a: int, index_b: int,
                       device: torch.device, lam: float = 0.5, cam: str = "cam") -> dict[str, Any]:
    """The CutMix paper's Figure 1 material: image A, its Mixup / Cutout / CutMix versions with image B, and the
    model's CAMs for A's class and for B's class on each.

    The variants are fixed, not sampled, so that every model is shown the same inputs: Mixup ``lam * A + (1 - lam)
    * B``; Cutout and CutMix on the centred square of area ``1 - lam`` (side ``round(S * sqrt(1 - lam))``), filled
    with 0 in the normalised input (the dataset mean) for Cutout and with B's pixels for CutMix.

    Args:
        model: the network, on ``device``, in eval mode.
        dataset: a split opened with the evaluation transform (see :func:`open_eval_split`).
        index_a, index_b: the two images (of different classes, for a meaningful figure).
        device: where the model runs.
        lam: the weight of A (Mixup) and the area kept of A (Cutout, CutMix).
        cam: a registered CAM method.

    Returns:
        ``variants`` (:data:`MIXED_VARIANTS`), ``images`` uint8 ``(4, S, S, 3)``, ``cams_a`` / ``cams_b`` float64
        ``(4, S, S)`` in [0, 1], ``labels`` ``[class of A, class of B]``, ``probs_a`` / ``probs_b`` (softmax of the
        two classes per variant), ``box`` the ``xyxy`` half-open square.
    """
    import math

    from wsol.data.transforms import denormalize
    from wsol.methods.cutmix import apply_cutmix
    from wsol.methods.cutout import apply_cutout
    from wsol.methods.mixup import apply_mixup

    a, b = dataset[index_a], dataset[index_b]
    pair = torch.stack([a["image"], b["image"]])
    size = pair.shape[-1]
    side = int(round(size * math.sqrt(1.0 - lam)))
    lo = (size - side) // 2
    box = torch.tensor([lo, lo, lo + side, lo + side], dtype=torch.int64)
    swap = torch.tensor([1, 0])
    images = torch.stack([pair[0], apply_mixup(pair, lam, swap)[0],
                          apply_cutout(pair[:1], box.view(1, 1, 4), fill=0.0)[0], apply_cutmix(pair, box, swap)[0]])
    images = images.to(device)
    out: dict[str, Any] = {"variants": list(MIXED_VARIANTS), "labels": [int(a["label"]), int(b["label"])],
                           "box": box.tolist()}
    for key, label in (("a", int(a["label"])), ("b", int(b["label"]))):
        classes = torch.full((len(images),), label, dtype=torch.int64, device=device)
        logits, cams = CAMS.get(cam)(model, images, classes)
        out[f"cams_{key}"] = resize_and_normalize(cams.float().cpu().numpy(), (size, size))
        out[f"probs_{key}"] = logits.float().softmax(dim=1)[:, label].detach().cpu().tolist()
    out["images"] = (denormalize(images.cpu()).permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    return out


def cam_gallery(checkpoint: str | os.PathLike, metadata: str | os.PathLike, per_image: str | os.PathLike, *,
                count: int = 6, seed: int = 0, images: Optional[str | os.PathLike] = None,
                mask_root: Optional[str | os.PathLike] = None, arch: Optional[str] = None,
                large_feature_map: Optional[bool] = None, cam: str = "cam", image_size: Optional[int] = None,
                device: str | torch.device = "auto") -> dict[str, Any]:
    """The best, worst and random test images of an evaluation, with CAMs and their ground truth: the gallery of
    ``wsol evaluate --figures`` and of the CAM notebooks.

    The images are chosen from the evaluation's per-image file (:func:`wsol.localization.per_image.gallery_indices`:
    by the IoU of the kept box on a box split, by the image's own PxAP on a mask split), and the CAMs are recomputed
    for them only, with the same pipeline, so the predicted boxes equal those of the file.

    Args:
        checkpoint, metadata: as evaluated; ``per_image`` the file that evaluation wrote (``--per-image``).
        count: images per group.
        seed: seed of the random group.
        images, mask_root, arch, large_feature_map, cam, image_size, device: as in :func:`evaluate_checkpoint`.

    Returns:
        ``kind`` (``"boxes"`` / ``"masks"``), ``threshold`` (the kept box's tau; None on a mask split), and per group
        ``best`` / ``worst`` / ``random``: ``indices``, ``image_ids``, ``images`` uint8 ``(N, S, S, 3)``, ``maps``
        ``(N, S, S)`` in [0, 1], ``labels``, ``predicted`` (top-1 classes; None on a mask split, whose file has no
        predictions), ``score`` and ``score_name`` (``"IoU"`` of the predicted box, or the image's ``"AP"`` in
        percent, NaN without foreground); a box split adds ``gt_boxes``, ``pred_boxes`` and ``iou`` (= ``score``),
        a mask split ``gt_masks`` and ``ignore_masks``.

    Raises:
        InputError: unreadable inputs, or a per-image file of another checkpoint or split (one line).

    Example::

        from wsol.api import cam_gallery, evaluate_checkpoint
        meta = "datasets/digits/metadata"
        evaluate_checkpoint("runs/demo/cutmix/model.pt", f"{meta}/test", calibrate_on=f"{meta}/train_fullsup",
                            per_image="cutmix.npz", device="cpu")
        g = cam_gallery("runs/demo/cutmix/model.pt", f"{meta}/test", "cutmix.npz", device="cpu")
        print(g["worst"]["iou"])
    """
    from wsol.localization.per_image import image_scores, rank_gallery, read_per_image

    data = read_per_image(per_image)
    loaded, dev, size = open_checkpoint(checkpoint, arch=arch, large_feature_map=large_feature_map, device=device,
                                        image_size=image_size)
    if data["info"].get("checkpoint_sha256") not in (None, loaded.sha256):
        raise InputError("per-image file was written for another checkpoint", path=per_image,
                         value=data["info"].get("checkpoint_sha256"))
    dataset = open_eval_split(metadata, image_size=size, images=images, mask_root=mask_root)
    if list(dataset.metadata.image_ids) != [str(i) for i in data["image_ids"]] or \
            dataset.localization != data.get("kind"):
        raise InputError("per-image file lists other images than this split", path=per_image)
    try:
        scores = image_scores(data)
        groups = rank_gallery(scores, count=count, seed=seed)
    except ValueError as e:
        raise InputError(str(e), path=per_image) from None
    model = loaded.model.to(dev).eval()
    masks = dataset.localization == "masks"
    threshold = None if masks else float(data["box_threshold"])
    out: dict[str, Any] = {"kind": dataset.localization, "threshold": threshold,
                           "checkpoint": os.fspath(checkpoint), "metadata": os.fspath(metadata)}
    for name, indices in groups.items():
        shown = cam_examples(model, dataset, indices=indices, threshold=threshold, device=dev, cam=cam)
        score = [float(scores[i]) for i in indices]
        out[name] = {**shown, "indices": indices, "image_ids": [str(data["image_ids"][i]) for i in indices],
                     "score": score, "score_name": "AP" if masks else "IoU",
                     "predicted": [int(data["top5"][i, 0]) for i in indices] if "top5" in data else None}
        if not masks:
            out[name]["iou"] = score
    return out
