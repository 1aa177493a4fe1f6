"""`wsol evaluate` / `wsol merge` end to end on tiny digits; checkpoint formats; the saved maps re-scored."""
from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch
import torchvision

from wsol.cli.main import main
from wsol.config import preset_config
from wsol.engine.evaluate import EvalSettings
from wsol.localization.scoremaps import score_map_path
from wsol.models.loading import infer_arch, load_model
from wsol.engine.train import RunFiles, fit
from wsol.errors import InputError

METRICS = ("maxboxacc", "maxboxacc_v2", "maxboxacc_by_iou", "box_acc_curve", "box_acc_curve_v1", "gt_known_loc",
           "top1_loc", "top5_loc", "top1_cls", "top5_cls", "top1_loc_best")


@pytest.fixture(scope="module")
def trained(tiny_digits: Path, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("run")
    config = preset_config("digits-vanilla", overrides=[f"data={tiny_digits}", "image_size=32", "batch_size=16",
                                                        "epochs=1", "log_every=100"])
    fit(config, run)
    return RunFiles(run).model


def _eval(args: list[str]) -> int:
    return main(["evaluate", *args, "-q", "--workers", "0"])


def test_evaluate_then_rescore_saved_maps_gives_the_same_numbers(trained, tiny_digits, tmp_path):
    meta = tiny_digits / "metadata"
    out, maps = tmp_path / "ev.json", tmp_path / "maps"
    assert _eval([str(trained), "--metadata", str(meta / "test"), "--out", str(out), "--save-scoremaps", str(maps),
                  "--calibrate-on", str(meta / "train_fullsup"), "--score-threads", "2"]) == 0
    ev = json.loads(out.read_text())
    assert ev["num_images"] == 40 and ev["arch"] == "digits_locnet" and ev["image_size"] == 32
    assert len(ev["checkpoint_sha256"]) == 64 and ev["checkpoint_kind"] == "wsol-checkpoint"
    assert {"box_acc_v1", "threshold_v1", "box_acc_v2"} <= set(ev["calibrated"])
    first = (meta / "test" / "image_ids.txt").read_text().splitlines()[0]
    saved = score_map_path(maps, first)
    assert saved.is_file() and saved.name == Path(first).name + ".npy"  # wsolevaluation: <image_id>.npy
    scored = tmp_path / "scored.json"
    assert main(["score", str(maps), "--metadata", str(meta / "test"), "--out", str(scored), "-q"]) == 0
    sc = json.loads(scored.read_text())
    for key in ("maxboxacc", "maxboxacc_v2", "box_acc_curve", "gt_known_loc"):
        assert sc[key] == ev[key], key


def test_threads_and_shards_do_not_change_the_numbers(trained, tiny_digits, tmp_path):
    meta = str(tiny_digits / "metadata" / "test")
    whole = tmp_path / "whole.json"
    assert _eval([str(trained), "--metadata", meta, "--out", str(whole), "--score-threads", "0"]) == 0
    parts = []
    for i in range(3):
        parts.append(tmp_path / f"p{i}.json")
        assert _eval([str(trained), "--metadata", meta, "--out", str(parts[-1]), "--shard", f"{i}/3"]) == 0
    merged = tmp_path / "merged.json"
    assert main(["merge", *map(str, parts), "--out", str(merged), "-q"]) == 0
    a, b = json.loads(whole.read_text()), json.loads(merged.read_text())
    for key in METRICS:
        assert a[key] == b[key], key
    assert main(["merge", str(parts[0]), str(parts[1]), "--out", str(merged)]) == 2  # shard 2 missing


def test_mask_split_gives_pxap_equal_to_rescoring(trained, tiny_digits, tmp_path):
    meta = tiny_digits / "metadata"
    out, maps = tmp_path / "ev.json", tmp_path / "maps"
    assert _eval([str(trained), "--metadata", str(meta / "test_masks"), "--out", str(out),
                  "--save-scoremaps", str(maps)]) == 0
    ev = json.loads(out.read_text())
    assert 0.0 <= ev["pxap"] <= 100.0
    scored = tmp_path / "s.json"
    assert main(["score", str(maps), "--metadata", str(meta / "test_masks"), "--out", str(scored), "-q"]) == 0
    assert json.loads(scored.read_text())["pxap"] == ev["pxap"]


@pytest.mark.parametrize("cam", ["gradcam", "gradcam++"])
def test_gradcam_evaluation_runs(trained, tiny_digits, tmp_path, cam):
    out = tmp_path / "ev.json"
    assert _eval([str(trained), "--metadata", str(tiny_digits / "metadata" / "test"), "--out", str(out),
                  "--cam", cam]) == 0
    assert json.loads(out.read_text())["cam"] == cam


def test_foreign_state_dicts_load(tmp_path):
    torch.manual_seed(0)
    tv = torchvision.models.resnet18(num_classes=10)
    plain = tmp_path / "tv.pth"
    torch.save(tv.state_dict(), plain)
    loaded = load_model(plain)
    assert (loaded.arch, loaded.num_classes, loaded.kind) == ("resnet18", 10, "state-dict")
    assert torch.equal(loaded.model.fc.weight, tv.fc.weight)
    wrapped = tmp_path / "ddp.pth"  # DataParallel prefix, wsolevaluation-style wrapper
    torch.save({"architecture": "resnet50", "epoch": 3,
                "state_dict": {"module." + k: v for k, v in torchvision.models.resnet50(num_classes=4)
                               .state_dict().items()}}, wrapped)
    assert load_model(wrapped).arch == "resnet50"
    assert infer_arch({"x.weight": torch.zeros(1)}) is None
    nofc = tmp_path / "nofc.pth"
    torch.save({k: v for k, v in tv.state_dict().items() if not k.startswith("fc.")}, nofc)
    with pytest.raises(InputError, match="no classifier"):
        load_model(nofc)


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_malicious_pickle_is_refused(tmp_path, capsys):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"state_dict": _Evil()}, f)
    with pytest.raises(InputError, match="refused to load"):
        load_model(path)
    assert main(["evaluate", str(path), "--metadata", str(tmp_path), "--out", str(tmp_path / "o.json")]) == 2
    err = capsys.readouterr().err
    assert "refused to load" in err and "pwned" not in err


def test_eval_settings_validation():
    with pytest.raises(ValueError, match="cam must be one of"):
        EvalSettings(cam="scorecam")
    with pytest.raises(ValueError, match="shard"):
        EvalSettings(shard=(3, 3))


def test_torchrun_ranks_merge_to_the_single_process_numbers(trained, tiny_digits, tmp_path):
    import os
    import subprocess
    import sys

    meta = str(tiny_digits / "metadata" / "test")
    single = tmp_path / "single.json"
    assert _eval([str(trained), "--metadata", meta, "--out", str(single)]) == 0
    ddp = tmp_path / "ddp.json"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "wsol",
           "evaluate", str(trained), "--metadata", meta, "--out", str(ddp), "-q", "--workers", "0",
           "--device", "cpu"]
    proc = subprocess.run(cmd, env=dict(os.environ, OMP_NUM_THREADS="1"), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a, b = json.loads(single.read_text()), json.loads(ddp.read_text())
    assert b["world_size"] == 2 and "shard" not in b
    for key in METRICS:
        assert a[key] == b[key], key
