"""``wsol robustness``: occlusion and in-between-class curves of a checkpoint (:func:`wsol.api.robustness_checkpoint`)."""
from __future__ import annotations

import argparse

from wsol.cli.flags import add_pixel_job_flags


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "robustness", help="occlusion and in-between-class robustness curves",
        description="Top-1 accuracy with a centred square hole filled (centre occlusion) or everything outside it "
                    "filled (boundary occlusion), for a sweep of square sides; and, on pairs of images of "
                    "different classes, the %% of Mixup (lam sweep) and CutMix (centred square from the partner) "
                    "samples predicted as neither class. Pixel space [0, 1]; --fill zero is pixel value 0, --fill "
                    "mean the ImageNet mean.")
    add_pixel_job_flags(p)
    p.add_argument("--occlusion", action="store_true", help="centre and boundary occlusion")
    p.add_argument("--in-between", action="store_true", help="Mixup / CutMix in-between-class samples")
    p.add_argument("--sizes", type=int, nargs="+", default=None, metavar="S",
                   help="square sides in pixels (default: 0, 1/8, ..., 8/8 of the image side)")
    p.add_argument("--fill", choices=("zero", "mean"), default="zero")
    p.add_argument("--lams", type=float, nargs="+", default=None, metavar="LAM",
                   help="Mixup weights of the first image (default 0.1 ... 0.9)")
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from wsol.fileio import atomic_write_json
    from wsol.report.results import robustness_figures, robustness_summary
    from wsol.robustness.jobs import robustness_checkpoint

    both = not (args.occlusion or args.in_between)  # neither named: both
    results = robustness_checkpoint(
        args.checkpoint, args.metadata, occlusion=args.occlusion or both, in_between=args.in_between or both,
        sizes=args.sizes, fill=args.fill, lams=args.lams, images=args.images, arch=args.arch,
        image_size=args.image_size, max_images=args.max_images, seed=args.seed, batch_size=args.batch_size,
        workers=args.workers, device=args.device)
    results["figures"] = robustness_figures(results, args.out.with_suffix(""))
    atomic_write_json(args.out, results)
    print("\n".join(robustness_summary(results)) + f"\n-> {args.out}")
    return 0
