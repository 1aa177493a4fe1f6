"""The wsolevaluation metadata format: parsing, writing, validation errors."""
from __future__ import annotations


import pytest

from fixtures_data import VALID_SPLIT, write_split
from wsol.data.metadata import (MaskAnnotation, Metadata, check_image_id, check_metadata, find_split_dirs,
                                read_metadata, write_metadata)
from wsol.errors import InputError


def test_read_valid_split_boxes(tmp_path):
    meta = read_metadata(write_split(tmp_path / "s", VALID_SPLIT))
    assert meta.image_ids == ["a/1.jpg", "a/2.jpg", "b/3.jpg"]
    assert meta.labels == {"a/1.jpg": 0, "a/2.jpg": 0, "b/3.jpg": 1}
    assert meta.sizes["a/1.jpg"] == (500, 300)  # width, height
    assert meta.boxes["a/1.jpg"] == [(156, 163, 318, 230), (23, 12, 101, 259)]  # file order kept
    assert meta.boxes["b/3.jpg"] == [(1, 2, 3, 4)]
    assert meta.localization == "boxes" and meta.masks is None
    assert meta.num_classes_seen == 2


def test_round_trip_boxes(tmp_path):
    meta = read_metadata(write_split(tmp_path / "s", VALID_SPLIT))
    write_metadata(meta, tmp_path / "out")
    for name, text in VALID_SPLIT.items():
        assert (tmp_path / "out" / name).read_text() == text  # byte-identical to the canonical form
    assert read_metadata(tmp_path / "out") == meta


def test_masks_format_and_round_trip(tmp_path):
    files = dict(VALID_SPLIT)
    files["localization.txt"] = ("a/1.jpg,m/1a.png,m/1_ignore.png\na/1.jpg,m/1b.png,\n"
                                 "a/2.jpg,m/2.png,\nb/3.jpg,m/3.png,m/3_ignore.png\n")
    meta = read_metadata(write_split(tmp_path / "s", files))
    assert meta.localization == "masks"
    assert meta.masks["a/1.jpg"] == MaskAnnotation(("m/1a.png", "m/1b.png"), "m/1_ignore.png")
    assert meta.masks["a/2.jpg"] == MaskAnnotation(("m/2.png",), None)
    write_metadata(meta, tmp_path / "out")
    assert (tmp_path / "out" / "localization.txt").read_text() == files["localization.txt"]


def test_no_localization_file_is_allowed(tmp_path):
    files = {k: v for k, v in VALID_SPLIT.items() if k != "localization.txt"}
    meta = read_metadata(write_split(tmp_path / "s", files))
    assert meta.localization is None
    write_metadata(meta, tmp_path / "s")  # a stale localization.txt would be removed
    assert not (tmp_path / "s" / "localization.txt").exists()


def test_crlf_and_trailing_blank_lines(tmp_path):
    files = {k: v.replace("\n", "\r\n") + "\r\n" for k, v in VALID_SPLIT.items()}
    assert read_metadata(write_split(tmp_path / "s", files)) == read_metadata(write_split(tmp_path / "t",
                                                                                         VALID_SPLIT))


BAD_CASES = [
    # (file to change, new content, expected file, expected line, expected fragment, expected value)
    ("class_labels.txt", "a/1.jpg,0\na/2.jpg\nb/3.jpg,1\n", "class_labels.txt", 2, "expected 2 fields", "'a/2.jpg'"),
    ("class_labels.txt", "a/1.jpg,0\na/2.jpg,x\nb/3.jpg,1\n", "class_labels.txt", 2, "not an integer", "'x'"),
    ("class_labels.txt", "a/1.jpg,0\na/2.jpg,-1\nb/3.jpg,1\n", "class_labels.txt", 2, "label out of range", "-1"),
    ("class_labels.txt", "a/1.jpg,0\nb/3.jpg,1\n", "image_ids.txt", 2, "missing from class_labels.txt",
     "'a/2.jpg'"),
    ("class_labels.txt", "a/1.jpg,0\na/2.jpg,0\nb/3.jpg,1\nc/4.jpg,1\n", "class_labels.txt", 4,
     "not in image_ids.txt", "'c/4.jpg'"),
    ("class_labels.txt", "a/1.jpg,0\na/2.jpg,0\na/2.jpg,0\nb/3.jpg,1\n", "class_labels.txt", 3, "duplicate",
     "'a/2.jpg'"),
    ("image_ids.txt", "a/1.jpg\na/2.jpg\na/1.jpg\nb/3.jpg\n", "image_ids.txt", 3, "duplicate image id",
     "'a/1.jpg'"),
    ("image_ids.txt", "a/1.jpg\n../a/2.jpg\nb/3.jpg\n", "image_ids.txt", 2, "climbs out", "'../a/2.jpg'"),
    ("image_ids.txt", "a/1.jpg\n/etc/passwd\nb/3.jpg\n", "image_ids.txt", 2, "absolute", "'/etc/passwd'"),
    ("image_sizes.txt", "a/1.jpg,500,300\na/2.jpg,0,60\nb/3.jpg,10,10\n", "image_sizes.txt", 2,
     "must be positive", "'0x60'"),
    ("image_sizes.txt", "a/1.jpg,500,300\na/2.jpg,40,6.5\nb/3.jpg,10,10\n", "image_sizes.txt", 2,
     "height is not an integer", "'6.5'"),
    ("localization.txt", "a/1.jpg,156,163,318,230\na/2.jpg,0,0,41,60\nb/3.jpg,1,2,3,4\n", "localization.txt", 2,
     "box outside the 40x60 image", "'0,0,41,60'"),
    ("localization.txt", "a/1.jpg,156,163,318,230\na/2.jpg,5,0,4,60\nb/3.jpg,1,2,3,4\n", "localization.txt", 2,
     "inverted", "'5,0,4,60'"),
    ("localization.txt", "a/1.jpg,156,163,318,230\na/2.jpg,0,0,40\nb/3.jpg,1,2,3,4\n", "localization.txt", 2,
     "expected 5 fields", "'a/2.jpg,0,0,40'"),
    ("localization.txt", "a/1.jpg,156,163,318,230\na/2.jpg,m.png,\nb/3.jpg,1,2,3,4\n", "localization.txt", 2,
     "mixes boxes and masks", "'a/2.jpg,m.png,'"),
    ("localization.txt", "a/1.jpg,156,163,318,230\nb/3.jpg,1,2,3,4\n", "image_ids.txt", 2,
     "missing from localization.txt", "'a/2.jpg'"),
]


@pytest.mark.parametrize("name,content,where,line,fragment,value", BAD_CASES)
def test_bad_input_is_located(tmp_path, name, content, where, line, fragment, value):
    files = dict(VALID_SPLIT)
    files[name] = content
    split = write_split(tmp_path / "s", files)
    with pytest.raises(InputError) as info:
        read_metadata(split)
    message = str(info.value)
    assert message.startswith(f"{split / where}:{line}: "), message
    assert fragment in message and message.endswith(f"({value})"), message
    assert "\n" not in message
    assert any(str(p) == message for p in check_metadata(split))


def test_missing_file(tmp_path):
    files = {k: v for k, v in VALID_SPLIT.items() if k != "image_sizes.txt"}
    split = write_split(tmp_path / "s", files)
    with pytest.raises(InputError, match=r"image_sizes.txt: missing metadata file"):
        read_metadata(split)


def test_num_classes_bound(tmp_path):
    split = write_split(tmp_path / "s", VALID_SPLIT)
    with pytest.raises(InputError, match=r"class_labels.txt:3: label out of range \(expected 0..0\) \(1\)"):
        read_metadata(split, num_classes=1)


def test_check_collects_all_problems(tmp_path):
    files = dict(VALID_SPLIT)
    files["class_labels.txt"] = "a/1.jpg,x\na/2.jpg,0\nb/3.jpg,-4\n"
    files["image_sizes.txt"] = "a/1.jpg,500,300\na/2.jpg,40,60\nb/3.jpg,0,10\n"
    problems = [str(p) for p in check_metadata(write_split(tmp_path / "s", files))]
    assert any("class_labels.txt:1: label is not an integer ('x')" in p for p in problems)
    assert any("class_labels.txt:3: label out of range (-4)" in p for p in problems)
    assert any("image_sizes.txt:3: image size must be positive ('0x10')" in p for p in problems)


def test_second_ignore_path_for_an_image_is_an_error(tmp_path):
    files = dict(VALID_SPLIT)
    files["localization.txt"] = "a/1.jpg,m/1a.png,i.png\na/1.jpg,m/1b.png,i.png\na/2.jpg,m/2.png,\nb/3.jpg,m.png,\n"
    with pytest.raises(InputError, match=r"localization.txt:2: ignore path given again"):
        read_metadata(write_split(tmp_path / "s", files))


@pytest.mark.parametrize("image_id,ok", [
    ("a/b.jpg", True), ("b.jpg", True), ("a/./b.jpg", True), ("a..b/c.jpg", True),
    ("", False), ("/a.jpg", False), ("C:/a.jpg", False), ("a/../../b.jpg", False), ("..", False),
    ("a\\b.jpg", False), ("a,b.jpg", False), (" a.jpg", False), ("a\tb.jpg", False), (".", False),
])
def test_check_image_id(image_id, ok):
    assert (check_image_id(image_id) is None) == ok


def test_writer_rejects_unsafe_ids(tmp_path):
    meta = Metadata(image_ids=["x,y.jpg"], labels={"x,y.jpg": 0}, sizes={"x,y.jpg": (1, 1)})
    with pytest.raises(InputError, match="comma"):
        write_metadata(meta, tmp_path)


def test_find_split_dirs(tmp_path):
    write_split(tmp_path / "m" / "train", VALID_SPLIT)
    write_split(tmp_path / "m" / "test", VALID_SPLIT)
    (tmp_path / "m" / "other").mkdir()
    assert [p.name for p in find_split_dirs(tmp_path / "m")] == ["test", "train"]
    assert find_split_dirs(tmp_path / "m" / "test") == [tmp_path / "m" / "test"]
    assert find_split_dirs(tmp_path / "nothing") == []


def test_select_keeps_order(tmp_path):
    meta = read_metadata(write_split(tmp_path / "s", VALID_SPLIT))
    sub = meta.select(["b/3.jpg", "a/1.jpg"])
    assert sub.image_ids == ["b/3.jpg", "a/1.jpg"] and sub.boxes["a/1.jpg"] == meta.boxes["a/1.jpg"]
