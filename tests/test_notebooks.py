"""The notebooks run top to bottom in smoke mode (``WSOL_SMOKE=1``: tiny data, seconds of training), and are
committed without outputs."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


def test_there_are_the_five_notebooks():
    assert [p.name for p in NOTEBOOKS] == ["01_cam_gallery.ipynb", "02_from_cam_to_box.ipynb",
                                           "03_mixing_and_cams.ipynb", "04_robustness_and_ood.ipynb",
                                           "05_your_dataset.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, f"{path.name}: a cell has outputs"
    first, last = nb["cells"][0], nb["cells"][-1]
    assert first["cell_type"] == "markdown" and "".join(first["source"]).startswith("# ")
    assert last["cell_type"] == "markdown" and "Where next" in "".join(last["source"])


def _execute(path: Path, cwd: Path):
    """Run a notebook headlessly in ``cwd``; a failing cell fails the test with that cell's source and error."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(cwd)}})
    try:
        client.execute()
    except CellExecutionError as e:
        failed = next((c for c in nb.cells if c.cell_type == "code" and any(
            o.get("output_type") == "error" for o in c.get("outputs", []))), None)
        source = failed.source if failed is not None else "?"
        pytest.fail(f"{path.name}: a cell failed\n--- cell ---\n{source}\n--- error ---\n{e}", pytrace=False)
    return nb


def test_a_failing_cell_is_reported_with_its_source(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    from nbformat.v4 import new_code_cell, new_notebook

    path = tmp_path / "broken.ipynb"
    nb = new_notebook(cells=[new_code_cell("x = 1"), new_code_cell("y = x / 0  # the failing cell")],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, path)
    with pytest.raises(pytest.fail.Exception) as info:
        _execute(path, tmp_path)
    message = str(info.value)
    assert "broken.ipynb: a cell failed" in message and "y = x / 0  # the failing cell" in message
    assert "ZeroDivisionError" in message


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_runs_top_to_bottom_in_smoke_mode(path, tmp_path, monkeypatch):
    monkeypatch.setenv("WSOL_SMOKE", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = _execute(path, tmp_path)
    images = sum(1 for c in nb.cells if c.cell_type == "code" for o in c.outputs
                 if "image/png" in o.get("data", {}))
    assert images >= 2, f"{path.name} showed {images} figures"
