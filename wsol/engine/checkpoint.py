"""Checkpoints: written atomically (temp file + rename), read with ``torch.load(weights_only=True)``.

A training checkpoint is a plain dict of tensors, numbers, strings, lists and dicts (nothing that needs code to
unpickle)::

    format      "wsol-train-checkpoint"
    version     CHECKPOINT_VERSION
    epoch       number of finished epochs
    step        number of finished optimizer steps
    config      the resolved TrainConfig as a dict (architecture, classes, ... for ``wsol evaluate``)
    num_classes int
    model       the model's state dict (no ``module.`` prefix)
    optimizer   the optimizer's state dict
    scheduler   {"step": int}; the learning rate is a pure function of the step (see wsol.engine.train)
    scaler      the CUDA gradient scaler's state dict, or {}
    rng         torch / numpy / python generator states (see :func:`rng_state`)
    metrics     the last epoch's record
    elapsed     training seconds so far

The final model file (``model.pt``) has the same ``format`` and ``version`` and holds ``kind`` ("model"),
``arch``, ``num_classes``, ``config``, ``model``, ``epoch`` (``config.epochs``) and ``step``; readers such as
``wsol evaluate`` read ``format``, ``config``, ``arch`` and ``model``, so either file serves. Both dicts come
from one builder (:func:`training_state`, :func:`model_file_state`); the key order is fixed
(:data:`TRAINING_KEYS`, :data:`MODEL_FILE_KEYS`), so that equal weights give byte-for-byte equal files.
"""
from __future__ import annotations

import io
import os
import random
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from wsol.errors import InputError
from wsol.fileio import atomic_write_bytes
from wsol.models.loading import TRAIN_CHECKPOINT_FORMAT, read_torch_file

if TYPE_CHECKING:
    from torch import nn

    from wsol.config import TrainConfig

CHECKPOINT_FORMAT = TRAIN_CHECKPOINT_FORMAT
CHECKPOINT_VERSION = 1

#: Keys of a training checkpoint (``checkpoint.pt``), in the order they are written.
TRAINING_KEYS = ("format", "version", "epoch", "step", "config", "num_classes", "arch", "model", "optimizer",
                 "scheduler", "scaler", "rng", "metrics", "elapsed")
#: Keys of the final model file (``model.pt``), in the order they are written.
MODEL_FILE_KEYS = ("format", "version", "kind", "arch", "num_classes", "config", "model", "epoch", "step")


def _checkpoint_state(keys: tuple[str, ...], config: TrainConfig, *, model: nn.Module, num_classes: int, epoch: int,
                      step: int, **extra: Any) -> dict[str, Any]:
    """The keys both files share (format, version, arch, num_classes, config, model, epoch, step) plus ``extra``,
    in the order of ``keys`` (which must name exactly these)."""
    state = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "epoch": epoch, "step": step,
             "config": config.to_dict(), "num_classes": num_classes, "arch": config.arch,
             "model": model.state_dict(), **extra}
    if set(state) != set(keys):
        raise ValueError(f"checkpoint keys {sorted(state)} differ from {sorted(keys)}")
    return {k: state[k] for k in keys}


def training_state(config: TrainConfig, *, model: nn.Module, optimizer: torch.optim.Optimizer,
                   scaler: torch.amp.GradScaler, num_classes: int, epoch: int, step: int, metrics: dict[str, Any],
                   elapsed: float) -> dict[str, Any]:
    """The training checkpoint after ``epoch`` finished epochs and ``step`` optimizer steps (see the module docstring).

    Holds the current global generator states (:func:`rng_state`) and the scaler's state when it is enabled.
    """
    return _checkpoint_state(TRAINING_KEYS, config, model=model, num_classes=num_classes, epoch=epoch, step=step,
                             optimizer=optimizer.state_dict(), scheduler={"step": step},
                             scaler=scaler.state_dict() if scaler.is_enabled() else {}, rng=rng_state(),
                             metrics=metrics, elapsed=elapsed)


def model_file_state(config: TrainConfig, *, model: nn.Module, num_classes: int, step: int) -> dict[str, Any]:
    """The final model file of a complete run (``kind: "model"``, ``epoch: config.epochs``; no optimizer or RNG)."""
    return _checkpoint_state(MODEL_FILE_KEYS, config, model=model, num_classes=num_classes, epoch=config.epochs,
                             step=step, kind="model")


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Serialise ``state`` with ``torch.save`` and write it atomically (readers never see a partial file)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: str | os.PathLike, *, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a file written by :func:`save_checkpoint` through the package's one safe loader
    (:func:`wsol.models.loading.read_torch_file`: ``weights_only=True``, a pickle carrying code is refused).

    Raises:
        InputError: missing or unreadable file, refused pickle, or not a wsol training checkpoint.
    """
    obj = read_torch_file(path, what="checkpoint", map_location=map_location)
    if not isinstance(obj, dict) or obj.get("format") != CHECKPOINT_FORMAT:
        raise InputError("not a wsol training checkpoint", path=path,
                         value=obj.get("format") if isinstance(obj, dict) else type(obj).__name__)
    if obj.get("version") != CHECKPOINT_VERSION:
        raise InputError("unsupported checkpoint version", path=path, value=obj.get("version"))
    return obj


def rng_state() -> dict[str, Any]:
    """The global torch (CPU and CUDA), numpy and python generator states, as tensors and plain values."""
    np_state = np.random.get_state()
    py_version, py_internal, py_gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"name": np_state[0], "keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "python": {"version": py_version, "internal": list(py_internal), "gauss": py_gauss},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(state["torch"].cpu())
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
