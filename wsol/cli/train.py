"""``wsol train``: train a model from a preset, or resume a run (:func:`wsol.api.train`); ``torchrun``-aware."""
from __future__ import annotations

import argparse
from pathlib import Path

from wsol.cli.flags import add_common_flags


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


def _run(args: argparse.Namespace) -> int:
    import os

    from wsol.cli.main import show_progress
    from wsol.engine.jobs import resolve_train_config, train
    from wsol.errors import InputError

    if args.resume is not None and (args.out is not None or args.method is not None):
        raise InputError("--resume takes neither --out nor --method (the run's config is reused)")
    if args.resume is None and args.out is None:
        raise InputError("--out RUN_DIR is required with --preset")
    resume = args.resume is not None
    run_dir = args.resume if resume else args.out
    config = resolve_train_config(args.preset, run_dir, method=args.method, overrides=args.overrides, resume=resume)
    rank = int(os.environ.get("RANK", "0"))  # torchrun's; the process group is gone when train returns
    metrics = train(config, run_dir, resume=resume, progress=show_progress(args) and rank == 0)
    if rank == 0:
        acc = f", {config.eval_split} top-1 {metrics['eval_top1']:.2f}%" if "eval_top1" in metrics else ""
        print(f"trained {config.arch} with {config.method} for {config.epochs} epochs in "
              f"{metrics['train_seconds']:.1f} s{acc}; run folder: {run_dir}")
    return 0
