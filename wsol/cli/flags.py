"""Flags and argument types shared by several subcommands, defined once."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_common_flags(parser: argparse.ArgumentParser) -> None:
    """Flags every subcommand takes: ``--quiet`` and ``--verbose``."""
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars, warnings only")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def add_model_flags(p: argparse.ArgumentParser, *, arch_choices: bool = False) -> None:
    """The checkpoint (positional), ``--arch``, ``--image-size`` and ``--device``."""
    from wsol.devices import DEVICE_CHOICES
    from wsol.models.base import MODELS

    p.add_argument("checkpoint", type=Path, metavar="CHECKPOINT")
    p.add_argument("--arch", choices=MODELS.names() if arch_choices else None,
                   help="architecture, when the checkpoint does not say")
    p.add_argument("--image-size", type=int, default=None,
                   help="network input (and score-map) side (default: the checkpoint's training size, else 224)")
    p.add_argument("--device", choices=DEVICE_CHOICES, default="auto")


def add_data_flags(p: argparse.ArgumentParser, *, help: str | None = None) -> None:
    """``--metadata`` (a split folder) and ``--images`` (its image root)."""
    p.add_argument("--metadata", type=Path, required=True, metavar="META_SPLIT_DIR", help=help)
    p.add_argument("--images", type=Path, metavar="ROOT", help="image root (default: from dataset.json)")


def add_loader_flags(p: argparse.ArgumentParser, *, batch_size: int) -> None:
    """``--batch-size`` and ``--workers`` (DataLoader processes)."""
    p.add_argument("--batch-size", type=int, default=batch_size)
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers")


def add_subset_flags(p: argparse.ArgumentParser) -> None:
    """``--max-images`` (a seeded random subset) and ``--seed``."""
    p.add_argument("--max-images", type=int, default=0, help="evaluate a seeded random subset of this many (0: all)")
    p.add_argument("--seed", type=int, default=0, help="seed of the subset, pairings and random starts")


def add_out_flag(p: argparse.ArgumentParser) -> None:
    """``--out RESULTS_JSON`` (required)."""
    p.add_argument("--out", type=Path, required=True, metavar="RESULTS_JSON")


def add_pixel_job_flags(p: argparse.ArgumentParser) -> None:
    """Flags of the pixel-space jobs (``attack``, ``robustness``): checkpoint, split, subset, loader, output."""
    add_model_flags(p)
    add_data_flags(p)
    add_subset_flags(p)
    add_loader_flags(p, batch_size=64)
    add_out_flag(p)
    add_common_flags(p)


def iou_percent(text: str) -> int:
    """argparse type: an IoU threshold as an integer percentage in 1..100."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"IoU threshold must be an integer percentage, got {text!r}") from None
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"IoU threshold must lie in 1..100, got {value}")
    return value


def shard_spec(text: str) -> tuple[int, int]:
    """argparse type: ``i/n`` with ``0 <= i < n``."""
    i, sep, n = text.partition("/")
    try:
        shard = (int(i), int(n))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard expects i/n, got {text!r}") from None
    if not sep or not 0 <= shard[0] < shard[1]:
        raise argparse.ArgumentTypeError(f"--shard expects i/n with 0 <= i < n, got {text!r}")
    return shard


def ood_spec(text: str) -> str:
    """argparse type: ``gaussian``, ``uniform`` or ``folder:PATH`` (checked; returned as given)."""
    from wsol.ood.evaluate import parse_ood_spec

    try:
        parse_ood_spec(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text
