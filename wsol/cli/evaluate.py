"""``wsol evaluate``: a checkpoint's localization numbers (CAM -> the scoring engine)."""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from wsol.cli.main import add_common_flags, show_progress


def _shard(text: str) -> tuple[int, int]:
    i, sep, n = text.partition("/")
    try:
        shard = (int(i), int(n))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard expects i/n, got {text!r}") from None
    if not sep or not 0 <= shard[0] < shard[1]:
        raise argparse.ArgumentTypeError(f"--shard expects i/n with 0 <= i < n, got {text!r}")
    return shard


def add_parser(subparsers) -> None:
    from wsol.cli.score import _iou
    from wsol.engine.evaluate import CAM_METHODS
    from wsol.localization.protocol import protocol_names
    from wsol.models.base import MODELS

    p = subparsers.add_parser(
        "evaluate", help="evaluate a checkpoint's localization (CAM -> MaxBoxAcc, Top-k Loc, PxAP)",
        description="One streaming pass over a metadata split: logits and the CAM of the ground-truth class, "
                    "resized and min-max normalised as wsolevaluation does, scored by the engine of `wsol score`. "
                    "Accepts `wsol train` checkpoints and plain state dicts (torchvision ResNet layout, "
                    "wsolevaluation CAM checkpoints; weights_only loading).")
    p.add_argument("checkpoint", type=Path, metavar="CHECKPOINT")
    p.add_argument("--metadata", type=Path, required=True, metavar="META_SPLIT_DIR")
    p.add_argument("--images", type=Path, metavar="ROOT", help="image root (default: from dataset.json)")
    p.add_argument("--mask-root", type=Path, metavar="DIR", help="mask root of a mask split (default: dataset.json)")
    p.add_argument("--arch", choices=MODELS.names(), help="architecture, when the checkpoint does not say")
    p.add_argument("--large-feature-map", action="store_true", help="with --arch: the stride-8 variant")
    p.add_argument("--cam", choices=CAM_METHODS, default="cam")
    p.add_argument("--protocol", choices=protocol_names(), default="wsolevaluation")
    p.add_argument("--interval", type=float, default=None, help="threshold grid interval (default 0.01)")
    p.add_argument("--iou", type=_iou, nargs="+", default=None, metavar="DELTA")
    p.add_argument("--image-size", type=int, default=None,
                   help="network input and score-map side (default: the checkpoint's training size, else 224)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers")
    p.add_argument("--score-threads", type=int, default=1, help="scoring threads beside the model")
    p.add_argument("--calibrate-on", type=Path, metavar="META2",
                   help="held-out split (train_fullsup): choose the threshold there, report this split at it")
    p.add_argument("--save-scoremaps", type=Path, metavar="DIR", help="write <image_id>.npy score maps here")
    p.add_argument("--shard", type=_shard, default=(0, 1), metavar="i/n", help="evaluate every n-th image from i")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--out", type=Path, required=True, metavar="RESULTS_JSON")
    add_common_flags(p)
    p.set_defaults(run=_run)



def _open(meta_dir: Path, args: argparse.Namespace, image_size: int):
    from wsol.data.datasets import open_split
    from wsol.data.metadata import read_metadata
    from wsol.data.transforms import eval_transform
    from wsol.errors import InputError

    meta = read_metadata(meta_dir)
    if meta.localization not in ("boxes", "masks"):
        raise InputError("split has no localization.txt (no boxes or masks to score against)", path=meta_dir)
    return open_split(meta_dir, image_root=args.images, mask_root=args.mask_root, localization=meta.localization,
                      image_size=image_size, transform=eval_transform(image_size=image_size))


def _run(args: argparse.Namespace) -> int:
    import torch
    import torch.distributed as dist

    import wsol
    from wsol.cli.checkpoint import open_checkpoint
    from wsol.engine.evaluate import EvalSettings, evaluate_split
    from wsol.errors import InputError
    from wsol.fileio import atomic_write_json
    from wsol.localization.metrics import BoxAccumulator, MaskAccumulator, calibrate

    start = time.perf_counter()
    loaded, device, image_size = open_checkpoint(args)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="gloo" if args.device == "cpu" or not torch.cuda.is_available() else "nccl")
    rank = dist.get_rank() if dist.is_initialized() else 0
    shard = args.shard
    if dist.is_initialized():
        if shard != (0, 1):
            raise InputError("--shard and torchrun both split the data; use one of them")
        shard = (rank, dist.get_world_size())
    try:
        settings = EvalSettings(cam=args.cam, protocol=args.protocol, interval=args.interval,
                                iou_thresholds=tuple(args.iou) if args.iou else None, image_size=image_size,
                                batch_size=args.batch_size, workers=args.workers, score_threads=args.score_threads,
                                shard=shard)
    except ValueError as e:
        raise InputError(str(e)) from None
    model = loaded.model.to(device)
    progress = show_progress(args) and rank == 0
    test = evaluate_split(model, _open(args.metadata, args, image_size), settings=settings, device=device,
                          save_dir=args.save_scoremaps, progress=progress)
    cal = None
    if args.calibrate_on is not None:
        cal = evaluate_split(model, _open(args.calibrate_on, args, image_size), settings=settings, device=device,
                             progress=progress)
    accs = [test.accumulator] + ([cal.accumulator] if cal else [])
    if dist.is_initialized():  # gather every rank's counts; rank 0 merges
        gathered: list = [None] * dist.get_world_size()
        dist.all_gather_object(gathered, [a.state_dict() for a in accs])
        dist.destroy_process_group()
        if rank != 0:
            return 0
        merged = []
        for k, a in enumerate(accs):
            cls = BoxAccumulator if isinstance(a, BoxAccumulator) else MaskAccumulator
            total = cls.from_state_dict(gathered[0][k])
            for part in gathered[1:]:
                total.merge(cls.from_state_dict(part[k]))
            merged.append(total)
        accs = merged
        shard = (0, 1)
    results = accs[0].compute()
    if len(accs) == 2:
        if not isinstance(accs[0], BoxAccumulator) or not isinstance(accs[1], BoxAccumulator):
            raise InputError("calibration applies to box splits only", path=args.calibrate_on)
        results["calibrated"] = calibrate(accs[1], accs[0])
        results["calibrated"]["calibration_split"] = {"metadata": str(args.calibrate_on),
                                                      "num_images": accs[1].num_images}
    results.update({
        "metadata": str(args.metadata), "checkpoint": str(args.checkpoint), "checkpoint_sha256": loaded.sha256,
        "checkpoint_kind": loaded.kind, "arch": loaded.arch, "num_classes": loaded.num_classes,
        "large_feature_map": loaded.large_feature_map, "cam": args.cam, "image_size": image_size,
        "wsol_version": wsol.__version__, "device": str(device), "world_size": world,
        "timing": {**test.timing, "total_s": time.perf_counter() - start},
    })
    if shard != (0, 1):
        results["shard"] = list(shard)
        results["state"] = [a.state_dict() for a in accs]
    atomic_write_json(args.out, results)
    print(_summary(results) + f" ({results['timing']['total_s']:.1f} s) -> {args.out}")
    return 0


def _summary(results: dict) -> str:
    if "pxap" in results:
        text = f"PxAP {results['pxap']:.2f}"
    else:
        text = (f"top-1 {results.get('top1_cls', float('nan')):.2f}  MaxBoxAcc {results['maxboxacc']:.2f}  "
                f"MaxBoxAccV2 {results['maxboxacc_v2']:.2f}  Top-1 Loc {results.get('top1_loc', float('nan')):.2f}  "
                f"GT-known Loc {results['gt_known_loc']:.2f}")
    shard = f" [shard {results['shard'][0]}/{results['shard'][1]}]" if "shard" in results else ""
    return f"{results['num_images']} images{shard}: {text}"
