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

import hashlib
import io
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

from wsol.cam import class_activation_maps, grad_cam, resize_and_normalize
from wsol.data.datasets import WSOLDataset
from wsol.errors import InputError
from wsol.fileio import atomic_write_bytes
from wsol.localization.metrics import BoxAccumulator, MaskAccumulator
from wsol.models.base import MODELS, WSOLModel
from wsol.models.builder import build_model
from wsol.models.weights import load_state_dict_checked

CAM_METHODS = ("cam", "gradcam", "gradcam++")


# ------------------------------------------------------------------------------------------------ model loading
@dataclass
class LoadedModel:
    """A model ready for evaluation and where it came from.

    Attributes:
        model: the network (on the CPU, eval mode).
        arch: registered model name.
        num_classes: size of the classifier.
        large_feature_map: the variant built.
        kind: ``"wsol-checkpoint"`` (from ``wsol train``) or ``"state-dict"`` (torchvision / wsolevaluation layout).
        sha256: hex digest of the file.
        image_size: the training input size recorded in a ``wsol train`` checkpoint, else ``None``.
    """

    model: WSOLModel
    arch: str
    num_classes: int
    large_feature_map: bool
    kind: str
    sha256: str
    image_size: Optional[int] = None


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def infer_arch(state: dict[str, torch.Tensor]) -> Optional[str]:
    """Guess the registered architecture from state-dict keys (``None`` when unsure)."""
    keys = set(state)
    if any(k.startswith("SPG_A3") or k.startswith("Mixed_6e") for k in keys):
        return "inception_v3"
    if "conv6.weight" in keys or any(k.startswith("features.28") for k in keys):
        return "vgg16"
    if any(k.startswith("block5.") for k in keys):
        return "digits_net"
    if any(k.startswith("block4.") for k in keys):
        return "digits_cnn"
    if "layer1.0.conv3.weight" in keys:
        return "resnet50"
    if "layer1.0.conv1.weight" in keys:
        return "resnet18"
    return None


def load_model_for_eval(path: str | os.PathLike, *, arch: Optional[str] = None,
                        large_feature_map: Optional[bool] = None) -> LoadedModel:
    """Build and fill a model from a ``wsol train`` checkpoint or a plain state dict (``weights_only=True``).

    The class count comes from the classifier's weight; the architecture from the checkpoint, ``arch`` or the keys.

    Raises:
        InputError: unreadable file, refused pickle, unknown architecture, no classifier, weights that do not fit.
    """
    from wsol.models.weights import read_state_dict

    path = Path(path)
    if not path.is_file():
        raise InputError("checkpoint not found", path=path)
    digest = sha256_file(path)
    options: dict[str, Any] = {}
    kind = "state-dict"
    image_size: Optional[int] = None
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        raw = None  # read_state_dict below gives the precise error
    if isinstance(raw, dict) and raw.get("format") == "wsol-train-checkpoint":
        kind = "wsol-checkpoint"
        config = raw.get("config", {})
        arch = arch or raw.get("arch")
        options = dict(config.get("model", {}))
        image_size = int(config["image_size"]) if "image_size" in config else None
        if large_feature_map is None:
            large_feature_map = bool(config.get("large_feature_map", False))
        state = {k: v for k, v in raw["model"].items()}
    else:
        state = read_state_dict(path)
    arch = arch or infer_arch(state)
    if arch is None:
        raise InputError("cannot tell the architecture from the weights; pass --arch", path=path,
                         value=f"one of {', '.join(MODELS.names())}")
    if arch not in MODELS:
        raise InputError("unknown architecture", path=path, value=f"{arch} (valid: {', '.join(MODELS.names())})")
    weight = state.get("fc.weight", state.get("module.fc.weight"))
    if weight is None or weight.ndim != 2:
        raise InputError("the weights have no classifier (fc.weight); CAMs need one", path=path)
    num_classes = int(weight.shape[0])
    model = build_model(arch, num_classes=num_classes, large_feature_map=bool(large_feature_map), **options)
    load_state_dict_checked(model, state, source=str(path))
    model.eval()
    return LoadedModel(model=model, arch=arch, num_classes=num_classes, large_feature_map=bool(large_feature_map),
                       kind=kind, sha256=digest, image_size=image_size)


# --------------------------------------------------------------------------------------------------- evaluation
@dataclass(frozen=True)
class EvalSettings:
    """How to evaluate.

    Attributes:
        cam: ``"cam"``, ``"gradcam"`` or ``"gradcam++"``.
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
        if self.cam not in CAM_METHODS:
            raise ValueError(f"cam must be one of {', '.join(CAM_METHODS)}; got {self.cam!r}")
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


def make_accumulator(kind: str, settings: EvalSettings) -> BoxAccumulator | MaskAccumulator:
    """A fresh accumulator for a ``"boxes"`` or ``"masks"`` split."""
    if kind == "boxes":
        return BoxAccumulator(protocol=settings.protocol, interval=settings.interval,
                              iou_thresholds=settings.iou_thresholds)
    from wsol.localization.protocol import get_protocol

    return MaskAccumulator(interval=settings.interval or get_protocol(settings.protocol).interval)


def _collate(samples: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"image": torch.stack([s["image"] for s in samples]),
                           "label": torch.tensor([s["label"] for s in samples], dtype=torch.int64),
                           "image_id": [s["image_id"] for s in samples]}
    if "mask" in samples[0]:
        out["mask"] = torch.stack([s["mask"] for s in samples])
        out["ignore"] = torch.stack([s["ignore"] for s in samples])
    return out


def save_score_map(root: Path, image_id: str, score_map: np.ndarray) -> None:
    """Write ``root/<image_id>.npy`` atomically, the id's own extension kept (``a/b.jpg`` -> ``a/b.jpg.npy``).

    That is wsolevaluation's layout (``np.save(join(folder, image_id), cam)`` appends ``.npy``), which ``wsol
    score`` and wsolevaluation's evaluation script read. Image ids are safe relative paths (checked when the
    metadata is read), so the file stays under ``root``.
    """
    target = score_map_path(root, image_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.save(buffer, score_map.astype(np.float64, copy=False), allow_pickle=False)
    atomic_write_bytes(target, buffer.getvalue())


def score_map_path(root: Path, image_id: str) -> Path:
    """Where :func:`save_score_map` puts the map of ``image_id``."""
    return root / (image_id + ".npy")


class _Scorer:
    """Scoring threads, each with its own accumulator, fed through a bounded queue (backpressure on the model)."""

    def __init__(self, kind: str, settings: EvalSettings, meta: Any, save_dir: Optional[Path]) -> None:
        self.kind, self.settings, self.meta, self.save_dir = kind, settings, meta, save_dir
        n = settings.score_threads
        self.accs = [make_accumulator(kind, settings) for _ in range(max(1, n))]
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
            if self.kind == "boxes":
                acc.update(maps[j], self.meta.boxes[image_id], self.meta.sizes[image_id], label=int(labels[j]),
                           top5=[int(c) for c in top5[j]], path=where)
            else:
                fg = masks[j]
                acc.update(maps[j], fg, ignores[j] & ~fg, path=where)
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

    def finish(self) -> tuple[BoxAccumulator | MaskAccumulator, float]:
        for _ in self.threads:
            self.queue.put(None)
        for t in self.threads:
            t.join()
        if self.error is not None:
            raise self.error
        acc = self.accs[0]
        for other in self.accs[1:]:
            acc.merge(other)
        return acc, sum(self.score_s)


def evaluate_split(model: WSOLModel, dataset: WSOLDataset, *, settings: EvalSettings, device: torch.device,
                   save_dir: Optional[str | os.PathLike] = None, progress: bool = False) -> EvalOutcome:
    """Evaluate ``model`` on ``dataset`` (its shard ``settings.shard``) in one streaming pass.

    Args:
        model: the network, on ``device``; put in eval mode here and left so.
        dataset: a split opened with ``localization="boxes"`` or ``"masks"`` and the evaluation transform at
            ``settings.image_size``.
        settings: see :class:`EvalSettings`.
        device: where the model runs.
        save_dir: also write every score map as ``<image_id>.npy`` (float64, ``image_size`` square) there.
        progress: tqdm bar.

    Returns:
        the accumulator (``compute()`` gives the metrics; ``state_dict()`` a shard's state) and ``timing``:
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
                        num_workers=settings.workers, collate_fn=_collate, pin_memory=device.type == "cuda")
    model.eval()
    save = Path(save_dir) if save_dir is not None else None
    scorer = _Scorer(kind, settings, dataset.metadata, save)
    size = (settings.image_size, settings.image_size)
    t_start = time.perf_counter()
    model_s = 0.0
    bar = tqdm(total=len(indices), desc="evaluate", unit="img", disable=not progress, leave=False)
    try:
        for batch in loader:
            t0 = time.perf_counter()
            images = batch["image"].to(device, non_blocking=True)
            labels = batch["label"].to(device)
            if settings.cam == "cam":
                logits, cams = class_activation_maps(model, images, labels)
            else:
                logits, cams = grad_cam(model, images, labels, plus=settings.cam == "gradcam++")
            top5 = logits.topk(min(5, logits.shape[1]), dim=1).indices.cpu().numpy()
            maps = resize_and_normalize(cams.float().cpu().numpy(), size)
            model_s += time.perf_counter() - t0
            masks = batch["mask"].numpy() if "mask" in batch else None
            ignores = batch["ignore"].numpy() if "ignore" in batch else None
            scorer.submit((batch["image_id"], maps, batch["label"].numpy(), top5, masks, ignores))
            bar.update(len(batch["image_id"]))
    finally:
        bar.close()
        acc, score_s = scorer.finish()
    wall = time.perf_counter() - t_start
    return EvalOutcome(acc, {"model_s": model_s, "score_s": score_s, "wait_s": scorer.wait_s, "wall_s": wall,
                             "images_per_s": len(indices) / max(wall, 1e-9), "num_images": len(indices)})
