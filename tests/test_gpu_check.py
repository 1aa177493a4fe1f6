"""``benchmarks/gpu_check.py`` on the CPU: every path that can run there runs and agrees with itself (so the script
cannot rot on machines without a GPU); without CUDA, ``--device cuda`` exits 0 having checked nothing."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"


@pytest.fixture(scope="module")
def gpu_check():
    saved_path, had_common = list(sys.path), "common" in sys.modules  # the script puts benchmarks/ on sys.path
    spec = importlib.util.spec_from_file_location("wsol_benchmarks_gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)
        sys.path[:] = saved_path
        if not had_common:
            sys.modules.pop("common", None)


def test_cpu_smoke_run_is_ok_and_cpu_comparisons_agree(gpu_check, tmp_path, capsys):
    out = tmp_path / "gpu_check.json"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is several times faster on a shared 2-core machine
    try:
        assert gpu_check.main(["--device", "cpu", "--tiny", "--out", str(out)]) == 0
    finally:
        torch.set_num_threads(threads)
    result = json.loads(out.read_text())
    assert json.loads(capsys.readouterr().out) == result  # one JSON object on stdout, the same as --out
    assert result["cuda"] is False and result["all_ok"] is True and result["failed"] == []
    paths = result["paths"]
    assert set(paths) == set(gpu_check.PATHS)
    for name, record in paths.items():
        if name in gpu_check.CUDA_ONLY:
            assert record["ok"] is None and record["skipped"] == "needs CUDA", name
        else:
            assert record["ok"] is True and record["error"] is None, (name, record)
        assert record["seconds"] >= 0.0
    # CPU against CPU: training is deterministic, DDP (gloo, one process) repeats it, evaluations are identical
    assert paths["train_fp32"]["train_loss_rel_diff_vs_cpu"] == 0.0
    assert paths["ddp"]["backend"] == "gloo" and paths["ddp"]["train_loss_rel_diff_vs_cpu"] == 0.0
    assert paths["train_dataloader"]["train_loss_rel_diff_vs_cpu"] == 0.0
    for cam in gpu_check.CAMS:
        ev = paths["evaluate_cam"][cam]
        assert ev["maxboxacc_equal"] and ev["metrics_equal"] and ev["map_max_abs_diff"] == 0.0, cam
    for attack in ("attack_fgsm", "attack_pgd"):
        assert paths[attack]["counts_equal"] and paths[attack]["adv_top1_pct"] == paths[attack]["adv_top1_pct_cpu"]
    assert paths["ood"]["metrics_equal"] and set(paths["ood"]["score_max_abs_diff"].values()) == {0.0}
    tp = paths["throughput_resnet18"]
    assert tp["fp32"]["images_per_s"] > 0 and tp["bf16"] == {"ok": None, "skipped": "needs CUDA"}


def test_cuda_without_a_device_checks_nothing_and_exits_0(gpu_check, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # also on a machine with a GPU
    assert gpu_check.main(["--device", "cuda"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["cuda"] is False and result["message"] == "no CUDA device: nothing checked"


def test_a_failing_path_is_reported_and_exits_1(gpu_check, monkeypatch, tmp_path):
    def broken_setup(tmp, **options):
        raise OSError("disk full")

    monkeypatch.setattr(gpu_check, "Setup", broken_setup)
    out = tmp_path / "r.json"
    assert gpu_check.main(["--device", "cpu", "--only", "train_fp32", "evaluate_cam", "--out", str(out)]) == 1
    result = json.loads(out.read_text())
    assert result["setup"]["ok"] is False and "disk full" in result["setup"]["error"]
    assert set(result["paths"]) == {"train_fp32", "evaluate_cam"} and result["all_ok"] is False
    assert all(p["ok"] is False and "set-up failed" in p["error"] for p in result["paths"].values())


def test_run_path_isolates_errors_and_disagreements(gpu_check):
    cpu = torch.device("cpu")
    bad = gpu_check.run_path(lambda: 1 / 0, cpu)
    assert bad["ok"] is False and bad["error"].startswith("ZeroDivisionError") and bad["where"]

    def disagree():
        raise gpu_check.Disagreement("maps differ by 0.5", {"map_max_abs_diff": 0.5})

    off = gpu_check.run_path(disagree, cpu)
    assert off == {"ok": False, "error": "differs from the CPU: maps differ by 0.5", "map_max_abs_diff": 0.5,
                   "seconds": pytest.approx(0.0, abs=0.5)}
    assert gpu_check.run_path(lambda: {"x": 1}, cpu) == {"ok": True, "error": None, "x": 1,
                                                         "seconds": pytest.approx(0.0, abs=0.5)}


def test_max_abs_diff_reads_nested_results(gpu_check):
    a = {"m": 1.0, "curve": {"50": [0.0, 2.5]}, "pxap": None, "name": "x"}
    assert gpu_check.max_abs_diff(a, a) == 0.0
    assert gpu_check.max_abs_diff(a, {**a, "curve": {"50": [0.0, 5.0]}}) == 2.5
    assert gpu_check.max_abs_diff(a, {**a, "pxap": 1.0}) == float("inf")
    assert gpu_check.max_abs_diff(a, {"m": 1.0}) == float("inf")
