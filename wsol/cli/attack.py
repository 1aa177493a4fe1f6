"""``wsol attack``: top-1 / top-5 accuracy of a checkpoint under FGSM (and PGD) white-box attacks."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from wsol.cli.main import add_common_flags


def add_model_data_flags(p: argparse.ArgumentParser) -> None:
    """Flags shared by ``attack`` and ``robustness``: checkpoint, split, sizes, device, output."""
    p.add_argument("checkpoint", type=Path, metavar="CHECKPOINT")
    p.add_argument("--metadata", type=Path, required=True, metavar="META_SPLIT_DIR")
    p.add_argument("--images", type=Path, metavar="ROOT", help="image root (default: from dataset.json)")
    p.add_argument("--arch", help="architecture, when the checkpoint does not say")
    p.add_argument("--image-size", type=int, default=None, help="input side (default: the checkpoint's, else 224)")
    p.add_argument("--max-images", type=int, default=0, help="evaluate a seeded random subset of this many (0: all)")
    p.add_argument("--seed", type=int, default=0, help="seed of the subset, pairings and PGD starts")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--out", type=Path, required=True, metavar="RESULTS_JSON")
    add_common_flags(p)


def pixel_setup(args: argparse.Namespace, *, shuffle: bool = False):
    """The checkpoint as a pixel-space model, a DataLoader of ``(images in [0, 1], labels)``, and run info."""
    import torch
    from torch.utils.data import DataLoader, Subset

    from wsol.constants import IMAGENET_MEAN, IMAGENET_STD
    from wsol.data.datasets import collate_image_label, open_split
    from wsol.data.transforms import pixel_transform
    from wsol.cli.checkpoint import open_checkpoint
    from wsol.robustness import PixelSpaceModel

    loaded, device, size = open_checkpoint(args)
    dataset = open_split(args.metadata, image_root=args.images, image_size=size,
                         transform=pixel_transform(image_size=size))
    n = len(dataset)
    subset_note = None
    if args.max_images and args.max_images < n:
        g = torch.Generator().manual_seed(args.seed)
        keep = sorted(torch.randperm(n, generator=g)[:args.max_images].tolist())
        dataset = Subset(dataset, keep)
        subset_note = f"a random subset of {len(keep)} of the split's {n} images (seed {args.seed})"
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=shuffle, num_workers=args.workers,
                        generator=torch.Generator().manual_seed(args.seed) if shuffle else None,
                        collate_fn=collate_image_label)
    model = PixelSpaceModel(loaded.model, IMAGENET_MEAN, IMAGENET_STD).to(device).eval()
    info = {"checkpoint": str(args.checkpoint), "checkpoint_sha256": loaded.sha256, "arch": loaded.arch,
            "image_size": size, "metadata": str(args.metadata), "num_images": len(dataset), "subset": subset_note,
            "device": str(device), "seed": args.seed}
    return model, loader, device, info


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "attack", help="accuracy under FGSM / PGD white-box attacks",
        description="Clean and adversarial top-1/top-5 accuracy per budget. Attacks work in pixel space [0, 1] "
                    "(the normalisation lives inside a model wrapper): x_adv = clip(x + eps sign(grad_x CE), 0, 1). "
                    "Budgets are given in /255 units.")
    add_model_data_flags(p)
    p.add_argument("--fgsm", action="store_true", help="FGSM (the default when no attack is named)")
    p.add_argument("--pgd", action="store_true", help="PGD-k with a random start")
    p.add_argument("--eps", type=float, nargs="+", default=[1, 2, 4, 8], metavar="E",
                   help="budgets in /255 units (default 1 2 4 8)")
    p.add_argument("--steps", type=int, default=10, help="PGD steps (default 10)")
    p.add_argument("--alpha", type=float, default=None, help="PGD step in /255 units (default 2.5 eps / steps)")
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    import torch

    import wsol
    from wsol.errors import InputError
    from wsol.fileio import atomic_write_bytes, atomic_write_json
    from wsol.report.figures import lines_png
    from wsol.robustness import attack_accuracy

    start = time.perf_counter()
    if any(e < 0 or e > 255 for e in args.eps):
        raise InputError("--eps values are /255 budgets in [0, 255]", value=args.eps)
    model, loader, device, info = pixel_setup(args)
    attacks = [a for a in ("fgsm", "pgd") if getattr(args, a)] or ["fgsm"]
    results = {"eps_255": list(args.eps), **info, "wsol_version": wsol.__version__, "attacks": {}}
    series = {}
    for name in attacks:
        try:
            res = attack_accuracy(model, loader, eps_list=[e / 255 for e in args.eps], attack=name,
                                  alpha=None if args.alpha is None else args.alpha / 255, steps=args.steps,
                                  generator=torch.Generator().manual_seed(args.seed), device=device)
        except ValueError as e:
            raise InputError(str(e)) from None
        results["attacks"][name] = res
        series[f"{name} top-1"] = (args.eps, [r["top1_pct"] for r in res["adversarial"]])
        series[f"{name} top-5"] = (args.eps, [r["top5_pct"] for r in res["adversarial"]])
        show = ", ".join(f"{e:g}/255 {r['top1_pct']:.1f}" for e, r in zip(args.eps, res["adversarial"]))
        print(f"{name}: clean top-1 {res['clean']['top1_pct']:.1f}; under attack: {show}")
    png = Path(f"{args.out.with_suffix('')}_accuracy.png")
    atomic_write_bytes(png, lines_png(series, xlabel="ε (/255)", ylabel="accuracy (%)",
                                      title="accuracy under attack"))
    results["figure"] = str(png)
    results["timing"] = {"total_s": time.perf_counter() - start}
    atomic_write_json(args.out, results)
    print(f"-> {args.out}")
    return 0
