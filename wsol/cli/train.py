"""``wsol train``: train a model from a preset (or resume a run), on one process or under ``torchrun``."""
from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

from wsol.cli.main import add_common_flags, show_progress

logger = logging.getLogger(__name__)


def add_parser(subparsers) -> None:
    from wsol.config import PRESETS
    from wsol.methods.base import METHODS

    p = subparsers.add_parser(
        "train", help="train a classifier from a preset (wsol list presets), or --resume a run",
        description="Train a WSOL classifier. Start from a preset, change the method with --method and any setting "
                    "with --set key=value (model.NAME=V / method_options.NAME=V for options); the resolved config "
                    "is saved in the run folder with a checkpoint after every epoch. Under torchrun "
                    "(--nproc_per_node=K -m wsol train ...) it trains with DistributedDataParallel.")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--preset", choices=PRESETS.names(), metavar="NAME", help="preset (wsol list presets)")
    source.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue the run in RUN_DIR")
    p.add_argument("--method", choices=METHODS.names(), help="training method (resets the method options)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting (repeatable); values are JSON when they parse, else text")
    p.add_argument("--out", type=Path, metavar="RUN_DIR", help="run folder (created; must not hold a run)")
    add_common_flags(p)
    p.set_defaults(run=_run)


def _resolve(args: argparse.Namespace):
    from wsol.config import TrainConfig, apply_overrides, preset_config
    from wsol.engine.train import RunFiles
    from wsol.errors import InputError

    try:
        if args.resume is not None:
            if args.out is not None or args.method is not None:
                raise InputError("--resume takes neither --out nor --method (the run's config is reused)")
            path = RunFiles(args.resume).config
            if not path.is_file():
                raise InputError("no config.json: not a wsol run folder", path=path)
            try:
                saved = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as e:
                raise InputError("invalid JSON", path=path, line=e.lineno, value=e.msg) from None
            return apply_overrides(TrainConfig.from_dict(saved), args.overrides), args.resume
        if args.out is None:
            raise InputError("--out RUN_DIR is required with --preset")
        return preset_config(args.preset, method=args.method, overrides=args.overrides), args.out
    except ValueError as e:  # config errors are user errors: one line, no traceback
        if isinstance(e, InputError):
            raise
        raise InputError(str(e)) from None


def _ensure_digits(config, *, progress: bool) -> None:
    from wsol.data.digits import prepare_digits

    if (Path(config.data) / "metadata" / config.train_split).is_dir():
        return
    logger.info("building the embedded digits dataset at %s", config.data)
    prepare_digits(config.data, progress=progress)


def _run(args: argparse.Namespace) -> int:
    import torch.distributed as dist

    from wsol.engine.train import RunFiles, fit
    from wsol.errors import InputError

    config, run_dir = _resolve(args)
    progress = show_progress(args)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        import torch

        use_cuda = config.device != "cpu" and torch.cuda.is_available()
        if use_cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    rank = dist.get_rank() if dist.is_initialized() else 0
    try:
        if rank == 0:
            if args.resume is None:
                if RunFiles(run_dir).checkpoint.exists():
                    raise InputError("run folder already holds a checkpoint (use --resume, or another --out)",
                                     path=run_dir)
                run_dir.mkdir(parents=True, exist_ok=True)
            if config.dataset == "digits":
                _ensure_digits(config, progress=progress)
        if dist.is_initialized():
            dist.barrier()
        try:
            metrics = fit(config, run_dir, resume=args.resume is not None, progress=progress)
        except ValueError as e:
            if isinstance(e, InputError):
                raise
            raise InputError(str(e)) from None
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    if rank == 0:
        acc = f", {config.eval_split} top-1 {metrics['eval_top1']:.2f}%" if "eval_top1" in metrics else ""
        print(f"trained {config.arch} with {config.method} for {config.epochs} epochs in "
              f"{metrics['train_seconds']:.1f} s{acc}; run folder: {run_dir}")
    return 0
