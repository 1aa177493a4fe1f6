"""The steps of :func:`wsol.engine.train.fit` one at a time: set-up, one epoch, evaluation batches, checkpoint dicts."""
from __future__ import annotations

import copy
import dataclasses
import json

import pytest
import torch

from wsol.config import TrainConfig, preset_config
from wsol.engine.checkpoint import (MODEL_FILE_KEYS, TRAINING_KEYS, load_checkpoint, model_file_state,
                                    save_checkpoint, set_rng_state, training_state)
from wsol.engine.train import _steps_per_epoch, eval_batches, prepare_training, train_one_epoch
from wsol.errors import InputError
from wsol.models.builder import build_model

_TIMINGS = ("images_per_s", "seconds", "elapsed_s")


def _tiny_parts():
    config = TrainConfig(arch="digits_net", epochs=3, image_size=32)
    model = build_model("digits_net", num_classes=10)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return config, model, optimizer, torch.amp.GradScaler("cuda", enabled=False)


def test_training_state_has_the_keys_resume_and_evaluation_read_in_a_fixed_order(tmp_path):
    config, model, optimizer, scaler = _tiny_parts()
    state = training_state(config, model=model, optimizer=optimizer, scaler=scaler, num_classes=10, epoch=2, step=7,
                           metrics={"epoch": 2}, elapsed=1.5)
    assert tuple(state) == TRAINING_KEYS == (
        "format", "version", "epoch", "step", "config", "num_classes", "arch", "model", "optimizer", "scheduler",
        "scaler", "rng", "metrics", "elapsed")
    assert (state["epoch"], state["step"], state["scheduler"], state["scaler"]) == (2, 7, {"step": 7}, {})
    assert state["config"] == config.to_dict() and state["arch"] == "digits_net" and state["num_classes"] == 10
    assert state["metrics"] == {"epoch": 2} and state["elapsed"] == 1.5
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, state)
    loaded = load_checkpoint(path)  # checks format and version
    assert loaded["model"].keys() == model.state_dict().keys()
    assert all(torch.equal(loaded["model"][k], v) for k, v in model.state_dict().items())
    set_rng_state(loaded["rng"])  # restorable as written


def test_model_file_state_is_a_checkpoint_without_training_state(tmp_path):
    config, model, _, _ = _tiny_parts()
    state = model_file_state(config, model=model, num_classes=10, step=9)
    assert tuple(state) == MODEL_FILE_KEYS == (
        "format", "version", "kind", "arch", "num_classes", "config", "model", "epoch", "step")
    assert state["kind"] == "model" and state["epoch"] == config.epochs == 3 and state["step"] == 9
    path = tmp_path / "model.pt"
    save_checkpoint(path, state)
    loaded = load_checkpoint(path)
    assert loaded["format"] == "wsol-train-checkpoint" and loaded["config"]["image_size"] == 32
    # equal content gives equal bytes (the key order is fixed)
    save_checkpoint(tmp_path / "again.pt", model_file_state(config, model=model, num_classes=10, step=9))
    assert (tmp_path / "again.pt").read_bytes() == path.read_bytes()


def test_steps_per_epoch_counts_full_batches_per_rank():
    config = TrainConfig(batch_size=16)
    assert _steps_per_epoch(config, 96, 1) == 6
    assert _steps_per_epoch(config, 97, 2) == 3 == _steps_per_epoch(config, 95, 2)
    assert _steps_per_epoch(config, 31, 2) == 1  # ceil(31 / 2) = 16 per rank
    assert _steps_per_epoch(config.replace(max_steps_per_epoch=2), 96, 1) == 2
    with pytest.raises(InputError, match="fewer than one batch of 16 per process"):
        _steps_per_epoch(config, 30, 2)


def test_train_one_epoch_depends_only_on_the_state_at_its_start(tiny_overrides, tmp_path):
    config = preset_config("digits-cutmix", overrides=tiny_overrides)
    setup = prepare_training(config, tmp_path)
    assert json.loads(setup.files.config.read_text()) == config.to_dict() and setup.steps_per_epoch == 3
    start_model = copy.deepcopy(setup.model.state_dict())
    start_optim = copy.deepcopy(setup.optimizer.state_dict())

    def run(epoch: int) -> tuple[dict, dict]:
        setup.model.load_state_dict(start_model)
        setup.optimizer.load_state_dict(copy.deepcopy(start_optim))
        torch.rand(17)  # the global generator's state before the epoch must not matter
        record = train_one_epoch(setup, epoch, step=3)
        return {k: v for k, v in record.items() if k not in _TIMINGS}, copy.deepcopy(setup.model.state_dict())

    record_a, weights_a = run(1)
    record_b, weights_b = run(1)
    assert record_a == record_b and all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)
    assert record_a["epoch"] == 2 and record_a["step"] == 6 and record_a["train_images"] == 48
    _, weights_other = run(0)  # another epoch draws other batches
    assert not all(torch.equal(weights_a[k], weights_other[k]) for k in weights_a)
    steps = [json.loads(line) for line in setup.files.log.read_text().splitlines()]
    assert [r["step"] for r in steps] == [4, 5, 6] * 2 + [4, 5, 6]  # log_every=1; the step count continues


def test_eval_batches_give_every_rank_its_share_once(tiny_overrides, tmp_path):
    config = preset_config("digits-vanilla", overrides=tiny_overrides)
    setup = prepare_training(config, tmp_path)
    assert setup.eval_mem is not None
    for world in (1, 2, 3):
        for rank in range(world):
            shard = dataclasses.replace(setup, rank=rank, world=world)
            labels = torch.cat([labels for _, labels in eval_batches(shard)])
            assert torch.equal(labels, setup.eval_mem.labels[rank::world])
    with pytest.raises(ValueError, match="no eval_split"):
        next(eval_batches(dataclasses.replace(setup, eval_ds=None)))
