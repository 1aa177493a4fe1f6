"""The one model-loading place: distinct errors for each kind of bad file, per-model architecture hooks."""
from __future__ import annotations

import os
import pickle
import zipfile

import pytest
import torch

from wsol.engine.checkpoint import load_checkpoint
from wsol.errors import InputError
from wsol.models import MODELS, build_model
from wsol.models.base import model_classes
from wsol.models.loading import infer_arch, load_model, read_torch_file
from wsol.models.weights import read_state_dict


class _Payload:
    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def _one_line(err: pytest.ExceptionInfo, *fragments: str) -> str:
    text = str(err.value)
    assert "\n" not in text
    for fragment in fragments:
        assert fragment in text, (fragment, text)
    return text


@pytest.mark.parametrize("content", [b"", b"hello world\n" * 3, bytes(range(256)) * 4],
                         ids=["empty", "text", "bytes"])
def test_a_file_that_is_no_torch_file_is_named_so(tmp_path, content):
    path = tmp_path / "w.pt"
    path.write_bytes(content)
    for reader in (read_torch_file, load_model, load_checkpoint):
        with pytest.raises(InputError) as err:
            reader(path)
        text = _one_line(err, "w.pt", "not a readable PyTorch")
        assert "may run code" not in text


def test_a_zip_that_is_no_torch_archive(tmp_path):
    path = tmp_path / "w.pt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("readme.txt", "hello")
    with pytest.raises(InputError) as err:
        read_torch_file(path)
    _one_line(err, "not a readable PyTorch")


@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_a_pickle_with_code_is_refused_and_never_run(tmp_path, writer):
    target = tmp_path / "pwned.txt"
    path = tmp_path / "evil.pt"
    obj = {"state_dict": {"fc.weight": torch.zeros(1)}, "evil": _Payload(os.fspath(target))}
    if writer == "pickle":
        with open(path, "wb") as f:
            pickle.dump(obj, f)
    else:
        torch.save(obj, path)
    for reader in (read_torch_file, load_model, load_checkpoint, read_state_dict):
        with pytest.raises(InputError) as err:
            reader(path)
        _one_line(err, "evil.pt", "refused to load", "may run code")
    assert not target.exists()


def test_missing_file(tmp_path):
    with pytest.raises(InputError) as err:
        load_model(tmp_path / "absent.pt")
    _one_line(err, "absent.pt", "checkpoint not found")
    with pytest.raises(InputError) as err:
        read_state_dict(tmp_path / "absent.pt")
    _one_line(err, "absent.pt", "weights file not found")


def test_weights_that_do_not_fit_name_the_key_and_shapes(tmp_path):
    state = build_model("digits_net", num_classes=10).state_dict()
    key = "block3.0.weight"  # input channels do not match block2's output (widths are read from output channels)
    state[key] = torch.zeros(state[key].shape[0], 7, 3, 3)
    path = tmp_path / "bad.pt"
    torch.save(state, path)
    with pytest.raises(InputError) as err:
        load_model(path)
    _one_line(err, "bad.pt", "weights do not fit", key, ", 7, 3, 3)")


@pytest.mark.parametrize("arch, options", [
    ("digits_locnet", {"widths": (32, 64, 64, 96)}),  # the default before the presets moved to digits_locnet
    ("digits_locnet", {"widths": (8, 8, 16, 24), "input_norm": False}),
    ("digits_net", {"widths": (8, 16, 16, 16, 24)}),
    ("digits_cnn", {"width": 8}),
])
def test_digits_checkpoints_of_other_widths_load_as_they_are(tmp_path, arch, options):
    torch.manual_seed(0)
    model = build_model(arch, num_classes=10, **options).eval()
    torch.save(model.state_dict(), tmp_path / "m.pt")
    loaded = load_model(tmp_path / "m.pt")
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    assert loaded.arch == arch and torch.equal(loaded.model(x), model(x))


def test_a_checkpoint_config_s_model_options_win_over_the_weights(tmp_path):
    from wsol.config import TrainConfig
    from wsol.engine.checkpoint import model_file_state, save_checkpoint

    model = build_model("digits_locnet", num_classes=10, widths=(8, 8, 16, 24))
    for widths, fits in (((8, 8, 16, 24), True), ((16, 32, 48, 64), False)):
        config = TrainConfig(arch="digits_locnet", model={"widths": list(widths)})
        save_checkpoint(tmp_path / "m.pt", model_file_state(config, model=model, num_classes=10, step=1))
        if fits:
            assert load_model(tmp_path / "m.pt").model.fc.in_features == 24
        else:
            with pytest.raises(InputError) as err:
                load_model(tmp_path / "m.pt")
            _one_line(err, "m.pt", "weights do not fit", "(8, 3, 3, 3) vs (16, 3, 3, 3)")


@pytest.mark.parametrize("name", ["digits_cnn", "digits_locnet", "digits_net", "inception_v3", "resnet18", "resnet50",
                                  "vgg16"])
def test_every_model_recognises_its_own_state_dict_and_only_it(name):
    keys = frozenset(build_model(name, num_classes=3).state_dict())
    answers = {cls.__name__: cls.recognize_state_dict(keys) for cls in model_classes()}
    assert {a for a in answers.values() if a is not None} == {name}, answers
    assert infer_arch(dict.fromkeys(keys)) == name


def test_every_registered_model_has_a_hook():
    recognised = set()
    for name in MODELS.names():
        keys = frozenset(build_model(name, num_classes=3).state_dict())
        recognised |= {cls.recognize_state_dict(keys) for cls in model_classes()} - {None}
    assert recognised >= {"digits_cnn", "digits_net", "inception_v3", "resnet18", "resnet50", "vgg16"}


def test_unknown_keys_give_none():
    assert infer_arch({"x.weight": torch.zeros(1)}) is None


def test_state_dict_round_trip_and_provenance(tmp_path):
    torch.manual_seed(0)
    model = build_model("digits_net", num_classes=4)
    path = tmp_path / "m.pt"
    torch.save({"state_dict": {"module." + k: v for k, v in model.state_dict().items()}}, path)
    loaded = load_model(path)
    assert (loaded.arch, loaded.num_classes, loaded.kind, loaded.image_size) == ("digits_net", 4, "state-dict", None)
    assert torch.equal(loaded.model.fc.weight, model.fc.weight) and not loaded.model.training
    assert loaded.provenance()["checkpoint_sha256"] == loaded.sha256 and len(loaded.sha256) == 64
