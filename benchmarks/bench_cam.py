"""CAM extraction speed (prints one JSON object; not a test).

For our WSOL ``resnet18`` and ``resnet50`` (eval mode, CPU, batch 32 x 3 x 224 x 224, untrained weights):

* plain CAM (:func:`wsol.cam.class_activation_maps`: one forward pass, CAM of the given classes from the feature map
  and the classifier weights) against the forward pass alone (``model(images)`` under ``no_grad``): the throughput
  ratio ``forward_ms / cam_ms`` (target >= 0.95);
* Grad-CAM (:func:`wsol.cam.grad_cam`: gradient to the CAM layer only) against a reference Grad-CAM that runs the
  forward pass with autograd on and backpropagates into every parameter (a hook keeps the layer output, ``backward``
  fills every ``.grad``): the speed-up ``reference_ms / gradcam_ms`` (target >= 2.5); the two maps are checked equal.

Median of ``--reps`` timed calls after one warm-up. Run: ``python benchmarks/bench_cam.py``.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys

import torch

from wsol.cam import class_activation_maps, grad_cam
from wsol.models.builder import build_model

from common import median_ms  # noqa: E402  (benchmarks/ is on sys.path when run as a script)


def reference_grad_cam(model: torch.nn.Module, layer: torch.nn.Module, images: torch.Tensor,
                       classes: torch.Tensor) -> torch.Tensor:
    """Grad-CAM the common way: autograd everywhere, ``backward`` into every parameter, hooks for A and dA."""
    store: dict = {}

    def hook(module, inputs, output):
        output.retain_grad()
        store["a"] = output

    handle = layer.register_forward_hook(hook)
    try:
        model.zero_grad(set_to_none=True)
        logits = model(images)
        logits.gather(1, classes[:, None]).sum().backward()
    finally:
        handle.remove()
    a = store["a"]
    weights = a.grad.mean(dim=(2, 3), keepdim=True)
    return (weights * a.detach()).sum(dim=1).clamp(min=0)


def bench(arch: str, batch: int, size: int, reps: int) -> dict:
    torch.manual_seed(0)
    model = build_model(arch, num_classes=1000).eval()
    gen = torch.Generator().manual_seed(1)
    images = torch.randn(batch, 3, size, size, generator=gen)
    labels = torch.randint(0, 1000, (batch,), generator=gen)

    def forward():
        with torch.no_grad():
            model(images)

    out: dict = {"arch": arch, "batch": [batch, 3, size, size]}
    out["forward_ms"] = median_ms(forward, reps)
    out["cam_ms"] = median_ms(lambda: class_activation_maps(model, images, labels), reps)
    out["cam_throughput_ratio"] = out["forward_ms"] / out["cam_ms"]
    layer = dict(model.named_modules())[model.cam_layer_name]
    out["gradcam_ms"] = median_ms(lambda: grad_cam(model, images, labels), reps)
    out["gradcam_reference_ms"] = median_ms(lambda: reference_grad_cam(model, layer, images, labels), reps)
    out["gradcam_speedup"] = out["gradcam_reference_ms"] / out["gradcam_ms"]
    ours = grad_cam(model, images, labels)[1]
    ref = reference_grad_cam(model, layer, images, labels)
    out["gradcam_max_abs_diff"] = float((ours - ref).abs().max())
    model.zero_grad(set_to_none=True)
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args(argv)
    result: dict = {"torch": torch.__version__, "threads": torch.get_num_threads(), "machine": platform.machine(),
                    "reps": args.reps, "targets": {"cam_throughput_ratio": 0.95, "gradcam_speedup": 2.5}}
    result["runs"] = [bench(arch, args.batch, args.size, args.reps) for arch in ("resnet18", "resnet50")]
    for run in result["runs"]:
        run["targets_met"] = bool(run["cam_throughput_ratio"] >= 0.95 and run["gradcam_speedup"] >= 2.5)
    return result


if __name__ == "__main__":
    json.dump(main(), sys.stdout, indent=1)
    sys.stdout.write("\n")
