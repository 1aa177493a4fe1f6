"""``wsol score``: score a folder of saved score maps against a metadata split."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from wsol.cli.flags import add_common_flags, add_out_flag, iou_percent


def add_parser(subparsers) -> None:
    from wsol.localization.protocol import protocol_names

    p = subparsers.add_parser(
        "score", help="score saved score maps (<image_id>.npy) against a metadata split",
        description="Score maps saved as SCOREMAP_DIR/<image_id>.npy (2-D float arrays in [0, 1], any resolution; "
                    "wsolevaluation's layout) against a metadata split: MaxBoxAcc, MaxBoxAccV2, per-IoU curves, "
                    "GT-known Loc, Top-1/Top-5 Loc with --predictions, PxAP for mask splits.")
    p.add_argument("scoremap_dir", type=Path, metavar="SCOREMAP_DIR")
    p.add_argument("--metadata", type=Path, required=True, metavar="META_SPLIT_DIR")
    p.add_argument("--protocol", choices=protocol_names(), default="wsolevaluation",
                   help="named scoring protocol (default: wsolevaluation, the published one)")
    p.add_argument("--interval", type=float, default=None,
                   help="threshold grid numpy.arange(0, 1, INTERVAL) and PxAP bins (default: the protocol's, 0.001, as "
                        "wsolevaluation's main.py, which made its published tables; 0.01 = its evaluation.py)")
    p.add_argument("--iou", type=iou_percent, nargs="+", default=None, metavar="DELTA",
                   help="IoU thresholds in percent for the all-contour curves (default: 30 50 70)")
    p.add_argument("--predictions", type=Path, metavar="FILE",
                   help="JSON {image_id: [top-5 class indices, best first]} for Top-1/Top-5 Loc")
    p.add_argument("--mask-root", type=Path, metavar="DIR",
                   help="folder the mask paths of a mask split are relative to (default: from dataset.json)")
    p.add_argument("--calibrate-on", nargs=2, type=Path, metavar=("SCOREMAP_DIR2", "META2"),
                   help="choose the threshold on this held-out split (train_fullsup) and report this split at it")
    p.add_argument("--workers", type=int, default=1, help="worker processes (same result for any count)")
    p.add_argument("--per-image", action="store_true", help="include per-image best IoU and boxes")
    add_out_flag(p)
    add_common_flags(p)
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from wsol.errors import InputError
    from wsol.fileio import atomic_write_json
    from wsol.localization.engine import score_directory

    if args.workers < 1:
        raise InputError("--workers must be at least 1", value=args.workers)
    start = time.perf_counter()
    results = score_directory(args.scoremap_dir, args.metadata, interval=args.interval, iou_thresholds=args.iou,
                              protocol=args.protocol, predictions=args.predictions, mask_root=args.mask_root,
                              calibrate_on=None if args.calibrate_on is None else tuple(args.calibrate_on),
                              workers=args.workers, per_image=args.per_image)
    atomic_write_json(args.out, results)
    if "pxap" in results:
        summary = f"PxAP {results['pxap']:.2f}"
    else:
        summary = f"MaxBoxAcc {results['maxboxacc']:.2f}  MaxBoxAccV2 {results['maxboxacc_v2']:.2f}"
        if "top1_loc" in results:
            summary += f"  Top-1 Loc {results['top1_loc']:.2f}"
    print(f"{results['num_images']} images, protocol {results['protocol']}: {summary} "
          f"({time.perf_counter() - start:.1f} s) -> {args.out}")
    return 0
