"""GPU smoke check: run every CUDA path of wsol once at small size (prints one JSON object; not a test).

Run: ``python benchmarks/gpu_check.py --device cuda`` (about a minute on one GPU; ``--out FILE`` also writes the
JSON; ``--only NAME ...`` runs some paths). ``--device cpu`` runs every path that can run on the CPU (the CUDA-only
ones are reported as ``{"ok": null, "skipped": "needs CUDA"}``) so that the script cannot rot unnoticed;
``--tiny`` shrinks the training runs and the throughput case for that smoke run (``tests/test_gpu_check.py``).
Without CUDA, ``--device cuda`` prints ``{"cuda": false, ...}`` and exits 0.

Set-up (on the CPU, not a path): the embedded digits set at 32 px (96 train / 40 test / 40 OOD crops) in a temporary
folder and a CPU fp32 ``fit`` of the tiny training config: the reference loss of the training paths, and its
``model.pt`` (barely trained: the point is the agreement of devices, not accuracy) is the model of the evaluation
paths. Paths, each in its own ``try`` (one failure does not hide the others; CUDA is synchronised inside it so that
an asynchronous error is charged to its path):

* ``train_fp32``, ``train_amp_bf16`` (``amp=bf16``), ``train_amp_fp16`` (``amp=fp16``, the GradScaler; its final
  scale is read back from ``checkpoint.pt``), ``train_channels_last`` (``channels_last=true``), ``train_dataloader``
  (``in_memory=false``: DataLoader with pinned memory) and ``ddp`` (``torch.distributed`` initialised here with
  world size 1, rank 0, a ``file://`` rendezvous in the temporary folder, backend NCCL on CUDA and gloo on the CPU;
  destroyed afterwards): :func:`wsol.engine.train.fit` of the digits-vanilla preset made tiny (32 px, batch 16,
  2 epochs of 6 steps). Checked: the run completes and the loss and the final weights are finite; reported: the
  final train loss and its relative difference from the CPU fp32 run of the same data path (not gated: AMP,
  channels-last and CUDA kernels legitimately move it; on the CPU, ``train_fp32`` and ``ddp`` repeat it bit for
  bit), images/s.
* ``evaluate_cam``: :func:`wsol.engine.evaluate.evaluate_split` of the test split with ``cam``, ``gradcam`` and
  ``gradcam++`` on the device and on the CPU (same weights); the saved score maps and every number of the metrics
  are compared. Agreement: maps within ``MAP_TOL`` and every metric within two images' worth of percent (a map
  moved by rounding can flip an image at a threshold).
* ``evaluate_masks``: the same on the ``test_masks`` split (the digits' segmentation masks, the OpenImages kind of
  split) with ``cam``: PxAP, its PR curve and the histograms at the default threshold interval (0.001) against the
  CPU (agreement: maps within ``MAP_TOL`` and PxAP within ``PXAP_TOL`` points, a map moved by rounding moving
  pixels between neighbouring bins).
* ``attack_fgsm`` / ``attack_pgd``: :func:`wsol.robustness.attack_accuracy` of a
  :class:`~wsol.robustness.PixelSpaceModel` (pixel-space batches from ``pixel_transform``), clean and adversarial
  top-1 / top-5 counts against the CPU (agreement: within two images; PGD: 3 steps, CPU generator).
* ``ood``: :func:`wsol.ood.evaluate.collect_scores` + :func:`~wsol.ood.evaluate.metric_tables` with ``msp`` and
  ``odin`` (in-distribution: the test split; OOD: Gaussian noise and the digits background crops) against the CPU
  (agreement: scores within ``SCORE_TOL``, metrics within two images' worth of percent).
* ``throughput_resnet18``: forward + backward (cross-entropy, ``backward``) of ``resnet18`` (10 classes) at batch
  32 x 3 x 224 x 224, fp32 and under autocast bf16 / fp16, contiguous and channels-last: images/s from the median
  of ``--reps`` steps after a warm-up.

The device-vs-CPU comparisons (evaluation, attacks, OOD) run with TF32 off (:func:`exact_float32`): they check
the CUDA code path, and TF32's ~1e-3 noise, stretched by the min-max normalisation of a barely trained model's maps,
would hide a real difference; the training and throughput paths keep torch's TF32 defaults (reported at the top).
``ok`` is ``true`` when a path ran, its checks held and (for the comparisons) it agrees with the CPU; the exit
status is 0 when every path that ran is ok, 1 otherwise.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import math
import platform
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.utils.data import DataLoader

from wsol.config import preset_config
from wsol.data.datasets import collate_image_label, open_split
from wsol.data.digits import DigitsConfig, prepare_digits
from wsol.data.transforms import eval_transform, pixel_transform
from wsol.engine.evaluate import EvalSettings, evaluate_split
from wsol.engine.train import fit
from wsol.models import build_model
from wsol.ood.datasets import GaussianNoise, ImageFolderOOD
from wsol.ood.evaluate import collect_scores, metric_tables
from wsol.robustness import PixelSpaceModel, attack_accuracy

if str(Path(__file__).resolve().parent) not in sys.path:  # benchmarks/common.py, also when imported by a test
    sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import median_ms  # noqa: E402

IMAGE_SIZE = 32
DIGITS = DigitsConfig(image_size=IMAGE_SIZE, num_train=96, num_fullsup=10, num_test=40, seed=3, num_ood=40)
#: Overrides of the digits-vanilla preset for the training paths (2 epochs of 6 steps of 16 images) ...
TRAIN_OVERRIDES = ["image_size=32", "batch_size=16", "epochs=2", "max_steps_per_epoch=6", "log_every=100",
                   "warmup_epochs=0.5"]
#: ... and with ``--tiny`` (1 epoch of 3 steps).
TINY_TRAIN_OVERRIDES = [*TRAIN_OVERRIDES, "epochs=1", "max_steps_per_epoch=3"]
CAMS = ("cam", "gradcam", "gradcam++")
DETECTORS = {"msp": {}, "odin": {}}
MAP_TOL = 1e-3  # score maps are in [0, 1]
SCORE_TOL = 1e-3  # msp / odin scores are softmax probabilities
PXAP_TOL = 0.05  # PxAP points
PATHS = ("train_fp32", "train_amp_bf16", "train_amp_fp16", "train_channels_last", "train_dataloader", "ddp",
         "evaluate_cam", "evaluate_masks", "attack_fgsm", "attack_pgd", "ood", "throughput_resnet18")
CUDA_ONLY = ("train_amp_bf16", "train_amp_fp16")


# ------------------------------------------------------------------------------------------------------ helpers
class Disagreement(AssertionError):
    """A device result differs from the CPU's beyond the stated tolerance (the path ran, but is not ok).

    Args:
        message: what differs, and by how much.
        info: the path's numbers, reported with the error.
    """

    def __init__(self, message: str, info: dict) -> None:
        super().__init__(message)
        self.info = info


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextlib.contextmanager
def exact_float32() -> Any:
    """TF32 off for cuDNN convolutions and matmuls inside (restored after), so that CUDA and CPU compare closely."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def _safe(fn: Callable[[], Any]) -> Any:
    """``fn()``, or the error text when it raises (environment details must not stop the checks)."""
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001
        return _error_text(exc)


def _version_text(v: Any) -> str:
    return ".".join(map(str, v)) if isinstance(v, (tuple, list)) else str(v)


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:600]


def run_path(fn: Callable[[], dict], device: torch.device) -> dict:
    """``{"ok", "error", "seconds", ...}`` of one path; exceptions are caught and reported, never raised."""
    t0 = time.perf_counter()
    try:
        info = fn()
        _sync(device)
        record = {"ok": True, "error": None, **info}
    except Disagreement as exc:
        record = {"ok": False, "error": f"differs from the CPU: {exc}", **exc.info}
    except Exception as exc:  # noqa: BLE001 (a check reports every failure)
        frames = traceback.extract_tb(exc.__traceback__)[-6:]
        record = {"ok": False, "error": _error_text(exc),
                  "where": [f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in frames]}
    record["seconds"] = round(time.perf_counter() - t0, 3)
    return record


def _flat(obj: Any, prefix: str = "") -> dict[str, float]:
    """Every number of a nested dict / list, keyed by its path (``a.b.0``); ``None`` counts as NaN."""
    out: dict[str, float] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(_flat(v, f"{prefix}{k}."))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            out.update(_flat(v, f"{prefix}{i}."))
    elif obj is None or (isinstance(obj, (int, float, np.number)) and not isinstance(obj, bool)):
        out[prefix.rstrip(".")] = math.nan if obj is None else float(obj)
    return out


def max_abs_diff(a: Any, b: Any) -> float:
    """Largest absolute difference between the numbers of two nested results (NaN == NaN; a missing key: inf)."""
    fa, fb = _flat(a), _flat(b)
    if fa.keys() != fb.keys():
        return math.inf
    worst = 0.0
    for k, x in fa.items():
        y = fb[k]
        if math.isnan(x) and math.isnan(y):
            continue
        worst = max(worst, abs(x - y)) if not (math.isnan(x) or math.isnan(y)) else math.inf
    return worst


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-12)


def load_trained(path: Path) -> torch.nn.Module:
    """The model saved in a run's ``model.pt`` (weights only), on the CPU, in eval mode."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    config = state["config"]
    model = build_model(state["arch"], num_classes=int(state["num_classes"]),
                        large_feature_map=bool(config.get("large_feature_map", False)), **dict(config.get("model", {})))
    model.load_state_dict(state["model"])
    return model.eval()


# ------------------------------------------------------------------------------------------------------- set-up
class Setup:
    """The data and CPU references shared by the paths (built once, in ``tmp``)."""

    def __init__(self, tmp: Path, *, tiny: bool = False) -> None:
        self.tmp = tmp
        self.overrides = TINY_TRAIN_OVERRIDES if tiny else TRAIN_OVERRIDES
        self.root = tmp / "digits"
        prepare_digits(self.root, config=DIGITS, workers=1)
        self.meta = self.root / "metadata"
        self._references: dict[tuple[str, ...], dict] = {}
        self.model_path = self.reference([])["run_dir"] / "model.pt"

    def reference(self, extra: list[str]) -> dict:
        """The CPU run (fp32) of the tiny config plus ``extra`` overrides, trained once."""
        key = tuple(extra)
        if key not in self._references:
            self._references[key] = self.train(f"cpu_reference_{len(self._references)}", ["device=cpu", *extra])
        return self._references[key]

    def train(self, tag: str, extra: list[str]) -> dict:
        """``fit`` of the tiny config plus ``extra`` overrides into ``tmp/tag``; the final metrics."""
        run = self.tmp / tag
        run.mkdir()
        config = preset_config("digits-vanilla", overrides=[f"data={self.root}", *self.overrides, *extra])
        metrics = fit(config, run)
        metrics["run_dir"] = run
        return metrics


def _check_training(metrics: dict, reference: dict) -> dict:
    run: Path = metrics["run_dir"]
    if not metrics.get("complete") or not math.isfinite(metrics["train_loss"]):
        raise AssertionError(f"run incomplete or loss not finite: {metrics}")
    weights = torch.load(run / "model.pt", map_location="cpu", weights_only=True)["model"]
    if not all(bool(torch.isfinite(t).all()) for t in weights.values() if t.is_floating_point()):
        raise AssertionError("non-finite weights in model.pt")
    ref = reference["train_loss"]
    return {"device": metrics["device"], "train_loss": metrics["train_loss"], "train_loss_cpu": ref,
            "train_loss_rel_diff_vs_cpu": _rel(metrics["train_loss"], ref),
            "eval_top1": metrics.get("eval_top1"), "images_per_s": round(metrics["images_per_s"], 1),
            "train_seconds": round(metrics["train_seconds"], 3)}


# -------------------------------------------------------------------------------------------------------- paths
def path_train(setup: Setup, device: torch.device, tag: str, extra: list[str], reference: list[str]) -> dict:
    out = _check_training(setup.train(tag, [f"device={device.type}", *extra]), setup.reference(reference))
    if "amp=fp16" in extra:
        ck = torch.load(setup.tmp / tag / "checkpoint.pt", map_location="cpu", weights_only=True)
        scale = (ck.get("scaler") or {}).get("scale")
        if scale is None:
            raise AssertionError("amp=fp16 saved no GradScaler state")
        out["grad_scale"] = float(scale)
    return out


def path_ddp(setup: Setup, device: torch.device) -> dict:
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    init = setup.tmp / "ddp_rendezvous"
    dist.init_process_group(backend, init_method=init.resolve().as_uri(), world_size=1, rank=0,
                            timeout=datetime.timedelta(seconds=120))
    try:
        metrics = setup.train("ddp", [f"device={device.type}"])
    finally:
        dist.destroy_process_group()
    if metrics.get("world_size") != 1:
        raise AssertionError(f"fit did not see the process group: world_size {metrics.get('world_size')}")
    return {"backend": backend, **_check_training(metrics, setup.reference([]))}


def path_evaluate(setup: Setup, device: torch.device) -> dict:
    dataset = open_split(setup.meta / "test", localization="boxes", image_size=IMAGE_SIZE,
                         transform=eval_transform(image_size=IMAGE_SIZE))
    models = {"device": load_trained(setup.model_path).to(device), "cpu": load_trained(setup.model_path)}
    metric_tol = 2 * 100.0 / len(dataset)
    out: dict = {"num_images": len(dataset), "tolerance": {"map": MAP_TOL, "metric_pct": metric_tol}}
    bad = []
    for cam in CAMS:
        res, map_diff = _evaluate_on_both(setup, models, dataset, device, cam=cam, tag=f"maps_{cam}")
        m_dev, m_cpu = res["device"].accumulator.compute(), res["cpu"].accumulator.compute()
        metric_diff = max_abs_diff(m_dev, m_cpu)
        out[cam] = {"maxboxacc": m_dev["maxboxacc"], "maxboxacc_cpu": m_cpu["maxboxacc"],
                    "maxboxacc_equal": m_dev["maxboxacc"] == m_cpu["maxboxacc"],
                    "maxboxacc_v2": m_dev["maxboxacc_v2"], "maxboxacc_v2_cpu": m_cpu["maxboxacc_v2"],
                    "metrics_equal": metric_diff == 0.0, "metric_max_abs_diff": metric_diff,
                    "map_max_abs_diff": map_diff,
                    "images_per_s": round(res["device"].timing["images_per_s"], 1),
                    "images_per_s_cpu": round(res["cpu"].timing["images_per_s"], 1)}
        if not (map_diff <= MAP_TOL and metric_diff <= metric_tol):
            bad.append(f"{cam}: map diff {map_diff:.3g}, metric diff {metric_diff:.3g}")
    if bad:
        raise Disagreement("; ".join(bad), out)
    return out


def _evaluate_on_both(setup: Setup, models: dict, dataset, device: torch.device, *, cam: str, tag: str
                      ) -> tuple[dict, float]:
    """``evaluate_split`` of ``dataset`` on the device and on the CPU (TF32 off), saving the maps under
    ``tmp/<tag>_<where>``; returns the two results and the largest difference between their saved maps."""
    settings = EvalSettings(cam=cam, image_size=IMAGE_SIZE, batch_size=16, score_threads=0)
    res, maps = {}, {}
    for where, dev in (("device", device), ("cpu", torch.device("cpu"))):
        save = setup.tmp / f"{tag}_{where}"
        t0 = time.perf_counter()
        with exact_float32():
            res[where] = evaluate_split(models[where], dataset, settings=settings, device=dev, save_dir=save)
            _sync(dev)
        res[where].timing["wall_s"] = time.perf_counter() - t0
        maps[where] = {p.relative_to(save): np.load(p) for p in save.rglob("*.npy")}
    if maps["device"].keys() != maps["cpu"].keys() or len(maps["cpu"]) != len(dataset):
        raise AssertionError(f"{tag}: the saved score maps differ in names or number")
    return res, max(float(np.abs(maps["device"][k] - maps["cpu"][k]).max()) for k in maps["cpu"])


def path_evaluate_masks(setup: Setup, device: torch.device) -> dict:
    dataset = open_split(setup.meta / "test_masks", localization="masks", image_size=IMAGE_SIZE,
                         transform=eval_transform(image_size=IMAGE_SIZE))
    models = {"device": load_trained(setup.model_path).to(device), "cpu": load_trained(setup.model_path)}
    res, map_diff = _evaluate_on_both(setup, models, dataset, device, cam="cam", tag="mask_maps")
    m_dev, m_cpu = res["device"].accumulator.compute(), res["cpu"].accumulator.compute()
    out = {"num_images": len(dataset), "interval": m_dev["interval"], "pxap": m_dev["pxap"], "pxap_cpu": m_cpu["pxap"],
           "pxap_equal": m_dev["pxap"] == m_cpu["pxap"], "map_max_abs_diff": map_diff,
           "images_per_s": round(res["device"].timing["images_per_s"], 1),
           "images_per_s_cpu": round(res["cpu"].timing["images_per_s"], 1)}
    if not (map_diff <= MAP_TOL and abs(m_dev["pxap"] - m_cpu["pxap"]) <= PXAP_TOL):
        raise Disagreement(f"map diff {map_diff:.3g}, PxAP {m_dev['pxap']} vs {m_cpu['pxap']}", out)
    return out


def _pixel_batches(setup: Setup) -> list:
    dataset = open_split(setup.meta / "test", image_size=IMAGE_SIZE, transform=pixel_transform(image_size=IMAGE_SIZE))
    return list(DataLoader(dataset, batch_size=16, shuffle=False, collate_fn=collate_image_label))


def path_attack(setup: Setup, device: torch.device, attack: str) -> dict:
    batches = _pixel_batches(setup)
    eps = [0.0, 1 / 255, 4 / 255, 8 / 255] if attack == "fgsm" else [4 / 255]
    res, secs = {}, {}
    for where, dev in (("device", device), ("cpu", torch.device("cpu"))):
        model = PixelSpaceModel(load_trained(setup.model_path)).to(dev).eval()
        t0 = time.perf_counter()
        with exact_float32():
            res[where] = attack_accuracy(model, batches, eps_list=eps, attack=attack, steps=3,
                                         generator=torch.Generator().manual_seed(0), device=dev)
            _sync(dev)
        secs[where] = time.perf_counter() - t0
    counts = {w: [r["clean"]["top1"], r["clean"]["top5"]]
              + [c for adv in r["adversarial"] for c in (adv["top1"], adv["top5"])] for w, r in res.items()}
    diff = max(abs(a - b) for a, b in zip(counts["device"], counts["cpu"]))
    total = res["cpu"]["clean"]["total"]
    out = {"num_images": total, "eps_255": [round(e * 255, 3) for e in eps],
           "clean_top1_pct": res["device"]["clean"]["top1_pct"], "clean_top1_pct_cpu": res["cpu"]["clean"]["top1_pct"],
           "adv_top1_pct": [a["top1_pct"] for a in res["device"]["adversarial"]],
           "adv_top1_pct_cpu": [a["top1_pct"] for a in res["cpu"]["adversarial"]],
           "counts_equal": diff == 0, "max_count_diff": diff, "tolerance_images": 2,
           "images_per_s": round(total / max(secs["device"], 1e-9), 1),
           "images_per_s_cpu": round(total / max(secs["cpu"], 1e-9), 1)}
    if diff > 2:
        raise Disagreement(f"top-1/top-5 counts differ by {diff} images", out)
    return out


def path_ood(setup: Setup, device: torch.device) -> dict:
    in_set = open_split(setup.meta / "test", image_size=IMAGE_SIZE, transform=eval_transform(image_size=IMAGE_SIZE))
    sets = {"gaussian": GaussianNoise(DIGITS.num_test, IMAGE_SIZE, 0),
            "digits_background": ImageFolderOOD(setup.root / "ood", IMAGE_SIZE)}
    scores, tables, secs = {}, {}, {}
    for where, dev in (("device", device), ("cpu", torch.device("cpu"))):
        model = load_trained(setup.model_path).to(dev).eval()
        t0 = time.perf_counter()
        with exact_float32():
            s_in = collect_scores(model, in_set, detectors=DETECTORS, device=dev, batch_size=16)
            s_out = {name: collect_scores(model, ds, detectors=DETECTORS, device=dev, batch_size=16)
                     for name, ds in sets.items()}
            _sync(dev)
        secs[where] = time.perf_counter() - t0
        scores[where] = {"in": s_in, **s_out}
        tables[where] = metric_tables(s_in, s_out)
    score_diff = {det: max(float(np.abs(scores["device"][s][det] - scores["cpu"][s][det]).max()) for s in scores["cpu"])
                  for det in DETECTORS}
    metric_diff = {det: max_abs_diff(tables["device"][det], tables["cpu"][det]) for det in DETECTORS}
    metric_tol = 2 * 100.0 / min([len(in_set)] + [len(ds) for ds in sets.values()])
    n = len(in_set) + sum(len(ds) for ds in sets.values())
    out = {"num_images": {"in": len(in_set), **{k: len(v) for k, v in sets.items()}},
           "auroc_mean": {det: tables["device"][det]["mean"]["auroc"] for det in DETECTORS},
           "auroc_mean_cpu": {det: tables["cpu"][det]["mean"]["auroc"] for det in DETECTORS},
           "score_max_abs_diff": score_diff, "metric_max_abs_diff": metric_diff,
           "metrics_equal": all(d == 0.0 for d in metric_diff.values()),
           "tolerance": {"score": SCORE_TOL, "metric_pct": metric_tol},
           "images_per_s": round(n / max(secs["device"], 1e-9), 1),
           "images_per_s_cpu": round(n / max(secs["cpu"], 1e-9), 1)}
    bad = [f"{det}: score diff {score_diff[det]:.3g}, metric diff {metric_diff[det]:.3g}" for det in DETECTORS
           if not (score_diff[det] <= SCORE_TOL and metric_diff[det] <= metric_tol)]
    if bad:
        raise Disagreement("; ".join(bad), out)
    return out


def path_throughput(device: torch.device, *, batch: int, size: int, reps: int) -> dict:
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    images = torch.randn(batch, 3, size, size, generator=gen).to(device)
    labels = torch.randint(0, 10, (batch,), generator=gen).to(device)
    out: dict = {"arch": "resnet18", "batch": [batch, 3, size, size], "reps": reps,
                 "cudnn_benchmark": torch.backends.cudnn.benchmark}
    modes = {"fp32": (None, False), "fp32_channels_last": (None, True), "bf16": (torch.bfloat16, False),
             "fp16": (torch.float16, False), "bf16_channels_last": (torch.bfloat16, True)}
    for name, (dtype, channels_last) in modes.items():
        if dtype is not None and device.type != "cuda":
            out[name] = {"ok": None, "skipped": "needs CUDA"}
            continue
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        model = build_model("resnet18", num_classes=10).to(device=device, memory_format=fmt).train()
        x = images.contiguous(memory_format=fmt)

        def step() -> None:
            model.zero_grad(set_to_none=True)
            with torch.autocast(device_type=device.type, dtype=dtype, enabled=dtype is not None):
                logits = model(x)
            loss = F.cross_entropy(logits.float(), labels)
            loss.backward()
            _sync(device)
            if not math.isfinite(float(loss.detach())):
                raise AssertionError(f"{name}: loss is {float(loss.detach())}")

        ms = median_ms(step, reps)
        out[name] = {"ms_per_step": round(ms, 2), "images_per_s": round(batch / ms * 1e3, 1)}
        model = None  # free its memory before the next mode (step keeps a reference to the name only)
    base = out["fp32"]["images_per_s"]
    for name in modes:
        if "images_per_s" in out[name]:
            out[name]["speedup_vs_fp32"] = round(out[name]["images_per_s"] / base, 3)
    if device.type == "cuda":
        out["max_memory_allocated_mib"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return out


# --------------------------------------------------------------------------------------------------------- main
def _environment(device: torch.device) -> dict:
    env: dict = {"cuda": device.type == "cuda", "device": str(device), "torch": torch.__version__,
                 "cuda_version": torch.version.cuda, "python": platform.python_version(),
                 "threads": torch.get_num_threads(), "machine": platform.machine()}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env.update({"device_name": props.name, "capability": f"{props.major}.{props.minor}",
                    "memory_gib": round(props.total_memory / 2**30, 1),
                    "cudnn": _safe(torch.backends.cudnn.version), "bf16_supported": _safe(torch.cuda.is_bf16_supported),
                    "tf32_cudnn_conv": torch.backends.cudnn.allow_tf32,
                    "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
                    "nccl": _safe(lambda: _version_text(torch.cuda.nccl.version()) if dist.is_nccl_available()
                                  else None)})
    else:
        env["device_name"] = platform.processor() or platform.machine()
    return env


def _emit(result: dict, out: Optional[Path]) -> None:
    text = json.dumps(result, indent=1, default=str)
    sys.stdout.write(text + "\n")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n", encoding="utf-8")


def main(argv: Optional[list[str]] = None) -> int:
    """Run the checks, print the JSON (and write ``--out``); 0 when every path that ran is ok, else 1."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    parser.add_argument("--tiny", action="store_true",
                        help="training 1 epoch of 3 steps, throughput at batch 2 x 32 px, 1 rep (CPU smoke runs)")
    parser.add_argument("--reps", type=int, default=None, help="timed throughput steps (default 10 CUDA, 2 CPU)")
    parser.add_argument("--only", nargs="+", choices=PATHS, default=None, metavar="PATH", help="run these paths")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        _emit({"cuda": False, "message": "no CUDA device: nothing checked", "torch": torch.__version__}, args.out)
        return 0
    t_start = time.perf_counter()
    device = torch.device("cuda", torch.cuda.current_device()) if args.device == "cuda" else torch.device("cpu")
    if device.type == "cuda":
        torch.zeros(1, device=device)
        _sync(device)
    result = _environment(device)
    result["init_s"] = round(time.perf_counter() - t_start, 3)
    batch, size = (2, 32) if args.tiny else (32, 224)
    reps = args.reps or (1 if args.tiny else (10 if device.type == "cuda" else 2))
    wanted = args.only or list(PATHS)
    paths: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="wsol_gpu_check_") as tmp:
        t0 = time.perf_counter()
        setup: Optional[Setup] = None
        try:
            if set(wanted) - {"throughput_resnet18"}:  # the throughput case needs no data
                setup = Setup(Path(tmp), tiny=args.tiny)
            result["setup"] = {"ok": True, "error": None}
        except Exception as exc:  # noqa: BLE001
            result["setup"] = {"ok": False, "error": _error_text(exc)}
        result["setup"]["seconds"] = round(time.perf_counter() - t0, 3)

        def needs_setup(fn: Callable[[Setup], dict]) -> Callable[[], dict]:
            def call() -> dict:
                if setup is None:
                    raise RuntimeError(f"set-up failed: {result['setup']['error']}")
                return fn(setup)
            return call

        jobs: dict[str, Callable[[], dict]] = {
            "train_fp32": needs_setup(lambda s: path_train(s, device, "fp32", [], [])),
            "train_amp_bf16": needs_setup(lambda s: path_train(s, device, "amp_bf16", ["amp=bf16"], [])),
            "train_amp_fp16": needs_setup(lambda s: path_train(s, device, "amp_fp16", ["amp=fp16"], [])),
            "train_channels_last": needs_setup(lambda s: path_train(s, device, "channels_last",
                                                                    ["channels_last=true"], [])),
            "train_dataloader": needs_setup(lambda s: path_train(s, device, "dataloader", ["in_memory=false"],
                                                                 ["in_memory=false"])),
            "ddp": needs_setup(lambda s: path_ddp(s, device)),
            "evaluate_cam": needs_setup(lambda s: path_evaluate(s, device)),
            "evaluate_masks": needs_setup(lambda s: path_evaluate_masks(s, device)),
            "attack_fgsm": needs_setup(lambda s: path_attack(s, device, "fgsm")),
            "attack_pgd": needs_setup(lambda s: path_attack(s, device, "pgd")),
            "ood": needs_setup(lambda s: path_ood(s, device)),
            "throughput_resnet18": lambda: path_throughput(device, batch=batch, size=size, reps=reps),
        }
        for name in PATHS:
            if name not in wanted:
                continue
            if name in CUDA_ONLY and device.type != "cuda":
                paths[name] = {"ok": None, "skipped": "needs CUDA", "error": None, "seconds": 0.0}
                continue
            paths[name] = run_path(jobs[name], device)
            with contextlib.suppress(Exception):
                if dist.is_initialized():  # a failed path must not leave a process group behind
                    dist.destroy_process_group()
    result["paths"] = paths
    result["all_ok"] = bool(result["setup"]["ok"]) and all(p["ok"] is not False for p in paths.values())
    result["failed"] = [name for name, p in paths.items() if p["ok"] is False]
    result["total_seconds"] = round(time.perf_counter() - t_start, 3)
    _emit(result, args.out)
    return 0 if result["all_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
