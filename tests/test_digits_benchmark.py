"""benchmarks/digits_benchmark.py on tiny digits: one cell per (method, seed), the summary, the table and the figure."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # spawned workers inherit sys.path
    import digits_benchmark

    return digits_benchmark


def test_mean_and_sample_std_by_hand(bench):
    assert bench._mean_std([1.0, 2.0, 3.0]) == {"mean": 2.0, "std": 1.0, "n": 3}
    assert bench._mean_std([4.0]) == {"mean": 4.0, "std": 0.0, "n": 1}
    assert bench._mean_std([None]) == {"mean": None, "std": None, "n": 0}


def test_tiny_grid_writes_cells_summary_table_and_figure(bench, tiny_digits, tiny_overrides, tmp_path, capsys):
    sets = [s for s in tiny_overrides if not s.startswith("data=")]
    out = tmp_path / "bench"
    argv = ["--methods", "vanilla", "cutmix", "--seeds", "0", "--jobs", "1", "--threads", "1", "--data",
            str(tiny_digits), "--out", str(out), "--table", str(tmp_path / "t.md"), "--figure", str(tmp_path / "c.png")]
    for value in sets:
        argv += ["--set", value]
    assert bench.main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((out / "benchmark.json").read_text())
    cells = {(c["method"], c["seed"]): c for c in printed["cells"]}
    assert set(cells) == {("vanilla", 0), ("cutmix", 0)}
    for cell in cells.values():
        assert len(cell["test_top1_by_epoch"]) == 2 and cell["threads"] == 1
        assert 0.0 <= cell["maxboxacc"] <= 100.0 and 0.0 <= cell["pxap"] <= 100.0
        assert {"ood_auroc_backgrounds", "ood_auroc_gaussian", "ood_auroc_uniform"} <= set(cell)
        assert json.loads((out / f"{cell['method']}-s0" / "config.json").read_text())["threads"] == 1
    for method in ("vanilla", "cutmix"):
        assert printed["summary"][method]["maxboxacc"] == {"mean": cells[(method, 0)]["maxboxacc"], "std": 0.0, "n": 1}
    table = (tmp_path / "t.md").read_text().splitlines()
    assert table[0].startswith("| preset | n | cls top-1 | MaxBoxAcc |") and len(table) == 4
    assert table[2].startswith(f"| vanilla | 1 | {cells[('vanilla', 0)]['eval_top1']:.1f} ± 0.0 |")
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a second run reuses the trained cells (the model files are not rewritten; same numbers)
    written = {m: (out / f"{m}-s0" / "model.pt").stat().st_mtime_ns for m in ("vanilla", "cutmix")}
    assert bench.main(argv) == 0
    assert {m: (out / f"{m}-s0" / "model.pt").stat().st_mtime_ns for m in ("vanilla", "cutmix")} == written
    again = json.loads(capsys.readouterr().out)
    assert [c["maxboxacc"] for c in again["cells"]] == [c["maxboxacc"] for c in printed["cells"]]
