"""``wsol score`` end to end on saved maps; the CLI gives the API's numbers."""
from __future__ import annotations

import json

import numpy as np
import pytest

from wsol.cli.main import main
from wsol.data.metadata import Metadata, write_metadata
from wsol.localization.engine import score_maps


@pytest.fixture
def saved(tmp_path):
    rng = np.random.default_rng(7)
    ids = [f"c{k % 3}/img_{k}.jpg" for k in range(12)]
    sizes = {i: (int(rng.integers(30, 90)), int(rng.integers(30, 90))) for i in ids}
    boxes = {}
    maps = {}
    for i in ids:
        w, h = sizes[i]
        x0, y0 = int(rng.integers(0, w // 2)), int(rng.integers(0, h // 2))
        boxes[i] = [(x0, y0, int(rng.integers(x0, w)), int(rng.integers(y0, h)))]
        yy, xx = np.mgrid[0:20, 0:24]
        cy, cx = rng.uniform(0, 20), rng.uniform(0, 24)
        m = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / rng.uniform(5, 60)) + rng.uniform(0, 0.05, (20, 24))
        maps[i] = (m / m.max()).astype(np.float32)
        path = tmp_path / "maps" / f"{i}.npy"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, maps[i])
    meta = Metadata(image_ids=ids, labels={i: int(i[1]) for i in ids}, sizes=sizes, boxes=boxes)
    write_metadata(meta, tmp_path / "meta")
    return tmp_path, meta, maps


def test_cli_matches_api(saved, capsys):
    root, meta, maps = saved
    preds = {i: [meta.labels[i], (meta.labels[i] + 1) % 3] if k % 2 else [(meta.labels[i] + 1) % 3]
             for k, i in enumerate(meta.image_ids)}
    (root / "preds.json").write_text(json.dumps(preds))
    code = main(["score", str(root / "maps"), "--metadata", str(root / "meta"), "--predictions",
                 str(root / "preds.json"), "--iou", "30", "50", "70", "90", "--out", str(root / "r.json"), "-q"])
    assert code == 0 and "MaxBoxAcc" in capsys.readouterr().out
    got = json.loads((root / "r.json").read_text())
    api = score_maps(((i, maps[i]) for i in meta.image_ids), meta, predictions=preds, iou_thresholds=[30, 50, 70, 90])
    for key in ("num_images", "maxboxacc", "maxboxacc_v2", "maxboxacc_by_iou", "box_acc_curve", "box_acc_curve_v1",
                "top1_loc", "top5_loc", "gt_known_loc", "top1_cls"):
        assert got[key] == api[key], key
    assert got["top1_cls"] == 50.0 and got["num_images"] == 12 and set(got["box_acc_curve"]) == {"30", "50", "70",
                                                                                                  "90"}


def test_cli_bad_map_is_one_line(saved, capsys):
    root, meta, _ = saved
    np.save(root / "maps" / f"{meta.image_ids[3]}.npy", np.full((4, 4), np.nan))
    assert main(["score", str(root / "maps"), "--metadata", str(root / "meta"), "--out", str(root / "r.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and meta.image_ids[3] in err and "Traceback" not in err
    assert not (root / "r.json").exists()
