"""``wsol evaluate``: a checkpoint's localization numbers (:func:`wsol.api.evaluate_checkpoint`)."""
from __future__ import annotations

import argparse
from pathlib import Path

from wsol.cli.flags import add_common_flags, add_data_flags, add_model_flags, add_out_flag, iou_percent, shard_spec


def add_parser(subparsers) -> None:
    from wsol.cam import CAMS
    from wsol.localization.protocol import protocol_names

    p = subparsers.add_parser(
        "evaluate", help="evaluate a checkpoint's localization (CAM -> MaxBoxAcc, Top-k Loc, PxAP)",
        description="One streaming pass over a metadata split: logits and the CAM of the ground-truth class, "
                    "resized and min-max normalised as wsolevaluation does, scored by the engine of `wsol score`. "
                    "Accepts `wsol train` checkpoints and plain state dicts (torchvision ResNet layout, "
                    "wsolevaluation CAM checkpoints; weights_only loading).")
    add_model_flags(p, arch_choices=True)
    add_data_flags(p)
    p.add_argument("--mask-root", type=Path, metavar="DIR", help="mask root of a mask split (default: dataset.json)")
    p.add_argument("--large-feature-map", action="store_true", help="with --arch: the stride-8 variant")
    p.add_argument("--cam", choices=CAMS.names(), default="cam", help="CAM method (wsol list cams)")
    p.add_argument("--protocol", choices=protocol_names(), default="wsolevaluation")
    p.add_argument("--interval", type=float, default=None,
                   help="threshold grid numpy.arange(0, 1, INTERVAL) and PxAP bins (default: the protocol's, 0.001, "
                        "as wsolevaluation's main.py, which made its published tables; 0.01 = its evaluation.py)")
    p.add_argument("--iou", type=iou_percent, nargs="+", default=None, metavar="DELTA")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers")
    p.add_argument("--score-threads", type=int, default=1, help="scoring threads beside the model")
    p.add_argument("--calibrate-on", type=Path, metavar="META2",
                   help="held-out box split (train_fullsup): choose the threshold there, report this split at it "
                        "(box splits only: PxAP has no threshold)")
    p.add_argument("--save-scoremaps", type=Path, metavar="DIR", help="write <image_id>.npy score maps here")
    p.add_argument("--figures", type=Path, metavar="DIR",
                   help="also write DIR/gallery.png (best, worst and random test images: CAM with boxes and IoU, "
                        "or with the mask outline and the image's AP) and DIR/box_acc.png (BoxAcc against the "
                        "threshold) for a box split, DIR/pr_curve.png (pixel precision against recall, the curve "
                        "whose area is PxAP) for a mask split")
    p.add_argument("--gallery-size", type=int, default=6, help="images per gallery row (with --figures)")
    p.add_argument("--per-image", type=Path, metavar="FILE.npz",
                   help="also write every image's outcome (predicted classes, correct thresholds per IoU, predicted "
                        "box) for paired comparisons (`wsol paper compare`)")
    p.add_argument("--shard", type=shard_spec, default=(0, 1), metavar="i/n", help="evaluate every n-th image from i")
    add_out_flag(p)
    add_common_flags(p)
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from wsol.cli.main import show_progress
    from wsol.engine.evaluate import cam_gallery, evaluate_checkpoint
    from wsol.errors import InputError
    from wsol.fileio import atomic_write_json
    from wsol.report.results import box_acc_figure, gallery_figure, localization_summary, pr_curve_figure

    per_image = args.per_image
    if args.figures is not None:
        if args.shard != (0, 1):
            raise InputError("--figures needs the whole split (no --shard)")
        if args.gallery_size < 1:
            raise InputError("--gallery-size must be >= 1", value=args.gallery_size)
        from wsol.data.metadata import read_metadata

        kind = read_metadata(args.metadata).localization
        if kind not in ("boxes", "masks"):
            raise InputError("--figures needs a split with boxes or masks", path=args.metadata)
        per_image = per_image or args.figures / "per_image.npz"
    results = evaluate_checkpoint(
        args.checkpoint, args.metadata, images=args.images, mask_root=args.mask_root, arch=args.arch,
        large_feature_map=True if args.large_feature_map else None, cam=args.cam, protocol=args.protocol,
        interval=args.interval, iou_thresholds=args.iou, image_size=args.image_size, batch_size=args.batch_size,
        workers=args.workers, score_threads=args.score_threads, calibrate_on=args.calibrate_on,
        save_scoremaps=args.save_scoremaps, per_image=per_image, shard=args.shard, device=args.device,
        progress=show_progress(args))
    if results is None:  # a torchrun rank other than 0
        return 0
    if args.figures is not None:
        gallery = cam_gallery(args.checkpoint, args.metadata, per_image, count=args.gallery_size,
                              images=args.images, mask_root=args.mask_root, arch=args.arch,
                              large_feature_map=True if args.large_feature_map else None, cam=args.cam,
                              image_size=args.image_size, device=args.device)
        results["figures"] = {"gallery": gallery_figure(gallery, args.figures / "gallery.png")}
        if "pxap" in results:  # a mask split: the PR curve whose area is PxAP, as BoxAcc against tau for boxes
            results["figures"]["pr_curve"] = pr_curve_figure(results, args.figures / "pr_curve.png")
        else:
            results["figures"]["box_acc"] = box_acc_figure(results, args.figures / "box_acc.png")
    atomic_write_json(args.out, results)
    print(localization_summary(results) + f" ({results['timing']['total_s']:.1f} s) -> {args.out}")
    return 0
