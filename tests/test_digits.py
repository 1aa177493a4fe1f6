"""The embedded digits dataset: pure generator pieces, the written CUB-layout tree, caching and the CLI."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from wsol.cli.main import main
from wsol.data import digits as D
from wsol.data import digits_render as R
from wsol.data.digits import DigitsConfig, prepare_digits
from wsol.data.images import load_mask
from wsol.data.metadata import check_metadata, read_metadata
from wsol.data.prepare import read_dataset_info
from wsol.errors import InputError

SMALL = DigitsConfig(image_size=48, num_train=40, num_fullsup=10, num_test=20, seed=0, num_ood=5)
SPLITS = ("train", "train_fullsup", "test", "test_masks")


@pytest.fixture(scope="module")
def sources() -> D.DigitSources:
    return D.load_sources()


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("digits") / "a"
    return root, prepare_digits(root, config=SMALL)


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


# --- config --------------------------------------------------------------------------------------------------------

def test_config_defaults():
    c = DigitsConfig()
    assert (c.image_size, c.num_classes, c.num_train, c.num_fullsup, c.num_test, c.seed, c.num_ood) == \
        (64, 10, 5000, 500, 1000, 0, 1000)


@pytest.mark.parametrize("kwargs, bad", [
    ({"image_size": 31}, "31"), ({"num_classes": 1}, "1"), ({"num_classes": 11}, "11"), ({"num_train": 0}, "0"),
    ({"num_test": 0}, "0"), ({"num_fullsup": -1}, "-1"), ({"num_ood": -2}, "-2"), ({"seed": -1}, "-1"),
    ({"image_size": 64.0}, "64.0"), ({"num_train": True}, "True"),
])
def test_config_rejects_bad_values(kwargs, bad):
    with pytest.raises(ValueError) as info:
        DigitsConfig(**kwargs)
    assert next(iter(kwargs)) in str(info.value) and bad in str(info.value)


def test_config_errors_are_input_errors():
    with pytest.raises(InputError, match="num_test"):
        DigitsConfig(num_test=0)


def test_image_rng_is_a_child_of_the_stream_child():
    child = np.random.SeedSequence(7).spawn(D.STREAMS["test"] + 1)[D.STREAMS["test"]].spawn(4)[3]
    expected = np.random.default_rng(child).random(3)
    assert np.array_equal(D.image_rng(7, "test", 3).random(3), expected)


def test_config_accepts_edges():
    DigitsConfig(image_size=32, num_classes=2, num_train=1, num_fullsup=0, num_test=1, num_ood=0)
    DigitsConfig(num_classes=10)


# --- pure pieces ---------------------------------------------------------------------------------------------------

def test_mask_box_hand_cases():
    mask = np.zeros((5, 7), dtype=bool)  # non-square: 5 rows (y), 7 columns (x)
    mask[3, 6] = True
    assert D.mask_box(mask) == (6, 3, 6, 3)  # a single pixel: x0 == x1, y0 == y1 (inclusive)
    mask[1, 2] = True
    assert D.mask_box(mask) == (2, 1, 6, 3)
    with pytest.raises(ValueError, match="empty"):
        D.mask_box(np.zeros((4, 4), dtype=bool))


def test_paste_mask_is_alpha_threshold_and_inputs_untouched():
    rng = np.random.default_rng(0)
    background = rng.integers(0, 256, size=(20, 30, 3), dtype=np.uint8)  # H=20, W=30
    before = background.copy()
    alpha = np.array([[0.0, 0.4999, 0.5], [1.0, 0.25, 0.75]], dtype=np.float32)  # 2 rows, 3 columns
    image, mask = D.paste_digit(background, alpha, (255, 0, 10), top=17, left=4)
    assert np.array_equal(background, before)
    assert image.dtype == np.uint8 and image.shape == (20, 30, 3) and mask.dtype == bool and mask.shape == (20, 30)
    expected = np.zeros((20, 30), dtype=bool)
    expected[17:19, 4:7] = alpha >= 0.5
    assert np.array_equal(mask, expected)
    outside = np.ones((20, 30), dtype=bool)
    outside[17:19, 4:7] = False
    assert np.array_equal(image[outside], background[outside])
    assert tuple(image[18, 4]) == (255, 0, 10)  # alpha 1: the colour
    assert np.array_equal(image[17, 4], background[17, 4])  # alpha 0: the background
    mixed = np.rint(background[18, 5].astype(np.float32) * 0.75 + np.array([255, 0, 10], np.float32) * 0.25)
    assert np.array_equal(image[18, 5], mixed.astype(np.uint8))
    with pytest.raises(ValueError, match="does not fit"):
        D.paste_digit(background, alpha, (0, 0, 0), top=19, left=0)
    with pytest.raises(ValueError, match="does not fit"):
        D.paste_digit(background, alpha, (0, 0, 0), top=0, left=28)


def test_digit_alpha_range_and_never_empty(sources):
    smallest = int(round(D.DIGIT_SCALE[0] * 32 * 0.75 * 10 / 8))  # narrowest patch at the smallest image size
    for digit in sources.digits:
        alpha = D.digit_alpha(digit, height=smallest, width=smallest)
        assert alpha.dtype == np.float32 and alpha.shape == (smallest, smallest)
        assert alpha.min() >= 0.0 and alpha.max() <= 1.0
        assert (alpha >= 0.5).any()
    non_square = D.digit_alpha(sources.digits[0], height=30, width=17)
    assert non_square.shape == (30, 17)


def test_rendered_box_and_mask_agree_non_square(sources):
    for i in range(50):
        out = D.generate_digit_image(sources.digits[i], sources.photos, height=40, width=70,
                                     rng=np.random.default_rng(i))
        assert out.image.shape == (40, 70, 3) and out.image.dtype == np.uint8 and out.mask.shape == (40, 70)
        ys, xs = np.nonzero(out.mask)
        assert out.box == (xs.min(), ys.min(), xs.max(), ys.max())


def test_render_is_deterministic_and_leaves_photos_alone(sources):
    photos = [p.copy() for p in sources.photos]
    a = D.generate_digit_image(sources.digits[3], photos, height=48, width=48, rng=D.image_rng(5, "train", 7))
    b = D.generate_digit_image(sources.digits[3], photos, height=48, width=48, rng=D.image_rng(5, "train", 7))
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask) and a.box == b.box
    assert all(np.array_equal(p, q) for p, q in zip(photos, sources.photos))
    c = D.generate_digit_image(sources.digits[3], photos, height=48, width=48, rng=D.image_rng(6, "train", 7))
    assert not np.array_equal(a.image, c.image)


def test_clutter_stays_off_the_digit():
    shapes = [(427, 640), (427, 640)]
    count = 0
    for i in range(300):
        params = D.sample_image_params(np.random.default_rng(i), photo_shapes=shapes, height=64, width=64)
        d = params.digit
        patch = (d.left, d.top, d.left + d.width, d.top + d.height)
        assert 0 <= d.top and d.top + d.height <= 64 and 0 <= d.left and d.left + d.width <= 64
        for shape in params.clutter:
            assert R._overlap_fraction(shape.bounds(), patch) <= 0.1
            assert shape.kind in ("ellipse", "rectangle", "blob")
            assert min(shape.axes) >= 0.6 * max(shape.axes) - 1e-9 and max(shape.axes) <= 0.09 * 64
            count += 1
    assert count > 300  # most images get clutter


def test_choose_colour_contrasts():
    white = np.full((4, 4, 3), 250, dtype=np.uint8)
    alpha = np.ones((4, 4), dtype=np.float32)
    assert D.choose_colour(white, alpha, [(245, 245, 245), (10, 10, 10)]) == (10, 10, 10)
    assert D.choose_colour(white, alpha, [(240, 240, 240)]) == (0, 0, 0)  # no candidate contrasts: black


def test_split_source_digits_stratified_and_disjoint(sources):
    pools = D.split_source_digits(sources.labels, rng=np.random.default_rng(0))
    sets = {k: set(v.tolist()) for k, v in pools.items()}
    assert not sets["train"] & sets["train_fullsup"] and not sets["train"] & sets["test"]
    assert not sets["train_fullsup"] & sets["test"]
    assert set().union(*sets.values()) == set(range(len(sources.labels)))
    for label in range(10):
        n = int((sources.labels == label).sum())
        counts = [int((sources.labels[pools[s]] == label).sum()) for s in ("train", "train_fullsup", "test")]
        assert counts[1] == round(0.1 * n) and counts[2] == round(0.2 * n) and sum(counts) == n
    again = D.split_source_digits(sources.labels, rng=np.random.default_rng(0))
    assert all(np.array_equal(pools[k], again[k]) for k in pools)
    with pytest.raises(ValueError, match="fractions"):
        D.split_source_digits(sources.labels, rng=np.random.default_rng(0), fractions=(0.5, 0.5, 0.5))


def test_png_encoding_is_lossless():
    pixels = np.random.default_rng(1).integers(0, 256, size=(9, 13, 3), dtype=np.uint8)
    path_bytes = D.encode_png(pixels)
    assert path_bytes == D.encode_png(pixels.copy())
    import io
    with Image.open(io.BytesIO(path_bytes)) as im:
        assert im.mode == "RGB" and np.array_equal(np.asarray(im), pixels)


# --- the written dataset -------------------------------------------------------------------------------------------

def test_layout_and_info(built):
    root, info = built
    assert info["dataset"] == "digits" and info["num_classes"] == 10 and info["skipped_images"] == 0
    assert list(info["splits"]) == list(SPLITS)
    assert {k: v["num_images"] for k, v in info["splits"].items()} == \
        {"train": 40, "train_fullsup": 10, "test": 20, "test_masks": 20}
    assert info["num_ood"] == 5 and info["ood_root"] == os.path.abspath(root / "ood")
    for name in ("images.txt", "image_class_labels.txt", "train_test_split.txt", "bounding_boxes.txt", "classes.txt",
                 "fullsup/images.txt", "fullsup/bounding_boxes.txt", "digits.json", "metadata/dataset.json"):
        assert (root / name).is_file(), name
    assert not (root / "fullsup" / "train_test_split.txt").exists()
    assert not (root / D.BUILDING_MARKER).exists()
    assert (root / "classes.txt").read_text().splitlines()[:2] == ["1 001.digit_0", "2 002.digit_1"]
    assert (root / "images.txt").read_text().splitlines()[0] == "1 001.digit_0/train_00000.png"
    first_box = (root / "bounding_boxes.txt").read_text().splitlines()[0].split()
    assert first_box[0] == "1" and all(f.endswith(".0") and float(f) == int(float(f)) for f in first_box[1:])
    record = json.loads((root / "digits.json").read_text())
    assert record["config"] == {"image_size": 48, "num_classes": 10, "num_train": 40, "num_fullsup": 10,
                                "num_test": 20, "seed": 0, "num_ood": 5}
    assert record["counts"] == {"train": 40, "train_fullsup": 10, "test": 20, "ood": 5}


def test_metadata_reads_back(built):
    root, info = built
    for name in SPLITS:
        meta_dir = root / "metadata" / name
        assert check_metadata(meta_dir, num_classes=10) == []
        meta = read_metadata(meta_dir, num_classes=10)
        assert set(meta.labels.values()) <= set(range(10))
        if name != "train_fullsup":
            assert set(meta.labels.values()) == set(range(10))  # every class present
        image_root = Path(info["splits"][name]["image_root"])
        for image_id in meta.image_ids:
            assert meta.sizes[image_id] == (48, 48)
            assert image_id.split("/")[0] == D.class_folder(meta.labels[image_id])
        for image_id in meta.image_ids[:5]:
            assert _rgb(image_root / image_id).shape == (48, 48, 3)


def test_boxes_tight_around_masks(built):
    root, _ = built
    for name, tree in (("test", root), ("train", root), ("train_fullsup", root / "fullsup")):
        meta = read_metadata(root / "metadata" / name)
        for image_id in meta.image_ids:
            mask = load_mask(tree / "segmentations" / image_id)
            assert mask.shape == (48, 48) and mask.any()
            ys, xs = np.nonzero(mask)
            assert meta.boxes[image_id] == [(xs.min(), ys.min(), xs.max(), ys.max())]  # inclusive x1, y1
    masks = read_metadata(root / "metadata" / "test_masks")
    for image_id in masks.image_ids:
        rel = masks.masks[image_id].mask_paths[0]
        assert rel == "segmentations/" + image_id
        values = np.unique(np.asarray(Image.open(root / rel)))
        assert set(values.tolist()) == {0, 255}


def test_source_digits_disjoint_and_matching_labels(built, sources):
    root, _ = built
    record = json.loads((root / "digits.json").read_text())
    used = {k: set(v) for k, v in record["source_digits"].items()}
    assert [len(record["source_digits"][k]) for k in ("train", "train_fullsup", "test")] == [40, 10, 20]
    assert not used["train"] & used["test"] and not used["train"] & used["train_fullsup"]
    assert not used["test"] & used["train_fullsup"]
    pools = {k: set(v) for k, v in record["source_pools"].items()}
    assert all(used[k] <= pools[k] for k in used)
    for split in ("train", "test"):
        meta = read_metadata(root / "metadata" / split)
        for image_id, source in zip(meta.image_ids, record["source_digits"][split]):
            assert sources.labels[source] == meta.labels[image_id]


def test_ood_crops(built, sources):
    root, info = built
    files = sorted((root / "ood").iterdir())
    assert [f.name for f in files] == [f"{i:05d}.png" for i in range(5)]
    for i, path in enumerate(files):
        pixels = _rgb(path)
        assert pixels.shape == (48, 48, 3)
        # exactly the background + clutter pipeline with no digit, from the OOD stream
        expected = D.generate_background_image(sources.photos, height=48, width=48, rng=D.image_rng(0, "ood", i))
        assert np.array_equal(pixels, expected)


def test_same_seed_same_bytes_any_workers(built, tmp_path):
    root, _ = built
    other = tmp_path / "b"
    prepare_digits(other, config=SMALL, workers=2)
    a, b = _files(root), _files(other)
    assert sorted(a) == sorted(b) and len(a) > 2 * (40 + 10 + 20)
    # dataset.json records its roots relative to metadata/: the folder's own path appears nowhere
    assert os.fspath(root).encode() not in a["metadata/dataset.json"]
    different = [name for name in a if a[name] != b[name]]
    assert different == []


def test_spawned_workers_give_the_same_bytes(built, tmp_path, monkeypatch):
    import multiprocessing

    root, _ = built
    monkeypatch.setattr(D, "_mp_context", lambda: multiprocessing.get_context("spawn"))
    config = DigitsConfig(image_size=48, num_train=40, num_fullsup=10, num_test=20, seed=0, num_ood=0)
    other = tmp_path / "spawned"
    prepare_digits(other, config=config, workers=2)
    for rel, data in _files(other / "images").items():
        assert (root / "images" / rel).read_bytes() == data


def test_other_seed_and_split_sizes(built, tmp_path):
    root, _ = built
    reseeded = tmp_path / "seed1"
    prepare_digits(reseeded, config=DigitsConfig(image_size=48, num_train=40, num_fullsup=10, num_test=20, seed=1, num_ood=0))
    ids = read_metadata(root / "metadata" / "test").image_ids
    same = sum((root / "images" / i).read_bytes() == (reseeded / "images" / i).read_bytes() for i in ids)
    assert same == 0
    resized = tmp_path / "resized"
    prepare_digits(resized, config=DigitsConfig(image_size=48, num_train=25, num_fullsup=3, num_test=20, seed=0, num_ood=0))
    for i in ids:  # other splits' sizes changed; test images did not
        assert (root / "images" / i).read_bytes() == (resized / "images" / i).read_bytes()
    for i in read_metadata(resized / "metadata" / "train").image_ids:  # a prefix of train is unchanged
        assert (root / "images" / i).read_bytes() == (resized / "images" / i).read_bytes()


def test_cache_reuses_and_refuses_other_config(built, caplog):
    root, info = built
    stamps = {p: p.stat().st_mtime_ns for p in root.rglob("*")}
    with caplog.at_level("INFO", logger="wsol.data.digits"):
        again = prepare_digits(root, config=SMALL)
    assert again == info
    assert "reusing" in caplog.text
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*")} == stamps
    with pytest.raises(InputError, match="another config.*--out"):
        prepare_digits(root, config=DigitsConfig(image_size=48, num_train=41, num_fullsup=10, num_test=20,
                                                 num_ood=5))


def test_moved_folder_is_reused_with_its_roots_resolved_there(built, tmp_path, caplog):
    root, _ = built
    moved = tmp_path / "moved"
    shutil.copytree(root, moved)
    stamps = {p: p.stat().st_mtime_ns for p in moved.rglob("*")}
    with caplog.at_level("INFO", logger="wsol.data.digits"):
        info = prepare_digits(moved, config=SMALL)
    assert "reusing" in caplog.text and {p: p.stat().st_mtime_ns for p in moved.rglob("*")} == stamps
    assert info["splits"]["train"]["image_root"] == os.path.abspath(moved / "images")
    assert info["splits"]["test_masks"]["mask_root"] == os.path.abspath(moved)
    assert info["ood_root"] == os.path.abspath(moved / "ood")
    stored = json.loads((moved / "metadata" / "dataset.json").read_text())
    assert stored["splits"]["train_fullsup"]["image_root"] == "../fullsup/images"
    assert stored["splits"]["test_masks"]["mask_root"] == ".."
    assert read_dataset_info(moved / "metadata")["splits"]["train_fullsup"]["image_root"] == \
        os.path.abspath(moved / "fullsup" / "images")


def test_old_absolute_roots_of_a_moved_folder_are_rewritten(built, tmp_path, caplog):
    root, _ = built
    moved = tmp_path / "moved-old"
    shutil.copytree(root, moved)
    path = moved / "metadata" / "dataset.json"
    old = json.loads(path.read_text())
    for split in old["splits"].values():  # as written before roots became relative: absolute, under the old root
        for key in ("image_root", "mask_root"):
            if split[key] is not None:
                split[key] = os.path.normpath(os.path.join(root / "metadata", split[key]))
    path.write_text(json.dumps(old, indent=2) + "\n")
    with caplog.at_level("INFO", logger="wsol.data.digits"):
        info = prepare_digits(moved, config=SMALL)
    assert "was moved" in caplog.text
    assert info["splits"]["train"]["image_root"] == os.path.abspath(moved / "images")
    assert json.loads(path.read_text())["splits"]["train"]["image_root"] == "../images"


def test_refuses_foreign_folder_and_restarts_interrupted_build(tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    config = DigitsConfig(image_size=32, num_classes=2, num_train=4, num_fullsup=0, num_test=2, num_ood=0)
    with pytest.raises(InputError, match="not empty"):
        prepare_digits(foreign, config=config)
    assert (foreign / "notes.txt").read_text() == "mine"

    interrupted = tmp_path / "interrupted"
    (interrupted / "images" / "001.digit_0").mkdir(parents=True)
    (interrupted / "images" / "001.digit_0" / "train_00099.png").write_bytes(b"half")
    (interrupted / D.BUILDING_MARKER).write_text("{}")
    info = prepare_digits(interrupted, config=config)
    assert info["splits"]["train"]["num_images"] == 4 and "train_fullsup" not in info["splits"]
    assert not (interrupted / "images" / "001.digit_0" / "train_00099.png").exists()
    assert not (interrupted / D.BUILDING_MARKER).exists()
    with pytest.raises(InputError, match="not a folder"):
        prepare_digits(foreign / "notes.txt", config=config)


def test_cli_smoke(tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["prepare", "digits", "--out", str(out), "--num-train", "30", "--num-fullsup", "10", "--num-test",
                 "20", "--image-size", "32", "--num-classes", "3", "--ood", "-q"]) == 0
    assert "digits, 3 classes" in capsys.readouterr().out
    record = json.loads((out / "digits.json").read_text())
    assert record["config"]["num_ood"] == 20 and len(list((out / "ood").iterdir())) == 20
    assert read_metadata(out / "metadata" / "train", num_classes=3).num_classes_seen == 3
    # the same command again reuses the folder; another config is a one-line error with status 2
    assert main(["prepare", "digits", "--out", str(out), "--num-train", "30", "--num-fullsup", "10", "--num-test",
                 "20", "--image-size", "32", "--num-classes", "3", "--ood", "-q"]) == 0
    capsys.readouterr()
    assert main(["prepare", "digits", "--out", str(out), "--num-train", "31", "-q"]) == 2
    assert "another config" in capsys.readouterr().err
    assert main(["prepare", "digits", "--out", str(tmp_path / "bad"), "--num-train", "0", "-q"]) == 2
    assert "num_train must be >= 1 (0)" in capsys.readouterr().err
