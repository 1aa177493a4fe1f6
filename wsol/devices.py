"""Device resolution: the one place that turns ``"auto" | "cpu" | "cuda"`` into a :class:`torch.device`.

The library never picks a device by itself: every job takes a ``device`` argument and resolves it here.
"""
from __future__ import annotations

import os

import torch

#: Device names the commands accept.
DEVICE_CHOICES: tuple[str, ...] = ("auto", "cpu", "cuda")


def resolve_device(name: str | torch.device, *, local_rank: int | None = None) -> torch.device:
    """``"auto"``: CUDA when available, else the CPU; ``"cpu"``; ``"cuda"`` (an error without CUDA).

    Args:
        name: one of :data:`DEVICE_CHOICES`, or a :class:`torch.device` (returned as it is).
        local_rank: CUDA device index; default ``$LOCAL_RANK`` (set by ``torchrun``), else 0.

    Raises:
        ValueError: unknown name, or ``"cuda"`` without CUDA.
    """
    if isinstance(name, torch.device):
        return name
    if name not in DEVICE_CHOICES:
        raise ValueError(f"device must be one of {', '.join(DEVICE_CHOICES)}; got {name!r}")
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but CUDA is not available")
    if local_rank is None:
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    return torch.device("cuda", local_rank)
