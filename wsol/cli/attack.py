"""``wsol attack``: top-1 / top-5 accuracy of a checkpoint under FGSM / PGD (:func:`wsol.api.attack_checkpoint`)."""
from __future__ import annotations

import argparse
from pathlib import Path

from wsol.cli.flags import add_pixel_job_flags


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "attack", help="accuracy under FGSM / PGD white-box attacks",
        description="Clean and adversarial top-1/top-5 accuracy per budget. Attacks work in pixel space [0, 1] "
                    "(the normalisation lives inside a model wrapper): x_adv = clip(x + eps sign(grad_x CE), 0, 1). "
                    "Budgets are given in /255 units.")
    add_pixel_job_flags(p)
    p.add_argument("--fgsm", action="store_true", help="FGSM (the default when no attack is named)")
    p.add_argument("--pgd", action="store_true", help="PGD-k with a random start")
    p.add_argument("--eps", type=float, nargs="+", default=[1, 2, 4, 8], metavar="E",
                   help="budgets in /255 units (default 1 2 4 8)")
    p.add_argument("--steps", type=int, default=10, help="PGD steps (default 10)")
    p.add_argument("--alpha", type=float, default=None, help="PGD step in /255 units (default 2.5 eps / steps)")
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from wsol.fileio import atomic_write_json
    from wsol.report.results import attack_figure, attack_summary
    from wsol.robustness.jobs import attack_checkpoint

    results = attack_checkpoint(
        args.checkpoint, args.metadata, attacks=[a for a in ("fgsm", "pgd") if getattr(args, a)] or ["fgsm"],
        eps_255=args.eps, steps=args.steps, alpha_255=args.alpha, images=args.images, arch=args.arch,
        image_size=args.image_size, max_images=args.max_images, seed=args.seed, batch_size=args.batch_size,
        workers=args.workers, device=args.device)
    results["figure"] = attack_figure(results, Path(f"{args.out.with_suffix('')}_accuracy.png"))
    atomic_write_json(args.out, results)
    print("\n".join(attack_summary(results)) + f"\n-> {args.out}")
    return 0
