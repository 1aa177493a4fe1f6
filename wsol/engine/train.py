"""The training loop: :func:`fit` trains a :class:`~wsol.config.TrainConfig` into a run folder.

Its steps, each a function: :func:`prepare_training` (checks, model / method / optimizer / scaler, the splits, the
restored checkpoint: a :class:`TrainSetup`), then per epoch :func:`train_one_epoch` (returns the epoch record),
:func:`evaluate_epoch` and :func:`save_epoch` (log line and ``checkpoint.pt``), and :func:`finish_run` (``model.pt``
and ``metrics.json``). The checkpoint dicts come from :mod:`wsol.engine.checkpoint`.

Run folder (created by the caller; only rank 0 writes)::

    config.json     the resolved config
    checkpoint.pt   full state after the last finished epoch (atomic; see wsol.engine.checkpoint)
    log.jsonl       one JSON record per line: {"event": "step", ...} every ``log_every`` steps and
                    {"event": "epoch", ...} after every epoch (loss, lr, accuracy, images/s)
    model.pt        the final weights: {"model": state_dict, "arch", "num_classes", "config", ...}
    metrics.json    the last epoch record plus the total training time

Determinism and resume. Everything random is drawn from generators seeded from ``(seed, epoch, rank)`` at the
start of every epoch: the shuffling (``DistributedSampler`` with ``seed``, also for one process), the augmentation
of the in-memory path, the DataLoader workers' seeds, torch's global generator (PIL transforms without workers) and
the training method's ``torch.Generator``. The learning rate is a pure function of the step
(:func:`lr_factor`). So an epoch depends only on the state at its start, which the checkpoint holds (model,
optimizer, step, scaler): ``--resume`` after epoch ``k`` gives the same weights as an uninterrupted run, bit for
bit on the CPU.

Distributed: under ``torchrun`` (``torch.distributed`` initialised by the caller) the model is wrapped in
``DistributedDataParallel``, each rank reads its shard of every epoch, evaluation counts are summed over ranks, and
rank 0 writes the files. ``batch_size`` is per process.
"""
from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import DataLoader, DistributedSampler

from wsol.config import TrainConfig
from wsol.data.datasets import WSOLDataset, collate_image_label, open_split
from wsol.data.memory import MEMORY_CROPS, MemorySplit, augment_batch, eval_batch, load_split
from wsol.data.prepare import read_dataset_info
from wsol.data.transforms import eval_transform, train_transform
from wsol.devices import resolve_device
from wsol.engine.distributed import rank_and_world
from wsol.engine.checkpoint import (load_checkpoint, model_file_state, save_checkpoint, set_rng_state,
                                    training_state)
from wsol.errors import InputError
from wsol.fileio import atomic_write_json
from wsol.methods.base import METHODS, MixedBatch, mixed_cross_entropy, soft_cross_entropy, soft_targets
from wsol.methods.feature_cutmix import forward_with_feature_mix
from wsol.models.base import WSOLModel
from wsol.models.builder import build_model

logger = logging.getLogger(__name__)

#: Config keys ``resume`` may change (they do not change what is computed).
RESUME_MUTABLE = ("workers", "threads", "log_every", "device")


def _run_file(name: str) -> Any:
    return property(lambda self: self.root / name, doc=f"``{name}`` in the run folder")


@dataclass(frozen=True)
class RunFiles:
    """Paths of a run folder (see the module docstring)."""

    root: Path
    config = _run_file("config.json")
    checkpoint = _run_file("checkpoint.pt")
    log = _run_file("log.jsonl")
    model = _run_file("model.pt")
    metrics = _run_file("metrics.json")


# --------------------------------------------------------------------------------------------------- pure helpers
def lr_factor(step: int, *, config: TrainConfig, steps_per_epoch: int) -> float:
    """Learning-rate multiplier of optimizer step ``step`` (0-based).

    Linear warm-up ``(step + 1) / W`` over the first ``W = round(warmup_epochs * steps_per_epoch)`` steps, then
    ``"constant"``: 1; ``"step"``: ``gamma ** (epoch // step_epochs)`` with ``epoch = step // steps_per_epoch``;
    ``"cosine"``: ``(1 + cos(pi * t)) / 2`` with ``t`` going from 0 at the end of warm-up to 1 at the last step.
    """
    warm = int(round(config.warmup_epochs * steps_per_epoch))
    if step < warm:
        return (step + 1) / warm
    if config.schedule == "constant":
        return 1.0
    if config.schedule == "step":
        return config.gamma ** ((step // steps_per_epoch) // config.step_epochs)
    total = config.epochs * steps_per_epoch
    t = (step - warm) / max(1, total - 1 - warm)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))


def derive_seed(*parts: int) -> int:
    """A 63-bit seed from integers (SplitMix64 mixing), so that streams for different (seed, epoch, rank) differ."""
    x = 0x9E3779B97F4A7C15
    for p in parts:
        x = (x ^ (int(p) & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        x = (x ^ (x >> 31)) * 0x94D049BB133111EB & 0xFFFFFFFFFFFFFFFF
        x ^= x >> 29
    return x & 0x7FFFFFFFFFFFFFFF


def build_method(config: TrainConfig) -> Any:
    """The configured training method; bad options raise ``ValueError`` naming the method's valid ones."""
    import inspect

    cls = METHODS.get(config.method)
    valid = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(config.method_options) - set(valid))
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(unknown)} for method {config.method!r}; "
                         f"valid: {', '.join(valid) or '(none)'}")
    opts = {k: tuple(v) if isinstance(v, list) else v for k, v in config.method_options.items()}
    return cls(**opts)


def batch_loss(logits: Tensor, batch: MixedBatch, *, kind: str, label_smoothing: float) -> Tensor:
    """The configured loss: ``"two_target"`` (:func:`mixed_cross_entropy`) or ``"soft"`` (soft targets)."""
    if kind == "soft":
        targets = soft_targets(batch, logits.shape[1], label_smoothing=label_smoothing)
        return soft_cross_entropy(logits, targets)
    return mixed_cross_entropy(logits, batch, label_smoothing=label_smoothing)


class TrainForward(nn.Module):
    """The model's training forward pass, optionally with feature-level mixing, as one module (so that DDP sees it).

    ``forward(images, feature_mix)`` returns ``(logits, lam)``; ``lam`` is ``None`` without feature mixing.
    """

    def __init__(self, model: WSOLModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: Tensor, feature_mix: Optional[Any] = None) -> tuple[Tensor, Optional[Tensor]]:
        if feature_mix is None:
            return self.model(images), None
        model = self.model

        def head(features: Tensor) -> Tensor:
            return model.classify(features)

        logits, lam = forward_with_feature_mix(model.stages(), head, images, feature_mix)
        return logits, lam


# --------------------------------------------------------------------------------------------------------- data
def metadata_root(config: TrainConfig) -> Path:
    """Folder holding the split folders: ``data/metadata`` for digits, ``data`` for a prepared dataset."""
    root = Path(config.data)
    return root / "metadata" if config.dataset == "digits" else root


def open_training_splits(config: TrainConfig) -> tuple[WSOLDataset, Optional[WSOLDataset], int]:
    """The train and evaluation datasets (PIL transforms of the config) and the number of classes.

    Raises:
        InputError: missing split folder or images (named in the message).
    """
    meta = metadata_root(config)
    images = config.images or None
    splits = [config.train_split] + ([config.eval_split] if config.eval_split else [])
    for split in splits:
        if not (meta / split).is_dir():
            hint = " (build it with `wsol prepare digits`)" if config.dataset == "digits" else ""
            raise InputError(f"split folder not found{hint}", path=meta / split)
    train = open_split(meta / config.train_split, image_root=images, image_size=config.image_size,
                       transform=train_transform(image_size=config.image_size, resize_size=config.resize_size,
                                                 crop=config.crop, pad=config.pad, hflip=config.hflip))
    evaluation = None
    if config.eval_split:
        evaluation = open_split(meta / config.eval_split, image_root=images, image_size=config.image_size,
                                transform=eval_transform(image_size=config.image_size))
    info = read_dataset_info(meta) or {}
    num_classes = info.get("num_classes")
    if not isinstance(num_classes, int) or num_classes < 1:
        num_classes = max(train.metadata.labels.values()) + 1
    return train, evaluation, int(num_classes)


def _shard(n: int, *, rank: int, world: int, seed: int, epoch: int, shuffle: bool) -> list[int]:
    """Indices of this rank for one epoch (``DistributedSampler``'s order, also for a single process)."""
    sampler = DistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=shuffle, seed=seed,
                                 drop_last=False)
    sampler.set_epoch(epoch)
    return list(sampler)


def _memory_batches(split: MemorySplit, indices: list[int], *, config: TrainConfig, device: torch.device,
                    generator: torch.Generator, num_steps: int) -> Iterator[tuple[Tensor, Tensor]]:
    bs = config.batch_size
    for s in range(num_steps):
        idx = torch.tensor(indices[s * bs:(s + 1) * bs], dtype=torch.int64)
        raw = split.images[idx].to(device, non_blocking=True)
        images = augment_batch(raw, crop=config.crop, size=config.image_size, pad=config.pad, hflip=config.hflip,
                               generator=generator)
        yield images, split.labels[idx].to(device, non_blocking=True)


def _loader_batches(dataset: WSOLDataset, indices: list[int], *, config: TrainConfig, device: torch.device,
                    seed: int, num_steps: int) -> Iterator[tuple[Tensor, Tensor]]:
    g = torch.Generator().manual_seed(seed)
    loader = DataLoader(torch.utils.data.Subset(dataset, indices[:num_steps * config.batch_size]),
                        batch_size=config.batch_size, shuffle=False, drop_last=True, num_workers=config.workers,
                        generator=g, pin_memory=device.type == "cuda", persistent_workers=False,
                        collate_fn=collate_image_label)
    for images, labels in loader:
        yield images.to(device, non_blocking=True), labels.to(device, non_blocking=True)


# --------------------------------------------------------------------------------------------------- evaluation
@torch.no_grad()
def evaluate_accuracy(model: nn.Module, batches: Iterator[tuple[Tensor, Tensor]], *, device: torch.device,
                      autocast: Any) -> dict[str, float]:
    """Top-1 / top-5 correct counts, mean loss and count over ``batches`` (summed over ranks when distributed)."""
    was_training = model.training
    model.eval()
    totals = torch.zeros(4, dtype=torch.float64, device=device)  # correct1, correct5, loss sum, count
    try:
        for images, labels in batches:
            with autocast():
                logits = model(images)
            logits = logits.float()
            k = min(5, logits.shape[1])
            top = logits.topk(k, dim=1).indices
            totals[0] += (top[:, 0] == labels).sum()
            totals[1] += (top == labels[:, None]).any(dim=1).sum()
            totals[2] += nn.functional.cross_entropy(logits, labels, reduction="sum")
            totals[3] += labels.shape[0]
    finally:
        model.train(was_training)
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(totals)
    n = max(1.0, float(totals[3]))
    return {"top1": 100.0 * float(totals[0]) / n, "top5": 100.0 * float(totals[1]) / n,
            "loss": float(totals[2]) / n, "num_images": int(totals[3])}


# ------------------------------------------------------------------------------------------------------ set-up
def _append_jsonl(path: Path, record: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def _check_resume_config(saved: dict[str, Any], config: TrainConfig, path: Path) -> None:
    current = config.to_dict()
    changed = sorted(k for k in current if k not in RESUME_MUTABLE and current[k] != saved.get(k))
    if changed:
        k = changed[0]
        raise InputError(f"config differs from the checkpoint's in {', '.join(changed)} (only "
                         f"{', '.join(RESUME_MUTABLE)} may change on resume)", path=path,
                         value=f"{k}: {saved.get(k)!r} -> {current[k]!r}")


@dataclass(frozen=True)
class TrainSetup:
    """Everything :func:`prepare_training` builds before the first epoch; the epoch and saving steps read it.

    ``model`` (wrapped for the forward pass in ``trainer``: :class:`TrainForward`, inside ``DistributedDataParallel``
    when ``distributed``), ``optimizer`` and ``scaler`` are the live objects that :func:`train_one_epoch` updates in
    place. ``start_epoch``, ``start_step`` and ``start_elapsed`` are the finished epochs, optimizer steps and training
    seconds restored from the checkpoint (0 for a fresh run). ``train_mem`` / ``eval_mem`` hold the decoded splits
    on ``device`` when ``config.in_memory``, else ``None``.
    """

    config: TrainConfig
    files: RunFiles
    distributed: bool
    rank: int
    world: int
    device: torch.device
    model: WSOLModel
    trainer: nn.Module
    method: Any
    optimizer: torch.optim.Optimizer
    base_lrs: list[float]
    scaler: torch.amp.GradScaler
    amp_dtype: Optional[torch.dtype]
    memory_format: torch.memory_format
    train_ds: WSOLDataset
    eval_ds: Optional[WSOLDataset]
    train_mem: Optional[MemorySplit]
    eval_mem: Optional[MemorySplit]
    num_classes: int
    steps_per_epoch: int
    start_epoch: int = 0
    start_step: int = 0
    start_elapsed: float = 0.0

    @property
    def writer(self) -> bool:
        """Whether this process writes the run folder's files (rank 0)."""
        return self.rank == 0

    def autocast(self) -> Any:
        """The autocast context of ``config.amp`` (disabled for ``"off"``)."""
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None)


def _process_and_device(config: TrainConfig, device: torch.device | None) -> tuple[bool, int, int, torch.device]:
    """``(distributed, rank, world size, device)`` of this process; ``device`` overrides ``config.device``."""
    distributed = dist.is_available() and dist.is_initialized()
    rank, world = rank_and_world()
    local_rank = int(os.environ.get("LOCAL_RANK", rank)) if distributed else 0
    return distributed, rank, world, device or resolve_device(config.device, local_rank=local_rank)


def _steps_per_epoch(config: TrainConfig, n_train: int, world: int) -> int:
    """Full batches per rank and epoch, capped by ``config.max_steps_per_epoch`` (InputError below one)."""
    steps = math.ceil(n_train / world) // config.batch_size
    if steps < 1:
        raise InputError(f"the train split has {n_train} images: fewer than one batch of {config.batch_size} per "
                         f"process ({world} processes)", path=metadata_root(config) / config.train_split)
    return min(steps, config.max_steps_per_epoch) if config.max_steps_per_epoch else steps


def prepare_training(config: TrainConfig, run_dir: str | Path, *, resume: bool = False,
                     device: torch.device | None = None) -> TrainSetup:
    """The set-up step of :func:`fit`: check the settings, build everything, restore the checkpoint on ``resume``.

    Seeds torch's global generator for the model's initialisation (the same on every rank). A fresh run writes
    ``config.json`` and an empty ``log.jsonl`` (rank 0); a resumed one restores model, optimizer, scaler and the global
    generators from ``checkpoint.pt``. Arguments and errors as for :func:`fit`.
    """
    files = RunFiles(Path(run_dir))
    if not files.root.is_dir():
        raise InputError("run folder does not exist", path=files.root)
    distributed, rank, world, device = _process_and_device(config, device)
    if config.amp != "off" and device.type != "cuda":
        raise ValueError(f"amp={config.amp!r} needs a CUDA device (got {device}); use amp=off on the CPU")
    if config.in_memory and config.crop not in MEMORY_CROPS:
        raise ValueError(f"in_memory=true supports crop in {MEMORY_CROPS}; got {config.crop!r} "
                         "(use in_memory=false for random_resized_crop)")
    if not resume and files.checkpoint.exists():
        raise InputError("run folder already holds a checkpoint (resume it, or choose another folder)",
                         path=files.checkpoint)

    torch.manual_seed(derive_seed(config.seed, 0xC0FFEE))  # model initialisation: the same on every rank
    train_ds, eval_ds, num_classes = open_training_splits(config)
    model = build_model(config.arch, num_classes=num_classes, pretrained=config.pretrained or None,
                        large_feature_map=config.large_feature_map, **dict(config.model))
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    model = model.to(device=device, memory_format=memory_format)
    method = build_method(config)
    optimizer = torch.optim.SGD(model.parameter_groups(lr=config.lr, classifier_lr_mult=config.classifier_lr_mult),
                                lr=config.lr, momentum=config.momentum, nesterov=config.nesterov,
                                weight_decay=config.weight_decay)
    base_lrs = [g["lr"] for g in optimizer.param_groups]
    scaler = torch.amp.GradScaler("cuda", enabled=config.amp == "fp16")

    start_epoch, step, elapsed = 0, 0, 0.0
    if resume:
        ck = load_checkpoint(files.checkpoint)
        _check_resume_config(ck["config"], config, files.checkpoint)
        model.load_state_dict(ck["model"])
        optimizer.load_state_dict(ck["optimizer"])
        if ck.get("scaler"):
            scaler.load_state_dict(ck["scaler"])
        set_rng_state(ck["rng"])
        start_epoch, step, elapsed = int(ck["epoch"]), int(ck["scheduler"]["step"]), float(ck.get("elapsed", 0.0))
        logger.info("resuming %s after epoch %d (step %d)", files.root, start_epoch, step)
    elif rank == 0:
        atomic_write_json(files.config, config.to_dict())
        files.log.write_text("", encoding="utf-8")

    train_mem: Optional[MemorySplit] = None
    eval_mem: Optional[MemorySplit] = None
    if config.in_memory:
        stored = config.resize_size if config.crop == "resize_random_crop" else config.image_size
        train_mem = load_split(train_ds, size=stored).to(device)
        eval_mem = load_split(eval_ds, size=config.image_size).to(device) if eval_ds is not None else None
    steps_per_epoch = _steps_per_epoch(config, len(train_ds), world)

    trainer: nn.Module = TrainForward(model)
    if distributed:
        trainer = nn.parallel.DistributedDataParallel(
            trainer, device_ids=[device.index] if device.type == "cuda" else None)
    return TrainSetup(config=config, files=files, distributed=distributed, rank=rank, world=world, device=device,
                      model=model, trainer=trainer, method=method, optimizer=optimizer, base_lrs=base_lrs,
                      scaler=scaler, amp_dtype={"bf16": torch.bfloat16, "fp16": torch.float16}.get(config.amp),
                      memory_format=memory_format, train_ds=train_ds, eval_ds=eval_ds, train_mem=train_mem,
                      eval_mem=eval_mem, num_classes=num_classes, steps_per_epoch=steps_per_epoch,
                      start_epoch=start_epoch, start_step=step, start_elapsed=elapsed)


# ------------------------------------------------------------------------------------------------------ epochs
def _lr_at(setup: TrainSetup, step: int) -> list[float]:
    """The learning rate of every parameter group at optimizer step ``step``."""
    f = lr_factor(step, config=setup.config, steps_per_epoch=setup.steps_per_epoch)
    return [base * f for base in setup.base_lrs]


def _train_batches(setup: TrainSetup, epoch: int, generator: torch.Generator) -> Iterator[tuple[Tensor, Tensor]]:
    """This rank's ``steps_per_epoch`` training batches of ``epoch`` (augmented from ``generator`` in memory)."""
    config = setup.config
    indices = _shard(len(setup.train_ds), rank=setup.rank, world=setup.world, seed=config.seed, epoch=epoch,
                     shuffle=True)
    if setup.train_mem is not None:
        return _memory_batches(setup.train_mem, indices, config=config, device=setup.device, generator=generator,
                               num_steps=setup.steps_per_epoch)
    return _loader_batches(setup.train_ds, indices, config=config, device=setup.device,
                           seed=derive_seed(config.seed, epoch, setup.rank, 2), num_steps=setup.steps_per_epoch)


def train_one_epoch(setup: TrainSetup, epoch: int, *, step: int, progress: bool = False) -> dict[str, Any]:
    """Train epoch ``epoch`` (0-based) from optimizer step ``step``; updates model, optimizer and scaler in place.

    Seeds its generators from ``(config.seed, epoch, rank)`` (see the module docstring), so the epoch depends only on
    the state at its start. Appends a ``"step"`` record to ``log.jsonl`` every ``log_every`` steps (rank 0).

    Returns:
        the epoch record: ``event``, ``epoch`` (1-based), ``step`` (after the epoch), ``lr`` (of the last step),
        ``train_loss``, ``train_top1`` (against the first labels of mixed batches), ``train_images`` and
        ``images_per_s`` (summed over ranks).

    Raises:
        FloatingPointError: a loss that is not finite.
    """
    from tqdm import tqdm

    config, model, optimizer, scaler = setup.config, setup.model, setup.optimizer, setup.scaler
    model.train()
    t0 = time.perf_counter()
    generator = torch.Generator().manual_seed(derive_seed(config.seed, epoch, setup.rank))
    torch.manual_seed(derive_seed(config.seed, epoch, setup.rank, 1))
    batches = _train_batches(setup, epoch, generator)
    sums = torch.zeros(3, dtype=torch.float64, device=setup.device)  # loss sum, correct (vs labels_a), count
    bar = tqdm(total=setup.steps_per_epoch, desc=f"epoch {epoch + 1}/{config.epochs}",
               disable=not (progress and setup.writer), leave=False, unit="step")
    t_window, n_window = time.perf_counter(), 0
    for images, labels in batches:
        lrs = _lr_at(setup, step)
        for group, lr in zip(optimizer.param_groups, lrs):
            group["lr"] = lr
        images = images.contiguous(memory_format=setup.memory_format)
        batch = setup.method(images, labels, generator=generator, model=model if setup.method.needs_model else None)
        with setup.autocast():
            logits, lam = setup.trainer(batch.images, batch.feature_mix)
        if lam is not None:
            batch = batch.replace(lam=lam)
        loss = batch_loss(logits.float(), batch, kind=config.loss, label_smoothing=config.label_smoothing)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss is {float(loss)} at epoch {epoch + 1}, step {step + 1} "
                                     "(lower the learning rate?)")
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        step += 1
        n = labels.shape[0]
        sums[0] += loss.detach().double() * n
        sums[1] += (logits.detach().argmax(dim=1) == labels).sum()
        sums[2] += n
        n_window += n
        bar.update(1)
        if setup.writer and step % config.log_every == 0:
            now = time.perf_counter()
            batch_top1 = 100.0 * float((logits.detach().argmax(dim=1) == labels).float().mean())
            _append_jsonl(setup.files.log, {"event": "step", "epoch": epoch + 1, "step": step,
                                            "loss": float(loss.detach()), "top1": batch_top1, "lr": lrs[0],
                                            "images_per_s": n_window * setup.world / max(1e-9, now - t_window)})
            t_window, n_window = now, 0
    bar.close()
    if setup.distributed:
        dist.all_reduce(sums)
    seconds = time.perf_counter() - t0
    return {"event": "epoch", "epoch": epoch + 1, "step": step, "lr": _lr_at(setup, max(0, step - 1))[0],
            "train_loss": float(sums[0] / sums[2]), "train_top1": 100.0 * float(sums[1] / sums[2]),
            "train_images": int(sums[2]), "images_per_s": float(sums[2]) / max(1e-9, seconds)}


def eval_batches(setup: TrainSetup) -> Iterator[tuple[Tensor, Tensor]]:
    """This rank's share (every ``world``-th image from ``rank``) of the evaluation split, in batches of at least 64.

    From the in-memory split when there is one, else through a DataLoader; on ``setup.device``.
    """
    config, eval_ds, eval_mem = setup.config, setup.eval_ds, setup.eval_mem
    if eval_ds is None:
        raise ValueError("the config has no eval_split")
    idx = list(range(setup.rank, len(eval_ds), setup.world))
    bs = max(config.batch_size, 64)
    if eval_mem is not None:
        for s in range(0, len(idx), bs):
            sel = torch.tensor(idx[s:s + bs], dtype=torch.int64)
            images = eval_batch(eval_mem.images[sel], size=config.image_size)
            yield images.contiguous(memory_format=setup.memory_format), eval_mem.labels[sel]
    else:
        loader = DataLoader(torch.utils.data.Subset(eval_ds, idx), batch_size=bs, shuffle=False,
                            num_workers=config.workers, collate_fn=collate_image_label)
        for images, labels in loader:
            yield images.to(setup.device).contiguous(memory_format=setup.memory_format), labels.to(setup.device)


def evaluate_epoch(setup: TrainSetup) -> dict[str, float]:
    """Accuracy on the evaluation split (all ranks together) as ``eval_top1``, ``eval_top5``, ``eval_loss``,
    ``eval_num_images``; empty when the config has no ``eval_split``."""
    if setup.eval_ds is None:
        return {}
    ev = evaluate_accuracy(setup.model, eval_batches(setup), device=setup.device, autocast=setup.autocast)
    return {f"eval_{k}": v for k, v in ev.items()}


# ------------------------------------------------------------------------------------------------------ saving
def save_epoch(setup: TrainSetup, record: dict[str, Any], *, elapsed: float) -> None:
    """After an epoch: rank 0 appends ``record`` to ``log.jsonl`` and writes ``checkpoint.pt``; all ranks log a
    line and meet at a barrier when distributed."""
    config = setup.config
    if setup.writer:
        _append_jsonl(setup.files.log, record)
        save_checkpoint(setup.files.checkpoint, training_state(
            config, model=setup.model, optimizer=setup.optimizer, scaler=setup.scaler, num_classes=setup.num_classes,
            epoch=record["epoch"], step=record["step"], metrics=record, elapsed=elapsed))
    logger.info("epoch %d/%d: loss %.4f, train top-1 %.2f%%%s, %.1f s", record["epoch"], config.epochs,
                record["train_loss"], record["train_top1"],
                f", {config.eval_split} top-1 {record['eval_top1']:.2f}%" if "eval_top1" in record else "",
                record["seconds"])
    if setup.distributed:
        dist.barrier()


def finish_run(setup: TrainSetup, record: dict[str, Any], *, step: int, elapsed: float,
               complete: bool) -> dict[str, Any]:
    """The final metrics; when ``complete``, rank 0 writes ``model.pt`` and ``metrics.json``.

    ``record`` is the last epoch's record; empty when this call trained no epoch (then the checkpoint's is used).
    """
    config, files = setup.config, setup.files
    if not record and files.checkpoint.exists():
        record = dict(load_checkpoint(files.checkpoint)["metrics"])
    final = {**record, "epochs": config.epochs, "complete": complete, "train_seconds": elapsed,
             "num_classes": setup.num_classes, "world_size": setup.world, "device": str(setup.device),
             "threads": torch.get_num_threads()}
    final.pop("event", None)
    if setup.writer and complete:
        save_checkpoint(files.model, model_file_state(config, model=setup.model, num_classes=setup.num_classes,
                                                      step=step))
        atomic_write_json(files.metrics, final)
    return final


# -------------------------------------------------------------------------------------------------------- fit
def fit(config: TrainConfig, run_dir: str | Path, *, resume: bool = False, progress: bool = False,
        device: torch.device | None = None, stop_after: int | None = None) -> dict[str, Any]:
    """Train ``config`` into ``run_dir`` (an existing folder), or continue the run there.

    The steps: :func:`prepare_training`, then for every epoch :func:`train_one_epoch`, :func:`evaluate_epoch` and
    :func:`save_epoch`, then :func:`finish_run`.

    Args:
        config: the resolved configuration (saved as ``config.json``).
        run_dir: the run folder; must exist (created by the caller).
        resume: continue from ``run_dir/checkpoint.pt`` (whose config must equal ``config`` except for
            :data:`RESUME_MUTABLE` keys); without it, an existing checkpoint is an error.
        progress: tqdm bars (rank 0 only).
        device: overrides ``config.device``.
        stop_after: return after this many epochs of this call (checkpoint written; continue with ``resume``),
            e.g. to fit a run into time-limited jobs. ``None``: train to ``config.epochs``.

    Returns:
        the final metrics (also written to ``metrics.json`` when the run is complete); ``"complete"`` says
        whether all epochs are done.

    Raises:
        InputError: bad data, checkpoint or run folder (named in the message).
        ValueError: invalid settings (unknown method options, AMP without CUDA, ...).
    """
    threads = torch.get_num_threads()
    if config.threads:
        torch.set_num_threads(config.threads)
    try:
        return _fit(config, run_dir, resume=resume, progress=progress, device=device, stop_after=stop_after)
    finally:
        torch.set_num_threads(threads)


def _fit(config: TrainConfig, run_dir: str | Path, *, resume: bool, progress: bool, device: torch.device | None,
         stop_after: int | None) -> dict[str, Any]:
    setup = prepare_training(config, run_dir, resume=resume, device=device)
    step, elapsed, record = setup.start_step, setup.start_elapsed, {}
    end_epoch = config.epochs if stop_after is None else min(config.epochs, setup.start_epoch + max(0, stop_after))
    for epoch in range(setup.start_epoch, end_epoch):
        t0 = time.perf_counter()
        record = train_one_epoch(setup, epoch, step=step, progress=progress)
        record.update(evaluate_epoch(setup))
        step = record["step"]
        elapsed += time.perf_counter() - t0
        record["seconds"] = time.perf_counter() - t0
        record["elapsed_s"] = elapsed
        save_epoch(setup, record, elapsed=elapsed)
    return finish_run(setup, record, step=step, elapsed=elapsed, complete=end_epoch == config.epochs)
