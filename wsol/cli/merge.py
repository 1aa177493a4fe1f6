"""``wsol merge``: combine the results of ``wsol evaluate --shard i/n`` parts into the whole-run result."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from wsol.cli.evaluate import _summary
from wsol.cli.main import add_common_flags


def add_parser(subparsers) -> None:
    m = subparsers.add_parser("merge", help="combine the results of `wsol evaluate --shard` parts",
                              description="Merge shard results (their accumulator states) into the whole-run "
                                          "result; the numbers equal those of one unsharded run.")
    m.add_argument("parts", type=Path, nargs="+", metavar="PART_JSON")
    m.add_argument("--out", type=Path, required=True, metavar="RESULTS_JSON")
    add_common_flags(m)
    m.set_defaults(run=_run_merge)


def _run_merge(args: argparse.Namespace) -> int:
    from wsol.errors import InputError
    from wsol.fileio import atomic_write_json
    from wsol.localization.metrics import BoxAccumulator, MaskAccumulator, calibrate

    parts = []
    for path in args.parts:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError("part not found", path=path) from None
        except json.JSONDecodeError as e:
            raise InputError("invalid JSON", path=path, line=e.lineno, value=e.msg) from None
        if "state" not in data or "shard" not in data:
            raise InputError("not a shard result (written by `wsol evaluate --shard i/n`)", path=path)
        parts.append((path, data))
    n = parts[0][1]["shard"][1]
    seen = sorted(d["shard"][0] for _, d in parts)
    if any(d["shard"][1] != n for _, d in parts) or seen != list(range(n)):
        raise InputError(f"parts must be shards 0..{n - 1} of {n}, each once", path=parts[0][0],
                         value=f"got {seen}")
    keys = ("checkpoint_sha256", "cam", "image_size", "metadata")
    for path, d in parts[1:]:
        for k in keys:
            if d.get(k) != parts[0][1].get(k):
                raise InputError(f"parts differ in {k}", path=path, value=f"{d.get(k)} vs {parts[0][1].get(k)}")
    accs = []
    for k, state in enumerate(parts[0][1]["state"]):
        cls = BoxAccumulator if state["kind"] == "boxes" else MaskAccumulator
        total = cls.from_state_dict(state)
        for path, d in parts[1:]:
            try:
                total.merge(cls.from_state_dict(d["state"][k]))
            except ValueError as e:
                raise InputError(str(e), path=path) from None
        accs.append(total)
    results = accs[0].compute()
    if len(accs) == 2:
        results["calibrated"] = calibrate(accs[1], accs[0])
    base = parts[0][1]
    for k in ("metadata", "checkpoint", "checkpoint_sha256", "checkpoint_kind", "arch", "num_classes",
              "large_feature_map", "cam", "image_size", "wsol_version"):
        if k in base:
            results[k] = base[k]
    results["merged_from"] = [str(p) for p, _ in parts]
    results["timing"] = {"sum_of_parts_total_s": sum(d["timing"]["total_s"] for _, d in parts)}
    atomic_write_json(args.out, results)
    print(_summary(results) + f" -> {args.out}")
    return 0
