"""``wsol robustness``: occlusion and in-between-class robustness of a checkpoint (the CutMix paper's Figure 5)."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from wsol.cli.attack import add_model_data_flags


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "robustness", help="occlusion and in-between-class robustness curves",
        description="Top-1 accuracy with a centred square hole filled (centre occlusion) or everything outside it "
                    "filled (boundary occlusion), for a sweep of square sides; and, on pairs of images of "
                    "different classes, the %% of Mixup (lam sweep) and CutMix (centred square from the partner) "
                    "samples predicted as neither class. Pixel space [0, 1]; --fill zero is pixel value 0, --fill "
                    "mean the ImageNet mean.")
    add_model_data_flags(p)
    p.add_argument("--occlusion", action="store_true", help="centre and boundary occlusion")
    p.add_argument("--in-between", action="store_true", help="Mixup / CutMix in-between-class samples")
    p.add_argument("--sizes", type=int, nargs="+", default=None, metavar="S",
                   help="square sides in pixels (default: 0, 1/8, ..., 8/8 of the image side)")
    p.add_argument("--fill", choices=("zero", "mean"), default="zero")
    p.add_argument("--lams", type=float, nargs="+", default=None, metavar="LAM",
                   help="Mixup weights of the first image (default 0.1 ... 0.9)")
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    import torch

    import wsol
    from wsol.cli.attack import pixel_setup
    from wsol.errors import InputError
    from wsol.fileio import atomic_write_bytes, atomic_write_json
    from wsol.report.figures import lines_png
    from wsol.robustness import in_between_accuracy, occlusion_accuracy

    start = time.perf_counter()
    if not (args.occlusion or args.in_between):
        args.occlusion = args.in_between = True
    model, loader, device, info = pixel_setup(args, shuffle=args.in_between)
    size = info["image_size"]
    sizes = args.sizes if args.sizes is not None else [size * k // 8 for k in range(9)]
    results: dict = {**info, "wsol_version": wsol.__version__, "fill": args.fill, "figures": {}}
    stem = args.out.with_suffix("")
    try:
        if args.occlusion:
            occ = {mode: occlusion_accuracy(model, loader, sizes=sizes, mode=mode, fill=args.fill, device=device)
                   for mode in ("center", "boundary")}
            results["occlusion"] = occ
            png = Path(f"{stem}_occlusion.png")
            atomic_write_bytes(png, lines_png({f"{m} occlusion": ([r["size"] for r in o["results"]],
                                                                  [r["top1_pct"] for r in o["results"]])
                                               for m, o in occ.items()},
                                              xlabel="square side (pixels)", ylabel="top-1 accuracy (%)",
                                              title=f"occlusion ({args.fill} fill)"))
            results["figures"]["occlusion"] = str(png)
            print("occlusion top-1: " + "; ".join(
                f"{m} " + ", ".join(f"{r['size']}px {r['top1_pct']:.1f}" for r in o["results"])
                for m, o in occ.items()))
        if args.in_between:
            kwargs = {} if args.lams is None else {"lams": args.lams}
            inb = in_between_accuracy(model, loader, generator=torch.Generator().manual_seed(args.seed),
                                      sizes=[s for s in sizes if s > 0], device=device, **kwargs)
            results["in_between"] = inb
            png = Path(f"{stem}_in_between.png")
            atomic_write_bytes(png, lines_png(
                {"Mixup (x: lam)": ([r["lam"] for r in inb["mixup"]], [r["neither_pct"] for r in inb["mixup"]]),
                 "CutMix (x: kept area)": ([r["lam"] for r in inb["cutmix"]],
                                           [r["neither_pct"] for r in inb["cutmix"]])},
                xlabel="fraction of the first image", ylabel="predicted as neither class (%)",
                title="in-between-class samples"))
            results["figures"]["in_between"] = str(png)
            print("in-between, % neither: Mixup " + ", ".join(f"{r['lam']:g} {r['neither_pct']:.1f}"
                                                           for r in inb["mixup"]))
    except ValueError as e:
        raise InputError(str(e)) from None
    results["timing"] = {"total_s": time.perf_counter() - start}
    atomic_write_json(args.out, results)
    print(f"-> {args.out}")
    return 0
