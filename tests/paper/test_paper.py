"""``wsol paper``: specs and their errors, the cell runner (skip, resume, refusals), the report's numbers against
the cells' files, evaluation-only cells from checkpoints, and the submitit path."""
from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from wsol.cli.main import main
from wsol.errors import InputError
from wsol.paper.cell import run_cell
from wsol.paper.report import paper_report
from wsol.paper.runner import run_paper
from wsol.paper.spec import check_spec, load_spec, plan_cells, quick_spec

TINY_SPEC = {"methods": ["vanilla", "cutmix"], "seeds": [0, 1],
             "overrides": ["image_size=32", "epochs=2", "max_steps_per_epoch=3", "batch_size=16", "log_every=1",
                           "warmup_epochs=0.5"],
             "fgsm": {"max_images": 24}, "robustness": {"max_images": 24}, "examples": {"num_images": 3}}


def _spec_file(tmp: Path, digits: Path, name: str = "tiny", **changes) -> Path:
    spec = {**TINY_SPEC, "dataset": {"name": "digits", "data": str(digits)}, **changes}
    path = tmp / f"{name}.json"
    path.write_text(json.dumps(spec))
    return path


def _snapshot(folder: Path) -> dict[str, float]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tiny_run(tiny_digits, tmp_path_factory):
    """A finished two-method, two-seed run on tiny digits (about 20 s)."""
    tmp = tmp_path_factory.mktemp("paper")
    runs = tmp / "runs"
    result = run_paper(_spec_file(tmp, tiny_digits), runs, device="cpu")
    assert len(result["ran"]) == 4 and not result["skipped"]
    return runs, result


# ------------------------------------------------------------------------------------------------------- specs
def test_builtin_specs_are_valid_and_hash_their_settings():
    for name in ("cutmix-digits", "augment-digits", "cutmix-digits-schedule"):
        spec = load_spec(name)
        cells = plan_cells(spec, device="cpu")
        assert len({c.name for c in cells}) == len(cells) == len(spec.methods) * len(spec["seeds"]) * \
            len(spec["schedules"])
    default = load_spec("cutmix-digits")
    assert default.methods == ["vanilla", "mixup", "cutout", "cutmix"] and default["seeds"] == [0, 1, 2]
    schedule = plan_cells(load_spec("cutmix-digits-schedule"), device="cpu")
    assert {c.train["epochs"] for c in schedule} == {15, 30}
    # a changed setting is a new cell; the device is part of the hash; workers are not
    base = plan_cells(default, device="cpu")[0]
    other = check_spec("x", {"methods": ["vanilla"], "seeds": [0], "overrides": ["lr=0.1"]}, where="x")
    assert plan_cells(other, device="cpu")[0].hash != base.hash
    assert plan_cells(default, device="cuda")[0].hash != base.hash
    workers = check_spec("cutmix-digits", {"methods": ["vanilla"], "seeds": [0], "overrides": ["workers=3"]},
                         where="x")
    assert plan_cells(workers, device="cpu")[0].hash == base.hash
    assert quick_spec(default)["seeds"] == [0, 1]


@pytest.mark.parametrize("raw, message, value", [
    ({"methods": ["vanilla"], "colour": 1}, "unknown spec key", "colour"),
    ({"methods": ["vanilla", "cutmixx"]}, "unknown method", "cutmixx"),
    ({"methods": ["vanilla"], "evaluations": ["fgsm", "gradients"]}, "unknown evaluation", "gradients"),
    ({"methods": ["vanilla"], "seeds": []}, "non-empty list", "[]"),
    ({"methods": ["vanilla"], "ood": {"sets": ["svhn"]}}, "unknown OOD set", "svhn"),
    ({"methods": ["vanilla"], "fgsm": {"budget": 3}}, "unknown key in fgsm", "budget"),
    ({"methods": ["vanilla"], "dataset": {"name": "cifar"}}, "dataset must be", "cifar"),
    ({"seeds": [0]}, "non-empty list of methods", "None"),
])
def test_bad_specs_are_one_line_errors_naming_file_and_value(tmp_path, raw, message, value, capsys):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(InputError, match=message) as info:
        load_spec(path)
    assert str(path) in str(info.value) and value in str(info.value) and "\n" not in str(info.value)
    runs = tmp_path / "runs"
    assert main(["paper", "run", "--spec", str(path), "--out", str(runs), "--device", "cpu", "-q"]) == 2
    assert message in capsys.readouterr().err and not runs.exists()


def test_invalid_json_names_the_line(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"methods": ["vanilla"],\n "seeds": [0,]}')
    with pytest.raises(InputError, match=r"broken.json:2: invalid JSON"):
        load_spec(path)


# --------------------------------------------------------------------------------------------------- the runner
def test_cells_hold_every_file_and_a_rerun_skips_them(tiny_run, tiny_digits):
    runs, result = tiny_run
    names = sorted(result["cells"])
    assert [n.rsplit("-", 1)[0] for n in names] == ["cutmix-s0", "cutmix-s1", "vanilla-s0", "vanilla-s1"]
    for name in names:
        files = {p.name for p in (runs / name).iterdir()}
        assert {"cell.json", "train", "localization.json", "localization_cutmix.json", "per_image_boxes.npz",
                "per_image_boxes_cutmix.npz", "pxap.json", "per_image_masks.npz", "fgsm.json", "robustness.json",
                "ood.json", "ood_scores.npz", "examples.npz"} <= files
    manifest = json.loads((runs / "manifest.json").read_text())
    assert manifest["versions"]["torch"] and len(manifest["metadata_digest"]) == 64
    assert {c["checkpoint_sha256"] for c in manifest["cells"].values()} and len(manifest["cells"]) == 4
    before = _snapshot(runs)
    again = run_paper(runs / ".." / "tiny.json", runs, device="cpu")
    assert again["ran"] == [] and len(again["skipped"]) == 4
    after = _snapshot(runs)
    assert {k: v for k, v in after.items() if k != "manifest.json" and k != "spec.json"} == \
        {k: v for k, v in before.items() if k != "manifest.json" and k != "spec.json"}


def test_an_interrupted_cell_resumes_to_the_same_numbers(tiny_run, tmp_path):
    from wsol.config import TrainConfig
    from wsol.engine.train import fit
    from wsol.paper.spec import CellPlan

    runs, result = tiny_run
    name = sorted(result["cells"])[0]
    plan = CellPlan.from_dict(result["cells"][name]["plan"])
    folder = tmp_path / name
    (folder / "train").mkdir(parents=True)
    shutil.copy(runs / name / "cell.json", folder / "cell.json")  # the cell as it looked before training
    record = json.loads((folder / "cell.json").read_text())
    record.update(complete=False, timings={})
    (folder / "cell.json").write_text(json.dumps(record))
    fit(TrainConfig.from_dict(plan.train), folder / "train", stop_after=1)  # killed after epoch 1 of 2
    assert (folder / "train" / "checkpoint.pt").is_file() and not (folder / "train" / "model.pt").exists()
    run_cell(plan, tmp_path)
    for f in ("localization.json", "fgsm.json", "ood.json"):
        done, resumed = json.loads((runs / name / f).read_text()), json.loads((folder / f).read_text())
        for key in ("maxboxacc", "maxboxacc_v2", "top1_cls", "attacks", "metrics"):
            if key in done:
                assert resumed[key] == done[key], (f, key)


def test_refusals_leave_the_run_folder_untouched(tiny_run, tiny_digits, tmp_path, capsys):
    runs, result = tiny_run
    before = _snapshot(runs)
    other = _spec_file(tmp_path, tiny_digits, name="other")
    assert main(["paper", "run", "--spec", str(other), "--out", str(runs), "--device", "cpu", "-q"]) == 2
    assert "run folder holds spec 'tiny', not 'other'" in capsys.readouterr().err
    # a cell folder of another spec (same settings, so the same cell name) in a folder without spec.json
    copy = tmp_path / "copy"
    shutil.copytree(runs, copy)
    (copy / "spec.json").unlink()
    assert main(["paper", "run", "--spec", str(other), "--out", str(copy), "--device", "cpu", "-q"]) == 2
    assert "was made by spec 'tiny', not 'other'" in capsys.readouterr().err
    # a cell written by a newer wsol
    cell = copy / sorted(result["cells"])[0] / "cell.json"
    record = json.loads(cell.read_text())
    record["wsol_version"] = "99.0"
    cell.write_text(json.dumps(record))
    spec = runs / ".." / "tiny.json"
    shutil.copy(runs / "spec.json", copy / "spec.json")
    assert main(["paper", "run", "--spec", str(spec), "--out", str(copy), "--device", "cpu", "-q"]) == 2
    assert "written by a newer wsol (99.0" in capsys.readouterr().err
    assert _snapshot(runs) == before


# --------------------------------------------------------------------------------------------------- the report
def test_report_tables_equal_the_cell_files(tiny_run, tmp_path):
    runs, _ = tiny_run
    out = tmp_path / "report"
    rep = paper_report(runs, out, resamples=200)
    tables = rep["tables"][""]
    assert set(tables) == {"localization", "localization_other", "fgsm", "ood", "ood_by_set"}

    def cell_values(method: str, read) -> list[float]:
        folders = sorted(p for p in runs.iterdir() if p.name.startswith(f"{method}-s"))
        return [read(p) for p in folders]

    def read(name):
        return lambda p: json.loads((p / f"{name}.json").read_text())

    readers = {
        ("localization", "maxboxacc"): lambda p: read("localization")(p)["calibrated"]["box_acc_v1"],
        ("localization", "top1_loc"): lambda p: read("localization_cutmix")(p)["top1_loc"],
        ("localization", "pxap"): lambda p: read("pxap")(p)["pxap"],
        ("localization_other", "maxboxacc_test_tau"): lambda p: read("localization")(p)["maxboxacc"],
        ("fgsm", "eps_8"): lambda p: read("fgsm")(p)["attacks"]["fgsm"]["adversarial"][3]["top1_pct"],
        ("ood", "mean/auroc"): lambda p: read("ood")(p)["metrics"]["msp"]["mean"]["auroc"],
    }
    for (table, column), reader in readers.items():
        t = tables[table]
        k = [c["key"] for c in t["columns"]].index(column)
        for row in t["rows"]:
            values = cell_values(row["method"], reader)
            cell = row["cells"][k]
            assert cell["values"] == values and cell["mean"] == np.mean(values)
            assert cell["std"] == pytest.approx(np.std(values, ddof=1))
            if row["method"] == "cutmix":
                diff = row["diffs"][k]
                base = tables[table]["rows"][0]["cells"][k]["mean"]
                assert diff["difference"] == pytest.approx(cell["mean"] - base, abs=1e-9)
                assert diff["ci_low"] <= diff["ci_high"]
    # the CSV and the LaTeX carry the same numbers
    rows = list(csv.DictReader(io.StringIO((out / "tables" / "localization.csv").read_text())))
    first = next(r for r in rows if r["method"] == "vanilla" and r["column"] == "maxboxacc")
    assert float(first["mean"]) == tables["localization"]["rows"][0]["cells"][1]["mean"]
    tex = (out / "tables" / "localization.tex").read_text()
    assert r"\toprule" in tex and r"\bottomrule" in tex and "49.41" in tex  # published numbers, separately
    text = Path(rep["report"]).read_text()
    assert "within noise" in text and "Provenance" in text and "figures/figure1_mixing.png" in text
    for name in ("figure1_mixing", "training_curves", "figure4_boxes", "figure5_robustness", "box_acc_vs_threshold",
                 "pxap_pr_curves", "fgsm_vs_eps", "ood_roc"):
        for fmt, magic in (("png", b"\x89PNG"), ("pdf", b"%PDF")):
            assert (out / "figures" / f"{name}.{fmt}").read_bytes().startswith(magic), name
    assert json.loads((out / "manifest.json").read_text())["report"]["resamples"] == 200
    # the same seed gives the same intervals
    again = paper_report(runs, tmp_path / "again", resamples=200, figures=False)
    assert again["tables"] == rep["tables"]


def test_cli_report_and_compare(tiny_run, tmp_path, capsys):
    runs, result = tiny_run
    assert main(["paper", "report", str(runs), "--out", str(tmp_path / "r"), "--resamples", "50", "--no-figures",
                 "-q"]) == 0
    assert "tables" in capsys.readouterr().out and (tmp_path / "r" / "report.md").is_file()
    a, b = (runs / n / "per_image_boxes.npz" for n in sorted(result["cells"])[:2])
    assert main(["paper", "compare", str(a), str(b), "--resamples", "50", "--out", str(tmp_path / "c.json")]) == 0
    out = capsys.readouterr().out
    assert "maxboxacc" in out and "A − B" in out
    saved = json.loads((tmp_path / "c.json").read_text())
    assert saved["metrics"]["maxboxacc"]["a"] == json.loads((a.parent / "localization.json").read_text())["maxboxacc"]
    masks = a.parent / "per_image_masks.npz"
    assert main(["paper", "compare", str(a), str(masks)]) == 2
    assert "boxes split, the other a masks split" in capsys.readouterr().err
    assert main(["paper", "report", str(tmp_path)]) == 2
    assert "no spec.json" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------- checkpoints, launchers
def test_checkpoint_cells_and_an_architecture_mismatch(tiny_run, tiny_digits, tmp_path, capsys):
    import wsol.api

    runs, result = tiny_run
    models = {n.split("-")[0] + n.split("-")[1]: runs / n / "train" / "model.pt" for n in result["cells"]}
    meta = tiny_digits / "metadata"
    args = ["paper", "run", "--checkpoint", f"vanilla={models['vanillas0']}", "--checkpoint",
            f"cutmix={models['cutmixs0']}", "--metadata", str(meta), "--out", str(tmp_path / "ck"), "--device", "cpu",
            "-q"]
    assert main(args) == 0
    cells = sorted(p.name for p in (tmp_path / "ck").iterdir() if (p / "cell.json").is_file())
    assert len(cells) == 2 and not (tmp_path / "ck" / cells[0] / "train").exists()
    for cell in cells:  # same checkpoint, same evaluation: same numbers as the trained cell
        method = cell.split("-")[0]
        trained = next(n for n in result["cells"] if n.startswith(f"{method}-s0"))
        a = json.loads((tmp_path / "ck" / cell / "localization.json").read_text())
        b = json.loads((runs / trained / "localization.json").read_text())
        assert a["maxboxacc"] == b["maxboxacc"] and a["calibrated"] == b["calibrated"]
    assert paper_report(tmp_path / "ck", resamples=50, figures=False)["tables"][""]["localization"]["rows"]
    other = tmp_path / "other" / "model.pt"
    wsol.api.train("digits-vanilla", other.parent, overrides=[f"data={tiny_digits}", "image_size=32", "epochs=1",
                                                              "batch_size=16", "max_steps_per_epoch=1",
                                                              "arch=digits_net"])
    assert main(["paper", "run", "--checkpoint", f"vanilla={models['vanillas0']}", "--checkpoint",
                 f"cutmix={other}", "--metadata", str(meta), "--out", str(tmp_path / "bad"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "share an architecture" in err and "digits_net" in err and not (tmp_path / "bad").exists()


def test_submitit_local_executor_and_local_processes(tiny_digits, tiny_run, tmp_path):
    pytest.importorskip("submitit")
    runs, result = tiny_run
    spec = _spec_file(tmp_path, tiny_digits, name="tiny", methods=["vanilla"], seeds=[0],
                      evaluations=["localization", "fgsm"])
    sub = run_paper(spec, tmp_path / "sub", launcher="submitit-local", device="cpu")
    name = sub["ran"][0]
    reference = next(n for n in result["cells"] if n.startswith("vanilla-s0"))
    assert json.loads((tmp_path / "sub" / name / "localization.json").read_text())["maxboxacc"] == \
        json.loads((runs / reference / "localization.json").read_text())["maxboxacc"]
    assert (tmp_path / "sub" / ".submitit").is_dir()
    spec2 = _spec_file(tmp_path, tiny_digits, name="two", seeds=[0, 1], methods=["vanilla"],
                       evaluations=["localization"])
    two = run_paper(spec2, tmp_path / "two", jobs=2, device="cpu")
    assert len(two["ran"]) == 2
    for n in two["ran"]:
        ref = next(r for r in result["cells"] if r.startswith(n.rsplit("-", 1)[0]))
        got = json.loads((tmp_path / "two" / n / "localization.json").read_text())
        assert got["calibrated"] == json.loads((runs / ref / "localization.json").read_text())["calibrated"]


def test_quick_default_spec_end_to_end_through_the_cli(tmp_path, capsys, monkeypatch):
    """`wsol paper run --quick --report` of the default spec: built-in methods, tiny data, every table and figure."""
    monkeypatch.chdir(tmp_path)  # the quick spec builds datasets/digits-quick here
    assert main(["paper", "run", "--quick", "--out", "runs", "--device", "cpu", "--report", "-q"]) == 0
    out = capsys.readouterr().out
    assert "cutmix-digits-quick: 8 cells (8 run, 0 already finished)" in out
    report = (tmp_path / "runs" / "report" / "report.md").read_text()
    assert "Smoke run of cutmix-digits" in report
    for method in ("vanilla", "mixup", "cutout", "cutmix"):
        assert f"| {method} |" in report
    assert (tmp_path / "datasets" / "digits-quick" / "metadata" / "test").is_dir()


def test_reuse_copies_cells_of_equal_settings_from_another_run(tiny_run, tiny_digits, tmp_path):
    runs, result = tiny_run
    before = _snapshot(runs)
    spec = _spec_file(tmp_path, tiny_digits, name="again", schedules={"two epochs": [], "one epoch": ["epochs=1"]})
    again = run_paper(spec, tmp_path / "again", reuse=[runs], device="cpu")
    assert sorted(again["skipped"]) == sorted(result["cells"])  # the "two epochs" grid: copied
    assert len(again["ran"]) == 4  # the one-epoch grid: new settings, new cells
    name = sorted(result["cells"])[0]
    record = json.loads((tmp_path / "again" / name / "cell.json").read_text())
    assert record["plan"]["spec"] == "again" and record["plan"]["schedule"] == "two epochs"
    assert record["copied_from"] == str(runs / name)
    assert _snapshot(runs) == before  # the source is untouched
    tables = paper_report(tmp_path / "again", resamples=50, figures=False)["tables"]
    assert set(tables) == {"two epochs", "one epoch"}
