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
"""
from __future__ import annotations

import io
import os
import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wsol.errors import InputError
from wsol.fileio import atomic_write_bytes

CHECKPOINT_FORMAT = "wsol-train-checkpoint"
CHECKPOINT_VERSION = 1


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Serialise ``state`` with ``torch.save`` and write it atomically (readers never see a partial file)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: str | os.PathLike, *, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a file written by :func:`save_checkpoint` (``weights_only=True``: a pickle carrying code is refused).

    Raises:
        InputError: missing or unreadable file, refused pickle, or not a wsol training checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("checkpoint not found", path=path)
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        raise InputError("refused to load: the file holds objects other than tensors and plain containers "
                         "(a pickle that may run code)", path=path) from None
    except Exception as exc:  # torch raises many types for damaged files
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise InputError(f"unreadable checkpoint ({type(exc).__name__}: {reason})", path=path) from None
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
