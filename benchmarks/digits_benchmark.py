"""The embedded digits benchmark: train digits presets over seeds, evaluate localization, print JSON.

For every (method, seed) cell: ``wsol.api.train`` of the preset ``digits-<method>`` (plus ``--set`` overrides) →
``evaluate_checkpoint`` on ``test`` with the threshold calibrated on ``train_fullsup`` → PxAP on ``test_masks``; the
per-epoch test accuracy comes from the run's ``log.jsonl`` (to see whether training has plateaued). Cells run in
``--jobs`` processes with ``--threads`` intra-op threads each; a finished cell is reused (delete its folder to
retrain). Prints one JSON object: per cell the metrics and the curve, per method mean and sample std over seeds.

    python benchmarks/digits_benchmark.py --methods vanilla cutmix --seeds 0 1 2 --jobs 2 --threads 1
"""
from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import sys
import time
from pathlib import Path

METRICS = ("eval_top1", "maxboxacc", "maxboxacc_v2", "gt_known_loc", "gt_known_loc_calibrated", "top1_loc",
           "top1_loc_calibrated", "pxap", "train_seconds")


def _cell(job: tuple) -> dict:
    method, seed, data, out, sets, threads = job
    import torch

    torch.set_num_threads(threads)
    from wsol.api import evaluate_checkpoint, train

    run = Path(out) / f"{method}-s{seed}"
    t0 = time.perf_counter()
    if not (run / "metrics.json").is_file():
        if run.exists():
            import shutil

            shutil.rmtree(run)
        train(f"digits-{method}", run, overrides=[f"data={data}", f"seed={seed}", "device=cpu", *sets])
    trained = json.loads((run / "metrics.json").read_text())
    meta = Path(data) / "metadata"
    res = evaluate_checkpoint(run / "model.pt", meta / "test", calibrate_on=meta / "train_fullsup", workers=0,
                              device="cpu")
    pxap = evaluate_checkpoint(run / "model.pt", meta / "test_masks", workers=0, device="cpu")["pxap"]
    curve = [r["eval_top1"] for r in map(json.loads, (run / "log.jsonl").read_text().splitlines())
             if r.get("event") == "epoch"]
    cal = res["calibrated"]
    return {"method": method, "seed": seed, "eval_top1": trained["eval_top1"], "maxboxacc": res["maxboxacc"],
            "maxboxacc_v2": res["maxboxacc_v2"], "gt_known_loc": res["gt_known_loc"],
            "gt_known_loc_calibrated": cal["box_acc_v1"], "top1_loc": res["top1_loc"],
            "top1_loc_calibrated": cal.get("top1_loc"), "fixed_threshold": res["fixed_threshold"],
            "calibrated_threshold": cal["threshold_v1"], "pxap": pxap, "train_seconds": trained["train_seconds"],
            "threads": threads, "test_top1_by_epoch": curve, "cell_seconds": time.perf_counter() - t0}


def _mean_std(values: list[float]) -> dict:
    values = [v for v in values if v is not None]
    if not values:
        return {"mean": None, "std": None, "n": 0}
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return {"mean": mean, "std": std, "n": len(values)}


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
    args = p.parse_args(argv)
    from wsol.data.digits import prepare_digits

    prepare_digits(args.data)
    jobs = [(m, s, args.data, args.out, args.sets, args.threads) for m in args.methods for s in args.seeds]
    start = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
        cells = pool.map(_cell, jobs, chunksize=1)
    summary = {m: {k: _mean_std([c[k] for c in cells if c["method"] == m]) for k in METRICS} for m in args.methods}
    out = {"settings": {"sets": args.sets, "seeds": args.seeds, "jobs": args.jobs, "threads": args.threads,
                        "data": args.data}, "summary": summary, "cells": cells,
           "wall_seconds": time.perf_counter() - start}
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "benchmark.json").write_text(json.dumps(out, indent=1))
    json.dump(out, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
