"""CUB-200-2011 conversion on a fixture written in the official layout."""
from __future__ import annotations

import json
import os

import pytest

from fixtures_data import CUB_IMAGES, write_cub
from wsol.cli.main import main
from wsol.data.cub import prepare_cub
from wsol.data.metadata import check_metadata, read_metadata
from wsol.data.prepare import write_prepared
from wsol.errors import InputError


def test_splits_labels_boxes(cub_root):
    prepared = prepare_cub(cub_root)
    assert prepared.class_names == ["001.Alpha", "002.Beta"]
    train, test = prepared.splits["train"].metadata, prepared.splits["test"].metadata
    assert list(prepared.splits) == ["train", "test"]
    assert train.image_ids == ["001.Alpha/Alpha_0001.jpg", "001.Alpha/Alpha_0003.jpg", "002.Beta/Beta_0002.jpg",
                               "002.Beta/Beta_0003.jpg"]
    assert test.image_ids == ["001.Alpha/Alpha_0002.jpg", "002.Beta/Beta_0001.jpg"]
    assert train.labels["002.Beta/Beta_0002.jpg"] == 1 and test.labels["001.Alpha/Alpha_0002.jpg"] == 0
    # (int(x), int(y), int(x + w), int(y + h)), hand-computed from the float boxes of the fixture
    assert train.boxes["001.Alpha/Alpha_0001.jpg"] == [(10, 5, 30, 35)]
    assert train.boxes["001.Alpha/Alpha_0003.jpg"] == [(3, 4, 14, 15)]  # 3.7+10.9=14.6, 4.2+11.1=15.3
    assert train.boxes["002.Beta/Beta_0003.jpg"] == [(30, 10, 50, 30)]  # 30.2+19.8=50.0 (float) -> 50
    assert test.boxes["001.Alpha/Alpha_0002.jpg"] == [(0, 0, 59, 47)]
    # sizes from the image headers (width, height)
    assert train.sizes["001.Alpha/Alpha_0003.jpg"] == (40, 50)
    assert prepared.splits["train"].image_root == cub_root / "images"


def test_write_and_read_back(cub_root, tmp_path):
    prepared = prepare_cub(cub_root)
    info = write_prepared(prepared, tmp_path / "meta")
    for name, split in prepared.splits.items():
        assert read_metadata(tmp_path / "meta" / name, num_classes=2) == split.metadata
        assert check_metadata(tmp_path / "meta" / name) == []
    stored = json.loads((tmp_path / "meta" / "dataset.json").read_text())
    assert stored == info and stored["splits"]["test"]["num_images"] == 2 and stored["skipped_images"] == 0
    assert (tmp_path / "meta" / "class_names.txt").read_text() == "0,001.Alpha\n1,002.Beta\n"


def test_fullsup_per_class_is_carved_deterministically(cub_root):
    a = prepare_cub(cub_root, fullsup_per_class=1, seed=3)
    b = prepare_cub(cub_root, fullsup_per_class=1, seed=3)
    full, train = a.splits["train_fullsup"].metadata, a.splits["train"].metadata
    assert full == b.splits["train_fullsup"].metadata
    assert sorted(full.labels.values()) == [0, 1]  # one per class
    assert not set(full.image_ids) & set(train.image_ids)
    assert len(full) + len(train) == 4
    assert any("deviates" in n for n in a.notes)


def test_fullsup_folder(cub_root, tmp_path):
    full_root = tmp_path / "fullsup"
    images = [("001.Alpha/x.jpg", 1, 1, ("1.0", "2.0", "3.0", "4.0"), (20, 20)),
              ("002.Beta/y.jpg", 2, 1, ("0.0", "0.0", "19.0", "9.0"), (20, 10))]
    write_cub(full_root, images)
    os.remove(full_root / "train_test_split.txt")
    os.remove(full_root / "classes.txt")
    prepared = prepare_cub(cub_root, fullsup_root=full_root)
    full = prepared.splits["train_fullsup"].metadata
    assert full.image_ids == ["001.Alpha/x.jpg", "002.Beta/y.jpg"]
    assert full.boxes["002.Beta/y.jpg"] == [(0, 0, 19, 9)] and full.labels["002.Beta/y.jpg"] == 1
    assert prepared.splits["train_fullsup"].image_root == full_root / "images"
    assert list(prepared.splits) == ["train", "train_fullsup", "test"]


def test_segmentations_give_mask_split(tmp_path):
    root = write_cub(tmp_path / "CUB", segmentations=True)
    prepared = prepare_cub(root)
    masks = prepared.splits["test_masks"]
    assert masks.mask_root == root
    assert masks.metadata.image_ids == prepared.splits["test"].metadata.image_ids
    ann = masks.metadata.masks["002.Beta/Beta_0001.jpg"]
    assert ann.mask_paths == ("segmentations/002.Beta/Beta_0001.png",) and ann.ignore_path is None
    write_prepared(prepared, tmp_path / "meta")
    assert read_metadata(tmp_path / "meta" / "test_masks").masks == masks.metadata.masks


def _rewrite(root, name, old, new):
    path = root / name
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


@pytest.mark.parametrize("name,old,new,fragment", [
    ("images.txt", "2 001.Alpha/Alpha_0002.jpg", "2 ../outside.jpg", "images.txt:2: image id climbs out"),
    ("images.txt", "2 001.Alpha/Alpha_0002.jpg", "2", "images.txt:2: expected 2 fields"),
    ("images.txt", "2 001.Alpha/Alpha_0002.jpg", "two 001.Alpha/Alpha_0002.jpg",
     "images.txt:2: image id is not an integer ('two')"),
    ("images.txt", "3 001.Alpha/Alpha_0003.jpg", "2 001.Alpha/Alpha_0003.jpg", "images.txt:3: duplicate image id"),
    ("image_class_labels.txt", "4 2", "4 3", "image_class_labels.txt:4: class id out of range 1..2 (3)"),
    ("image_class_labels.txt", "4 2", "4 0", "image_class_labels.txt:4: class id out of range 1..2 (0)"),
    ("image_class_labels.txt", "4 2\n", "", "images.txt:4: image id has no class label"),
    ("train_test_split.txt", "3 1", "3 2", "train_test_split.txt:3: split must be 1 (train) or 0 (test) ('2')"),
    ("bounding_boxes.txt", "5 1.0 1.0 1.0 1.0", "5 1.0 1.0 abc 1.0",
     "bounding_boxes.txt:5: width is not a number ('abc')"),
    ("bounding_boxes.txt", "5 1.0 1.0 1.0 1.0", "5 1.0 1.0 -1.0 1.0", "bounding_boxes.txt:5: negative box"),
    ("bounding_boxes.txt", "5 1.0 1.0 1.0 1.0", "5 1.0 1.0 40.0 1.0",
     "bounding_boxes.txt:5: box outside the 32x32 image"),
    ("bounding_boxes.txt", "5 1.0 1.0 1.0 1.0", "7 1.0 1.0 1.0 1.0", "bounding_boxes.txt:5: image id not in"),
    ("classes.txt", "2 002.Beta", "3 002.Beta", "classes.txt:2: class ids must be 1, 2, 3"),
])
def test_bad_trees(cub_root, name, old, new, fragment):
    _rewrite(cub_root, name, old, new)
    with pytest.raises(InputError) as info:
        prepare_cub(cub_root)
    assert fragment in str(info.value), str(info.value)
    assert str(info.value).startswith(str(cub_root)), str(info.value)


def test_missing_files_and_images(cub_root):
    os.remove(cub_root / "images" / CUB_IMAGES[3][0])
    with pytest.raises(InputError, match=r"Beta_0001.jpg: image file missing"):
        prepare_cub(cub_root)
    os.remove(cub_root / "bounding_boxes.txt")
    with pytest.raises(InputError, match=r"bounding_boxes.txt: missing CUB file"):
        prepare_cub(cub_root)


def test_truncated_jpeg_fails_or_is_skipped(cub_root, tmp_path):
    path = cub_root / "images" / CUB_IMAGES[2][0]
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"Alpha_0003.jpg: truncated JPEG"):
        prepare_cub(cub_root)
    prepared = prepare_cub(cub_root, skip_bad_images=True)
    assert [s.image_id for s in prepared.skipped] == [CUB_IMAGES[2][0]]
    assert CUB_IMAGES[2][0] not in prepared.splits["train"].metadata.image_ids
    info = write_prepared(prepared, tmp_path / "meta")
    assert info["skipped_images"] == 1 and info["skipped"][0]["split"] == "train"


def test_symlink_escaping_root_is_refused(cub_root, tmp_path):
    outside = tmp_path / "outside.jpg"
    target = cub_root / "images" / CUB_IMAGES[0][0]
    outside.write_bytes(target.read_bytes())
    target.unlink()
    target.symlink_to(outside)
    with pytest.raises(InputError, match="resolves outside the dataset root"):
        prepare_cub(cub_root)


def test_cli_prepare_cub_and_check(cub_root, tmp_path, capsys):
    out = tmp_path / "meta"
    assert main(["prepare", "cub", str(cub_root), "--out", str(out), "--fullsup-per-class", "1", "-q"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert main(["prepare", "--check", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.rsplit(": ", 1)[1] for line in lines] == ["ok", "ok", "ok"]
    # break one split and check again: exit 1, the problem named on stderr
    labels = out / "test" / "class_labels.txt"
    labels.write_text(labels.read_text().replace(",1\n", ",7\n"))
    assert main(["prepare", "--check", str(out), "--num-classes", "2"]) == 1
    err = capsys.readouterr().err
    assert f"{labels}:2: label out of range (expected 0..1) (7)" in err


def test_cli_bad_tree_is_one_line(cub_root, tmp_path, capsys):
    _rewrite(cub_root, "image_class_labels.txt", "4 2", "4 9")
    assert main(["prepare", "cub", str(cub_root), "--out", str(tmp_path / "m"), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err == (f"wsol prepare: error: {cub_root / 'image_class_labels.txt'}:4: class id out of range 1..2 (9)")
    assert not (tmp_path / "m").exists()  # nothing written on failure


def test_invalid_utf8_is_one_line_naming_file_and_line(cub_root, tmp_path, capsys):
    path = cub_root / "images.txt"
    lines = path.read_bytes().splitlines(keepends=True)
    lines[2] = b"3 001.Alpha/Alpha_\xff\xfe0003.jpg\n"
    path.write_bytes(b"".join(lines))
    with pytest.raises(InputError) as info:
        prepare_cub(cub_root)
    message = str(info.value)
    assert message.startswith(f"{path}:3: file is not UTF-8 text: invalid start byte at byte 19 of the line")
    assert "Alpha_\\xff\\xfe0003" in message and len(message.splitlines()) == 1
    assert main(["prepare", "cub", str(cub_root), "--out", str(tmp_path / "m"), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err and f"{path}:3: file is not UTF-8" in err
