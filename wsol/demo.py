"""The demo job: build digits, train vanilla and CutMix, evaluate both, write ``OUT/report.md``; behind ``wsol demo``.

It reaches every step through the same job functions a user calls (:mod:`wsol.api`): :func:`~wsol.engine.jobs.train`,
:func:`~wsol.engine.evaluate.evaluate_checkpoint`, :func:`~wsol.robustness.jobs.attack_checkpoint`,
:func:`~wsol.ood.evaluate.detect_ood`; :mod:`wsol.report.demo` renders what they return. Numbers are whatever the
run measures; nothing here is fixed in code.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any, Optional

logger = logging.getLogger(__name__)

#: The models the demo trains (presets ``digits-<method>``).
METHODS = ("vanilla", "cutmix")
#: ``tiny=True``: a smoke run of a few seconds (numbers meaningless).
TINY_DIGITS = {"num_train": 96, "num_fullsup": 20, "num_test": 32, "num_ood": 32}
TINY_OVERRIDES = ["epochs=1", "max_steps_per_epoch=3", "batch_size=16", "log_every=1"]
#: Test images shown in the CAM grid (the first ones of the split, so every run shows the same).
NUM_SHOWN = 8
#: FGSM budgets of the demo, in /255 units (the CutMix paper reports ImageNet at 8/255).
FGSM_EPS_255 = (1, 2, 4, 8)
#: Test images attacked in the demo (a seeded subset keeps the demo within its time budget).
FGSM_IMAGES = 500
#: Bootstrap resamples of the OOD AUROC intervals (over images; one seed per model, so not over training seeds).
OOD_RESAMPLES = 1000
#: Batch sizes of the demo's evaluations (throughput only; the numbers do not depend on them).
EVAL_BATCH, OOD_BATCH = 128, 256


def _train_cached(method: str, data: Path, run_dir: Path, *, tiny: bool, device: str, threads: Optional[int],
                  fresh: bool, progress: bool) -> dict[str, Any]:
    """Train ``digits-<method>`` into ``run_dir``, reusing a finished run with the same settings."""
    from wsol.config import TrainConfig, preset_config
    from wsol.engine.jobs import train
    from wsol.engine.train import RunFiles

    overrides = [f"data={data}", f"device={device}"] + ([f"threads={threads}"] if threads is not None else [])
    config = preset_config(f"digits-{method}", overrides=overrides + (TINY_OVERRIDES if tiny else []))
    files = RunFiles(run_dir)
    if fresh and files.config.is_file():
        shutil.rmtree(run_dir)
    if files.config.is_file():
        saved = TrainConfig.from_dict(json.loads(files.config.read_text(encoding="utf-8")))
        if saved.replace(device=config.device, workers=config.workers, threads=config.threads) != config:
            logger.info("%s: cached run has other settings; retraining", run_dir)
            shutil.rmtree(run_dir)
    if files.metrics.is_file() and files.model.is_file():
        logger.info("%s: reusing the trained model", run_dir)
        return json.loads(files.metrics.read_text(encoding="utf-8"))
    run_dir.mkdir(parents=True, exist_ok=True)
    return train(config, run_dir, resume=files.checkpoint.is_file(), progress=progress)


def run_demo(out: str | os.PathLike = "runs/demo", *, data: Optional[str | os.PathLike] = None, tiny: bool = False,
             fresh: bool = False, device: str = "auto", threads: Optional[int] = None,
             progress: bool = False) -> dict[str, Any]:
    """The whole demo; writes ``OUT/<method>/{evaluation,robustness}.json``, figures and ``OUT/report.md``.

    Args:
        out: report and run folders.
        data: digits dataset folder (default ``datasets/digits``, or ``datasets/digits-tiny`` with ``tiny``).
        tiny: a few-second smoke run on a tiny dataset (numbers meaningless).
        fresh: retrain even when finished runs with the same settings exist.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        threads: intra-op CPU threads while training; None: the presets' 2 (every count gives other weights, so
            a fixed one keeps the demo's numbers the same on machines with other core counts); 0: torch's default,
            one per core; see :class:`wsol.config.TrainConfig`.
        progress: tqdm bars.

    Returns:
        ``report`` (path of ``report.md``), ``results`` (method -> localization results with ``pxap`` and
        ``pr_curve``),
        ``robustness`` (FGSM and OOD per method), ``trained`` (method -> training metrics), ``timings``,
        ``environment`` (versions, threads, CPU capability, seeds: what a rerun elsewhere needs to compare).

    Example::

        from wsol.api import run_demo
        demo = run_demo("runs/demo", tiny=True, device="cpu")
        print(demo["results"]["cutmix"]["maxboxacc"], demo["report"])
    """
    from wsol.data.digits import DigitsConfig, prepare_digits
    from wsol.engine.evaluate import cam_examples, evaluate_checkpoint, open_checkpoint, open_eval_split
    from wsol.engine.train import RunFiles
    from wsol.fileio import atomic_write_json
    import numpy as np

    from wsol.ood.evaluate import detect_ood
    from wsol.ood.metrics import auroc_bootstrap_interval
    from wsol.report.demo import write_report
    from wsol.robustness.jobs import attack_checkpoint

    start = time.perf_counter()
    out = Path(out)
    data = Path(data) if data is not None else Path("datasets/digits-tiny" if tiny else "datasets/digits")
    t0 = time.perf_counter()
    prepare_digits(data, config=DigitsConfig(**TINY_DIGITS) if tiny else DigitsConfig(), progress=progress)
    timings = {"dataset_s": time.perf_counter() - t0}
    out.mkdir(parents=True, exist_ok=True)
    meta = data / "metadata"
    trained, models = {}, {}
    for method in METHODS:
        t0 = time.perf_counter()
        trained[method] = _train_cached(method, data, out / method, tiny=tiny, device=device, threads=threads,
                                        fresh=fresh, progress=progress)
        models[method] = RunFiles(out / method).model
        timings[f"train_{method}_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    results: dict[str, Any] = {}
    grid: dict[str, Any] = {"maps": {}, "pred_boxes": {}}
    common = {"batch_size": EVAL_BATCH, "workers": 0, "score_threads": 1, "device": device, "progress": progress}
    for method, path in models.items():
        res = evaluate_checkpoint(path, meta / "test", calibrate_on=meta / "train_fullsup", **common)
        if (meta / "test_masks").is_dir():
            masks = evaluate_checkpoint(path, meta / "test_masks", **common)
            res["pxap"], res["pr_curve"] = masks["pxap"], masks["pr_curve"]
        results[method] = res
        loaded, dev, size = open_checkpoint(path, device=device)
        test = open_eval_split(meta / "test", image_size=size)
        shown = cam_examples(loaded.model.to(dev), test, indices=list(range(min(NUM_SHOWN, len(test)))),
                             threshold=res["calibrated"]["threshold_v1"], device=dev)
        grid["maps"][method], grid["pred_boxes"][method] = shown["maps"], shown["pred_boxes"]
        grid.update(images=shown["images"], gt_boxes=shown["gt_boxes"],
                    titles=[f"label {label}" for label in shown["labels"]])
    timings["evaluate_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    ood_sets: list[tuple[str, str]] = []
    if (data / "ood").is_dir():
        ood_sets.append(("digits backgrounds", f"folder:{data / 'ood'}"))
    ood_sets += [("Gaussian noise", "gaussian"), ("uniform noise", "uniform")]
    robustness: dict[str, Any] = {"fgsm": {}, "ood": {}, "ood_auroc_interval": {}, "fgsm_eps_255": list(FGSM_EPS_255)}
    for method, path in models.items():
        attack = attack_checkpoint(path, meta / "test", eps_255=FGSM_EPS_255, max_images=FGSM_IMAGES, seed=0,
                                   batch_size=EVAL_BATCH, workers=0, device=device)
        robustness["fgsm"][method] = attack["attacks"]["fgsm"]
        robustness["fgsm_images"] = attack["num_images"]
        run = detect_ood(path, meta / "test", ood=ood_sets, num_noise=None, seed=0, batch_size=OOD_BATCH,
                         workers=0, device=device)
        robustness["ood"][method] = run.results["metrics"]["msp"]
        robustness["ood_sets"] = run.results["ood_sets"]
        robustness["ood_auroc_interval"][method] = {
            name: list(auroc_bootstrap_interval(run.scores_in["msp"], scores["msp"], generator=np.random.default_rng(0),
                                                num_resamples=OOD_RESAMPLES))
            for name, scores in run.scores_out.items()}
    timings["fgsm_and_ood_s"] = time.perf_counter() - t0
    timings["total_s"] = time.perf_counter() - start

    for method in METHODS:
        atomic_write_json(out / method / "evaluation.json", results[method])
        atomic_write_json(out / method / "robustness.json", {"fgsm": robustness["fgsm"][method],
                                                             "ood_msp": robustness["ood"][method],
                                                             "ood_msp_auroc_interval_95":
                                                                 robustness["ood_auroc_interval"][method],
                                                             "ood_sets": robustness["ood_sets"]})
    seeds = {m: json.loads(RunFiles(out / m).config.read_text(encoding="utf-8"))["seed"] for m in METHODS}
    environment = run_environment(trained, seeds)
    report = write_report(out, results, grid=grid, trained=trained, timings=timings, tiny=tiny, data=data,
                          robustness=robustness, environment=environment)
    return {"report": str(report), "results": results, "robustness": robustness, "trained": trained,
            "timings": timings, "environment": environment}


def run_environment(trained: dict[str, Any], seeds: dict[str, int]) -> dict[str, Any]:
    """What decides the bits of a CPU run besides the seed: library versions, training threads, the SIMD level
    torch's kernels dispatch to (and whether it was pinned), and the seeds of the runs."""
    import platform

    import cv2
    import numpy as np
    import torch

    import wsol

    return {"wsol": wsol.__version__, "torch": torch.__version__, "numpy": np.__version__, "opencv": cv2.__version__,
            "python": platform.python_version(), "cpu": platform.processor() or platform.machine(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "pinned_isa": {k: os.environ.get(k) for k in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA")},
            "training_threads": {m: t.get("threads") for m, t in trained.items()},
            "seeds": seeds}
