"""Loading weights: torchvision / wsolevaluation / own layouts, wrappers, prefixes, classifier re-init, refusals."""
from __future__ import annotations

import logging
import os
import urllib.error

import pytest
import torch
import torchvision

from wsol.errors import InputError
from wsol.models import build_model, load_weights, read_state_dict


def _save(obj, path) -> str:
    torch.save(obj, path)
    return os.fspath(path)


def _assert_one_line(err: pytest.ExceptionInfo, *fragments: str) -> None:
    text = str(err.value)
    assert "\n" not in text
    for fragment in fragments:
        assert fragment in text, (fragment, text)


# -- ResNet ---------------------------------------------------------------------------------------------------------
def test_torchvision_resnet50_state_dict_loads(tmp_path, caplog):
    torch.manual_seed(0)
    reference = torchvision.models.resnet50(weights=None).state_dict()
    path = _save(reference, tmp_path / "resnet50_tv.pth")

    same_classes = build_model("resnet50", num_classes=1000, pretrained=path)
    for key in ("conv1.weight", "layer4.0.conv2.weight", "layer4.0.downsample.0.weight", "layer3.5.bn3.running_var",
                "fc.weight", "fc.bias"):
        torch.testing.assert_close(same_classes.state_dict()[key], reference[key], rtol=0, atol=0)

    with caplog.at_level(logging.INFO, logger="wsol.models"):
        cub = build_model("resnet50", num_classes=200, pretrained=path)
    assert any(r.levelno == logging.WARNING and "1000 classes" in r.getMessage() and "re-initialised" in r.getMessage()
               for r in caplog.records)
    torch.testing.assert_close(cub.layer4[2].conv3.weight, reference["layer4.2.conv3.weight"], rtol=0, atol=0)
    assert cub.fc.weight.shape == (200, 2048) and float(cub.fc.bias.detach().abs().sum()) == 0.0
    assert float(cub.fc.weight.detach().std()) < 0.02


def test_wsolevaluation_resnet50_checkpoint_loads(tmp_path):
    """wsolevaluation's ResNetCam uses torchvision's names (conv1, bn1, layer1-4, fc) and saves
    {'architecture', 'epoch', 'state_dict', 'optimizer'}; a DataParallel/DDP copy adds 'module.'."""
    torch.manual_seed(1)
    source = build_model("resnet50", num_classes=200)
    for module in source.modules():  # make running stats distinguishable from a fresh model's
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_()
    weights = {f"module.{k}": v for k, v in source.state_dict().items()}
    checkpoint = {"architecture": "resnet50", "epoch": 50, "state_dict": weights,
                  "optimizer": {"state": {}, "param_groups": [{"lr": 0.0002, "momentum": 0.9, "params": [0, 1]}]}}
    path = _save(checkpoint, tmp_path / "best_checkpoint.pth.tar")
    model = build_model("resnet50", num_classes=200, pretrained=path).eval()
    source.eval()
    for key, value in source.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value, rtol=0, atol=0)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), source(x), rtol=0, atol=0)


# -- VGG ------------------------------------------------------------------------------------------------------------
def _torchvision_vgg16_layout(seed: int) -> dict[str, torch.Tensor]:
    """torchvision vgg16's keys: its real `features` (conv1_1 ... conv5_3 + pool5) and `classifier.{0,3,6}`
    (fc6-fc8, here with tiny stand-in tensors: they are dropped on load and the real ones take 500 MB)."""
    torch.manual_seed(seed)
    features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"])
    state = {f"features.{k}": v for k, v in features.state_dict().items()}
    for i in (0, 3, 6):
        state[f"classifier.{i}.weight"] = torch.zeros(2, 2)
        state[f"classifier.{i}.bias"] = torch.zeros(2)
    return state


@pytest.mark.parametrize("large", [False, True])
def test_torchvision_vgg16_state_dict_loads(tmp_path, caplog, large):
    reference = _torchvision_vgg16_layout(seed=2)
    assert sorted({int(k.split(".")[1]) for k in reference if k.startswith("features.")}) == [
        0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
    path = _save(reference, tmp_path / "vgg16_tv.pth")
    with caplog.at_level(logging.INFO, logger="wsol.models"):
        model = build_model("vgg16", num_classes=200, pretrained=path, large_feature_map=large)
    assert any("classifier" in r.getMessage() for r in caplog.records)
    ours = model.state_dict()
    if large:  # conv5_x move from 24, 26, 28 to 23, 25, 27
        torch.testing.assert_close(ours["features.23.weight"], reference["features.24.weight"], rtol=0, atol=0)
        torch.testing.assert_close(ours["features.27.bias"], reference["features.28.bias"], rtol=0, atol=0)
    else:
        for i in (0, 10, 24, 28):
            torch.testing.assert_close(ours[f"features.{i}.weight"], reference[f"features.{i}.weight"], rtol=0, atol=0)
    torch.testing.assert_close(ours["features.21.weight"], reference["features.21.weight"], rtol=0, atol=0)
    assert float(model.conv6.bias.detach().abs().sum()) == 0.0  # conv6 stays freshly initialised


def test_vgg16_own_checkpoint_roundtrip(tmp_path):
    torch.manual_seed(3)
    source = build_model("vgg16", num_classes=5, large_feature_map=True).eval()
    path = _save({"model": source.state_dict()}, tmp_path / "vgg.pt")
    model = build_model("vgg16", num_classes=5, large_feature_map=True, pretrained=path).eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x), source(x), rtol=0, atol=0)


# -- Inception ------------------------------------------------------------------------------------------------------
def test_torchvision_inception_v3_state_dict_loads(tmp_path):
    torch.manual_seed(4)
    reference = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False).state_dict()
    path = _save(reference, tmp_path / "inception_tv.pth")
    model = build_model("inception_v3", num_classes=10, pretrained=path)
    ours = model.state_dict()
    for key in ("Conv2d_1a_3x3.conv.weight", "Mixed_5d.branch_pool.bn.running_mean", "Mixed_6a.branch3x3.conv.weight",
                "Mixed_6a.branch3x3dbl_3.conv.weight", "Mixed_6e.branch7x7dbl_5.conv.weight"):
        torch.testing.assert_close(ours[key], reference[key], rtol=0, atol=0)
    assert not any(k.startswith(("Mixed_7", "AuxLogits")) for k in ours)


def test_wsolevaluation_inception_checkpoint_loads(tmp_path):
    """wsolevaluation's classifier is SPG_A4, a 1x1 conv (K, 1024, 1, 1) before GAP: it loads as fc."""
    torch.manual_seed(5)
    source = build_model("inception_v3", num_classes=6).eval()
    state = source.state_dict()
    state["SPG_A4.weight"] = state.pop("fc.weight").reshape(6, 1024, 1, 1)
    state["SPG_A4.bias"] = state.pop("fc.bias")
    path = _save({"state_dict": state, "epoch": 3}, tmp_path / "inception_wsolevaluation.pth.tar")
    model = build_model("inception_v3", num_classes=6, pretrained=path).eval()
    torch.testing.assert_close(model.fc.weight, source.fc.weight, rtol=0, atol=0)
    torch.testing.assert_close(model.SPG_A3_2b[0].weight, source.SPG_A3_2b[0].weight, rtol=0, atol=0)


# -- generic rules (on the small model) -----------------------------------------------------------------------------
@pytest.fixture()
def digits_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(6)
    return build_model("digits_cnn", num_classes=10).state_dict()


@pytest.mark.parametrize("wrap", ["plain", "module", "state_dict", "model", "ddp_in_state_dict"])
def test_wrappers_and_prefixes(tmp_path, digits_state, wrap):
    obj = {
        "plain": digits_state,
        "module": {f"module.{k}": v for k, v in digits_state.items()},
        "state_dict": {"state_dict": digits_state, "epoch": 1},
        "model": {"model": digits_state, "optimizer": {"state": {}}},
        "ddp_in_state_dict": {"state_dict": {f"module.{k}": v for k, v in digits_state.items()}},
    }[wrap]
    path = _save(obj, tmp_path / "w.pth")
    assert read_state_dict(path).keys() == digits_state.keys()
    model = build_model("digits_cnn", num_classes=10, pretrained=path)
    for key, value in digits_state.items():
        torch.testing.assert_close(model.state_dict()[key], value, rtol=0, atol=0)


def test_classifier_missing_is_initialised_and_logged(tmp_path, digits_state, caplog):
    del digits_state["fc.weight"], digits_state["fc.bias"]
    path = _save(digits_state, tmp_path / "headless.pth")
    with caplog.at_level(logging.INFO, logger="wsol.models"):
        model = build_model("digits_cnn", num_classes=3, pretrained=path)
    assert any("no classifier" in r.getMessage() for r in caplog.records)
    assert model.fc.weight.shape == (3, 128)


def test_missing_and_unexpected_keys_raise_naming_file_and_keys(tmp_path, digits_state):
    broken = dict(digits_state)
    del broken["block3.0.weight"]
    broken["extra.weight"] = torch.zeros(1)
    path = _save(broken, tmp_path / "broken.pth")
    with pytest.raises(InputError) as err:
        build_model("digits_cnn", num_classes=10, pretrained=path)
    _assert_one_line(err, "broken.pth", "unexpected keys extra.weight", "missing keys block3.0.weight")


def test_shape_mismatch_raises(tmp_path, digits_state):
    path = _save(digits_state, tmp_path / "narrow.pth")
    with pytest.raises(InputError) as err:
        build_model("digits_cnn", num_classes=10, width=16, pretrained=path)
    _assert_one_line(err, "narrow.pth", "shape mismatches", "(+")


def test_wrong_architecture_raises(tmp_path):
    path = _save(torchvision.models.resnet18(weights=None).state_dict(), tmp_path / "r18.pth")
    with pytest.raises(InputError) as err:
        build_model("digits_cnn", num_classes=10, pretrained=path)
    _assert_one_line(err, "r18.pth", "do not fit DigitsCNN", "unexpected keys")


class _Payload:
    """Unpickling this calls open(target, 'w'): a file appears if code from the pickle ran."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_pickle_with_code_is_refused(tmp_path):
    target = tmp_path / "pwned.txt"
    path = _save({"state_dict": {"fc.weight": torch.zeros(1)}, "evil": _Payload(os.fspath(target))},
                 tmp_path / "evil.pth")
    with pytest.raises(InputError) as err:
        build_model("digits_cnn", num_classes=10, pretrained=path)
    assert not target.exists()
    _assert_one_line(err, "evil.pth", "refused")


def test_unreadable_and_missing_files(tmp_path):
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"this is not a checkpoint\n" * 10)
    with pytest.raises(InputError) as err:
        build_model("digits_cnn", num_classes=10, pretrained=garbage)
    _assert_one_line(err, "garbage.pth", "not a readable PyTorch weights file")
    with pytest.raises(InputError) as err:
        build_model("digits_cnn", num_classes=10, pretrained=tmp_path / "absent.pth")
    _assert_one_line(err, "absent.pth", "not found")
    path = _save([torch.zeros(1)], tmp_path / "list.pth")
    with pytest.raises(InputError) as err:
        read_state_dict(path)
    _assert_one_line(err, "list.pth", "not a state dict")


# -- torchvision download path (no network: the hub loader is replaced) ---------------------------------------------
def test_torchvision_download_failure_is_one_line(monkeypatch):
    def offline(url, *args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure\nin name resolution")

    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", offline)
    with pytest.raises(InputError) as err:
        build_model("resnet18", num_classes=10, pretrained="torchvision")
    _assert_one_line(err, "could not download torchvision weights", "ResNet18_Weights.IMAGENET1K_V1",
                     "download.pytorch.org", "URLError")


def test_torchvision_download_success_path(monkeypatch):
    torch.manual_seed(7)
    reference = torchvision.models.resnet18(weights=None).state_dict()
    requested = []

    def fake_hub(url, *args, **kwargs):
        requested.append(url)
        return reference

    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", fake_hub)
    model = build_model("resnet18", num_classes=1000, pretrained="torchvision")
    assert requested == [torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url]
    torch.testing.assert_close(model.layer4[1].conv2.weight, reference["layer4.1.conv2.weight"], rtol=0, atol=0)


def test_digits_cnn_has_no_torchvision_weights():
    with pytest.raises(ValueError, match="no torchvision weights"):
        build_model("digits_cnn", num_classes=10, pretrained="torchvision")


def test_load_weights_rejects_other_types():
    model = build_model("digits_cnn", num_classes=10)
    with pytest.raises(ValueError, match="pretrained must be"):
        load_weights(model, 3)  # type: ignore[arg-type]
