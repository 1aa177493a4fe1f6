"""The embedded digits benchmark: train digits presets over seeds, evaluate localization, print JSON.

For every (method, seed) cell: ``wsol.api.train`` of the preset ``digits-<method>`` (plus ``--set`` overrides) →
``evaluate_checkpoint`` on ``test`` with the threshold calibrated on ``train_fullsup`` → PxAP on ``test_masks`` →
max-softmax OOD AUROC against the digit-free backgrounds and Gaussian / uniform noise (as in the demo); the
per-epoch test accuracy comes from the run's ``log.jsonl`` (to see whether training has plateaued). Cells run in
``--jobs`` processes with ``--threads`` intra-op threads each; a finished cell is reused (delete its folder to
retrain). Prints one JSON object: per cell the metrics and the curve, per method mean and sample std over seeds.

    python benchmarks/digits_benchmark.py --methods vanilla cutmix --seeds 0 1 2 --jobs 2 --threads 1 \
        --table benchmarks/results/T.md --figure benchmarks/results/C.png
"""
from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import signal
import sys
import time
from pathlib import Path

METRICS = ("eval_top1", "maxboxacc", "maxboxacc_v2", "gt_known_loc", "gt_known_loc_calibrated", "top1_loc",
           "top1_loc_calibrated", "pxap", "ood_auroc_backgrounds", "ood_auroc_gaussian", "ood_auroc_uniform",
           "train_seconds")


def _cell(job: tuple) -> dict:
    method, seed, data, out, sets, threads = job
    import torch

    torch.set_num_threads(threads)
    from wsol.api import detect_ood, evaluate_checkpoint, train

    run = Path(out) / f"{method}-s{seed}"
    t0 = time.perf_counter()
    if not (run / "metrics.json").is_file():
        if run.exists():
            import shutil

            shutil.rmtree(run)
        train(f"digits-{method}", run, overrides=[f"data={data}", f"seed={seed}", "device=cpu", f"threads={threads}",
                                                  *sets])
    trained = json.loads((run / "metrics.json").read_text())
    meta = Path(data) / "metadata"
    res = evaluate_checkpoint(run / "model.pt", meta / "test", calibrate_on=meta / "train_fullsup", workers=0,
                              device="cpu")
    pxap = evaluate_checkpoint(run / "model.pt", meta / "test_masks", workers=0, device="cpu")["pxap"]
    ood_sets = [("backgrounds", f"folder:{Path(data) / 'ood'}")] if (Path(data) / "ood").is_dir() else []
    ood = detect_ood(run / "model.pt", meta / "test", ood=ood_sets + [("gaussian", "gaussian"), ("uniform", "uniform")],
                     num_noise=None, seed=0, workers=0, device="cpu").results["metrics"]["msp"]
    curve = [r["eval_top1"] for r in map(json.loads, (run / "log.jsonl").read_text().splitlines())
             if r.get("event") == "epoch"]
    cal = res["calibrated"]
    return {"method": method, "seed": seed, "eval_top1": trained["eval_top1"], "maxboxacc": res["maxboxacc"],
            "maxboxacc_v2": res["maxboxacc_v2"], "gt_known_loc": res["gt_known_loc"],
            "gt_known_loc_calibrated": cal["box_acc_v1"], "top1_loc": res["top1_loc"],
            "top1_loc_calibrated": cal.get("top1_loc"), "fixed_threshold": res["fixed_threshold"],
            "calibrated_threshold": cal["threshold_v1"], "pxap": pxap, "train_seconds": trained["train_seconds"],
            **{f"ood_auroc_{name}": ood[name]["auroc"] for name in ("backgrounds", "gaussian", "uniform")
               if name in ood},
            "threads": threads, "test_top1_by_epoch": curve, "cell_seconds": time.perf_counter() - t0}


def _mean_std(values: list[float]) -> dict:
    values = [v for v in values if v is not None]
    if not values:
        return {"mean": None, "std": None, "n": 0}
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return {"mean": mean, "std": std, "n": len(values)}


#: Table columns: (header, summary key, digits).
TABLE_COLUMNS = (("cls top-1", "eval_top1", 1), ("MaxBoxAcc", "maxboxacc", 1), ("MaxBoxAccV2", "maxboxacc_v2", 1),
                 ("GT-known Loc τ=0.2", "gt_known_loc", 1), ("GT-known Loc τ*", "gt_known_loc_calibrated", 1),
                 ("Top-1 Loc τ=0.2", "top1_loc", 1), ("Top-1 Loc τ*", "top1_loc_calibrated", 1), ("PxAP", "pxap", 1),
                 ("OOD AUROC backgrounds", "ood_auroc_backgrounds", 1), ("OOD AUROC Gaussian", "ood_auroc_gaussian", 1),
                 ("train s", "train_seconds", 0))


def summary_markdown(summary: dict) -> str:
    """One row per method: ``mean ± std`` over seeds (sample std), and the number of seeds."""
    from wsol.report import markdown_table

    def cell(stats: dict, digits: int) -> str:
        return "–" if stats["mean"] is None else f"{stats['mean']:.{digits}f} ± {stats['std']:.{digits}f}"

    rows = [[method, stats["eval_top1"]["n"], *(cell(stats[key], d) for _, key, d in TABLE_COLUMNS)]
            for method, stats in summary.items()]
    return markdown_table(["preset", "n", *(h for h, _, _ in TABLE_COLUMNS)], rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--methods", nargs="+", default=["vanilla", "cutmix", "feature_cutmix", "mixup", "cutout",
                                                    "random_erasing", "keepaugment"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--data", default="datasets/digits")
    p.add_argument("--out", default="runs/digits-benchmark")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 2) // 2))
    p.add_argument("--table", type=Path, default=None, metavar="MD",
                   help="also write the per-method mean ± std (n) as a Markdown table")
    p.add_argument("--figure", type=Path, default=None, metavar="PNG",
                   help="also draw test top-1 against epoch per method (mean line, min-max band over seeds)")
    args = p.parse_args(argv)
    from wsol.data.digits import prepare_digits

    if not (Path(args.data) / "metadata" / "dataset.json").is_file():  # an existing set (of any config) is used as is
        prepare_digits(args.data)
    jobs = [(m, s, args.data, args.out, args.sets, args.threads) for m in args.methods for s in args.seeds]
    start = time.perf_counter()
    # SIGTERM (e.g. `kill`) leaves through the `with` block, whose exit terminates the workers: without this a killed
    # benchmark left its spawned workers training into the same folders
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
        cells = pool.map(_cell, jobs, chunksize=1)
    summary = {m: {k: _mean_std([c[k] for c in cells if c["method"] == m]) for k in METRICS} for m in args.methods}
    out = {"settings": {"sets": args.sets, "seeds": args.seeds, "jobs": args.jobs, "threads": args.threads,
                        "data": args.data}, "summary": summary, "cells": cells,
           "wall_seconds": time.perf_counter() - start}
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "benchmark.json").write_text(json.dumps(out, indent=1))
    if args.table is not None:
        args.table.parent.mkdir(parents=True, exist_ok=True)
        args.table.write_text(summary_markdown(summary).rstrip("\n") + "\n", encoding="utf-8")
    if args.figure is not None:
        from wsol.report import band_lines_png

        curves = {m: [c["test_top1_by_epoch"] for c in cells if c["method"] == m] for m in args.methods}
        args.figure.parent.mkdir(parents=True, exist_ok=True)
        args.figure.write_bytes(band_lines_png(curves, xlabel="epoch", ylabel="test top-1 (%)",
                                               title="digits presets: test accuracy by epoch (band: min-max "
                                                     "over seeds)",
                                               ylim=(80.0, 100.0)))
    json.dump(out, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
