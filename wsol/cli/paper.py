"""``wsol paper run | report | compare``: regenerate the CutMix paper's tables and figures over seeds
(:func:`wsol.api.run_paper`, :func:`wsol.api.paper_report`, :func:`wsol.api.compare_per_image`)."""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from wsol.cli.flags import add_common_flags


def _key_value(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def add_parser(subparsers) -> None:
    from wsol.devices import DEVICE_CHOICES
    from wsol.paper.runner import LAUNCHERS
    from wsol.paper.spec import builtin_specs

    p = subparsers.add_parser(
        "paper", help="regenerate the CutMix paper's tables and figures over seeds (run, report, compare)",
        description="`run` trains and evaluates every (method, seed) cell of an experiment spec into a run folder "
                    "(finished cells are skipped, interrupted ones resume); `report` writes report.md, CSV / LaTeX "
                    "tables and PNG / PDF figures with mean ± std over seeds and paired-bootstrap intervals of each "
                    "method's difference from the baseline; `compare` tests two `wsol evaluate --per-image` files "
                    "against each other.")
    sub = p.add_subparsers(dest="paper_command", metavar="STEP")
    sub.required = True

    run = sub.add_parser("run", help="train and evaluate every cell of a spec")
    run.add_argument("--spec", default="cutmix-digits",
                     help=f"a built-in spec ({', '.join(builtin_specs())}) or a JSON spec file")
    run.add_argument("--out", type=Path, default=Path("runs/paper"), metavar="RUNS", help="the run folder")
    run.add_argument("--quick", action="store_true", help="smoke run: tiny data, one short epoch, two seeds")
    run.add_argument("--jobs", type=int, default=1, help="cells in parallel (local processes)")
    run.add_argument("--launcher", choices=LAUNCHERS, default="local",
                     help="local processes, SLURM jobs (submitit), or submitit's local executor")
    run.add_argument("--slurm", type=_key_value, action="append", default=[], metavar="KEY=VALUE",
                     help="submitit executor parameter (repeatable), e.g. timeout_min=120 slurm_partition=gpu")
    run.add_argument("--checkpoint", action="append", default=[], metavar="METHOD=PATH",
                     help="evaluate an existing checkpoint as a cell (repeatable; a method given k times: k seeds)")
    run.add_argument("--metadata", type=Path, metavar="META", help="with --checkpoint: a wsol prepare folder")
    run.add_argument("--images", type=Path, metavar="ROOT", help="with --checkpoint: the image root")
    run.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    run.add_argument("--workers", type=int, default=0, help="DataLoader workers of the evaluations")
    run.add_argument("--reuse", type=Path, action="append", default=[], metavar="RUNS2",
                     help="copy finished cells with the same settings hash from another run folder (repeatable)")
    run.add_argument("--report", action="store_true", help="write the report when the run is done")
    add_common_flags(run)
    run.set_defaults(run=_run)

    rep = sub.add_parser("report", help="tables, statistics and figures from a run folder")
    rep.add_argument("runs", type=Path, nargs="?", default=Path("runs/paper"), metavar="RUNS")
    rep.add_argument("--out", type=Path, default=None, metavar="DIR", help="default RUNS/report")
    rep.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples per interval")
    rep.add_argument("--seed", type=int, default=0, help="seed of the bootstrap draws")
    rep.add_argument("--no-figures", action="store_true", help="tables and report only")
    add_common_flags(rep)
    rep.set_defaults(run=_report)

    cmp_ = sub.add_parser("compare", help="paired bootstrap of two per-image files (wsol evaluate --per-image)")
    cmp_.add_argument("a", type=Path, metavar="A.npz")
    cmp_.add_argument("b", type=Path, metavar="B.npz")
    cmp_.add_argument("--resamples", type=int, default=1000)
    cmp_.add_argument("--seed", type=int, default=0)
    cmp_.add_argument("--out", type=Path, metavar="RESULTS_JSON", help="also write the comparison as JSON")
    add_common_flags(cmp_)
    cmp_.set_defaults(run=_compare)


def _run(args: argparse.Namespace) -> int:
    from wsol.cli.main import show_progress
    from wsol.paper.runner import run_paper

    result = run_paper(args.spec, args.out, quick=args.quick, jobs=args.jobs, launcher=args.launcher,
                       slurm=dict(args.slurm), checkpoints=args.checkpoint, metadata=args.metadata,
                       images=args.images, device=args.device, workers=args.workers, reuse=args.reuse,
                       command=shlex.join(["wsol"] + sys.argv[1:]), progress=show_progress(args))
    print(f"{result['spec']}: {len(result['cells'])} cells ({len(result['ran'])} run, {len(result['skipped'])} "
          f"already finished) in {result['wall_s'] / 60:.1f} min -> {result['out']}")
    if args.report:
        return _report(argparse.Namespace(runs=args.out, out=None, resamples=1000, seed=0, no_figures=False))
    return 0


def _report(args: argparse.Namespace) -> int:
    from wsol.errors import InputError
    from wsol.paper.report import paper_report

    if args.resamples < 1:
        raise InputError("--resamples must be >= 1", value=args.resamples)
    result = paper_report(args.runs, args.out, resamples=args.resamples, seed=args.seed,
                          figures=not args.no_figures)
    count = sum(len(t) for t in result["tables"].values())
    missing = f"; {len(result['missing'])} unfinished cells left out" if result["missing"] else ""
    print(f"{count} tables, {len(result['figures'])} figure files ({result['wall_s']:.1f} s){missing} -> "
          f"{result['report']}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from wsol.fileio import atomic_write_json
    from wsol.paper.report import compare_per_image
    from wsol.report.paper import diff_cell

    result = compare_per_image(args.a, args.b, resamples=args.resamples, seed=args.seed)
    print(f"{result['kind']}: {result['num_images']} images; A = {args.a}, B = {args.b}; A − B with a 95 % paired "
          f"bootstrap interval over images ({args.resamples} resamples; ✓ = resolved)")
    for name, m in result["metrics"].items():
        print(f"  {name:26s} A {m['a']:7.2f}  B {m['b']:7.2f}  A − B {diff_cell(m, 2)}")
    if args.out is not None:
        atomic_write_json(args.out, result)
    return 0
