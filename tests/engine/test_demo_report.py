"""`wsol demo --tiny` end to end, model reuse, and the report helpers."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from wsol.cli.main import main
from wsol.report import band_lines_png, box_acc_curves_png, cam_grid_png, curve_band, format_number, markdown_table


def test_demo_tiny_writes_a_report_and_reuses_models(tmp_path, capsys):
    out, data = tmp_path / "runs", tmp_path / "digits"
    assert main(["demo", "--tiny", "--out", str(out), "--data", str(data), "-q", "--device", "cpu",
                 "--threads", "1"]) == 0
    printed = capsys.readouterr().out
    assert "report:" in printed
    header, rule, *rows = printed.splitlines()[:4]
    assert header.split()[:4] == ["model", "cls", "top-1", "MaxBoxAcc"] and "Top-1 Loc τ=0.2" in header
    assert "FGSM 8/255" in header and "OOD AUROC" in header and set(rule) == {"-"}
    assert [r.split()[0] for r in rows] == ["vanilla", "cutmix"]
    report = (out / "report.md").read_text()
    assert "| vanilla |" in report and "| cutmix |" in report and "Tiny smoke run" in report
    assert "GT-known Loc (τ = 0.2)" in report and "GT-known Loc (τ*)" in report and "Top-1 Loc (τ*)" in report
    assert "## Reproducibility" in report and '"vanilla": 1' in report  # the training threads, recorded
    for png in ("cams.png", "box_acc_curves.png", "pr_curves.png"):
        with Image.open(out / png) as im:
            assert im.format == "PNG" and im.size[0] > 100
    assert "![PR curves](pr_curves.png)" in report  # mask results rendered like the box results
    results = json.loads((out / "cutmix" / "evaluation.json").read_text())
    assert {"maxboxacc", "maxboxacc_v2", "top1_loc", "gt_known_loc", "pxap", "pr_curve", "calibrated"} <= set(results)
    assert f"cutmix {results['pxap']:.1f}" in report
    stamp = (out / "vanilla" / "model.pt").stat().st_mtime_ns
    assert main(["demo", "--tiny", "--out", str(out), "--data", str(data), "-q", "--device", "cpu"]) == 0
    assert (out / "vanilla" / "model.pt").stat().st_mtime_ns == stamp  # cached model reused
    assert main(["demo", "--tiny", "--out", str(out), "--data", str(data), "-q", "--device", "cpu", "--fresh"]) == 0
    assert (out / "vanilla" / "model.pt").stat().st_mtime_ns != stamp


def test_markdown_table():
    text = markdown_table(["a", "b"], [["x", 1.234], ["y", None], ["z", 3]])
    assert text.splitlines() == ["| a | b |", "| --- | ---: |", "| x | 1.23 |", "| y | – |", "| z | 3 |"]
    assert format_number(float("nan")) == "–"
    with pytest.raises(ValueError, match="has 1 cells for 2 columns"):
        markdown_table(["a", "b"], [["x"]])


def test_figures_are_png_bytes():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (2, 16, 20, 3), dtype=np.uint8)
    png = cam_grid_png(images, {"m": rng.random((2, 16, 20))}, gt_boxes=[np.array([[1, 1, 5, 5]])] * 2,
                       pred_boxes={"m": [[0, 0, 3, 3], [2, 2, 9, 9]]}, titles=["a", "b"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    curve = box_acc_curves_png({"m": (np.arange(0, 1, 0.1), np.linspace(0, 90, 10))}, title="t")
    assert curve[:8] == b"\x89PNG\r\n\x1a\n"
    band = band_lines_png({"a": [[1.0, 2.0], [3.0, 4.0]], "b": [[5.0, 5.0]]}, xlabel="epoch", ylabel="acc")
    assert band[:8] == b"\x89PNG\r\n\x1a\n"


def test_curve_band_by_hand():
    mean, low, high = curve_band([[1.0, 4.0, 2.0], [3.0, 0.0, 2.0], [5.0, 2.0, 2.0]])
    np.testing.assert_array_equal(mean, [3.0, 2.0, 2.0])
    np.testing.assert_array_equal(low, [1.0, 0.0, 2.0])
    np.testing.assert_array_equal(high, [5.0, 4.0, 2.0])
    for bad in ([], [[1.0, 2.0], [1.0]], [[]]):
        with pytest.raises(ValueError, match="one length"):
            curve_band(bad)


@pytest.mark.slow
def test_full_demo_trains_models_that_classify_and_localize(tmp_path):
    """The demo's models classify (>= 94 %) and localize: MaxBoxAcc and GT-known Loc at the fixed threshold far above
    the 8x8-CAM model's 15 and 0. The floors sit well below the 3-seed means of the presets (README: The embedded
    benchmark) so that another CPU's bits do not fail them; the exact values are in the README, not here."""
    out = tmp_path / "runs"
    assert main(["demo", "--out", str(out), "--data", str(tmp_path / "digits"), "-q", "--device", "cpu"]) == 0
    for method in ("vanilla", "cutmix"):
        results = json.loads((out / method / "evaluation.json").read_text())
        assert results["num_images"] == 1000 and results["top1_cls"] >= 94.0
        assert results["maxboxacc"] >= 40.0 and results["maxboxacc_v2"] >= 45.0 and results["gt_known_loc"] >= 15.0
        assert results["pxap"] >= 38.0
