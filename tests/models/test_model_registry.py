"""Registry, builder options and optimizer parameter groups."""
from __future__ import annotations

import pytest

from wsol.models import DEFAULT_CLASSIFIER_LR_MULT, MODELS, build_model, model_options

NAMES = ["digits_cnn", "digits_locnet", "digits_net", "inception_v3", "resnet18", "resnet50", "vgg16"]


def test_all_models_registered():
    assert MODELS.names() == NAMES


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="unknown model 'resnet51'; valid: " + ", ".join(NAMES)):
        build_model("resnet51", num_classes=3)


def test_duplicate_registration_raises():
    original = MODELS.get("resnet50")
    with pytest.raises(ValueError, match="model 'resnet50' is already registered"):
        MODELS.register("resnet50")(lambda **kwargs: None)
    assert MODELS.get("resnet50") is original


def test_unknown_option_lists_valid_options():
    assert model_options("inception_v3") == ["dropout", "large_feature_map"]
    with pytest.raises(ValueError, match=r"unknown option\(s\) depth for model 'resnet18'; valid: large_feature_map"):
        build_model("resnet18", num_classes=3, depth=18)


@pytest.mark.parametrize("bad", [0, -1, 2.5, "10", True])
def test_bad_num_classes(bad):
    with pytest.raises(ValueError, match=f"num_classes must be a positive integer, got {bad!r}"):
        build_model("digits_cnn", num_classes=bad)


def test_bad_option_values():
    with pytest.raises(ValueError, match="large_feature_map must be True or False, got 'yes'"):
        build_model("resnet18", num_classes=3, large_feature_map="yes")
    with pytest.raises(ValueError, match="digits_cnn has no large_feature_map variant"):
        build_model("digits_cnn", num_classes=3, large_feature_map=True)
    with pytest.raises(ValueError, match="in_channels must be a positive integer, got 0"):
        build_model("digits_cnn", num_classes=3, in_channels=0)


def test_builders_take_keyword_only_options():
    with pytest.raises(TypeError):
        build_model("digits_cnn", 10)  # type: ignore[misc]
    with pytest.raises(TypeError):
        MODELS.get("digits_cnn")(10)


# wsolevaluation main.py _FEATURE_PARAM_LAYER_PATTERNS: ResNet puts layer4 + fc in the 10x group; VGG/Inception
# put everything that is NOT features / Conv2d_* / Mixed_* (the added conv6, SPG_A3_*, classifier) there.
HEAD_PREFIXES = {
    "resnet50": ("layer4.", "fc."), "resnet18": ("layer4.", "fc."), "vgg16": ("conv6.", "fc."),
    "inception_v3": ("SPG_A3_1b.", "SPG_A3_2b.", "fc."), "digits_cnn": ("fc.",), "digits_net": ("fc.",),
    "digits_locnet": ("fc.",),
}


@pytest.mark.parametrize("name", NAMES)
def test_parameter_groups_cover_every_parameter_once(built_models, name):
    model = built_models[name]
    groups = model.parameter_groups(lr=0.01, classifier_lr_mult=10.0, weight_decay=1e-4)
    assert [g["name"] for g in groups] == ["features", "classifier"]
    assert groups[0]["lr"] == 0.01 and groups[1]["lr"] == pytest.approx(0.1)
    assert all(g["weight_decay"] == 1e-4 for g in groups)
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) and set(ids) == {id(p) for p in model.parameters()}
    head = {id(p) for p in groups[1]["params"]}
    expected = {id(p) for n, p in model.named_parameters() if n.startswith(HEAD_PREFIXES[name])}
    assert head == expected and {id(p) for p in model.fc.parameters()} <= head
    if name == "vgg16":
        assert not any(n.startswith("features.") for n, p in model.named_parameters() if id(p) in head)
    if name == "inception_v3":
        assert all(n.startswith(("Conv2d_", "Mixed_")) for n, p in model.named_parameters() if id(p) not in head)


def test_parameter_groups_defaults_and_errors(built_models):
    model = built_models["digits_cnn"]
    groups = model.parameter_groups(lr=0.5)
    assert groups[1]["lr"] == pytest.approx(0.5 * DEFAULT_CLASSIFIER_LR_MULT) and "weight_decay" not in groups[0]
    with pytest.raises(ValueError, match="classifier_lr_mult must be positive, got 0"):
        model.parameter_groups(lr=0.1, classifier_lr_mult=0)
    with pytest.raises(ValueError, match="lr must be positive, got -1"):
        model.parameter_groups(lr=-1)
