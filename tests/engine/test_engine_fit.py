"""The training loop end to end on a tiny digits set: every method, determinism, resume, CLI, DDP."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from wsol.cli.main import main
from wsol.config import preset_config
from wsol.engine.checkpoint import load_checkpoint
from wsol.engine.train import RunFiles, fit
from wsol.errors import InputError
from wsol.methods.base import METHODS
from wsol.models.weights import read_state_dict


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["model"]


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("method", METHODS.names())
def test_every_method_trains_on_tiny_digits(method, tiny_overrides, tmp_path):
    config = preset_config(f"digits-{method}", overrides=tiny_overrides + ["epochs=1", "max_steps_per_epoch=2"])
    if method in ("cutout", "keepaugment"):
        config = config.replace(method_options={**config.method_options, "size": 8})
    metrics = fit(config, tmp_path)
    assert metrics["complete"] and metrics["step"] == 2 and metrics["train_images"] == 32
    assert 0.0 <= metrics["eval_top1"] <= 100.0 and metrics["eval_num_images"] == 40
    records = [json.loads(line) for line in RunFiles(tmp_path).log.read_text().splitlines()]
    assert [r["event"] for r in records] == ["step", "step", "epoch"]
    assert all(r["loss"] > 0 and r["lr"] > 0 and 0 <= r["top1"] <= 100 for r in records[:2])
    assert json.loads(RunFiles(tmp_path).config.read_text()) == config.to_dict()


def test_same_seed_same_weights_and_other_seed_differs(tiny_overrides, tmp_path):
    config = preset_config("digits-cutmix", overrides=tiny_overrides)
    for name, c in (("a", config), ("b", config), ("c", config.replace(seed=1))):
        (tmp_path / name).mkdir()
        fit(c, tmp_path / name)
    a, b, c = (_weights(RunFiles(tmp_path / n).model) for n in "abc")
    assert _same(a, b)
    assert not _same(a, c)


@pytest.mark.parametrize("preset", ["digits-cutmix", "digits-keepaugment"])
def test_resume_equals_an_uninterrupted_run(preset, tiny_overrides, tmp_path):
    extra = ["method_options.size=8"] if preset == "digits-keepaugment" else []
    config = preset_config(preset, overrides=tiny_overrides + extra)
    straight, split = tmp_path / "straight", tmp_path / "split"
    straight.mkdir(), split.mkdir()
    fit(config, straight)
    partial = fit(config, split, stop_after=1)
    assert not partial["complete"] and not RunFiles(split).model.exists()
    assert load_checkpoint(RunFiles(split).checkpoint)["epoch"] == 1
    fit(config, split, resume=True)
    ck_a, ck_b = load_checkpoint(RunFiles(straight).checkpoint), load_checkpoint(RunFiles(split).checkpoint)
    assert _same(ck_a["model"], ck_b["model"])
    assert ck_a["step"] == ck_b["step"] == 6
    sa, sb = ck_a["optimizer"]["state"], ck_b["optimizer"]["state"]
    assert all(torch.equal(sa[k]["momentum_buffer"], sb[k]["momentum_buffer"]) for k in sa)
    epochs = [json.loads(x)["epoch"] for x in RunFiles(split).log.read_text().splitlines()
              if json.loads(x)["event"] == "epoch"]
    assert epochs == [1, 2]


def test_resume_refuses_a_changed_config_and_fresh_run_refuses_a_used_folder(tiny_overrides, tmp_path):
    config = preset_config("digits-vanilla", overrides=tiny_overrides)
    fit(config, tmp_path, stop_after=1)
    with pytest.raises(InputError, match="config differs from the checkpoint's in lr"):
        fit(config.replace(lr=1.0), tmp_path, resume=True)
    with pytest.raises(InputError, match="already holds a checkpoint"):
        fit(config, tmp_path)
    fit(config.replace(workers=1, log_every=5), tmp_path, resume=True)  # harmless keys may change


def test_final_model_file_loads_as_pretrained_weights(tiny_overrides, tmp_path):
    config = preset_config("digits-vanilla", overrides=tiny_overrides + ["epochs=1"])
    fit(config, tmp_path)
    state = read_state_dict(RunFiles(tmp_path).model)
    assert set(state) == set(_weights(RunFiles(tmp_path).model))
    other = tmp_path / "again"
    other.mkdir()
    fit(config.replace(pretrained=str(RunFiles(tmp_path).model), epochs=1, max_steps_per_epoch=1), other)


def test_dataloader_path_trains_and_is_deterministic(tiny_overrides, tmp_path):
    config = preset_config("digits-cutout", overrides=tiny_overrides + ["in_memory=false", "method_options.size=8",
                                                                        "hflip=true"])
    for name in "ab":
        (tmp_path / name).mkdir()
        fit(config, tmp_path / name)
    assert _same(_weights(RunFiles(tmp_path / "a").model), _weights(RunFiles(tmp_path / "b").model))


def test_bad_settings_are_one_line_errors(tiny_overrides, tmp_path, capsys):
    base = ["train", "--preset", "digits-vanilla", "--out", str(tmp_path / "r")]
    sets = [a for o in tiny_overrides for a in ("--set", o)]
    assert main(base + sets + ["--set", "epochz=1"]) == 2
    err = capsys.readouterr().err
    assert "unknown config key(s) epochz" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert main(base + sets + ["--set", "amp=bf16", "--set", "device=cpu"]) == 2
    assert "amp='bf16' needs a CUDA device" in capsys.readouterr().err
    assert main(base + sets + ["--set", "method_options.bogus=1"]) == 2
    assert "unknown option(s) bogus for method 'vanilla'" in capsys.readouterr().err
    assert main(["train", "--preset", "digits-vanilla", "--out", str(tmp_path / "s"), "--set", "dataset=prepared",
                 "--set", f"data={tmp_path / 'nowhere'}"]) == 2
    assert "split folder not found" in capsys.readouterr().err


def test_cli_train_then_resume_and_list(tiny_overrides, tmp_path, capsys):
    run = tmp_path / "run"
    sets = [a for o in tiny_overrides for a in ("--set", o)]
    assert main(["train", "--preset", "digits-mixup", "--out", str(run), "-q"] + sets) == 0
    assert "trained digits_locnet with mixup for 2 epochs" in capsys.readouterr().out
    assert json.loads(RunFiles(run).metrics.read_text())["complete"] is True
    assert main(["train", "--resume", str(run), "-q"]) == 0  # nothing left to do: returns the final metrics
    assert main(["train", "--preset", "digits-mixup", "--out", str(run)] + sets) == 2
    assert "already holds a checkpoint" in capsys.readouterr().err
    for kind in ("models", "methods", "presets"):
        assert main(["list", kind]) == 0
    listed = capsys.readouterr().out
    assert "digits_net" in listed and "keepaugment" in listed and "cub-resnet50-cutmix" in listed


def test_ddp_two_process_gloo_smoke(tiny_overrides, tmp_path):
    run = tmp_path / "ddp"
    sets = [a for o in tiny_overrides for a in ("--set", o)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "wsol",
           "train", "--preset", "digits-cutmix", "--out", str(run), "-q", "--set", "device=cpu"] + sets
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads(RunFiles(run).metrics.read_text())
    assert metrics["world_size"] == 2 and metrics["complete"]
    assert metrics["train_images"] == 2 * 3 * 16  # both ranks' steps are counted
    assert metrics["eval_num_images"] == 40  # the test split is sharded, every image once
    assert load_checkpoint(RunFiles(run).checkpoint)["step"] == 6
