"""Set-up shared by the commands that evaluate a checkpoint (evaluate, attack, robustness, ood); not a command."""
from __future__ import annotations

import argparse
import os

import torch


def open_checkpoint(args: argparse.Namespace) -> tuple:
    """The checkpoint (``args.checkpoint``, ``args.arch``), the device (``args.device``) and the input size.

    The size is ``args.image_size``, else the training size recorded in a ``wsol train`` checkpoint, else 224.

    Returns:
        ``(loaded, device, image_size)`` with ``loaded`` a :class:`wsol.engine.evaluate.LoadedModel`.

    Raises:
        InputError: unreadable checkpoint, or a device that is not available (one line, no traceback).
    """
    from wsol.engine.evaluate import load_model_for_eval
    from wsol.devices import resolve_device
    from wsol.errors import InputError

    loaded = load_model_for_eval(args.checkpoint, arch=args.arch,
                                 large_feature_map=True if getattr(args, "large_feature_map", False) else None)
    try:
        device: torch.device = resolve_device(args.device, local_rank=int(os.environ.get("LOCAL_RANK", "0")))
    except ValueError as e:
        raise InputError(str(e)) from None
    return loaded, device, args.image_size or loaded.image_size or 224
