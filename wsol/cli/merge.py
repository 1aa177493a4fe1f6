"""``wsol merge``: combine ``wsol evaluate --shard i/n`` parts into the whole-run result (:func:`wsol.api.merge_shards`)."""
from __future__ import annotations

import argparse
from pathlib import Path

from wsol.cli.flags import add_common_flags, add_out_flag


def add_parser(subparsers) -> None:
    m = subparsers.add_parser("merge", help="combine the results of `wsol evaluate --shard` parts",
                              description="Merge shard results (their accumulator states) into the whole-run "
                                          "result; the numbers equal those of one unsharded run.")
    m.add_argument("parts", type=Path, nargs="+", metavar="PART_JSON")
    add_out_flag(m)
    add_common_flags(m)
    m.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from wsol.engine.evaluate import merge_shards
    from wsol.fileio import atomic_write_json
    from wsol.report.results import localization_summary

    results = merge_shards(args.parts)
    atomic_write_json(args.out, results)
    print(localization_summary(results) + f" -> {args.out}")
    return 0
