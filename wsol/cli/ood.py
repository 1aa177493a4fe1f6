"""``wsol ood``: out-of-distribution detection of a checkpoint, per OOD set and averaged (:func:`wsol.api.detect_ood`)."""
from __future__ import annotations

import argparse

from wsol.cli.flags import add_common_flags, add_data_flags, add_loader_flags, add_model_flags, add_out_flag, ood_spec


def add_parser(subparsers) -> None:
    from wsol.ood.detectors import DETECTORS

    p = subparsers.add_parser(
        "ood", help="OOD detection: detector scores on the in-distribution split vs OOD sets",
        description="Score the in-distribution split (its images, labels ignored) and every OOD set with each "
                    "detector (higher = more in-distribution), and report per set and averaged over sets: TNR at "
                    "TPR 95%% (in-distribution positive), AUROC, detection accuracy, AUPR-In, AUPR-Out and FPR at "
                    "95%% TPR with OOD positive (the pytorch-ood / OpenOOD convention). Writes the JSON, a score "
                    "histogram and a ROC figure per detector.")
    add_model_flags(p)
    add_data_flags(p, help="in-distribution split")
    p.add_argument("--ood", type=ood_spec, nargs="+", required=True, metavar="SET",
                   help="gaussian, uniform or folder:PATH (e.g. the digits set's ROOT/ood from --ood N)")
    p.add_argument("--detector", nargs="+", default=["msp"], choices=DETECTORS.names(), metavar="NAME",
                   help=f"detectors ({', '.join(DETECTORS.names())}; default msp, the paper's)")
    p.add_argument("--temperature", type=float, default=None,
                   help="temperature of energy (default 1) and odin (default 1000)")
    p.add_argument("--odin-epsilon", type=float, default=None, help="ODIN input perturbation (default 0.0014)")
    p.add_argument("--num-noise", type=int, default=1000, help="images per noise set (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise sets")
    p.add_argument("--folder-mode", choices=("resize", "center_crop"), default="resize")
    add_loader_flags(p, batch_size=64)
    add_out_flag(p)
    add_common_flags(p)
    p.set_defaults(run=_run)


def detector_options(args: argparse.Namespace) -> dict[str, dict]:
    """Detector name -> options from the flags (only the options a detector takes)."""
    opts: dict[str, dict] = {}
    for name in args.detector:
        o: dict = {}
        if name in ("energy", "odin") and args.temperature is not None:
            o["temperature"] = args.temperature
        if name == "odin" and args.odin_epsilon is not None:
            o["epsilon"] = args.odin_epsilon
        opts[name] = o
    return opts


def _run(args: argparse.Namespace) -> int:
    from wsol.fileio import atomic_write_json
    from wsol.ood.evaluate import detect_ood
    from wsol.report.results import ood_figures, ood_summary

    run = detect_ood(args.checkpoint, args.metadata, ood=args.ood, detectors=detector_options(args),
                     num_noise=args.num_noise, seed=args.seed, folder_mode=args.folder_mode, images=args.images,
                     arch=args.arch, image_size=args.image_size, batch_size=args.batch_size, workers=args.workers,
                     device=args.device)
    results = run.results
    results["figures"] = ood_figures(run.scores_in, run.scores_out, args.out.with_suffix(""))
    atomic_write_json(args.out, results)
    print("\n".join(ood_summary(results)) + f"\n-> {args.out}")
    return 0
