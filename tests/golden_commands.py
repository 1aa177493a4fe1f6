"""Every command's JSON output on tiny digits, normalised for comparison with ``tests/golden/commands.json``.

The golden file pins what each command computes (metrics, counts, curves, per-set tables, dataset bytes), so that
a refactoring that moves code between layers provably changes no number. Normalisation drops what legitimately
differs between runs (timings, versions) and replaces the temporary folder by ``<TMP>``.

Regenerate (only when a change of numbers is intended, and say so in the commit)::

    python tests/golden_commands.py tests/golden/commands.json
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import torch

#: Keys whose values are timings or versions (dropped wherever they occur).
VOLATILE = {"timing", "timings", "wsol_version", "train_seconds", "seconds", "elapsed_s", "elapsed", "images_per_s",
            "total_s", "library_versions",
            # the checkpoint holds its config, whose data path is the temporary folder
            "checkpoint_sha256"}
#: Floats are compared after rounding to this many significant digits (summation order of 1-thread BLAS is fixed,
#: this only absorbs the last-bit noise of printing).
SIGNIFICANT = 10


def normalise(obj: Any, tmp: str) -> Any:
    """Drop :data:`VOLATILE` keys, replace ``tmp`` in strings by ``<TMP>``, round floats."""
    if isinstance(obj, dict):
        return {k.replace(tmp, "<TMP>"): normalise(v, tmp) for k, v in obj.items() if k not in VOLATILE}
    if isinstance(obj, list):
        return [normalise(v, tmp) for v in obj]
    if isinstance(obj, str):
        return obj.replace(tmp, "<TMP>")
    if isinstance(obj, float):
        return float(f"{obj:.{SIGNIFICANT}g}")
    return obj


def _tree_digest(root: Path, *, skip: tuple[str, ...] = ()) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name not in skip):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def run_all(tmp: Path) -> dict[str, Any]:
    """Run every command on tiny digits inside ``tmp``; returns ``{command: normalised JSON}``."""
    from wsol.cli.main import main

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run_all(Path(tmp), main)
    finally:
        torch.set_num_threads(threads)


def _run_all(tmp: Path, main) -> dict[str, Any]:
    out: dict[str, Any] = {}
    data = tmp / "digits"

    def run(*argv: str) -> None:
        code = main([*argv, "-q"])
        assert code == 0, f"wsol {' '.join(argv)} exited {code}"

    def read(path: Path) -> Any:
        return json.loads(path.read_text(encoding="utf-8"))

    run("prepare", "digits", "--out", str(data), "--image-size", "32", "--num-train", "96", "--num-fullsup", "20",
        "--num-test", "32", "--seed", "3", "--ood", "16")
    meta = data / "metadata"
    info = read(meta / "dataset.json")
    out["prepare"] = {"metadata_sha256": _tree_digest(meta, skip=("dataset.json",)),
                      "images_sha256": _tree_digest(data, skip=("dataset.json",)),
                      "counts": {k: v.get("num_images") for k, v in info.get("splits", {}).items()},
                      "num_classes": info.get("num_classes")}
    tiny = ["--set", f"data={data}", "--set", "image_size=32", "--set", "batch_size=16", "--set", "epochs=4",
            "--set", "max_steps_per_epoch=6", "--set", "log_every=1", "--set", "warmup_epochs=0.5",
            "--set", "device=cpu", "--set", "threads=1"]
    for method in ("vanilla", "cutmix"):
        run("train", "--preset", f"digits-{method}", "--out", str(tmp / method), *tiny)
        out[f"train_{method}"] = read(tmp / method / "metrics.json")
    ckpt = str(tmp / "vanilla" / "model.pt")
    test, fullsup, masks = (str(meta / s) for s in ("test", "train_fullsup", "test_masks"))
    common = ["--workers", "0", "--device", "cpu"]
    run("evaluate", ckpt, "--metadata", test, "--calibrate-on", fullsup, "--save-scoremaps", str(tmp / "maps"),
        "--out", str(tmp / "evaluate.json"), *common)
    out["evaluate"] = read(tmp / "evaluate.json")
    run("evaluate", ckpt, "--metadata", test, "--cam", "gradcam", "--protocol", "cutmix",
        "--out", str(tmp / "evaluate_gradcam.json"), *common)
    out["evaluate_gradcam_cutmix"] = read(tmp / "evaluate_gradcam.json")
    run("evaluate", ckpt, "--metadata", masks, "--out", str(tmp / "evaluate_masks.json"), *common)
    out["evaluate_masks"] = read(tmp / "evaluate_masks.json")
    for i in range(2):
        run("evaluate", ckpt, "--metadata", test, "--calibrate-on", fullsup, "--shard", f"{i}/2",
            "--out", str(tmp / f"part{i}.json"), *common)
    run("merge", str(tmp / "part0.json"), str(tmp / "part1.json"), "--out", str(tmp / "merged.json"))
    out["merge"] = read(tmp / "merged.json")
    # --interval 0.01 (the standalone evaluation.py grid): both grids pinned, and the per-image curves stay short
    run("score", str(tmp / "maps"), "--metadata", test, "--per-image", "--interval", "0.01",
        "--out", str(tmp / "score.json"))
    out["score"] = read(tmp / "score.json")
    run("attack", ckpt, "--metadata", test, "--fgsm", "--pgd", "--eps", "1", "8", "--steps", "3",
        "--max-images", "20", "--out", str(tmp / "attack.json"), *common)
    out["attack"] = read(tmp / "attack.json")
    run("robustness", ckpt, "--metadata", test, "--max-images", "16", "--out", str(tmp / "robustness.json"),
        *common)
    out["robustness"] = read(tmp / "robustness.json")
    run("ood", ckpt, "--metadata", test, "--ood", "gaussian", "uniform", f"folder:{data / 'ood'}",
        "--detector", "msp", "energy", "odin", "--num-noise", "16", "--out", str(tmp / "ood.json"), *common)
    out["ood"] = read(tmp / "ood.json")
    run("demo", "--tiny", "--out", str(tmp / "demo"), "--data", str(tmp / "demo-digits"), "--device", "cpu",
        "--threads", "1")
    for method in ("vanilla", "cutmix"):
        out[f"demo_{method}_evaluation"] = read(tmp / "demo" / method / "evaluation.json")
        out[f"demo_{method}_robustness"] = read(tmp / "demo" / method / "robustness.json")
    return normalise(out, str(tmp))


if __name__ == "__main__":
    import tempfile

    target = Path(sys.argv[1])
    with tempfile.TemporaryDirectory() as d:
        result = run_all(Path(d))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {target}")
