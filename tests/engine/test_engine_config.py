"""TrainConfig, presets and --set overrides."""
from __future__ import annotations

import json

import pytest

from wsol.config import PRESETS, TrainConfig, apply_overrides, field_names, parse_value, preset_config
from wsol.methods.base import METHODS
from wsol.models.base import MODELS


def test_defaults_round_trip_through_json():
    config = TrainConfig(method="cutmix", method_options={"beta": 0.5}, model={"width": 8})
    again = TrainConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config
    assert list(config.to_dict()) == field_names()


@pytest.mark.parametrize("name", PRESETS.names())
def test_every_preset_is_valid_and_names_real_components(name):
    preset = PRESETS.get(name)
    config = preset.config()
    assert preset.source.strip()
    assert config.arch in MODELS
    assert config.method in METHODS


def test_digits_presets_cover_every_method():
    assert {f"digits-{m}" for m in METHODS.names()} <= set(PRESETS.names())


def test_published_settings_carried_by_the_presets():
    cub = preset_config("cub-resnet50-cutmix")
    assert (cub.batch_size, cub.lr, cub.lr * cub.classifier_lr_mult) == (32, 0.001, 0.01)
    ev = preset_config("cub-vgg16-cam")
    assert (ev.momentum, ev.weight_decay, ev.classifier_lr_mult, ev.schedule, ev.gamma) == (0.9, 1e-4, 10.0, "step",
                                                                                           0.1)
    imnet = preset_config("imagenet-resnet50-cutmix")
    assert (imnet.epochs, imnet.step_epochs, imnet.lr) == (300, 75, 0.1)
    # wsolevaluation's README OpenImages example run (VGG-16 CAM): 10 epochs, decay every 3, batch 32, its lr and wd
    vgg = preset_config("openimages-vgg16-cam")
    assert (vgg.epochs, vgg.step_epochs, vgg.batch_size, vgg.lr, vgg.weight_decay, vgg.large_feature_map) == (
        10, 3, 32, 0.00227913316, 5e-4, False)
    for arch in ("resnet50", "vgg16", "inception_v3"):
        oi = preset_config(f"openimages-{arch}-cam")
        assert (oi.arch, oi.data, oi.eval_split, oi.epochs, oi.step_epochs) == (
            arch, "datasets/openimages", "train_fullsup", 10, 3)
        assert "NOT reproduced" in PRESETS.get(f"openimages-{arch}-cam").source or arch == "vgg16"


def test_overrides_parse_json_and_nested_options():
    config = preset_config("digits-cutmix", overrides=["epochs=3", "lr=0.1", "method_options.prob=1.0",
                                                       "model.width=8", "nesterov=false", "device=cpu"])
    assert (config.epochs, config.lr, config.nesterov, config.device) == (3, 0.1, False, "cpu")
    assert config.method_options == {"beta": 1.0, "prob": 1.0}
    assert config.model == {"width": 8}


def test_method_switch_resets_method_options():
    config = preset_config("digits-cutmix", method="mixup")
    assert config.method == "mixup" and config.method_options == {}


def test_parse_value():
    assert parse_value("3") == 3 and parse_value("0.5") == 0.5 and parse_value("true") is True
    assert parse_value("[1, 2]") == [1, 2] and parse_value("hello") == "hello"


@pytest.mark.parametrize("assignment, message", [
    ("epochz=3", "unknown config key(s) epochz; valid keys: dataset"),
    ("epochs=0", "epochs must be >= 1"),
    ("epochs=2.5", "epochs must be an integer"),
    ("crop=square", "crop must be one of pad_crop"),
    ("lr=-1", "lr must be > 0"),
    ("hflip=1", "hflip must be true or false"),
    ("noequals", "--set expects key=value"),
    ("seed.x=1", "only model.NAME and method_options.NAME take a dotted key"),
    ("label_smoothing=1.0", "label_smoothing must be in [0, 1)"),
])
def test_bad_overrides_raise_with_the_value(assignment, message):
    with pytest.raises(ValueError) as info:
        apply_overrides(TrainConfig(), [assignment])
    assert message in str(info.value)


def test_unknown_preset_lists_valid_ones():
    with pytest.raises(ValueError, match="digits-vanilla"):
        preset_config("nope")
