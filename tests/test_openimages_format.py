"""Mask splits in wsolevaluation's released OpenImages format: an empty (or absent) image_sizes.txt, several mask
lines per image, the ignore path on the first line only (or empty); sizes then come from the mask files."""
from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

import wsol.api
from wsol.data.metadata import read_metadata
from wsol.errors import InputError
from wsol.localization.engine import score_directory

IMAGES = {  # id -> (width, height) of its mask files
    "val/02crq1/07d52ef70a8c3c5f.jpg": (48, 32),
    "val/02crq1/1a2b3c4d5e6f7a8b.jpg": (40, 40),
    "val/0k4j/0f1e2d3c4b5a6978.jpg": (36, 50),
}


def _released_split(root, *, sizes_file: str | None = ""):
    """The released layout: metadata/OpenImages/val/*.txt and masks under OpenImages/ (two instances for the first
    image, the ignore path only on its first line; no ignore mask for the last image)."""
    meta = root / "metadata" / "val"
    meta.mkdir(parents=True)
    masks = root / "OpenImages"
    rng = np.random.default_rng(0)
    ids = list(IMAGES)
    (meta / "image_ids.txt").write_text("".join(f"{i}\n" for i in ids))
    (meta / "class_labels.txt").write_text("".join(f"{i},{k // 2}\n" for k, i in enumerate(ids)))
    if sizes_file is not None:
        (meta / "image_sizes.txt").write_text(sizes_file)
    lines = []
    for k, (image_id, (w, h)) in enumerate(IMAGES.items()):
        stem = image_id[:-4]
        count = 2 if k == 0 else 1
        for j in range(count):
            m = np.zeros((h, w), np.uint8)
            y0, x0 = int(rng.integers(0, h // 2)), int(rng.integers(0, w // 2))
            m[y0:y0 + h // 3, x0:x0 + w // 3] = 255
            path = masks / f"{stem}_m{j}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(path), m)
            ignore = f"{stem}_ignore.png" if (j == 0 and k < 2) else ""
            lines.append(f"{image_id},{stem}_m{j}.png,{ignore}\n")
        if k < 2:
            ig = np.zeros((h, w), np.uint8)
            ig[:4, :] = 255
            cv2.imwrite(str(masks / f"{stem}_ignore.png"), ig)
    (meta / "localization.txt").write_text("".join(lines))
    maps = root / "maps"
    for image_id in ids:
        (maps / image_id).parent.mkdir(parents=True, exist_ok=True)
        np.save(maps / f"{image_id}.npy", rng.random((24, 24)))
    return meta, masks, maps


@pytest.mark.parametrize("sizes_file", ["", None], ids=["empty", "absent"])
def test_the_released_format_reads_and_scores_like_filled_in_sizes(tmp_path, sizes_file):
    meta, masks, maps = _released_split(tmp_path, sizes_file=sizes_file)
    m = read_metadata(meta)
    assert m.localization == "masks" and m.sizes == {}
    first = m.masks[list(IMAGES)[0]]
    assert len(first.mask_paths) == 2 and first.ignore_path.endswith("_ignore.png")
    assert m.masks[list(IMAGES)[2]].ignore_path is None
    released = score_directory(maps, meta, mask_root=masks)
    (meta / "image_sizes.txt").write_text("".join(f"{i},{w},{h}\n" for i, (w, h) in IMAGES.items()))
    filled = score_directory(maps, meta, mask_root=masks)
    assert released["pxap"] == filled["pxap"] and released["num_positive_pixels"] == filled["num_positive_pixels"]


def test_masks_of_one_image_must_agree(tmp_path):
    meta, masks, maps = _released_split(tmp_path)
    stem = list(IMAGES)[0][:-4]
    cv2.imwrite(str(masks / f"{stem}_m1.png"), np.zeros((10, 12), np.uint8))
    with pytest.raises(InputError) as info:
        score_directory(maps, meta, mask_root=masks)
    message = str(info.value)
    assert "_m1.png" in message and "_m0.png" in message and "'12x10'" in message and "48x32" in message
    assert "\n" not in message


def test_box_splits_still_need_image_sizes(tmp_path):
    meta = tmp_path / "boxes"
    meta.mkdir()
    (meta / "image_ids.txt").write_text("a.jpg\n")
    (meta / "class_labels.txt").write_text("a.jpg,0\n")
    (meta / "localization.txt").write_text("a.jpg,1,1,5,5\n")
    with pytest.raises(InputError, match="image_sizes.txt: missing metadata file"):
        read_metadata(meta)
    (meta / "image_sizes.txt").write_text("")
    with pytest.raises(InputError, match="image id missing from image_sizes.txt"):
        read_metadata(meta)
    (meta / "localization.txt").unlink()  # a training split without sizes: wsolevaluation's OpenImages train split
    assert read_metadata(meta).sizes == {}
    (meta / "image_sizes.txt").unlink()
    assert read_metadata(meta).localization is None


def test_evaluate_pxap_on_a_mask_split_without_sizes(tiny_digits, tmp_path):
    run = tmp_path / "run"
    wsol.api.train("digits-vanilla", run, overrides=[f"data={tiny_digits}", "image_size=32", "batch_size=16",
                                                     "epochs=1", "max_steps_per_epoch=2"])
    split = tiny_digits / "metadata" / "test_masks"
    copy = tmp_path / "test_masks"
    shutil.copytree(split, copy)
    (copy / "image_sizes.txt").write_text("")
    from wsol.data.datasets import recorded_roots

    images, masks = recorded_roots(split)
    a = wsol.api.evaluate_checkpoint(run / "model.pt", split, workers=0, device="cpu")
    b = wsol.api.evaluate_checkpoint(run / "model.pt", copy, images=images, mask_root=masks, workers=0, device="cpu")
    assert a["pxap"] == b["pxap"] and a["num_positive_pixels"] == b["num_positive_pixels"]


def test_prepare_check_accepts_the_released_format(tmp_path, capsys):
    from wsol.cli.main import main

    meta, _, _ = _released_split(tmp_path)
    assert main(["prepare", "--check", str(meta.parent)]) == 0
    (meta / "localization.txt").write_text((meta / "localization.txt").read_text().replace(
        "_m1.png,\n", "_m1.png,val/02crq1/07d52ef70a8c3c5f_ignore.png\n"))
    capsys.readouterr()
    assert main(["prepare", "--check", str(meta.parent)]) == 1
    captured = capsys.readouterr()
    assert "1 problem(s)" in captured.out and "localization.txt:2: ignore path given again" in captured.err


def test_check_mask_files_against_the_mask_root(tmp_path, capsys):
    from wsol.cli.main import main
    from wsol.data.prepare import check_mask_files

    meta, masks, _ = _released_split(tmp_path)
    assert check_mask_files(meta, masks) == []
    stem_a, stem_b = list(IMAGES)[0][:-4], list(IMAGES)[1][:-4]
    cv2.imwrite(str(masks / f"{stem_a}_ignore.png"), np.zeros((7, 9), np.uint8))  # line 1: 9x7 beside 48x32
    (masks / f"{stem_a}_m1.png").unlink()  # line 2
    (masks / f"{stem_b}_m0.png").write_bytes(b"not an image")  # line 3
    loc = meta / "localization.txt"
    assert [str(p) for p in check_mask_files(meta, masks)] == [
        f"{loc}:1: mask is 9x7 but the image's first mask {stem_a}_m0.png is 48x32 ('{stem_a}_ignore.png')",
        f"{loc}:2: mask file missing ('{stem_a}_m1.png')",
        f"{loc}:3: unreadable mask ('{stem_b}_m0.png')",
    ]
    assert main(["prepare", "--check", str(meta.parent), "--mask-root", str(masks)]) == 1
    err = capsys.readouterr().err
    assert "localization.txt:2: mask file missing" in err and "localization.txt:3: unreadable mask" in err


def _pxap_from_the_definition(maps, meta, masks, interval):
    """wsolevaluation's PxAP written out from its definition, independently of wsol's mask and PxAP code: each mask
    file read as 8-bit grey with OpenCV, resized to the map with nearest neighbour, ``> 0.5``; instances united; the
    ignore region is the ignore file minus the foreground; histograms of the raw scores of foreground and background
    pixels over ``arange(0, 1, interval)`` plus the edges 1, 2, 3; precision / recall from the top bin down."""
    lines = [line.split(",") for line in (meta / "localization.txt").read_text().splitlines()]
    edges = list(np.arange(0, 1, interval)) + [1.0, 2.0, 3.0]
    true_hist = np.zeros(len(edges) - 1)
    false_hist = np.zeros(len(edges) - 1)
    for image_id in (meta / "image_ids.txt").read_text().split():
        score = np.load(maps / f"{image_id}.npy")
        h, w = score.shape

        def read(rel):
            grey = cv2.imread(str(masks / rel), cv2.IMREAD_GRAYSCALE)
            return cv2.resize(grey, (w, h), interpolation=cv2.INTER_NEAREST) > 0.5

        mine = [(m, ig) for i, m, ig in lines if i == image_id]
        fg = np.zeros((h, w), bool)
        for rel, _ in mine:
            fg |= read(rel)
        ignore = read(mine[0][1]) & ~fg if mine[0][1] else np.zeros((h, w), bool)
        true_hist += np.histogram(score[fg], bins=edges)[0]
        false_hist += np.histogram(score[~fg & ~ignore], bins=edges)[0]
    tp = np.cumsum(true_hist[::-1])
    fp = np.cumsum(false_hist[::-1])
    fn = true_hist.sum() - tp
    seen = (tp + fp) != 0
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = tp / (tp + fp)
    recall = tp / (tp + fn)
    return float((precision[1:] * np.diff(recall))[seen[1:]].sum() * 100)


@pytest.mark.parametrize("interval", [None, 0.01], ids=["default-0.001", "0.01"])
def test_pxap_equals_the_definition_for_masks_of_several_sizes(tmp_path, interval):
    """Masks of 48x32, 40x40 and 36x50 against 24x24 maps, two instances, an image without an ignore file, a soft
    mask value (1 of 255 is foreground); the default grid is wsolevaluation's main.py one, 0.001."""
    meta, masks, maps = _released_split(tmp_path)
    stem = list(IMAGES)[1][:-4]
    soft = cv2.imread(str(masks / f"{stem}_m0.png"), cv2.IMREAD_GRAYSCALE)
    soft[-6:, -6:] = 1
    cv2.imwrite(str(masks / f"{stem}_m0.png"), soft)
    kw = {} if interval is None else {"interval": interval}
    out = score_directory(maps, meta, mask_root=masks, **kw)
    assert out["interval"] == (interval or 0.001)
    assert out["pxap"] == pytest.approx(_pxap_from_the_definition(maps, meta, masks, interval or 0.001), abs=1e-9)
