"""What the threshold grid changes: the same checkpoints evaluated at interval 0.01 and 0.001 (prints one JSON object;
not a test).

wsolevaluation's published tables come from its ``main.py`` (``--cam_curve_interval`` 0.001); its standalone
``evaluation.py`` defaults to 0.01. For every ``RUN/*/model.pt`` given, this evaluates the box split (with
calibration on the held-out split) and the mask split at both intervals with :func:`wsol.api.evaluate_checkpoint`
and reports every headline metric at both, their difference, and the mean / min / max difference over the runs.

Run: ``python benchmarks/interval_effect.py RUNS... --metadata datasets/digits/metadata``.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

import wsol
from wsol.api import evaluate_checkpoint

INTERVALS = (0.01, 0.001)
BOX_KEYS = ("maxboxacc", "maxboxacc_v2", "gt_known_loc", "top1_loc")
CAL_KEYS = ("box_acc_v1", "box_acc_v2", "threshold_v1")


def evaluate_run(model: Path, meta: Path, *, boxes: str, calibration: str, masks: str) -> dict:
    out: dict = {}
    for interval in INTERVALS:
        t0 = time.perf_counter()
        box = evaluate_checkpoint(model, meta / boxes, calibrate_on=meta / calibration, interval=interval,
                                  workers=0, device="cpu")
        mask = evaluate_checkpoint(model, meta / masks, interval=interval, workers=0, device="cpu")
        row = {k: box[k] for k in BOX_KEYS}
        row.update({f"calibrated_{k}": box["calibrated"][k] for k in CAL_KEYS})
        row["pxap"] = mask["pxap"]
        row["seconds"] = round(time.perf_counter() - t0, 2)
        out[str(interval)] = row
    fine, coarse = out[str(INTERVALS[1])], out[str(INTERVALS[0])]
    out["difference_0.001_minus_0.01"] = {k: fine[k] - coarse[k] for k in fine if k != "seconds"}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders holding model.pt (or folders of them)")
    parser.add_argument("--metadata", type=Path, required=True)
    parser.add_argument("--boxes", default="test")
    parser.add_argument("--calibration", default="train_fullsup")
    parser.add_argument("--masks", default="test_masks")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    models = sorted({p for r in args.runs for p in ([r / "model.pt"] if (r / "model.pt").is_file()
                                                      else r.glob("*/model.pt"))})
    if not models:
        print(f"interval_effect: no model.pt under {[str(r) for r in args.runs]}", file=sys.stderr)
        return 2
    runs = {str(m.parent): evaluate_run(m, args.metadata, boxes=args.boxes, calibration=args.calibration,
                                        masks=args.masks) for m in models}
    keys = next(iter(runs.values()))["difference_0.001_minus_0.01"].keys()
    summary = {}
    for k in keys:
        d = np.array([r["difference_0.001_minus_0.01"][k] for r in runs.values()])
        summary[k] = {"mean": float(d.mean()), "min": float(d.min()), "max": float(d.max()),
                      "runs_changed": int((d != 0).sum())}
    print(json.dumps({"wsol": wsol.__version__, "torch": torch.__version__, "python": platform.python_version(),
                      "threads": args.threads, "metadata": str(args.metadata), "num_runs": len(runs),
                      "summary_difference_0.001_minus_0.01": summary, "runs": runs}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
