"""``torch.distributed`` from ``torchrun``'s environment: the one place that starts and reads a process group."""
from __future__ import annotations

import os

import torch
import torch.distributed as dist


def init_from_env(device: str = "auto") -> bool:
    """Start the process group when ``torchrun`` launched several processes and none is started yet.

    The backend is NCCL when the job runs on CUDA (each rank on device ``$LOCAL_RANK``), else gloo.

    Args:
        device: the job's device name (``"auto"``, ``"cpu"``, ``"cuda"``).

    Returns:
        whether this call started the group (the caller then ends it with ``dist.destroy_process_group()``).
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return False
    use_cuda = device != "cpu" and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return True


def rank_and_world() -> tuple[int, int]:
    """``(rank, world size)`` of the started group, ``(0, 1)`` without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1
