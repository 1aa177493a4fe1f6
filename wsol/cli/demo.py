"""``wsol demo``: build digits, train vanilla and CutMix, evaluate both, write ``runs/demo/report.md`` with figures."""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import time
from pathlib import Path

from wsol.cli.main import add_common_flags, show_progress

logger = logging.getLogger(__name__)

METHODS = ("vanilla", "cutmix")
#: ``--tiny``: a smoke run of a few seconds (numbers meaningless).
TINY_DIGITS = {"num_train": 96, "num_fullsup": 20, "num_test": 32, "num_ood": 32}
TINY_OVERRIDES = ["epochs=1", "max_steps_per_epoch=3", "batch_size=16", "log_every=1"]


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "demo", help="the one-command demo: digits -> train vanilla and CutMix -> evaluate -> report",
        description="Build the embedded digits dataset (cached), train the digits-vanilla and digits-cutmix presets "
                    "(reused on a second run unless --fresh), evaluate both (MaxBoxAcc, MaxBoxAccV2, Top-1 Loc, "
                    "GT-known Loc with the threshold calibrated on train_fullsup, PxAP on test_masks; FGSM "
                    "accuracy; max-softmax OOD detection against digit-free backgrounds and noise) and write "
                    "OUT/report.md with CAM overlays and BoxAcc curves.")
    p.add_argument("--out", type=Path, default=Path("runs/demo"), help="report and run folders (default runs/demo)")
    p.add_argument("--data", type=Path, default=None,
                   help="digits dataset folder (default datasets/digits, or datasets/digits-tiny with --tiny)")
    p.add_argument("--fresh", action="store_true", help="retrain the models even when cached ones exist")
    p.add_argument("--tiny", action="store_true", help="a few-second smoke run on a tiny dataset")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    add_common_flags(p)
    p.set_defaults(run=_run)


def _train(method: str, data: Path, run_dir: Path, *, tiny: bool, device: str, fresh: bool, progress: bool) -> dict:
    from wsol.config import TrainConfig, preset_config
    from wsol.engine.train import RunFiles, fit

    config = preset_config(f"digits-{method}", overrides=[f"data={data}", f"device={device}"]
                           + (TINY_OVERRIDES if tiny else []))
    files = RunFiles(run_dir)
    if fresh and files.config.is_file():
        shutil.rmtree(run_dir)
    if files.config.is_file():
        saved = TrainConfig.from_dict(json.loads(files.config.read_text(encoding="utf-8")))
        if saved.replace(device=config.device, workers=config.workers) != config:
            logger.info("%s: cached run has other settings; retraining", run_dir)
            shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if files.metrics.is_file() and files.model.is_file():
        logger.info("%s: reusing the trained model", run_dir)
        return json.loads(files.metrics.read_text(encoding="utf-8"))
    return fit(config, run_dir, resume=files.checkpoint.is_file(), progress=progress)


def _run(args: argparse.Namespace) -> int:
    from wsol.data.digits import DigitsConfig, prepare_digits
    from wsol.engine.train import RunFiles
    from wsol.fileio import atomic_write_json
    from wsol.report.demo import evaluate_for_report, robustness_for_report, write_report

    start = time.perf_counter()
    progress = show_progress(args)
    data = args.data or Path("datasets/digits-tiny" if args.tiny else "datasets/digits")
    digits_config = DigitsConfig(**TINY_DIGITS) if args.tiny else DigitsConfig()
    t0 = time.perf_counter()
    prepare_digits(data, config=digits_config, progress=progress)
    timings = {"dataset_s": time.perf_counter() - t0}
    args.out.mkdir(parents=True, exist_ok=True)
    runs, trained = {}, {}
    for method in METHODS:
        t0 = time.perf_counter()
        run_dir = args.out / method
        trained[method] = _train(method, data, run_dir, tiny=args.tiny, device=args.device, fresh=args.fresh,
                                 progress=progress)
        runs[method] = RunFiles(run_dir).model
        timings[f"train_{method}_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    evaluation = evaluate_for_report(runs, data / "metadata", device=args.device, progress=progress)
    timings["evaluate_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    ood_root = data / "ood" if (data / "ood").is_dir() else None
    robustness = robustness_for_report(runs, data / "metadata", ood_root, device=args.device)
    timings["fgsm_and_ood_s"] = time.perf_counter() - t0
    timings["total_s"] = time.perf_counter() - start
    for method in METHODS:
        atomic_write_json(args.out / method / "evaluation.json", evaluation["results"][method])
        atomic_write_json(args.out / method / "robustness.json", {"fgsm": robustness["fgsm"][method],
                                                                  "ood_msp": robustness["ood"][method],
                                                                  "ood_sets": robustness["ood_sets"]})
    report = write_report(args.out, evaluation, trained=trained, timings=timings, tiny=args.tiny,
                          data=data, robustness=robustness)
    print(f"demo finished in {timings['total_s']:.0f} s; report: {report}")
    return 0
