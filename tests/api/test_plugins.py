"""Plugins: a user's module registers a model and a CAM method; the CLI trains, lists and evaluates with them."""
from __future__ import annotations

import json
import sys
import textwrap

import pytest
import torch

import wsol.plugins
from wsol.cam import CAMS
from wsol.cli.main import main
from wsol.models import MODELS
from wsol.models import base as model_base

PLUGIN = "wsol_test_plugin_plugnet"
SOURCE = textwrap.dedent('''
    import torch
    from torch import nn

    from wsol.cam.registry import CAMS
    from wsol.models.base import MODELS, WSOLModel


    class PlugNet(WSOLModel):
        cam_layer_name = "body"

        def __init__(self, *, num_classes):
            super().__init__(num_classes=num_classes, feature_dim=8)
            self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
            self.fc = nn.Linear(8, num_classes)

        def forward_features(self, x):
            return self.body(x)

        def stages(self):
            return [self.body]

        @classmethod
        def recognize_state_dict(cls, keys):
            return "plugnet" if "body.0.weight" in keys else None


    @MODELS.register("plugnet")
    def plugnet(*, num_classes, large_feature_map=False):
        """A two-layer plugin model."""
        return PlugNet(num_classes=num_classes)


    @CAMS.register("plugcam")
    @torch.no_grad()
    def plug_cam(model, images, classes):
        """Mean absolute feature (a plugin CAM)."""
        features = model.forward_features(images)
        return model.classify(features), features.abs().mean(dim=1)
''')


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    """The plugin module on sys.path; every registry is restored afterwards (no leak into other tests)."""
    saved = (dict(MODELS._items), dict(CAMS._items), list(model_base._MODEL_CLASSES), list(wsol.plugins._loaded))
    (tmp_path / f"{PLUGIN}.py").write_text(SOURCE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    MODELS._items, CAMS._items = saved[0], saved[1]
    model_base._MODEL_CLASSES[:] = saved[2]
    wsol.plugins._loaded[:] = saved[3]
    sys.modules.pop(PLUGIN, None)


def test_plugin_model_and_cam_train_list_and_evaluate(plugin_dir, tiny_digits, tiny_overrides, tmp_path, capsys):
    assert main(["--plugin", PLUGIN, "list", "models"]) == 0
    assert "plugnet" in capsys.readouterr().out
    assert main(["--plugin", PLUGIN, "list", "cams"]) == 0
    assert "plugcam" in capsys.readouterr().out
    run = tmp_path / "run"
    sets = [a for o in tiny_overrides for a in ("--set", o)]
    assert main(["--plugin", PLUGIN, "train", "--preset", "digits-vanilla", "--out", str(run), "--set", "arch=plugnet",
                 *sets, "-q"]) == 0
    out = tmp_path / "eval.json"
    assert main(["--plugin", PLUGIN, "evaluate", str(run / "model.pt"), "--metadata",
                 str(tiny_digits / "metadata" / "test"), "--cam", "plugcam", "--out", str(out), "--workers", "0",
                 "--device", "cpu", "-q"]) == 0
    res = json.loads(out.read_text())
    assert (res["arch"], res["cam"], res["num_images"]) == ("plugnet", "plugcam", 40)
    # a bare state dict of the plugin model: its own hook tells the architecture
    bare = tmp_path / "bare.pt"
    torch.save(torch.load(run / "model.pt", weights_only=True)["model"], bare)
    assert main(["--plugin", PLUGIN, "evaluate", str(bare), "--metadata", str(tiny_digits / "metadata" / "test"),
                 "--image-size", "32", "--out", str(out), "--workers", "0", "--device", "cpu", "-q"]) == 0
    assert json.loads(out.read_text())["arch"] == "plugnet"


def test_plugins_from_the_environment(plugin_dir, monkeypatch, capsys):
    monkeypatch.setenv(wsol.plugins.ENV_VAR, f" {PLUGIN} ,")
    assert main(["list", "cams"]) == 0
    assert "plugcam" in capsys.readouterr().out
    assert PLUGIN in wsol.plugins.loaded_plugins()


def test_without_the_plugin_its_names_are_unknown(capsys):
    assert "plugnet" not in MODELS
    with pytest.raises(SystemExit):
        main(["evaluate", "x.pt", "--metadata", "m", "--cam", "plugcam", "--out", "o.json"])
    assert "invalid choice: 'plugcam'" in capsys.readouterr().err


def test_a_plugin_that_cannot_be_imported_is_a_one_line_error(capsys):
    assert main(["--plugin", "wsol_no_such_plugin_module", "list", "models"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "cannot load plugin 'wsol_no_such_plugin_module' (--plugin)" in err
    assert "ModuleNotFoundError" in err
