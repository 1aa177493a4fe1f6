"""ImageNet conversion: train/val trees, XML and CSV boxes, ImageNetV2 fullsup folders, and every bad input."""
from __future__ import annotations

import json
import shutil

import pytest

from fixtures_imagenet import (FULLSUP_IMAGES, SORTED_SYNSETS, SYNSETS, TRAIN_IMAGES, VAL_IMAGES,
                               XML_FIRST_NAME_LINE, XML_SIZE_LINE, fullsup_lines, solution_csv, truncate, voc_xml,
                               write_fullsup, write_image, write_imagenet, write_xmls)
from wsol.data.imagenet import prepare_imagenet, read_fullsup_boxes, read_val_solution, read_voc_annotation
from wsol.data.metadata import check_metadata, read_metadata
from wsol.data.prepare import read_class_names, write_prepared
from wsol.errors import InputError

VAL_IDS = [f"val/{name}.JPEG" for name in sorted(VAL_IMAGES)]


def expected_test_boxes():
    return {f"val/{name}.JPEG": [tuple(b) for b in boxes] for name, (_, _, _, boxes) in VAL_IMAGES.items()}


def assert_error(excinfo, *fragments):
    """The one-line message contains every fragment."""
    message = str(excinfo.value)
    assert "\n" not in message
    for fragment in fragments:
        assert str(fragment) in message, f"{fragment!r} not in {message!r}"


@pytest.fixture
def xml_root(tmp_path):
    return write_imagenet(tmp_path / "imagenet", annotations="xml")


@pytest.fixture
def csv_root(tmp_path):
    return write_imagenet(tmp_path / "kaggle", annotations="csv", mapping=True)


# ------------------------------------------------------------------------------------------------ valid trees


def test_xml_tree_splits_labels_and_boxes(xml_root):
    prepared = prepare_imagenet(xml_root)
    assert prepared.dataset == "imagenet"
    assert list(prepared.splits) == ["train", "test"]
    assert prepared.class_names == SORTED_SYNSETS  # no mapping file: names are the synsets
    test = prepared.splits["test"].metadata
    assert test.image_ids == VAL_IDS
    assert test.boxes == expected_test_boxes()  # every box, in annotation order
    assert test.boxes["val/ILSVRC2012_val_00000003.JPEG"] == [(1, 2, 3, 4), (10, 5, 49, 29), (0, 0, 25, 15)]
    assert test.labels == {f"val/{n}.JPEG": SORTED_SYNSETS.index(v[2]) for n, v in VAL_IMAGES.items()}
    assert test.labels["val/ILSVRC2012_val_00000001.JPEG"] == 1  # n01443537 is second in sorted order
    assert test.sizes == {f"val/{n}.JPEG": (v[0], v[1]) for n, v in VAL_IMAGES.items()}  # (width, height)
    assert prepared.splits["test"].image_root == xml_root

    train = prepared.splits["train"].metadata
    expected_ids = sorted(f"train/{s}/{n}" for s, files in TRAIN_IMAGES.items() for n in files)
    assert train.image_ids == expected_ids  # .JPEG/.jpeg/.jpg/.PNG taken; notes.txt and ._ files ignored
    assert train.labels["train/n01484850/n01484850_7.JPEG"] == 2
    assert train.labels["train/n01443537/n01443537_3.PNG"] == 1
    assert train.sizes["train/n01440764/n01440764_10027.JPEG"] == (32, 44)
    assert train.boxes is None and train.masks is None
    assert prepared.splits["train"].image_root == xml_root
    assert prepared.skipped == []


def test_xml_and_csv_give_identical_metadata(xml_root, csv_root):
    from_xml = prepare_imagenet(xml_root)
    from_csv = prepare_imagenet(csv_root)
    for split in ("train", "test"):
        assert from_xml.splits[split].metadata == from_csv.splits[split].metadata
    assert any("Pascal-VOC XML" in n for n in from_xml.notes)
    assert any("LOC_val_solution.csv" in n for n in from_csv.notes)


def test_class_names_from_synset_mapping(csv_root):
    prepared = prepare_imagenet(csv_root)
    assert prepared.class_names == [SYNSETS[s] for s in SORTED_SYNSETS]
    assert prepared.class_names[0] == "tench, Tinca tinca"


def test_kaggle_layout_without_train_uses_mapping(tmp_path):
    root = write_imagenet(tmp_path / "r", annotations="csv", train=False, mapping=True)
    prepared = prepare_imagenet(root)
    assert list(prepared.splits) == ["test"]
    assert prepared.class_names[2] == SYNSETS["n01484850"]
    assert prepared.splits["test"].metadata.labels["val/ILSVRC2012_val_00000003.JPEG"] == 2
    assert any("no train/ folder" in n for n in prepared.notes)
    with pytest.raises(InputError) as e:
        prepare_imagenet(root, train_proxy=1)
    assert_error(e, "train_proxy", "no train/ folder")


def test_empty_class_folder_still_takes_its_label(xml_root, caplog):
    (xml_root / "train" / "n01443000").mkdir()  # sorts between n01440764 and n01443537
    prepared = prepare_imagenet(xml_root)
    assert prepared.class_names[1] == "n01443000"
    assert prepared.splits["train"].metadata.labels["train/n01484850/n01484850_7.JPEG"] == 3
    assert prepared.splits["test"].metadata.labels["val/ILSVRC2012_val_00000001.JPEG"] == 2
    assert "train/n01443000 holds no images" in caplog.text


def test_val_annotations_override_xml_folder_and_csv_file(tmp_path, xml_root):
    root = write_imagenet(tmp_path / "bare", annotations="none")
    with pytest.raises(InputError) as e:
        prepare_imagenet(root)
    assert_error(e, "no val boxes found", "--val-annotations", str(root))

    write_xmls(tmp_path / "bbox_val")
    (tmp_path / "solution.csv").write_text(solution_csv())
    reference = prepare_imagenet(xml_root).splits["test"].metadata
    assert prepare_imagenet(root, val_annotations=tmp_path / "bbox_val").splits["test"].metadata == reference
    assert prepare_imagenet(root, val_annotations=tmp_path / "solution.csv").splits["test"].metadata == reference

    # the explicit option wins over files found automatically
    bad = dict(VAL_IMAGES)
    bad["ILSVRC2012_val_00000002"] = (40, 56, "n01440764", [(1, 1, 2, 2)])
    (tmp_path / "other.csv").write_text(solution_csv(bad))
    test = prepare_imagenet(xml_root, val_annotations=tmp_path / "other.csv").splits["test"].metadata
    assert test.boxes["val/ILSVRC2012_val_00000002.JPEG"] == [(1, 1, 2, 2)]

    with pytest.raises(InputError) as e:
        prepare_imagenet(root, val_annotations=tmp_path / "nope")
    assert_error(e, "not found", "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError) as e:
        prepare_imagenet(root, val_annotations=tmp_path / "empty")
    assert_error(e, "no .xml files", "empty")


def test_csv_accepts_integral_decimals_bom_and_blank_lines(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("\ufeffImageId,PredictionString\n\nILSVRC2012_val_00000001,n01443537 5.0 4 30.00 22\n")
    (ann,) = read_val_solution(path)
    assert ann.name == "ILSVRC2012_val_00000001" and ann.line == 3
    assert ann.objects[0].box == (5, 4, 30, 22) and ann.objects[0].synset == "n01443537"


def test_voc_reader_records_lines_and_size(tmp_path):
    path = tmp_path / "ILSVRC2012_val_00000009.xml"
    path.write_text(voc_xml("ILSVRC2012_val_00000009", 500, 375, [("n01751748", (111, 108, 441, 332)),
                                                                    ("n01751748", (1, 2, 3, 4))]))
    ann = read_voc_annotation(path)
    assert ann.size == (500, 375) and ann.size_line == XML_SIZE_LINE
    assert [o.box for o in ann.objects] == [(111, 108, 441, 332), (1, 2, 3, 4)]
    assert [o.line for o in ann.objects] == [XML_FIRST_NAME_LINE, XML_FIRST_NAME_LINE + 12]


def test_train_proxy_is_deterministic_per_class(xml_root):
    def ids(seed, k=2):
        return prepare_imagenet(xml_root, train_proxy=k, seed=seed).splits["train"].metadata.image_ids

    first = ids(0)
    assert first == ids(0)  # same seed, same ids
    assert first == sorted(first)
    per_class = {}
    for image_id in first:
        per_class.setdefault(image_id.split("/")[1], []).append(image_id)
    assert {s: len(v) for s, v in per_class.items()} == {"n01440764": 2, "n01443537": 2, "n01484850": 2}
    assert any(ids(seed) != first for seed in range(1, 20))  # another seed draws other images
    assert len(ids(0, k=10)) == sum(len(v) for v in TRAIN_IMAGES.values())  # small classes kept whole
    prepared = prepare_imagenet(xml_root, train_proxy=2, seed=3)
    assert any("proxy" in n and "seed 3" in n for n in prepared.notes)
    assert prepared.splits["test"].metadata.image_ids == VAL_IDS  # test untouched
    with pytest.raises(InputError) as e:
        prepare_imagenet(xml_root, train_proxy=-1)
    assert_error(e, "train_proxy", "-1")


def test_fullsup_imagenetv2_release_format(xml_root, tmp_path):
    v2 = write_fullsup(tmp_path / "imagenetv2")
    prepared = prepare_imagenet(xml_root, fullsup_root=v2)
    assert list(prepared.splits) == ["train", "train_fullsup", "test"]
    split = prepared.splits["train_fullsup"]
    assert split.image_root == v2
    meta = split.metadata
    assert meta.image_ids == ["0/0.jpeg", "0/1.jpeg", "1/0.jpeg", "2/0.jpeg"]
    assert meta.labels == {"0/0.jpeg": 0, "0/1.jpeg": 0, "1/0.jpeg": 1, "2/0.jpeg": 2}
    assert meta.boxes == {i: [tuple(b) for b in v[2]] for i, v in FULLSUP_IMAGES.items()}
    assert meta.sizes["0/0.jpeg"] == (48, 32)
    assert read_fullsup_boxes(v2 / "boxes.txt").form == "wsolevaluation"


def test_fullsup_metadata_form_val2_prefix_and_explicit_box_file(xml_root, tmp_path):
    v2 = write_fullsup(tmp_path / "v2", boxes_file=None)
    (tmp_path / "plain.txt").write_text(fullsup_lines(header=False))
    (tmp_path / "localization.txt").write_text(fullsup_lines(header=False, prefix="val2/"))
    reference = prepare_imagenet(xml_root, fullsup_root=write_fullsup(tmp_path / "ref"))
    reference = reference.splits["train_fullsup"].metadata
    plain = prepare_imagenet(xml_root, fullsup_root=v2, fullsup_boxes=tmp_path / "plain.txt")
    assert plain.splits["train_fullsup"].metadata == reference
    assert read_fullsup_boxes(tmp_path / "plain.txt").form == "metadata"
    prefixed = prepare_imagenet(xml_root, fullsup_root=v2, fullsup_boxes=tmp_path / "localization.txt")
    assert prefixed.splits["train_fullsup"].metadata == reference
    assert any("val2/" in n for n in prefixed.notes)

    with pytest.raises(InputError) as e:
        prepare_imagenet(xml_root, fullsup_root=v2)  # no boxes.txt and no explicit file
    assert_error(e, "fullsup box file not found", "boxes.txt", "--fullsup-boxes")
    with pytest.raises(InputError) as e:
        prepare_imagenet(xml_root, fullsup_boxes=tmp_path / "plain.txt")
    assert_error(e, "fullsup_boxes needs fullsup_root")


def test_round_trip_through_write_prepared(xml_root, tmp_path):
    prepared = prepare_imagenet(xml_root, fullsup_root=write_fullsup(tmp_path / "v2"))
    out = tmp_path / "meta"
    info = write_prepared(prepared, out)
    assert info["num_classes"] == 3 and info["splits"]["test"]["localization"] == "boxes"
    for name, split in prepared.splits.items():
        assert check_metadata(out / name, num_classes=3) == []
        assert read_metadata(out / name, num_classes=3) == split.metadata
    assert read_class_names(out) == prepared.class_names
    assert json.loads((out / "dataset.json").read_text())["dataset"] == "imagenet"


def test_progress_bars_do_not_change_the_result(xml_root):
    assert (prepare_imagenet(xml_root, progress=True).splits["test"].metadata
            == prepare_imagenet(xml_root).splits["test"].metadata)


# ------------------------------------------------------------------------------------------------ bad inputs


def rewrite_xml(root, name, **changes):
    w, h, synset, boxes = VAL_IMAGES[name]
    objects = changes.pop("objects", [(synset, b) for b in boxes])
    text = voc_xml(name, changes.pop("width", w), changes.pop("height", h), objects, **changes)
    path = root / "val" / f"{name}.xml"
    path.write_text(text)
    return path


def test_unknown_synset_xml_and_csv(xml_root, csv_root):
    path = rewrite_xml(xml_root, "ILSVRC2012_val_00000002", objects=[("n09999999", (0, 0, 4, 4))])
    with pytest.raises(InputError) as e:
        prepare_imagenet(xml_root)
    assert_error(e, path.name, f":{XML_FIRST_NAME_LINE}:", "unknown synset", "n09999999")

    csv = csv_root / "LOC_val_solution.csv"
    csv.write_text("ImageId,PredictionString\nILSVRC2012_val_00000001,n01443537 5 4 30 22\n"
                   "ILSVRC2012_val_00000002,n00000001 0 0 4 4\n")
    with pytest.raises(InputError) as e:
        prepare_imagenet(csv_root)
    assert_error(e, "LOC_val_solution.csv:3:", "unknown synset", "n00000001")


def test_conflicting_synsets_xml_and_csv(xml_root, csv_root):
    path = rewrite_xml(xml_root, "ILSVRC2012_val_00000001",
                       objects=[("n01443537", (5, 4, 30, 22)), ("n01440764", (31, 10, 59, 39))])
    with pytest.raises(InputError) as e:
        prepare_imagenet(xml_root)
    assert_error(e, path.name, f":{XML_FIRST_NAME_LINE + 12}:", "different synsets", "n01440764", "n01443537")

    csv = csv_root / "LOC_val_solution.csv"
    lines = csv.read_text().splitlines()
    lines[2] = lines[2].replace("n01484850 10", "n01440764 10")  # row of val_00000003 (rows in reverse order)
    csv.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as e:
        prepare_imagenet(csv_root)
    assert_error(e, "LOC_val_solution.csv:3:", "different synsets", "n01440764", "n01484850")


def test_val_image_without_annotation(xml_root):
    (xml_root / "val" / "ILSVRC2012_val_00000004.xml").unlink()
    with pytest.raises(InputError) as e:
        prepare_imagenet(xml_root, skip_bad_images=True)  # never skipped: an annotation problem
    assert_error(e, "ILSVRC2012_val_00000004.JPEG", "has no annotation")


@pytest.mark.parametrize("kind", ["xml", "csv"])
def test_annotated_image_missing_raises_or_is_skipped(tmp_path, kind):
    root = write_imagenet(tmp_path / "r", annotations=kind)
    (root / "val" / "ILSVRC2012_val_00000002.JPEG").unlink()
    with pytest.raises(InputError) as e:
        prepare_imagenet(root)
    where = "ILSVRC2012_val_00000002.xml:3:" if kind == "xml" else "LOC_val_solution.csv:4:"
    assert_error(e, where, "annotated image missing", "'ILSVRC2012_val_00000002'")

    prepared = prepare_imagenet(root, skip_bad_images=True)
    assert [(s.split, s.image_id) for s in prepared.skipped] == [("test", "val/ILSVRC2012_val_00000002.JPEG")]
    assert "annotated image missing" in prepared.skipped[0].reason
    assert "val/ILSVRC2012_val_00000002.JPEG" not in prepared.splits["test"].metadata.image_ids
    assert len(prepared.splits["test"].metadata) == 3


def test_truncated_jpeg_raises_or_is_skipped(xml_root, tmp_path):
    truncate(xml_root / "val" / "ILSVRC2012_val_00000003.JPEG")
    truncate(xml_root / "train" / "n01443537" / "n01443537_1.JPEG")
    with pytest.raises(InputError) as e:
        prepare_imagenet(xml_root)
    assert_error(e, "n01443537_1.JPEG", "truncated JPEG")

    prepared = prepare_imagenet(xml_root, skip_bad_images=True)
    assert sorted((s.split, s.image_id) for s in prepared.skipped) == [
        ("test", "val/ILSVRC2012_val_00000003.JPEG"), ("train", "train/n01443537/n01443537_1.JPEG")]
    assert all("truncated JPEG" in s.reason for s in prepared.skipped)
    assert "val/ILSVRC2012_val_00000003.JPEG" not in prepared.splits["test"].metadata.labels
    assert len(prepared.splits["train"].metadata) == 7
    info = write_prepared(prepared, tmp_path / "meta")
    assert info["skipped_images"] == 2


def test_truncated_fullsup_image_is_skipped(xml_root, tmp_path):
    v2 = write_fullsup(tmp_path / "v2")
    truncate(v2 / "1" / "0.jpeg")
    with pytest.raises(InputError) as e:
        prepare_imagenet(xml_root, fullsup_root=v2)
    assert_error(e, "0.jpeg", "truncated JPEG")
    prepared = prepare_imagenet(xml_root, fullsup_root=v2, skip_bad_images=True)
    assert [(s.split, s.image_id) for s in prepared.skipped] == [("train_fullsup", "1/0.jpeg")]
    assert prepared.splits["train_fullsup"].metadata.image_ids == ["0/0.jpeg", "0/1.jpeg", "2/0.jpeg"]


def test_malformed_xml(xml_root):
    path = xml_root / "val" / "ILSVRC2012_val_00000001.xml"
    path.write_text("<annotation>\n<filename>ILSVRC2012_val_00000001</filename>\n<size><width>60</size>\n")
    with pytest.raises(InputError) as e:
        prepare_imagenet(xml_root)
    assert_error(e, f"{path}:3:", "malformed XML", "mismatched tag")
    path.write_text("")
    with pytest.raises(InputError) as e:
        prepare_imagenet(xml_root)
    assert_error(e, f"{path}:1:", "malformed XML")


def test_xml_with_doctype_is_refused(xml_root):
    path = xml_root / "val" / "ILSVRC2012_val_00000001.xml"
    path.write_text('<?xml version="1.0"?>\n<!DOCTYPE a [<!ENTITY x "y">]>\n<annotation/>\n')
    with pytest.raises(InputError) as e:
        prepare_imagenet(xml_root)
    assert_error(e, f"{path}:2:", "document type")


def test_xml_missing_field_and_non_integer(xml_root):
    path = rewrite_xml(xml_root, "ILSVRC2012_val_00000002", objects=[("n01440764", (0, 0, "3.5", 4))])
    with pytest.raises(InputError) as e:
        prepare_imagenet(xml_root)
    assert_error(e, path.name, f":{XML_FIRST_NAME_LINE + 7}:", "xmax is not an integer", "'3.5'")
    text = path.read_text().replace("\t\t\t<ymin>0</ymin>\n", "")
    path.write_text(text)
    with pytest.raises(InputError) as e:
        prepare_imagenet(xml_root)
    assert_error(e, path.name, "<bndbox> has no <ymin>")
    rewrite_xml(xml_root, "ILSVRC2012_val_00000002", objects=[("n01440764", ("12.0", 0, "30.0", 4))])
    boxes = prepare_imagenet(xml_root).splits["test"].metadata.boxes
    assert boxes["val/ILSVRC2012_val_00000002.JPEG"] == [(12, 0, 30, 4)]


def test_xml_size_disagrees_with_image(xml_root):
    path = rewrite_xml(xml_root, "ILSVRC2012_val_00000004", width=48, height=36)  # swapped axes
    with pytest.raises(InputError) as e:
        prepare_imagenet(xml_root)
    assert_error(e, f"{path.name}:{XML_SIZE_LINE}:", "48x36", "36x48", "val/ILSVRC2012_val_00000004.JPEG")


def test_xml_filename_must_be_a_bare_name_matching_the_file(xml_root):
    path = rewrite_xml(xml_root, "ILSVRC2012_val_00000001", filename="../../etc/passwd")
    with pytest.raises(InputError) as e:
        prepare_imagenet(xml_root)
    assert_error(e, f"{path.name}:3:", "annotation names a path", "../../etc/passwd")
    rewrite_xml(xml_root, "ILSVRC2012_val_00000001", filename="ILSVRC2012_val_00000002")
    with pytest.raises(InputError) as e:
        prepare_imagenet(xml_root)
    assert_error(e, f"{path.name}:3:", "disagrees with the XML file name", "ILSVRC2012_val_00000002")
    rewrite_xml(xml_root, "ILSVRC2012_val_00000001", filename="ILSVRC2012_val_00000001.JPEG")
    assert prepare_imagenet(xml_root).splits["test"].metadata.image_ids == VAL_IDS


def test_box_outside_image_xml_and_csv(xml_root, csv_root):
    path = rewrite_xml(xml_root, "ILSVRC2012_val_00000001", objects=[("n01443537", (5, 4, 61, 22))])
    with pytest.raises(InputError) as e:
        prepare_imagenet(xml_root)
    assert_error(e, f"{path.name}:{XML_FIRST_NAME_LINE}:", "box outside the 60x40 image", "5,4,61,22")
    rewrite_xml(xml_root, "ILSVRC2012_val_00000001", objects=[("n01443537", (30, 4, 5, 22))])
    with pytest.raises(InputError) as e:
        prepare_imagenet(xml_root)
    assert_error(e, path.name, "inverted", "30,4,5,22")

    csv = csv_root / "LOC_val_solution.csv"
    csv.write_text(csv.read_text().replace("n01440764 20 30 36 48", "n01440764 20 30 36 49"))
    with pytest.raises(InputError) as e:
        prepare_imagenet(csv_root)
    assert_error(e, "LOC_val_solution.csv:2:", "box outside the 36x48 image", "20,30,36,49")


@pytest.mark.parametrize("row, fragments", [
    ("ILSVRC2012_val_00000001,n01443537 5 4 30", ["groups of 5", "got 4 fields", "'n01443537 5 4 30'"]),
    ("ILSVRC2012_val_00000001,n01443537 5 4 30 22 n01443537 1", ["got 7 fields"]),
    ("ILSVRC2012_val_00000001,", ["got 0 fields"]),
    ("ILSVRC2012_val_00000001,n01443537 5 4 x 22", ["xmax is not an integer", "'x'"]),
    ("ILSVRC2012_val_00000001,n01443537 5 4 30.5 22", ["xmax is not an integer", "'30.5'"]),
    ("ILSVRC2012_val_00000001", ["expected 2 fields", "'ILSVRC2012_val_00000001'"]),
    ("ILSVRC2012_val_00000001,n01443537 5 4 30 22,x", ["expected 2 fields"]),
    ("../ILSVRC2012_val_00000001,n01443537 5 4 30 22", ["annotation names a path", "'../ILSVRC2012_val_00000001'"]),
    ("/abs,n01443537 5 4 30 22", ["annotation names a path", "'/abs'"]),
])
def test_bad_csv_lines(csv_root, row, fragments):
    csv = csv_root / "LOC_val_solution.csv"
    csv.write_text(f"ImageId,PredictionString\n{row}\n")
    with pytest.raises(InputError) as e:
        prepare_imagenet(csv_root)
    assert_error(e, "LOC_val_solution.csv:2:", *fragments)


def test_bad_csv_header_and_duplicate_row(csv_root):
    csv = csv_root / "LOC_val_solution.csv"
    csv.write_text("image,boxes\n")
    with pytest.raises(InputError) as e:
        prepare_imagenet(csv_root)
    assert_error(e, "LOC_val_solution.csv:1:", "ImageId,PredictionString", "'image,boxes'")
    csv.write_text(solution_csv() + "ILSVRC2012_val_00000001,n01443537 1 1 2 2\n")
    with pytest.raises(InputError) as e:
        prepare_imagenet(csv_root)
    assert_error(e, "LOC_val_solution.csv:6:", "duplicate ImageId (first on line 5)")


def test_class_problems(tmp_path, xml_root):
    root = write_imagenet(tmp_path / "noclasses", annotations="xml", train=False)
    with pytest.raises(InputError) as e:
        prepare_imagenet(root)
    assert_error(e, "no train/ folder and no LOC_synset_mapping.txt", str(root))

    (xml_root / "LOC_synset_mapping.txt").write_text("n01440764 tench\nn01443537 goldfish\n")
    with pytest.raises(InputError) as e:
        prepare_imagenet(xml_root)
    assert_error(e, "not in LOC_synset_mapping.txt", "n01484850")
    (xml_root / "LOC_synset_mapping.txt").write_text("n01440764 a\nn01443537 b\nn01484850 c\nn01440764 d\n")
    with pytest.raises(InputError) as e:
        prepare_imagenet(xml_root)
    assert_error(e, "LOC_synset_mapping.txt:4:", "duplicate synset", "n01440764")
    with pytest.raises(InputError) as e:
        prepare_imagenet(tmp_path / "absent")
    assert_error(e, "root folder not found", "absent")


def test_val_layout_problems(xml_root):
    write_image(xml_root / "val" / "n01440764" / "ILSVRC2012_val_00000099.JPEG", 8, 8)
    with pytest.raises(InputError) as e:
        prepare_imagenet(xml_root)
    assert_error(e, "subfolder of val/", "n01440764")
    shutil.rmtree(xml_root / "val")
    with pytest.raises(InputError) as e:
        prepare_imagenet(xml_root)
    assert_error(e, "val/ folder not found")


def test_fullsup_bad_inputs(xml_root, tmp_path):
    v2 = write_fullsup(tmp_path / "v2")
    boxes = v2 / "boxes.txt"
    good = boxes.read_text()

    cases = [
        (good + "0/0.jpeg,1,2,3\n", ["boxes.txt:9:", "expected 5 fields", "'0/0.jpeg,1,2,3'"]),
        (good + "0/0.jpeg,1,2,x,4\n", ["boxes.txt:9:", "x1 is not an integer", "'x'"]),
        (good + "0/1.jpeg,44,2,3,40\n", ["boxes.txt:9:", "inverted", "x,y,w,h", "'44,2,3,40'"]),
        (good + "0/0.jpeg,0,0,49,32\n", ["boxes.txt:9:", "box outside the 48x32 image 0/0.jpeg", "'0,0,49,32'"]),
        (good + "7/0.jpeg,0,0,1,1\n", ["boxes.txt:9:", "not a class index 0..2", "'7'"]),
        (good + "../0/0.jpeg,0,0,1,1\n", ["boxes.txt:9:", "climbs out", "'../0/0.jpeg'"]),
        (good + "0/9.jpeg,0,0,1,1\n", ["boxes.txt:9:", "annotated image missing", "'0/9.jpeg'"]),
        ("image_id,x,y,w,h\n", ["boxes.txt:1:", "unknown box file format", "'image_id,x,y,w,h'"]),
        ("image_id,x0,y0,x1,y1\n", ["boxes.txt", "no boxes"]),
        (good.replace("1/0.jpeg,5,5,20,30\n", ""), ["1/0.jpeg", "has no box in", "boxes.txt"]),
    ]
    for text, fragments in cases:
        boxes.write_text(text)
        with pytest.raises(InputError) as e:
            prepare_imagenet(xml_root, fullsup_root=v2)
        assert_error(e, *fragments)

    boxes.write_text(good + "0/9.jpeg,0,0,1,1\n")
    prepared = prepare_imagenet(xml_root, fullsup_root=v2, skip_bad_images=True)
    assert [(s.split, s.image_id) for s in prepared.skipped] == [("train_fullsup", "0/9.jpeg")]
    boxes.write_text(good)
    write_image(v2 / "extra" / "0.jpeg", 8, 8)
    with pytest.raises(InputError) as e:
        prepare_imagenet(xml_root, fullsup_root=v2)
    assert_error(e, "not a class index", "'extra'")
    with pytest.raises(InputError) as e:
        prepare_imagenet(xml_root, fullsup_root=tmp_path / "absent")
    assert_error(e, "fullsup folder not found")


# ------------------------------------------------------------------------------------------------ CLI


def test_cli_smoke_and_bad_tree(xml_root, tmp_path, capsys):
    from wsol.cli.main import main

    out = tmp_path / "meta"
    assert main(["prepare", "imagenet", str(xml_root), "--out", str(out), "-q"]) == 0
    assert read_metadata(out / "test").image_ids == VAL_IDS
    assert read_metadata(out / "train", num_classes=3).num_classes_seen == 3
    capsys.readouterr()

    (xml_root / "val" / "ILSVRC2012_val_00000002.xml").write_text("<annotation>\n<object>\n</annotation>\n")
    assert main(["prepare", "imagenet", str(xml_root), "--out", str(tmp_path / "bad"), "-q"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "ILSVRC2012_val_00000002.xml:3: malformed XML" in err
    assert not (tmp_path / "bad").exists()  # nothing written on failure
