"""``wsol demo``: build digits, train vanilla and CutMix, evaluate both, write the report (:func:`wsol.api.run_demo`)."""
from __future__ import annotations

import argparse
from pathlib import Path

from wsol.cli.flags import add_common_flags


def add_parser(subparsers) -> None:
    from wsol.devices import DEVICE_CHOICES

    p = subparsers.add_parser(
        "demo", help="the one-command demo: digits -> train vanilla and CutMix -> evaluate -> report",
        description="Build the embedded digits dataset (cached), train the digits-vanilla and digits-cutmix presets "
                    "(reused on a second run unless --fresh), evaluate both (MaxBoxAcc, MaxBoxAccV2, Top-1 Loc, "
                    "GT-known Loc with the threshold calibrated on train_fullsup, PxAP on test_masks; FGSM "
                    "accuracy; max-softmax OOD detection against digit-free backgrounds and noise) and write "
                    "OUT/report.md with CAM overlays and BoxAcc curves.")
    p.add_argument("--out", type=Path, default=Path("runs/demo"), help="report and run folders (default runs/demo)")
    p.add_argument("--data", type=Path, default=None,
                   help="digits dataset folder (default datasets/digits, or datasets/digits-tiny with --tiny)")
    p.add_argument("--fresh", action="store_true", help="retrain the models even when cached ones exist")
    p.add_argument("--tiny", action="store_true", help="a few-second smoke run on a tiny dataset")
    p.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    p.add_argument("--threads", type=int, default=None,
                   help="intra-op CPU threads while training (default: the presets' 2, the same on every machine, "
                        "since each count gives other weights; 0: torch's, one per core; 1 when other jobs share "
                        "the cores)")
    add_common_flags(p)
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from wsol.cli.main import show_progress
    from wsol.demo import run_demo

    from wsol.report.demo import summary_table

    demo = run_demo(args.out, data=args.data, tiny=args.tiny, fresh=args.fresh, device=args.device,
                    threads=args.threads, progress=show_progress(args))
    print(summary_table(demo["results"], demo["robustness"]))
    print(f"demo finished in {demo['timings']['total_s']:.0f} s; report: {demo['report']}")
    return 0
