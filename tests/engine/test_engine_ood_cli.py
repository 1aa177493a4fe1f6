"""`wsol ood` end to end on tiny digits with noise and folder OOD sets."""
from __future__ import annotations

import json

import numpy as np
import torch
from PIL import Image

from wsol.cli.main import main
from wsol.models.builder import build_model
from wsol.ood.evaluate import metric_tables


def test_ood_command_writes_tables_and_figures(tiny_digits, tmp_path, capsys):
    torch.manual_seed(0)
    weights = tmp_path / "net.pth"
    torch.save(build_model("digits_net", num_classes=10).state_dict(), weights)
    folder = tmp_path / "ood_images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(5):
        Image.fromarray(rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    out = tmp_path / "ood.json"
    assert main(["ood", str(weights), "--metadata", str(tiny_digits / "metadata" / "test"), "--image-size", "32",
                 "--ood", "gaussian", "uniform", f"folder:{folder}", "--detector", "msp", "energy", "odin",
                 "--num-noise", "12", "--workers", "0", "--out", str(out), "-q"]) == 0
    assert "msp: mean over 3 OOD set(s)" in capsys.readouterr().out
    res = json.loads(out.read_text())
    assert set(res["metrics"]) == {"msp", "energy", "odin"}
    assert set(res["metrics"]["msp"]) == {"gaussian", "uniform", f"folder:{folder}", "mean"}
    assert res["ood_sets"] == {"gaussian": 12, "uniform": 12, f"folder:{folder}": 5}
    for det in ("msp", "energy", "odin"):
        mean = res["metrics"][det]["mean"]
        per = [res["metrics"][det][k]["auroc"] for k in ("gaussian", "uniform", f"folder:{folder}")]
        assert abs(mean["auroc"] - sum(per) / 3) < 1e-9
        for kind in ("histogram", "roc"):
            with Image.open(res["figures"][det][kind]) as im:
                assert im.format == "PNG"
    assert main(["ood", str(weights), "--metadata", str(tiny_digits / "metadata" / "test"), "--ood",
                 f"folder:{tmp_path / 'none'}", "--out", str(out), "--arch", "digits_net"]) == 2
    assert "folder" in capsys.readouterr().err


def test_metric_tables_mean_over_sets():
    s_in = {"msp": np.array([0.9, 0.8, 0.7, 0.95])}
    s_out = {"a": {"msp": np.array([0.1, 0.2])}, "b": {"msp": np.array([0.85, 0.75])}}
    t = metric_tables(s_in, s_out)
    assert t["msp"]["a"]["auroc"] == 100.0
    assert t["msp"]["b"]["auroc"] == 62.5  # pairs won: 2 of 4 against 0.85, 3 of 4 against 0.75
    assert t["msp"]["mean"]["auroc"] == 81.25


def _weights(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "net.pth"
    torch.save(build_model("digits_net", num_classes=10).state_dict(), path)
    return path


def test_attack_command(tiny_digits, tmp_path, capsys):
    out = tmp_path / "att.json"
    meta = str(tiny_digits / "metadata" / "test")
    assert main(["attack", str(_weights(tmp_path)), "--metadata", meta, "--image-size", "32", "--fgsm", "--pgd",
                 "--steps", "2", "--eps", "0", "4", "--max-images", "16", "--workers", "0", "--out", str(out),
                 "-q"]) == 0
    res = json.loads(out.read_text())
    assert res["num_images"] == 16 and res["eps_255"] == [0, 4] and "random subset of 16" in res["subset"]
    for name in ("fgsm", "pgd"):
        r = res["attacks"][name]
        assert r["adversarial"][0]["top1"] == r["clean"]["top1"]  # eps 0 changes nothing
        assert r["clean"]["total"] == 16
    with Image.open(res["figure"]) as im:
        assert im.format == "PNG"
    assert main(["attack", str(_weights(tmp_path)), "--metadata", meta, "--eps", "300", "--out", str(out)]) == 2
    assert "/255 budgets" in capsys.readouterr().err


def test_robustness_command(tiny_digits, tmp_path):
    out = tmp_path / "rob.json"
    assert main(["robustness", str(_weights(tmp_path)), "--metadata", str(tiny_digits / "metadata" / "test"),
                 "--image-size", "32", "--sizes", "0", "16", "32", "--lams", "0.5", "--workers", "0",
                 "--out", str(out), "-q"]) == 0
    res = json.loads(out.read_text())
    center = res["occlusion"]["center"]["results"]
    boundary = res["occlusion"]["boundary"]["results"]
    assert [r["size"] for r in center] == [0, 16, 32]
    assert center[0]["top1"] == boundary[-1]["top1"]  # no hole == nothing outside a full-size square
    assert [r["lam"] for r in res["in_between"]["mixup"]] == [0.5]
    assert set(res["figures"]) == {"occlusion", "in_between"}
