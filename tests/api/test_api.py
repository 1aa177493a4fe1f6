"""The job API: the facade lists every job with a runnable example; the CLI, the demo and Python reach the same
function and get the same numbers."""
from __future__ import annotations

import inspect
import json

import pytest

import wsol.api
from wsol.cli.main import main

TIMING = {"timing", "wsol_version"}


def _strip(d: dict) -> dict:
    return {k: v for k, v in d.items() if k not in TIMING}


@pytest.mark.parametrize("name", wsol.api.JOBS)
def test_every_job_is_documented_with_an_example(name):
    job = getattr(wsol.api, name)
    doc = inspect.getdoc(job) or ""
    assert "Example" in doc and "Returns" in doc, name
    params = inspect.signature(job).parameters.values()
    assert all(p.kind is not inspect.Parameter.VAR_POSITIONAL for p in params)


@pytest.fixture(scope="module")
def model_pt(tiny_digits, tmp_path_factory):
    run = tmp_path_factory.mktemp("api") / "run"
    metrics = wsol.api.train("digits-vanilla", run, overrides=[f"data={tiny_digits}", "image_size=32",
                                                               "batch_size=16", "epochs=1", "max_steps_per_epoch=4"])
    assert metrics["complete"] and (run / "model.pt").is_file()
    return run / "model.pt"


def test_cli_evaluate_writes_what_the_api_returns(model_pt, tiny_digits, tmp_path):
    meta = tiny_digits / "metadata"
    out = tmp_path / "e.json"
    assert main(["evaluate", str(model_pt), "--metadata", str(meta / "test"), "--calibrate-on",
                 str(meta / "train_fullsup"), "--out", str(out), "--workers", "0", "--device", "cpu", "-q"]) == 0
    api = wsol.api.evaluate_checkpoint(model_pt, meta / "test", calibrate_on=meta / "train_fullsup", workers=0,
                                       device="cpu")
    assert _strip(json.loads(out.read_text())) == json.loads(json.dumps(_strip(api)))


def test_cli_attack_and_ood_write_what_the_api_returns(model_pt, tiny_digits, tmp_path):
    test = tiny_digits / "metadata" / "test"
    out = tmp_path / "a.json"
    assert main(["attack", str(model_pt), "--metadata", str(test), "--eps", "2", "8", "--max-images", "24",
                 "--out", str(out), "--workers", "0", "--device", "cpu", "-q"]) == 0
    api = wsol.api.attack_checkpoint(model_pt, test, eps_255=[2, 8], max_images=24, workers=0, device="cpu")
    written = _strip(json.loads(out.read_text()))
    assert written.pop("figure").endswith("a_accuracy.png")
    assert written == json.loads(json.dumps(_strip(api)))
    out = tmp_path / "o.json"
    assert main(["ood", str(model_pt), "--metadata", str(test), "--ood", "gaussian", "--num-noise", "20",
                 "--out", str(out), "--workers", "0", "--device", "cpu", "-q"]) == 0
    run = wsol.api.detect_ood(model_pt, test, ood=["gaussian"], num_noise=20, workers=0, device="cpu")
    written = _strip(json.loads(out.read_text()))
    assert set(written.pop("figures")) == {"msp"}
    assert written == json.loads(json.dumps(_strip(run.results)))
    assert run.scores_in["msp"].shape == (40,) and run.scores_out["gaussian"]["msp"].shape == (20,)


def test_the_cli_and_the_demo_call_the_job_functions(monkeypatch, tmp_path):
    """Each command hands its flags to its one job function (replaced here by a recorder)."""
    import wsol.demo
    import wsol.engine.evaluate
    import wsol.robustness.jobs

    calls = []

    def recorder(name, result):
        def job(*args, **kwargs):
            calls.append((name, args, kwargs))
            return result
        return job

    fake = {"num_images": 1, "pxap": 50.0, "timing": {"total_s": 0.0}}
    monkeypatch.setattr(wsol.engine.evaluate, "evaluate_checkpoint", recorder("evaluate", fake))
    monkeypatch.setattr(wsol.robustness.jobs, "robustness_checkpoint",
                        recorder("robustness", {"fill": "zero", "timing": {}}))
    demo = {"timings": {"total_s": 1.0}, "report": "r.md", "robustness": None,
            "results": {"m": {"fixed_threshold": 0.2, "maxboxacc": 1.0, "maxboxacc_v2": 2.0, "calibrated": {}}}}
    monkeypatch.setattr(wsol.demo, "run_demo", recorder("demo", demo))
    assert main(["evaluate", "m.pt", "--metadata", "meta/test", "--cam", "gradcam", "--shard", "1/3",
                 "--out", str(tmp_path / "e.json"), "-q"]) == 0
    assert main(["robustness", "m.pt", "--metadata", "meta/test", "--occlusion", "--out", str(tmp_path / "r.json"),
                 "-q"]) == 0
    assert main(["demo", "--tiny", "--out", str(tmp_path / "d"), "-q"]) == 0
    (n1, a1, k1), (n2, a2, k2), (n3, a3, k3) = calls
    assert n1 == "evaluate" and str(a1[0]) == "m.pt" and k1["cam"] == "gradcam" and k1["shard"] == (1, 3)
    assert n2 == "robustness" and k2["occlusion"] and not k2["in_between"]
    assert n3 == "demo" and k3["tiny"]


def test_a_train_that_fails_on_a_bad_option_leaves_no_folder(tiny_digits, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--preset", "digits-vanilla", "--out", str(out), "--set", f"data={tiny_digits}",
                 "--set", "method_options.nonsense=1", "-q"]) == 2
    assert "unknown option(s) nonsense for method 'vanilla'" in capsys.readouterr().err
    assert not out.exists()
    out.mkdir()  # a folder the user made is left alone
    assert main(["train", "--preset", "digits-vanilla", "--out", str(out), "--set", f"data={tiny_digits}",
                 "--set", "method_options.nonsense=1", "-q"]) == 2
    assert out.is_dir()


def test_an_arch_that_does_not_fit_the_checkpoint_settings_is_one_line(model_pt, tiny_digits, tmp_path, capsys):
    assert main(["evaluate", str(model_pt), "--arch", "digits_cnn", "--metadata", str(tiny_digits / "metadata" /
                 "test"), "--out", str(tmp_path / "e.json"), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "model.pt" in err


def test_training_threads_are_set_recorded_and_restored(tiny_digits, tmp_path):
    import torch

    before = torch.get_num_threads()
    metrics = wsol.api.train("digits-vanilla", tmp_path / "run", overrides=[
        f"data={tiny_digits}", "image_size=32", "batch_size=16", "epochs=1", "max_steps_per_epoch=2", "threads=1"])
    assert metrics["threads"] == 1 and torch.get_num_threads() == before
    assert json.loads((tmp_path / "run" / "config.json").read_text())["threads"] == 1
