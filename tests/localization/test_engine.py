"""The directory engine: results, workers, calibration, masks and every bad input reported as one line."""
import json
import re

import cv2
import numpy as np
import pytest

from wsol.data.metadata import MaskAnnotation, Metadata, write_metadata
from wsol.errors import InputError
from wsol.localization.engine import score_directory, score_maps


def _split(tmp_path, name, count, seed):
    from synthetic_maps import random_boxes, smooth_map
    rng = np.random.default_rng(seed)
    ids = [f"cls{i % 3}/img_{i}.jpg" for i in range(count)]
    sizes = {i: (int(rng.integers(30, 90)), int(rng.integers(30, 90))) for i in ids}
    meta = Metadata(image_ids=ids, labels={i: int(rng.integers(0, 4)) for i in ids}, sizes=sizes,
                    boxes={i: random_boxes(rng, *sizes[i], int(rng.integers(1, 3))) for i in ids})
    write_metadata(meta, tmp_path / "meta" / name)
    maps = tmp_path / "maps" / name
    for i in ids:
        (maps / i).parent.mkdir(parents=True, exist_ok=True)
        np.save(maps / f"{i}.npy", smooth_map(rng, 28, 28).astype(np.float32))
    preds = {i: [int(c) for c in rng.permutation(5)] for i in ids}
    (tmp_path / f"{name}_preds.json").write_text(json.dumps(preds))
    return meta, maps


def test_directory_scoring_workers_and_calibration(tmp_path):
    meta, maps = _split(tmp_path, "test", 24, 0)
    _, cal_maps = _split(tmp_path, "train_fullsup", 12, 1)
    kw = dict(predictions=tmp_path / "test_preds.json",
              calibrate_on=(cal_maps, tmp_path / "meta" / "train_fullsup"))
    one = score_directory(maps, tmp_path / "meta" / "test", **kw)
    two = score_directory(maps, tmp_path / "meta" / "test", workers=2, **kw)
    for r in (one, two):
        r.pop("timing")
    assert one == two
    assert one["num_images"] == 24 and one["protocol"] == "wsolevaluation"
    for key in ("maxboxacc", "maxboxacc_v2", "maxboxacc_by_iou", "maxboxacc_v1_by_iou", "best_threshold_by_iou",
                "box_acc_curve", "box_acc_curve_v1", "top1_loc", "top5_loc", "gt_known_loc", "top1_cls",
                "top5_cls", "calibrated"):
        assert key in one
    assert set(one["box_acc_curve"]) == {"30", "50", "70"} and len(one["box_acc_curve"]["50"]) == 1000  # 0.001
    json.dumps(one)
    # the in-memory engine gives the same numbers
    items = [(i, np.load(maps / f"{i}.npy")) for i in meta.image_ids]
    mem = score_maps(items, meta, predictions=json.loads((tmp_path / "test_preds.json").read_text()))
    mem.pop("timing")
    assert mem == {k: v for k, v in one.items() if k not in ("calibrated", "scoremap_dir", "metadata")}


def test_per_image_results(tmp_path):
    meta, maps = _split(tmp_path, "test", 4, 2)
    out = score_directory(maps, meta, interval=0.1, per_image=True)
    assert list(out["per_image"]) == meta.image_ids
    first = out["per_image"][meta.image_ids[0]]
    assert len(first["v1_box"]) == 10 and len(first["all_iou"]) == 10


def test_masks_pxap(tmp_path):
    rng = np.random.default_rng(5)
    ids = ["a/1.jpg", "b/2.jpg"]
    sizes = {"a/1.jpg": (40, 30), "b/2.jpg": (50, 20)}
    meta = Metadata(image_ids=ids, labels={i: 0 for i in ids}, sizes=sizes,
                    masks={i: MaskAnnotation((f"{i}.mask.png",), f"{i}.ignore.png") for i in ids})
    for i in ids:
        w, h = sizes[i]
        (tmp_path / "masks" / i).parent.mkdir(parents=True, exist_ok=True)
        m = np.zeros((h, w), np.uint8)
        m[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = 255
        cv2.imwrite(str(tmp_path / "masks" / f"{i}.mask.png"), m)
        cv2.imwrite(str(tmp_path / "masks" / f"{i}.ignore.png"), np.zeros((h, w), np.uint8))
        (tmp_path / "maps" / i).parent.mkdir(parents=True, exist_ok=True)
        np.save(tmp_path / "maps" / f"{i}.npy", rng.random((16, 16)))
    out = score_directory(tmp_path / "maps", meta, mask_root=tmp_path / "masks")
    assert 0 < out["pxap"] <= 100 and "pr_curve" in out
    # a mask of the wrong size
    cv2.imwrite(str(tmp_path / "masks" / "b/2.jpg.mask.png"), np.zeros((5, 5), np.uint8))
    with pytest.raises(InputError, match=r"2\.jpg\.mask\.png.*mask size.*'5x5'"):
        score_directory(tmp_path / "maps", meta, mask_root=tmp_path / "masks")


@pytest.mark.parametrize("bad, what, value", [
    (np.full((8, 8), np.nan), "NaN", "nan"),
    (np.full((8, 8), 1.5), "in \\[0, 1\\]", "1.5"),
    (np.full((8, 8), -0.25), "in \\[0, 1\\]", "-0.25"),
    (np.zeros((2, 8, 8)), "2-D", "(2, 8, 8)"),
])
def test_bad_maps(tmp_path, bad, what, value):
    meta, maps = _split(tmp_path, "test", 3, 3)
    np.save(maps / f"{meta.image_ids[1]}.npy", bad)
    with pytest.raises(InputError) as info:
        score_directory(maps, meta)
    msg = str(info.value)
    assert "\n" not in msg and f"{meta.image_ids[1]}.npy" in msg
    assert value in msg
    assert re.search(what, msg)


def test_missing_and_unknown_maps(tmp_path):
    meta, maps = _split(tmp_path, "test", 3, 4)
    (maps / f"{meta.image_ids[0]}.npy").unlink()
    with pytest.raises(InputError, match=r"missing score map.*cls0/img_0\.jpg"):
        score_directory(maps, meta)
    np.save(maps / f"{meta.image_ids[0]}.npy", np.zeros((4, 4)))
    (maps / "cls9").mkdir()
    np.save(maps / "cls9" / "stray.jpg.npy", np.zeros((4, 4)))
    with pytest.raises(InputError, match=r"stray\.jpg\.npy.*not in the split.*cls9/stray\.jpg"):
        score_directory(maps, meta)


def test_empty_split_and_missing_prediction(tmp_path):
    meta, maps = _split(tmp_path, "test", 3, 5)
    empty = Metadata(image_ids=[], labels={}, sizes={}, boxes={})
    with pytest.raises(InputError, match="empty split"):
        score_directory(maps, empty)
    preds = tmp_path / "p.json"
    preds.write_text(json.dumps({meta.image_ids[0]: [1, 2]}))
    with pytest.raises(InputError, match=r"p\.json.*no prediction.*img_1"):
        score_directory(maps, meta, predictions=preds)
    preds.write_text(json.dumps({i: ["x"] for i in meta.image_ids}))
    with pytest.raises(InputError, match=r"p\.json.*class indices"):
        score_directory(maps, meta, predictions=preds)
