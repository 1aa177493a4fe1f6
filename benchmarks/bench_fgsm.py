"""FGSM throughput: :func:`wsol.robustness.fgsm` against the naive reference (prints one JSON object; not a test).

Both attack a :class:`~wsol.robustness.PixelSpaceModel` in eval mode on CPU (untrained weights, random images in
[0, 1], eps = 8/255):

* ours (:func:`wsol.robustness.fgsm`): parameters frozen for the call, ``torch.autograd.grad`` to the input only, so
  no weight gradient is computed or stored;
* reference (:func:`wsol.robustness.fgsm_reference`): clone the input, ``requires_grad``, ``loss.backward()``
  (every parameter's ``.grad`` is filled too), read ``x.grad``.

Cases: our WSOL ``resnet18`` at 32x3x224x224 and ``digits_net`` at 128x3x64x64 (1000 and 10 classes). The two
implementations are called alternately (``--reps`` rounds after one warm-up call each), so that load from other
processes on a shared machine falls on both alike. Reported: median and minimum ms per call, images/s (from the
medians), the speed-up ``reference / ours`` from the medians, from the minima and as the median of the per-round
ratios (the most robust to drifting load), and whether the two outputs are bit-identical.
Run: ``python benchmarks/bench_fgsm.py``.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time

import torch

from wsol.models.builder import build_model
from wsol.robustness import PixelSpaceModel, fgsm, fgsm_reference


def interleaved_ms(fns: dict, reps: int) -> dict:
    """Per function: the list of wall times (ms) of ``reps`` rounds that call every function once, in turn."""
    for fn in fns.values():
        fn()
    times: dict = {name: [] for name in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t0) * 1e3)
    return times


def bench(arch: str, classes: int, batch: int, size: int, reps: int, eps: float) -> dict:
    torch.manual_seed(0)
    model = PixelSpaceModel(build_model(arch, num_classes=classes)).eval()
    gen = torch.Generator().manual_seed(1)
    images = torch.rand(batch, 3, size, size, generator=gen)
    labels = torch.randint(0, classes, (batch,), generator=gen)

    def ours():
        return fgsm(model, images, labels, eps=eps)

    def reference():
        model.zero_grad(set_to_none=True)
        return fgsm_reference(model, images, labels, eps=eps)

    identical = bool(torch.equal(ours(), reference()))
    times = interleaved_ms({"ours": ours, "reference": reference}, reps)
    model.zero_grad(set_to_none=True)
    ours_ms, ref_ms = statistics.median(times["ours"]), statistics.median(times["reference"])
    return {"arch": arch, "batch": [batch, 3, size, size], "classes": classes, "eps": eps,
            "ours_ms": round(ours_ms, 1), "reference_ms": round(ref_ms, 1),
            "ours_min_ms": round(min(times["ours"]), 1), "reference_min_ms": round(min(times["reference"]), 1),
            "ours_images_per_s": round(batch / ours_ms * 1e3, 1),
            "reference_images_per_s": round(batch / ref_ms * 1e3, 1),
            "speedup_median": round(ref_ms / ours_ms, 3),
            "speedup_min": round(min(times["reference"]) / min(times["ours"]), 3),
            "speedup_paired_median": round(statistics.median(r / o for r, o in zip(times["reference"], times["ours"])),
                                           3),
            "bit_identical": identical}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--eps", type=float, default=8 / 255)
    args = parser.parse_args(argv)
    result = {"torch": torch.__version__, "threads": torch.get_num_threads(), "machine": platform.machine(),
              "reps": args.reps,
              "cases": [bench("resnet18", 1000, 32, 224, args.reps, args.eps),
                        bench("digits_net", 10, 128, 64, args.reps, args.eps)]}
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return result


if __name__ == "__main__":
    main()
