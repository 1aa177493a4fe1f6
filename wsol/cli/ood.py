"""``wsol ood``: out-of-distribution detection of a checkpoint, per OOD set and averaged (the CutMix paper's table)."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from wsol.cli.main import add_common_flags

NOISE_SETS = ("gaussian", "uniform")


def _ood_spec(text: str) -> tuple[str, str | None]:
    if text in NOISE_SETS:
        return text, None
    kind, sep, path = text.partition(":")
    if kind == "folder" and sep and path:
        return "folder", path
    raise argparse.ArgumentTypeError(f"--ood takes gaussian, uniform or folder:PATH, got {text!r}")


def add_parser(subparsers) -> None:
    from wsol.ood.detectors import DETECTORS

    p = subparsers.add_parser(
        "ood", help="OOD detection: detector scores on the in-distribution split vs OOD sets",
        description="Score the in-distribution split (its images, labels ignored) and every OOD set with each "
                    "detector (higher = more in-distribution), and report per set and averaged over sets: TNR at "
                    "TPR 95%% (in-distribution positive), AUROC, detection accuracy, AUPR-In, AUPR-Out and FPR at "
                    "95%% TPR with OOD positive (the pytorch-ood / OpenOOD convention). Writes the JSON, a score "
                    "histogram and a ROC figure per detector.")
    p.add_argument("checkpoint", type=Path, metavar="CHECKPOINT")
    p.add_argument("--metadata", type=Path, required=True, metavar="META_SPLIT_DIR", help="in-distribution split")
    p.add_argument("--images", type=Path, metavar="ROOT", help="image root (default: from dataset.json)")
    p.add_argument("--arch", help="architecture, when the checkpoint does not say")
    p.add_argument("--ood", type=_ood_spec, nargs="+", required=True, metavar="SET",
                   help="gaussian, uniform or folder:PATH (e.g. the digits set's ROOT/ood from --ood N)")
    p.add_argument("--detector", nargs="+", default=["msp"], choices=DETECTORS.names(), metavar="NAME",
                   help=f"detectors ({', '.join(DETECTORS.names())}; default msp, the paper's)")
    p.add_argument("--temperature", type=float, default=None,
                   help="temperature of energy (default 1) and odin (default 1000)")
    p.add_argument("--odin-epsilon", type=float, default=None, help="ODIN input perturbation (default 0.0014)")
    p.add_argument("--num-noise", type=int, default=1000, help="images per noise set (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise sets")
    p.add_argument("--folder-mode", choices=("resize", "center_crop"), default="resize")
    p.add_argument("--image-size", type=int, default=None, help="input side (default: the checkpoint's, else 224)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--out", type=Path, required=True, metavar="RESULTS_JSON")
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
    import wsol
    from wsol.data.datasets import open_split
    from wsol.data.transforms import eval_transform
    from wsol.cli.checkpoint import open_checkpoint
    from wsol.errors import InputError
    from wsol.fileio import atomic_write_bytes, atomic_write_json
    from wsol.ood.datasets import GaussianNoise, ImageFolderOOD, UniformNoise
    from wsol.ood.evaluate import collect_scores, metric_tables
    from wsol.ood.metrics import roc_points
    from wsol.report.figures import roc_curves_png, score_histograms_png

    start = time.perf_counter()
    if args.num_noise < 1:
        raise InputError("--num-noise must be >= 1", value=args.num_noise)
    loaded, device, size = open_checkpoint(args)
    model = loaded.model.to(device).eval()
    detectors = detector_options(args)
    in_set = open_split(args.metadata, image_root=args.images, image_size=size,
                        transform=eval_transform(image_size=size))
    sets = {}
    for kind, path in args.ood:
        if kind == "gaussian":
            sets["gaussian"] = GaussianNoise(args.num_noise, size, args.seed)
        elif kind == "uniform":
            sets["uniform"] = UniformNoise(args.num_noise, size, args.seed)
        else:
            sets[f"folder:{path}"] = ImageFolderOOD(path, size, mode=args.folder_mode)
    try:
        scores_in = collect_scores(model, in_set, detectors=detectors, device=device, batch_size=args.batch_size,
                                   workers=args.workers)
        scores_out = {name: collect_scores(model, ds, detectors=detectors, device=device,
                                           batch_size=args.batch_size, workers=args.workers)
                      for name, ds in sets.items()}
        tables = metric_tables(scores_in, scores_out)
    except ValueError as e:
        raise InputError(str(e)) from None
    stem = args.out.with_suffix("")
    figures = {}
    for det in detectors:
        hist = Path(f"{stem}_{det}_scores.png")
        roc = Path(f"{stem}_{det}_roc.png")
        atomic_write_bytes(hist, score_histograms_png(scores_in[det], {n: s[det] for n, s in scores_out.items()},
                                                      title=f"{det} scores"))
        atomic_write_bytes(roc, roc_curves_png({n: roc_points(scores_in[det], s[det]) for n, s in scores_out.items()},
                                               title=f"{det}: ROC, in-distribution positive"))
        figures[det] = {"histogram": str(hist), "roc": str(roc)}
    results = {
        "metrics": tables, "in_distribution": {"metadata": str(args.metadata), "num_images": len(in_set)},
        "ood_sets": {name: len(ds) for name, ds in sets.items()}, "detectors": detectors,
        "conventions": "scores: higher = more in-distribution; ties are groups (thresholds at distinct scores, no "
                       "interpolation); tnr_at_tpr95: largest threshold with in-distribution TPR >= 95%; "
                       "fpr_at_tpr95_ood_positive: OOD as positive (pytorch-ood / OpenOOD); all in %",
        "figures": figures, "checkpoint": str(args.checkpoint), "checkpoint_sha256": loaded.sha256,
        "arch": loaded.arch, "image_size": size, "seed": args.seed, "wsol_version": wsol.__version__,
        "timing": {"total_s": time.perf_counter() - start},
    }
    atomic_write_json(args.out, results)
    for det, table in tables.items():
        m = table["mean"]
        print(f"{det}: mean over {len(sets)} OOD set(s): TNR@TPR95 {m['tnr_at_tpr95']:.1f}  AUROC {m['auroc']:.1f}  "
              f"detection acc {m['detection_accuracy']:.1f}")
    print(f"-> {args.out}")
    return 0
