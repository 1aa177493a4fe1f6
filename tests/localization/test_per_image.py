"""Per-image files: every headline number recomputed from them equals the evaluation's, and weights act as
resampled images."""
from __future__ import annotations

import numpy as np
import pytest

import wsol.api
from wsol.cli.main import main
from wsol.errors import InputError
from wsol.localization.per_image import box_acc, box_metrics, mask_metrics, read_per_image, write_per_image


@pytest.fixture(scope="module")
def model_pt(tiny_digits, tmp_path_factory):
    run = tmp_path_factory.mktemp("per_image") / "run"
    wsol.api.train("digits-vanilla", run, overrides=[f"data={tiny_digits}", "image_size=32", "batch_size=16",
                                                     "epochs=1", "max_steps_per_epoch=6"])
    return run / "model.pt"


@pytest.mark.parametrize("protocol", ["wsolevaluation", "cutmix"])
def test_box_metrics_from_the_file_equal_the_evaluation(model_pt, tiny_digits, tmp_path, protocol):
    meta = tiny_digits / "metadata"
    path = tmp_path / "p.npz"
    r = wsol.api.evaluate_checkpoint(model_pt, meta / "test", calibrate_on=meta / "train_fullsup", per_image=path,
                                     protocol=protocol, workers=0, score_threads=2, batch_size=7, device="cpu")
    assert r["per_image"] == str(path)
    d = read_per_image(path)
    assert d["kind"] == "boxes" and d["info"]["checkpoint_sha256"] == r["checkpoint_sha256"]
    assert list(d["image_ids"]) == (meta / "test" / "image_ids.txt").read_text().split()  # split order
    m = {k: float(v[0]) for k, v in box_metrics(d).items()}
    for key in ("maxboxacc", "maxboxacc_v2", "gt_known_loc", "top1_cls", "top5_cls", "top1_loc"):
        assert m[key] == r[key], key  # bit for bit
    assert m["gt_known_loc_calibrated"] == r["calibrated"]["gt_known_loc"]
    assert m["top1_loc_calibrated"] == r["calibrated"]["top1_loc"]
    assert float(d["box_threshold"]) == r["calibrated"]["threshold_v1"]
    curve = box_acc(d, iou=50, all_contours=True)[0]
    assert curve.tolist() == r["box_acc_curve"]["50"]
    # the kept box is the calibrated tau's largest-region box: its IoU decides the calibrated GT-known hit
    assert np.mean(d["box_iou"] >= 0.5) * 100 == pytest.approx(r["calibrated"]["gt_known_loc"])


def test_mask_pxap_from_the_file(model_pt, tiny_digits, tmp_path):
    path = tmp_path / "m.npz"
    r = wsol.api.evaluate_checkpoint(model_pt, tiny_digits / "metadata" / "test_masks", per_image=path, workers=0,
                                     device="cpu")
    d = read_per_image(path)
    assert d["kind"] == "masks" and float(mask_metrics(d)["pxap"][0]) == r["pxap"]
    assert d["pos_hist"].sum() == r["num_positive_pixels"]


def _synthetic() -> dict:
    # 3 images, 4 taus, IoU thresholds 30/50/70; image 0 correct at taus 1-2, image 1 at tau 2 only, image 2 never
    hits = np.zeros((3, 3, 4), dtype=bool)
    hits[0, :, 1:3] = True
    hits[1, :2, 2] = True
    return {"hits_v1": hits, "hits_all": hits, "ious": np.array([30, 50, 70]), "loc_iou": np.int64(50),
            "fixed_iou": np.array([0.6, 0.2, 0.5]), "calibrated_index": np.int64(1),
            "thresholds": np.array([0.0, 0.25, 0.5, 0.75]), "top5": np.array([[1, 2], [0, 1], [2, 0]]),
            "labels": np.array([1, 1, 2])}


def test_box_metrics_by_hand_and_weights_are_repeated_images():
    d = _synthetic()
    m = box_metrics(d)
    assert m["maxboxacc"][0] == 200 / 3  # tau 2: images 0 and 1
    assert m["maxboxacc_v2"][0] == pytest.approx((200 / 3 + 200 / 3 + 100 / 3) / 3)
    assert m["gt_known_loc"][0] == 200 / 3  # fixed IoUs 0.6 and 0.5 reach 0.5
    assert m["gt_known_loc_calibrated"][0] == 100 / 3  # tau 1: image 0 only
    assert m["top1_cls"][0] == 200 / 3 and m["top5_cls"][0] == 100.0
    assert m["top1_loc"][0] == 200 / 3  # images 0 (class 1, IoU 0.6) and 2 (class 2, IoU 0.5)
    w = np.array([[2.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    weighted = box_metrics(d, w)
    repeated = {k: np.repeat(v, [2, 0, 1], axis=0) if k in ("hits_v1", "hits_all", "fixed_iou", "top5", "labels")
                else v for k, v in d.items()}
    for key, values in box_metrics(repeated).items():
        assert weighted[key][0] == pytest.approx(values[0]), key
        assert weighted[key][1] == m[key][0], key


def test_read_errors_are_one_line(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_per_image(tmp_path / "none.npz")
    (tmp_path / "bad.npz").write_text("text")
    with pytest.raises(InputError, match="not a readable per-image file"):
        read_per_image(tmp_path / "bad.npz")
    write_per_image(tmp_path / "odd.npz", {"kind": np.array("boxes"), "labels": np.zeros(2)}, info={})
    with pytest.raises(InputError, match="lacks image_ids"):
        read_per_image(tmp_path / "odd.npz")


def test_cli_per_image_and_the_shard_refusal(model_pt, tiny_digits, tmp_path, capsys):
    test = tiny_digits / "metadata" / "test"
    out = tmp_path / "p.npz"
    assert main(["evaluate", str(model_pt), "--metadata", str(test), "--per-image", str(out), "--out",
                 str(tmp_path / "r.json"), "--workers", "0", "--device", "cpu", "-q"]) == 0
    assert read_per_image(out)["box"].shape == (40, 4)
    capsys.readouterr()
    assert main(["evaluate", str(model_pt), "--metadata", str(test), "--per-image", str(out), "--shard", "0/2",
                 "--out", str(tmp_path / "s.json"), "--workers", "0", "--device", "cpu", "-q"]) == 2
    assert "--per-image needs the whole split" in capsys.readouterr().err


def test_gallery_indices_by_hand():
    from wsol.localization.per_image import gallery_indices

    d = {"kind": "boxes", "box_iou": np.array([0.2, 0.9, 0.5, 0.9, 0.0])}
    g = gallery_indices(d, count=2, seed=0)
    assert g["best"] == [1, 3] and g["worst"] == [4, 0]  # ties in split order
    assert len(g["random"]) == 2 and g["random"] == sorted(set(g["random"]))
    assert gallery_indices(d, count=2, seed=0) == g and gallery_indices(d, count=9)["best"] == [1, 3, 2, 0, 4]
    with pytest.raises(ValueError):
        gallery_indices({"kind": "other"}, count=2)
    # a mask split ranks by each image's own PxAP; bins [0, .5) [.5, 1) [1, 2) [2, 3]
    from wsol.localization.per_image import image_scores

    m = {"kind": "masks", "pos_hist": np.array([[0, 2, 0, 0], [2, 0, 0, 0], [0, 0, 0, 0]]),
         "neg_hist": np.array([[2, 0, 0, 0], [0, 2, 0, 0], [1, 3, 0, 0]])}
    # image 0 separates perfectly (AP 100); image 1 has its positives below its negatives: from the top bin down
    # the first counted point has precision 0 / 2 at recall 0, the last 2 / 4 at recall 1, so AP = 0.5 * 1 = 50;
    # image 2 has no foreground pixel (no AP: never best or worst, may be drawn at random)
    np.testing.assert_array_equal(image_scores(m), [100.0, 50.0, np.nan])
    g = gallery_indices(m, count=3, seed=0)
    assert g["best"] == [0, 1] and g["worst"] == [1, 0] and g["random"] == [0, 1, 2]


def test_cam_gallery_boxes_equal_the_per_image_file(model_pt, tiny_digits, tmp_path):
    meta = tiny_digits / "metadata"
    path = tmp_path / "p.npz"
    wsol.api.evaluate_checkpoint(model_pt, meta / "test", calibrate_on=meta / "train_fullsup", per_image=path,
                                 workers=0, device="cpu")
    d = read_per_image(path)
    g = wsol.api.cam_gallery(model_pt, meta / "test", path, count=3, device="cpu")
    assert g["threshold"] == float(d["box_threshold"])
    for name in ("best", "worst", "random"):
        group = g[name]
        assert len(group["images"]) == 3 and group["images"].dtype == np.uint8
        for k, i in enumerate(group["indices"]):
            assert group["pred_boxes"][k] == d["box"][i].tolist()  # the same pipeline, the same box
            assert group["iou"][k] == d["box_iou"][i] and group["labels"][k] == d["labels"][i]
    assert min(g["best"]["iou"]) >= max(g["worst"]["iou"])
    other = tmp_path / "other.npz"
    wsol.api.evaluate_checkpoint(model_pt, meta / "train_fullsup", per_image=other, workers=0, device="cpu")
    with pytest.raises(InputError, match="other images"):
        wsol.api.cam_gallery(model_pt, meta / "test", other, device="cpu")


def test_cli_figures_writes_the_gallery_and_curves(model_pt, tiny_digits, tmp_path, capsys):
    import json

    meta = tiny_digits / "metadata"
    out = tmp_path / "r.json"
    figs = tmp_path / "figs"
    assert main(["evaluate", str(model_pt), "--metadata", str(meta / "test"), "--calibrate-on",
                 str(meta / "train_fullsup"), "--figures", str(figs), "--gallery-size", "4", "--out", str(out),
                 "--workers", "0", "--device", "cpu", "-q"]) == 0
    written = json.loads(out.read_text())
    assert written["figures"] == {"gallery": str(figs / "gallery.png"), "box_acc": str(figs / "box_acc.png")}
    for name in ("gallery.png", "box_acc.png"):
        assert (figs / name).read_bytes().startswith(b"\x89PNG")
    assert written["per_image"] == str(figs / "per_image.npz")
    # a mask split: the gallery (mask outlines, each image's AP) and the PR curve instead of BoxAcc against tau
    assert main(["evaluate", str(model_pt), "--metadata", str(meta / "test_masks"), "--figures", str(figs / "m"),
                 "--out", str(tmp_path / "m.json"), "--workers", "0", "--device", "cpu", "-q"]) == 0
    written = json.loads((tmp_path / "m.json").read_text())
    assert written["figures"] == {"gallery": str(figs / "m" / "gallery.png"),
                                  "pr_curve": str(figs / "m" / "pr_curve.png")}
    for name in ("gallery.png", "pr_curve.png"):
        assert (figs / "m" / name).read_bytes().startswith(b"\x89PNG")
    capsys.readouterr()
    (tmp_path / "plain").mkdir()
    for name in ("image_ids.txt", "class_labels.txt"):  # a split without localization
        (tmp_path / "plain" / name).write_text((meta / "test" / name).read_text())
    assert main(["evaluate", str(model_pt), "--metadata", str(tmp_path / "plain"), "--figures", str(figs / "p"),
                 "--out", str(tmp_path / "p.json"), "--workers", "0", "--device", "cpu", "-q"]) == 2
    assert "--figures needs a split with boxes or masks" in capsys.readouterr().err
    assert not (tmp_path / "p.json").exists()
