"""Timings of the training methods in ``wsol.methods`` (prints one JSON object; not a test).

Part 1 — CutMix on a 128×3×224×224 float32 batch: per-batch box in place / out of place, per-sample vectorised
mode, and a full-batch ``clone()`` measured in the same run; ratios are to the clone. The in-place per-batch mode is
also timed with fixed boxes of known area, to show its cost follows the pasted area.

Part 2 — every method and its overhead relative to one forward + backward + SGD step of the model it would train:
our WSOL ``resnet18`` (stride-1 layer4) at batch 32×3×224×224, and the ``digits_net`` of the digits presets at
batch 32×3×64×64 (KeepAugment, which needs the model, at full and half saliency resolution).

Median of ``--reps`` timed calls after one warm-up call. Run: ``python benchmarks/bench_methods.py``.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time

import torch
import torchvision

from wsol.methods import METHODS, cutmix_
from wsol.models.builder import build_model

from common import median_ms  # noqa: E402  (benchmarks/ is on sys.path when run as a script)


def _ms(fn, reps: int) -> float:
    return round(median_ms(fn, reps), 3)


def _step_fn(model, images, labels):
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(model(images), labels).backward()
        opt.step()
    return step


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--step-reps", type=int, default=2)
    args = parser.parse_args(argv)
    t_start = time.perf_counter()
    gen = torch.Generator().manual_seed(0)
    result: dict = {"torch": torch.__version__, "torchvision": torchvision.__version__,
                    "threads": torch.get_num_threads(), "machine": platform.machine(), "reps": args.reps}

    # ---------------------------------------------------------------- part 1: CutMix at 128x3x224x224
    n, h, w = 128, 224, 224
    x = torch.randn(n, 3, h, w, generator=gen)
    labels = torch.randint(0, 1000, (n,), generator=gen)
    work = x.clone()
    clone_ms = _ms(lambda: x.clone(), args.reps)
    cm = {"batch": [n, 3, h, w], "clone_ms": clone_ms}
    timed = {
        "batch_in_place": (METHODS.get("cutmix")(in_place=True), work),
        "batch_out_of_place": (METHODS.get("cutmix")(), x),
        "per_sample": (METHODS.get("cutmix")(mode="sample"), x),
    }
    for key, (method, images) in timed.items():
        lams = []

        def call(method=method, images=images, lams=lams):
            lams.append(float(method(images, labels, generator=gen).lam.mean()))
        ms = _ms(call, args.reps)
        cm[f"{key}_ms"] = ms
        cm[f"{key}_ratio_to_clone"] = round(ms / clone_ms, 4)
        cm[f"{key}_mean_pasted_fraction"] = round(1 - statistics.mean(lams), 4)
    perm = torch.randperm(n, generator=gen)
    fixed = {}
    for side in (56, 112, 168, 224):
        box = torch.tensor([0, 0, side, side])
        ms = _ms(lambda box=box: cutmix_(work, box, perm), args.reps)
        fixed[f"{side}x{side}"] = {"pasted_fraction": round(side * side / (h * w), 4), "ms": ms,
                                   "ratio_to_clone": round(ms / clone_ms, 4)}
    cm["in_place_fixed_boxes"] = fixed
    result["cutmix_128x224"] = cm
    x = work = None  # free the 128-image batch before part 2

    # ---------------------------------------------------------------- part 2: overhead vs a ResNet-18 step
    def overhead_block(arch: str, num_classes: int, size: int, batch: int, methods: dict) -> dict:
        torch.manual_seed(0)
        model = build_model(arch, num_classes=num_classes)
        images = torch.randn(batch, 3, size, size, generator=gen)
        lab = torch.randint(0, num_classes, (batch,), generator=gen)
        model.train()
        step_ms = _ms(_step_fn(model, images, lab), args.step_reps)
        block = {"model": arch, "batch": [batch, 3, size, size], "train_step_ms": step_ms, "methods": {}}
        for key, method in methods.items():
            reps = args.step_reps if method.needs_model else args.reps
            ms = _ms(lambda method=method: method(images, lab, generator=gen, model=model), reps)
            block["methods"][key] = {"ms": ms, "overhead_vs_step": round(ms / step_ms, 4)}
        return block

    result["overhead_resnet18_32x224"] = overhead_block("resnet18", 1000, 224, 32, {
        "vanilla": METHODS.get("vanilla")(),
        "cutmix_batch_in_place": METHODS.get("cutmix")(in_place=True),
        "cutmix_batch": METHODS.get("cutmix")(),
        "cutmix_per_sample": METHODS.get("cutmix")(mode="sample"),
        "feature_cutmix_draw": METHODS.get("feature_cutmix")(stages=(0, 1, 2, 3)),
        "mixup": METHODS.get("mixup")(),
        "cutout_112": METHODS.get("cutout")(size=112),
        "random_erasing_random_fill": METHODS.get("random_erasing")(),
        "random_erasing_mean_fill": METHODS.get("random_erasing")(fill="mean"),
        "keepaugment_cut_112": METHODS.get("keepaugment")(size=112),
        "keepaugment_cut_112_lowres2": METHODS.get("keepaugment")(size=112, low_res_factor=2),
    })
    result["overhead_digits_net_32x64"] = overhead_block("digits_net", 10, 64, 32, {
        "vanilla": METHODS.get("vanilla")(),
        "cutmix_batch": METHODS.get("cutmix")(),
        "cutmix_per_sample": METHODS.get("cutmix")(mode="sample"),
        "feature_cutmix_draw": METHODS.get("feature_cutmix")(stages=(0, 1, 2, 3)),
        "mixup": METHODS.get("mixup")(),
        "cutout_16": METHODS.get("cutout")(size=16),
        "cutout_32": METHODS.get("cutout")(size=32),
        "random_erasing_random_fill": METHODS.get("random_erasing")(),
        "keepaugment_cut_16": METHODS.get("keepaugment")(size=16),
        "keepaugment_cut_32": METHODS.get("keepaugment")(size=32),
        "keepaugment_cut_32_lowres2": METHODS.get("keepaugment")(size=32, low_res_factor=2),
        "keepaugment_paste_cutmix_32": METHODS.get("keepaugment")(mode="paste", size=32),
        "keepaugment_paste_mixup_32_lowres2": METHODS.get("keepaugment")(mode="paste", other="mixup", size=32,
                                                                         low_res_factor=2),
    })
    result["total_s"] = round(time.perf_counter() - t_start, 1)
    return result


if __name__ == "__main__":
    json.dump(main(), sys.stdout, indent=1)
    sys.stdout.write("\n")
