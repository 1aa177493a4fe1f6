"""``wsol prepare openimages``: wsolevaluation's OpenImages30k tree (train/, val/, test/ of class folders with
``<id>_m*.png`` instance masks and ``<id>_ignore.png``) converted to metadata, checked against hand-written text."""
from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from fixtures_data import write_image
from wsol.cli.main import main
from wsol.data.metadata import read_metadata
from wsol.data.openimages import prepare_openimages, read_class_descriptions
from wsol.data.prepare import read_class_names, write_prepared
from wsol.errors import InputError

#: Class folders in Python's sorted (code-point) order, i.e. label order: "01gkx_" < "01j51" ('g' < 'j') < "0bt_c3"
#: ('1' < 'b'). They are created on disk in another order.
CLASSES = ["01gkx_", "01j51", "0bt_c3"]

#: split folder -> class folder -> [(image file, (width, height), mask suffixes after "<stem>_m", has ignore mask)]
TREE = {
    "train": {
        "0bt_c3": [("c000000000000004.jpg", (50, 20), [], False)],
        "01gkx_": [("a000000000000001.jpg", (40, 30), [], False)],
        "01j51": [("b000000000000002.jpg", (32, 32), [], False), ("b000000000000003.png", (20, 24), [], False)],
    },
    "val": {
        "0bt_c3": [("5555eeee5555eeee.jpg", (52, 28), ["0bt_c3_0000aaaa", "0bt_c3_1111bbbb", "0bt_c3_2222cccc"], True),
                   ("6666ffff6666ffff.jpg", (28, 28), ["0bt_c3_3333dddd"], False)],
        "01gkx_": [("1111aaaa1111aaaa.jpg", (48, 32), ["01gkx__0a0a0a0a", "01gkx__1b1b1b1b"], True),
                   ("2222bbbb2222bbbb.jpg", (36, 40), ["01gkx__2c2c2c2c"], False)],
        "01j51": [("3333cccc3333cccc.jpg", (40, 40), ["01j51_4d4d4d4d"], True),
                  ("4444dddd4444dddd.jpg", (30, 44), ["01j51_6f6f6f6f", "01j51_5e5e5e5e"], False)],
    },
    "test": {
        "0bt_c3": [("9999aaaa9999aaaa.jpg", (40, 56), ["0bt_c3_deadbeef", "0bt_c3_0badf00d"], True),
                   ("aaaa0000aaaa0000.png", (24, 32), ["0bt_c3_12345678"], False)],
        "01j51": [("8888bbbb8888bbbb.jpg", (44, 36), ["01j51_abcdef01"], False)],
        "01gkx_": [("7af766bd43da900b.jpg", (64, 48), ["01gkx__f00dcafe", "01gkx__0c0ffee0", "01gkx__5eed5eed"], True)],
    },
}

# What wsolevaluation's released metadata/OpenImages/test holds for this tree, written by hand: ids relative to the
# OpenImages root, labels = sorted folder index, one line per mask sorted by file name, the ignore path on an
# image's first line only.
EXPECTED_TEST_IDS = """\
test/01gkx_/7af766bd43da900b.jpg
test/01j51/8888bbbb8888bbbb.jpg
test/0bt_c3/9999aaaa9999aaaa.jpg
test/0bt_c3/aaaa0000aaaa0000.png
"""
EXPECTED_TEST_LABELS = """\
test/01gkx_/7af766bd43da900b.jpg,0
test/01j51/8888bbbb8888bbbb.jpg,1
test/0bt_c3/9999aaaa9999aaaa.jpg,2
test/0bt_c3/aaaa0000aaaa0000.png,2
"""
EXPECTED_TEST_LOCALIZATION = """\
test/01gkx_/7af766bd43da900b.jpg,test/01gkx_/7af766bd43da900b_m01gkx__0c0ffee0.png,\
test/01gkx_/7af766bd43da900b_ignore.png
test/01gkx_/7af766bd43da900b.jpg,test/01gkx_/7af766bd43da900b_m01gkx__5eed5eed.png,
test/01gkx_/7af766bd43da900b.jpg,test/01gkx_/7af766bd43da900b_m01gkx__f00dcafe.png,
test/01j51/8888bbbb8888bbbb.jpg,test/01j51/8888bbbb8888bbbb_m01j51_abcdef01.png,
test/0bt_c3/9999aaaa9999aaaa.jpg,test/0bt_c3/9999aaaa9999aaaa_m0bt_c3_0badf00d.png,\
test/0bt_c3/9999aaaa9999aaaa_ignore.png
test/0bt_c3/9999aaaa9999aaaa.jpg,test/0bt_c3/9999aaaa9999aaaa_m0bt_c3_deadbeef.png,
test/0bt_c3/aaaa0000aaaa0000.png,test/0bt_c3/aaaa0000aaaa0000_m0bt_c3_12345678.png,
"""
EXPECTED_TEST_SIZES = """\
test/01gkx_/7af766bd43da900b.jpg,64,48
test/01j51/8888bbbb8888bbbb.jpg,44,36
test/0bt_c3/9999aaaa9999aaaa.jpg,40,56
test/0bt_c3/aaaa0000aaaa0000.png,24,32
"""
EXPECTED_VAL_LOCALIZATION = """\
val/01gkx_/1111aaaa1111aaaa.jpg,val/01gkx_/1111aaaa1111aaaa_m01gkx__0a0a0a0a.png,val/01gkx_/1111aaaa1111aaaa_ignore.png
val/01gkx_/1111aaaa1111aaaa.jpg,val/01gkx_/1111aaaa1111aaaa_m01gkx__1b1b1b1b.png,
val/01gkx_/2222bbbb2222bbbb.jpg,val/01gkx_/2222bbbb2222bbbb_m01gkx__2c2c2c2c.png,
val/01j51/3333cccc3333cccc.jpg,val/01j51/3333cccc3333cccc_m01j51_4d4d4d4d.png,val/01j51/3333cccc3333cccc_ignore.png
val/01j51/4444dddd4444dddd.jpg,val/01j51/4444dddd4444dddd_m01j51_5e5e5e5e.png,
val/01j51/4444dddd4444dddd.jpg,val/01j51/4444dddd4444dddd_m01j51_6f6f6f6f.png,
val/0bt_c3/5555eeee5555eeee.jpg,val/0bt_c3/5555eeee5555eeee_m0bt_c3_0000aaaa.png,val/0bt_c3/5555eeee5555eeee_ignore.png
val/0bt_c3/5555eeee5555eeee.jpg,val/0bt_c3/5555eeee5555eeee_m0bt_c3_1111bbbb.png,
val/0bt_c3/5555eeee5555eeee.jpg,val/0bt_c3/5555eeee5555eeee_m0bt_c3_2222cccc.png,
val/0bt_c3/6666ffff6666ffff.jpg,val/0bt_c3/6666ffff6666ffff_m0bt_c3_3333dddd.png,
"""
EXPECTED_TRAIN_IDS = """\
train/01gkx_/a000000000000001.jpg
train/01j51/b000000000000002.jpg
train/01j51/b000000000000003.png
train/0bt_c3/c000000000000004.jpg
"""


def _write_mask(path, size, *, seed):
    """A 0/255 grey PNG of ``size`` (width, height) with one random rectangle."""
    w, h = size
    rng = np.random.default_rng(seed)
    mask = np.zeros((h, w), np.uint8)
    y0, x0 = int(rng.integers(0, h // 2)), int(rng.integers(0, w // 2))
    mask[y0:y0 + h // 2, x0:x0 + w // 2] = 255
    Image.fromarray(mask).save(path)


def write_openimages(root, tree=TREE):
    """Write ``tree`` in wsolevaluation's OpenImages layout under ``root`` (real JPEG / PNG files)."""
    seed = 0
    for folder, classes in tree.items():
        for cls, images in classes.items():
            for name, size, masks, has_ignore in images:
                seed += 1
                write_image(root / folder / cls / name, *size, seed=seed)
                stem = name.rsplit(".", 1)[0]
                for suffix in masks:
                    seed += 1
                    _write_mask(root / folder / cls / f"{stem}_m{suffix}.png", size, seed=seed)
                if has_ignore:
                    seed += 1
                    _write_mask(root / folder / cls / f"{stem}_ignore.png", size, seed=seed)
    (root / "train" / "0bt_c3" / "notes.txt").write_text("not an image\n")  # other files are ignored
    (root / "test" / "01j51" / ".8888bbbb8888bbbb_m01j51_x.png").write_bytes(b"hidden")  # so are hidden ones
    return root


@pytest.fixture
def oi_root(tmp_path):
    return write_openimages(tmp_path / "OpenImages")


def _cli_error(capsys, argv):
    """Run the CLI expecting failure; return its single stderr line."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


# ------------------------------------------------------------------------------------------------ valid trees


def test_written_metadata_equals_the_released_format(oi_root, tmp_path):
    prepared = prepare_openimages(oi_root)
    assert prepared.dataset == "openimages" and prepared.class_names == CLASSES
    assert list(prepared.splits) == ["train", "train_fullsup", "test"]
    out = tmp_path / "meta"
    info = write_prepared(prepared, out)

    test = out / "test"
    assert (test / "image_ids.txt").read_text() == EXPECTED_TEST_IDS
    assert (test / "class_labels.txt").read_text() == EXPECTED_TEST_LABELS
    assert (test / "localization.txt").read_text() == EXPECTED_TEST_LOCALIZATION
    assert (test / "image_sizes.txt").read_text() == EXPECTED_TEST_SIZES
    assert (out / "train_fullsup" / "localization.txt").read_text() == EXPECTED_VAL_LOCALIZATION
    assert (out / "train" / "image_ids.txt").read_text() == EXPECTED_TRAIN_IDS
    assert not (out / "train" / "localization.txt").exists()
    assert "train/01j51/b000000000000003.png,20,24\n" in (out / "train" / "image_sizes.txt").read_text()
    assert (out / "class_names.txt").read_text() == "0,01gkx_\n1,01j51\n2,0bt_c3\n"

    stored = json.loads((out / "dataset.json").read_text())
    assert stored == info and stored["dataset"] == "openimages" and stored["num_classes"] == 3
    root = os.path.abspath(oi_root)
    assert stored["splits"] == {
        "train": {"num_images": 4, "localization": None, "image_root": root, "mask_root": None},
        "train_fullsup": {"num_images": 6, "localization": "masks", "image_root": root, "mask_root": root},
        "test": {"num_images": 4, "localization": "masks", "image_root": root, "mask_root": root},
    }
    assert stored["skipped_images"] == 0
    notes = " ".join(stored["notes"])
    assert "sorted (code-point) order" in notes and "> 0.5" in notes and "every non-zero pixel" in notes


def test_metadata_inside_the_tree_records_relative_roots(oi_root):
    info = write_prepared(prepare_openimages(oi_root), oi_root / "metadata")
    assert {s["image_root"] for s in info["splits"].values()} == {".."}
    assert info["splits"]["test"]["mask_root"] == ".."


def test_read_back_and_check(oi_root, tmp_path, capsys):
    prepared = prepare_openimages(oi_root)
    out = tmp_path / "meta"
    write_prepared(prepared, out)
    for name, split in prepared.splits.items():
        assert read_metadata(out / name, num_classes=3) == split.metadata
    masks = read_metadata(out / "test").masks
    assert masks["test/01j51/8888bbbb8888bbbb.jpg"].ignore_path is None
    assert len(masks["test/01gkx_/7af766bd43da900b.jpg"].mask_paths) == 3
    assert main(["prepare", "--check", str(out), "--num-classes", "3"]) == 0  # also reads every mask header
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.rsplit(": ", 1)[1] for line in lines] == ["ok", "ok", "ok"]


def test_score_equals_scoring_the_released_format(oi_root, tmp_path, capsys):
    out = tmp_path / "meta"
    assert main(["prepare", "openimages", str(oi_root), "--out", str(out), "-q"]) == 0
    assert "openimages, 3 classes; train 4, train_fullsup 6, test 4 images (0 skipped)" in capsys.readouterr().out
    released = tmp_path / "released" / "test"  # wsolevaluation's format: no sizes, mask root given by hand
    released.mkdir(parents=True)
    (released / "image_ids.txt").write_text(EXPECTED_TEST_IDS)
    (released / "class_labels.txt").write_text(EXPECTED_TEST_LABELS)
    (released / "image_sizes.txt").write_text("")
    (released / "localization.txt").write_text(EXPECTED_TEST_LOCALIZATION)
    maps = tmp_path / "maps"
    rng = np.random.default_rng(0)
    for image_id in EXPECTED_TEST_IDS.split():
        (maps / image_id).parent.mkdir(parents=True, exist_ok=True)
        np.save(maps / f"{image_id}.npy", rng.random((28, 28)).astype(np.float32))
    ours, theirs = tmp_path / "ours.json", tmp_path / "theirs.json"
    assert main(["score", str(maps), "--metadata", str(out / "test"), "--out", str(ours), "-q"]) == 0
    assert main(["score", str(maps), "--metadata", str(released), "--mask-root", str(oi_root), "--out", str(theirs),
                 "-q"]) == 0
    a, b = json.loads(ours.read_text()), json.loads(theirs.read_text())
    assert a["num_images"] == b["num_images"] == 4
    assert a["pxap"] == b["pxap"] and a["num_positive_pixels"] == b["num_positive_pixels"]
    assert 0 < a["pxap"] < 100


def test_evaluation_only_download(oi_root, tmp_path):
    shutil.rmtree(oi_root / "train")
    shutil.rmtree(oi_root / "val")
    prepared = prepare_openimages(oi_root)
    assert list(prepared.splits) == ["test"]
    assert any("no train/ folder" in n for n in prepared.notes)
    assert any("no val/ folder" in n and "train_fullsup" in n for n in prepared.notes)
    info = write_prepared(prepared, tmp_path / "meta")
    assert list(info["splits"]) == ["test"]
    with pytest.raises(InputError, match="needs the val/ folder"):
        prepare_openimages(oi_root, fullsup_per_class=1)


def test_fullsup_per_class_is_seeded(oi_root, tmp_path, capsys):
    ids = []
    for run in ("a", "b"):
        out = tmp_path / run
        assert main(["prepare", "openimages", str(oi_root), "--out", str(out), "--fullsup-per-class", "1",
                     "--seed", "0", "-q"]) == 0
        ids.append((out / "train_fullsup" / "image_ids.txt").read_text())
        assert (out / "test" / "image_ids.txt").read_text() == EXPECTED_TEST_IDS  # test untouched
    assert ids[0] == ids[1]
    chosen = ids[0].split()
    assert [i.split("/")[1] for i in chosen] == CLASSES  # one per class, in class order
    meta = read_metadata(tmp_path / "a" / "train_fullsup")
    assert sorted(meta.labels.values()) == [0, 1, 2] and set(meta.masks) == set(chosen)
    notes = json.loads((tmp_path / "a" / "dataset.json").read_text())["notes"]
    assert any("1 images per class" in n and "seed 0" in n for n in notes)
    big = prepare_openimages(oi_root, fullsup_per_class=25)  # more than a class holds: all of it
    assert len(big.splits["train_fullsup"].metadata) == 6


def test_class_names_csv_with_a_quoted_comma(oi_root, tmp_path, capsys):
    names = tmp_path / "class-descriptions-boxable.csv"
    names.write_text('\ufeff/m/0aaaa1,Unused\n/m/01gkx_,Cat\n\n/m/0bt_c3,"Tortoise, turtle"\n01j51,Balloon\n',
                     encoding="utf-8")
    assert read_class_descriptions(names)["0bt_c3"] == "Tortoise, turtle"
    out = tmp_path / "meta"
    assert main(["prepare", "openimages", str(oi_root), "--out", str(out), "--class-names", str(names), "-q"]) == 0
    assert (out / "class_names.txt").read_text() == "0,Cat\n1,Balloon\n2,Tortoise, turtle\n"
    assert read_class_names(out) == ["Cat", "Balloon", "Tortoise, turtle"]
    assert (out / "test" / "class_labels.txt").read_text() == EXPECTED_TEST_LABELS  # names do not move labels


# ------------------------------------------------------------------------------------------------ bad input


def _orphan_mask(root):
    path = root / "val" / "01j51" / "deadbeefdeadbeef_m01j51_00000000.png"
    _write_mask(path, (40, 40), seed=1)
    return path, "mask file without its image"


def _orphan_ignore(root):
    path = root / "test" / "0bt_c3" / "deadbeefdeadbeef_ignore.png"
    _write_mask(path, (40, 40), seed=1)
    return path, "ignore mask without its image"


def _missing_test(root):
    shutil.rmtree(root / "test")
    return root / "test", "test/ folder not found"


def _image_without_masks(root):
    path = write_image(root / "test" / "01j51" / "0123456789abcdef.jpg", 30, 20, seed=9)
    return path, "image has no mask files"


def _mask_of_another_size(root):
    path = root / "test" / "01gkx_" / "7af766bd43da900b_m01gkx__5eed5eed.png"
    _write_mask(path, (12, 10), seed=1)
    return path, "mask is 12x10 but its image test/01gkx_/7af766bd43da900b.jpg is 64x48"


def _ignore_of_another_size(root):
    path = root / "val" / "01j51" / "3333cccc3333cccc_ignore.png"
    _write_mask(path, (40, 41), seed=1)
    return path, "mask is 40x41 but its image val/01j51/3333cccc3333cccc.jpg is 40x40"


def _extra_class_folder(root):
    write_image(root / "val" / "01abc" / "0000000000000000.jpg", 8, 8)
    return root / "val", ("has a class folder that test/ lacks (every split folder must hold the same class "
                          "folders, or labels would shift) ('01abc')")


def _missing_class_folder(root):
    shutil.rmtree(root / "train" / "01j51")
    return root / "train", ("lacks a class folder of test/ (every split folder must hold the same class folders, "
                            "or labels would shift) ('01j51')")


def _mask_in_train(root):
    path = root / "train" / "01gkx_" / "a000000000000001_m01gkx__00000000.png"
    _write_mask(path, (40, 30), seed=1)
    return path, "mask file in the train split"


def _image_beside_the_class_folders(root):
    path = write_image(root / "test" / "0123456789abcdef.jpg", 8, 8)
    return path, "image file directly in test/"


@pytest.mark.parametrize("breaks", [_missing_test, _orphan_mask, _orphan_ignore, _image_without_masks,
                                    _mask_of_another_size, _ignore_of_another_size, _extra_class_folder,
                                    _missing_class_folder, _mask_in_train, _image_beside_the_class_folders],
                         ids=lambda f: f.__name__.strip("_"))
def test_bad_trees_fail_with_one_line_naming_the_file(oi_root, tmp_path, capsys, breaks):
    path, fragment = breaks(oi_root)
    with pytest.raises(InputError) as info:
        prepare_openimages(oi_root)
    assert str(info.value).startswith(f"{path}: "), str(info.value)
    assert fragment in str(info.value)
    err = _cli_error(capsys, ["prepare", "openimages", str(oi_root), "--out", str(tmp_path / "m"), "-q"])
    assert err == f"wsol prepare: error: {info.value}"
    assert not (tmp_path / "m").exists()  # nothing written on failure


def test_skip_bad_images_skips_and_counts(oi_root, tmp_path, capsys):
    _image_without_masks(oi_root)
    _mask_of_another_size(oi_root)
    out = tmp_path / "meta"
    assert main(["prepare", "openimages", str(oi_root), "--out", str(out), "--skip-bad-images", "-q"]) == 0
    info = json.loads((out / "dataset.json").read_text())
    assert info["skipped_images"] == 2 and info["splits"]["test"]["num_images"] == 3
    assert [(s["split"], s["image_id"]) for s in info["skipped"]] == [
        ("test", "test/01j51/0123456789abcdef.jpg"), ("test", "test/01gkx_/7af766bd43da900b.jpg")]
    assert info["skipped"][0]["reason"] == "no mask files"
    assert "mask is 12x10 but its image" in info["skipped"][1]["reason"]
    ids = (out / "test" / "image_ids.txt").read_text()
    assert "0123456789abcdef" not in ids and "7af766bd43da900b" not in ids
    assert main(["prepare", "--check", str(out)]) == 0


def test_orphan_masks_fail_even_with_skip_bad_images(oi_root):
    path, _ = _orphan_mask(oi_root)
    with pytest.raises(InputError, match="mask file without its image"):
        prepare_openimages(oi_root, skip_bad_images=True)


def test_class_names_file_missing_a_folder(oi_root, tmp_path, capsys):
    names = tmp_path / "names.csv"
    names.write_text("/m/01gkx_,Cat\n/m/0bt_c3,Tortoise\n")
    err = _cli_error(capsys, ["prepare", "openimages", str(oi_root), "--out", str(tmp_path / "m"), "--class-names",
                              str(names), "-q"])
    assert err == (f"wsol prepare: error: {names}: class folder has no name in the class-names file "
                   "(no /m/01j51 line) ('01j51')")


@pytest.mark.parametrize("content,fragment", [
    (b"/m/01gkx_,Cat\n/m/01j51\n", ":2: expected '<MID>,<name>' ('/m/01j51')"),
    (b"/m/01gkx_,Cat\n/m/01gkx_,Dog\n", ":2: class given twice (first on line 1) ('/m/01gkx_')"),
    (b"/m/01gkx_,Cat\n/m/01j51,Ball\xffoon\n", ":2: file is not UTF-8 text"),
])
def test_bad_class_names_files(oi_root, tmp_path, capsys, content, fragment):
    names = tmp_path / "names.csv"
    names.write_bytes(content)
    err = _cli_error(capsys, ["prepare", "openimages", str(oi_root), "--out", str(tmp_path / "m"), "--class-names",
                              str(names), "-q"])
    assert err.startswith(f"wsol prepare: error: {names}{fragment}"), err


def test_bad_options(oi_root):
    with pytest.raises(InputError, match="fullsup_per_class must be an integer >= 0"):
        prepare_openimages(oi_root, fullsup_per_class=-1)
    with pytest.raises(InputError, match="OpenImages root folder not found"):
        prepare_openimages(oi_root / "nowhere")


#: The 100 class folders of wsolevaluation's released metadata/OpenImages, in the order of their labels 0..99 (read
#: from its val/class_labels.txt: 25 lines per label, one folder per label).
RELEASED_LABEL_ORDER = (
    "01226z,0138tl,014j1m,015p6,018xm,019w40,01b638,01bfm9,01bjv,01bl7v,01bqk0,01d40f,01g317,01gkx_,01j51,01jfm_,"
    "01lcw4,01lrl,01m2v,01n4qj,01nkt,01xq0k1,01xyhv,01yrx,01yx86,021mn,0242l,025dyy,0271t,0283dt1,02dl1y,02p0tk3,"
    "02p3w7d,02zvsm,0306r,03120,0342h,039xj_,03bt1vf,03c7gz,03fwl,03k3r,04_sv,04dr76w,04m9y,04yx4,050k8,052sf,05kyg_,"
    "05r5c,05r655,05z6w,0663v,068zj,06_fw,06j2d,06k2mb,06m11,06mf6,06msq,071qp,078jl,079cl,07cmd,07j87,07jdr,07mhn,"
    "07r04,080hkjn,081qc,083wq,08pbxl,096mb,09728,09b5t,09f_2,09j2d,09k_b,09ld4,0bt9lr,0bt_c3,0by6g,0c9ph5,0cdn1,"
    "0ch_cf,0cmf2,0dbzx,0dv5r,0fly7,0fm3zh,0fszt,0gv1x,0h23m,0h2r6,0hnyx,0k1tl,0k4j,0k5j,0l515,0ph39"
).split(",")


def test_labels_of_the_released_100_classes(tmp_path):
    """The 100 real class folders, created in shuffled order, get exactly the released labels."""
    assert len(RELEASED_LABEL_ORDER) == 100 == len(set(RELEASED_LABEL_ORDER))
    root = tmp_path / "OpenImages"
    order = np.random.default_rng(0).permutation(100)
    for k in order:
        folder = root / "test" / RELEASED_LABEL_ORDER[k]
        folder.mkdir(parents=True)
        Image.new("RGB", (8, 6)).save(folder / "0123456789abcdef.jpg")
        Image.new("L", (8, 6), 255).save(folder / f"0123456789abcdef_m{RELEASED_LABEL_ORDER[k]}_00000000.png")
    test = prepare_openimages(root).splits["test"].metadata
    assert {i.split("/")[1]: test.labels[i] for i in test.image_ids} == {f: k for k, f in
                                                                        enumerate(RELEASED_LABEL_ORDER)}


def test_preset_train_evaluate_and_figures_on_the_prepared_tree(oi_root, tmp_path, capsys):
    """The whole path with no hand edits: prepare → train with an OpenImages preset (made tiny) → evaluate the test
    masks (PxAP, its PR figure) → the saved maps scored by `wsol score` give the same PxAP; calibration is refused
    for mask splits with one line."""
    meta, run, figs, maps = tmp_path / "meta", tmp_path / "run", tmp_path / "figs", tmp_path / "maps"
    assert main(["prepare", "openimages", str(oi_root), "--out", str(meta), "--quiet"]) == 0
    tiny = ["arch=digits_locnet", "pretrained=", "image_size=32", "resize_size=36", "batch_size=2", "epochs=1",
            "workers=0", "device=cpu", "threads=1"]
    assert main(["train", "--preset", "openimages-resnet50-cam", "--out", str(run), "--set", f"data={meta}",
                 *[a for kv in tiny for a in ("--set", kv)], "--quiet"]) == 0
    assert json.loads((run / "config.json").read_text())["eval_split"] == "train_fullsup"
    out = tmp_path / "r.json"
    assert main(["evaluate", str(run / "model.pt"), "--metadata", str(meta / "test"), "--out", str(out),
                 "--figures", str(figs), "--save-scoremaps", str(maps), "--workers", "0", "--quiet"]) == 0
    result = json.loads(out.read_text())
    assert result["interval"] == 0.001 and len(result["pr_curve"]["recall"]) == 1002
    assert result["num_images"] == 4 and 0.0 < result["pxap"] <= 100.0
    assert result["figures"] == {"gallery": str(figs / "gallery.png"), "pr_curve": str(figs / "pr_curve.png")}
    for png in ("gallery.png", "pr_curve.png"):
        assert (figs / png).read_bytes()[:4] == b"\x89PNG"
    # the gallery ranks by each image's own PxAP, from the per-image file the evaluation wrote
    from wsol.api import cam_gallery
    from wsol.localization.per_image import image_scores, read_per_image

    scores = image_scores(read_per_image(figs / "per_image.npz"))
    g = cam_gallery(run / "model.pt", meta / "test", figs / "per_image.npz", count=2, device="cpu")
    assert g["kind"] == "masks" and g["threshold"] is None and g["best"]["score_name"] == "AP"
    assert g["best"]["score"] == sorted(scores, reverse=True)[:2] and g["worst"]["score"] == sorted(scores)[:2]
    assert g["best"]["gt_masks"].shape == (2, 32, 32) and g["best"]["gt_masks"].dtype == bool
    scored = tmp_path / "s.json"
    assert main(["score", str(maps), "--metadata", str(meta / "test"), "--out", str(scored), "--quiet"]) == 0
    assert json.loads(scored.read_text())["pxap"] == result["pxap"]
    capsys.readouterr()
    err = _cli_error(capsys, ["evaluate", str(run / "model.pt"), "--metadata", str(meta / "test"), "--calibrate-on",
                              str(meta / "train_fullsup"), "--out", str(tmp_path / "x.json"), "--workers", "0",
                              "--quiet"])
    assert "train_fullsup: calibration applies to box splits only" in err


#: Lines of wsolevaluation's released metadata/OpenImages/test/localization.txt for six of its images, verbatim and
#: in the released order (the 400b3d90001aaed9 image has 12 instance masks; the ignore path only on first lines).
RELEASED_TEST_LINES = """\
test/01226z/7af766bd43da900b.jpg,test/01226z/7af766bd43da900b_m01226z_6554d965.png,\
test/01226z/7af766bd43da900b_ignore.png
test/01226z/7af766bd43da900b.jpg,test/01226z/7af766bd43da900b_m01226z_8856c605.png,
test/01226z/973645e9516726b3.jpg,test/01226z/973645e9516726b3_m01226z_9ad378d4.png,\
test/01226z/973645e9516726b3_ignore.png
test/01226z/3abbd19d3b51179f.jpg,test/01226z/3abbd19d3b51179f_m01226z_5372dbc3.png,\
test/01226z/3abbd19d3b51179f_ignore.png
test/01226z/fdd5f1af0a0bf049.jpg,test/01226z/fdd5f1af0a0bf049_m01226z_d8fccb0c.png,\
test/01226z/fdd5f1af0a0bf049_ignore.png
test/01226z/fdd5f1af0a0bf049.jpg,test/01226z/fdd5f1af0a0bf049_m01226z_569a3f2b.png,
test/0138tl/7714e1d28c00fee7.jpg,test/0138tl/7714e1d28c00fee7_m0138tl_d397ac57.png,\
test/0138tl/7714e1d28c00fee7_ignore.png
test/0138tl/7714e1d28c00fee7.jpg,test/0138tl/7714e1d28c00fee7_m0138tl_1a602f0c.png,
""" + "".join(f"test/0138tl/400b3d90001aaed9.jpg,test/0138tl/400b3d90001aaed9_m0138tl_{h}.png,"
              f"{'test/0138tl/400b3d90001aaed9_ignore.png' if k == 0 else ''}\n"
              for k, h in enumerate("a5b150b5 ea9e85ff 17aa8a1b 851599b3 d87e769e b2dbe6e5 60f102c0 11804643 589167ca "
                                    "11d805f8 0c7990db ff51cb6c".split()))


def _released_excerpt(folder):
    """A metadata split of the released test lines above, as released: no image_sizes.txt, labels 0 / 1."""
    lines = RELEASED_TEST_LINES.splitlines()
    ids = list(dict.fromkeys(line.split(",")[0] for line in lines))
    folder.mkdir(parents=True)
    (folder / "image_ids.txt").write_text("".join(f"{i}\n" for i in ids))
    (folder / "class_labels.txt").write_text("".join(f"{i},{0 if '/01226z/' in i else 1}\n" for i in ids))
    (folder / "localization.txt").write_text(RELEASED_TEST_LINES)
    return ids, lines


def test_released_lines_check_and_convert_to_the_same_lines(tmp_path, capsys):
    """The released lines load and --check cleanly without any image; a tree holding those files converts to the
    same images, labels, mask files and ignore files (ours list an image's masks in file-name order)."""
    ids, lines = _released_excerpt(tmp_path / "released" / "test")
    assert main(["prepare", "--check", str(tmp_path / "released")]) == 0
    assert "test: ok" in capsys.readouterr().out
    meta = read_metadata(tmp_path / "released" / "test")
    assert meta.sizes == {} and len(meta.masks["test/0138tl/400b3d90001aaed9.jpg"].mask_paths) == 12
    assert meta.masks["test/01226z/7af766bd43da900b.jpg"].ignore_path == "test/01226z/7af766bd43da900b_ignore.png"
    root = tmp_path / "OpenImages"
    for k, line in enumerate(lines):
        image_id, mask, ignore = line.split(",")
        if not (root / image_id).exists():
            write_image(root / image_id, 12, 10, seed=k)
        for rel in (mask, ignore):
            if rel:
                _write_mask(root / rel, (12, 10), seed=100 + k)
    converted = prepare_openimages(root).splits["test"].metadata
    assert set(converted.image_ids) == set(ids) and converted.labels == meta.labels
    for image_id in ids:  # the same mask files and ignore file per image; the masks in file-name order
        assert sorted(converted.masks[image_id].mask_paths) == sorted(meta.masks[image_id].mask_paths)
        assert converted.masks[image_id].mask_paths == tuple(sorted(meta.masks[image_id].mask_paths))
        assert converted.masks[image_id].ignore_path == meta.masks[image_id].ignore_path
