"""Prepared datasets keep working when moved or copied: roots in dataset.json are relative where they can be."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from fixtures_data import CUB_IMAGES, write_cub
from wsol.cli.main import main
from wsol.data.cub import prepare_cub
from wsol.data.datasets import open_split
from wsol.data.digits import DigitsConfig, prepare_digits
from wsol.data.prepare import dataset_info, read_dataset_info, resolve_roots, stored_root, write_prepared
from wsol.errors import InputError
from wsol.models import build_model

TINY = DigitsConfig(image_size=32, num_train=10, num_fullsup=0, num_test=10, seed=1, num_ood=0)


def _stored(meta: Path) -> dict:
    return json.loads((meta / "dataset.json").read_text())


def _relocate(src: Path, dst: Path, how: str) -> Path:
    """Move ``src`` to ``dst`` (``shutil.move``), or copy it there and delete the original."""
    if how == "move":
        shutil.move(src, dst)
    else:
        shutil.copytree(src, dst)
        shutil.rmtree(src)
    assert not src.exists()
    return dst


@pytest.fixture
def weights(tmp_path) -> Path:
    torch.manual_seed(0)
    path = tmp_path / "net.pth"
    torch.save(build_model("digits_net", num_classes=10).state_dict(), path)
    return path


def _evaluate(weights: Path, meta_split: Path, out: Path) -> dict:
    assert main(["evaluate", str(weights), "--metadata", str(meta_split), "--out", str(out), "--image-size", "32",
                 "--workers", "0", "--device", "cpu", "-q"]) == 0
    return json.loads(out.read_text())


# --- the rule --------------------------------------------------------------------------------------------------

def test_stored_root_rule(tmp_path):
    tree = tmp_path / "CUB"
    assert stored_root(tmp_path / "m" / "images", meta_dir=tmp_path / "m") == "images"
    assert stored_root(tmp_path / "m", meta_dir=tmp_path / "m") == "."
    # inside the dataset's own tree, and so is the metadata folder: relative with ..
    assert stored_root(tree / "images", meta_dir=tree / "metadata", tree=tree) == "../images"
    assert stored_root(tree, meta_dir=tree / "metadata", tree=tree) == ".."
    assert stored_root(tree / "images", meta_dir=tree / "a" / "b", tree=tree) == "../../images"
    # outside: absolute
    assert stored_root(tree / "images", meta_dir=tmp_path / "meta") == os.path.abspath(tree / "images")
    assert stored_root(tree / "images", meta_dir=tmp_path / "meta", tree=tree) == os.path.abspath(tree / "images")
    assert stored_root(tmp_path / "other", meta_dir=tree / "metadata", tree=tree) == os.path.abspath(tmp_path / "other")
    # a sibling whose name starts like the folder is not inside it
    assert stored_root(tmp_path / "m2" / "images", meta_dir=tmp_path / "m") == os.path.abspath(tmp_path / "m2/images")


def test_resolve_roots(tmp_path):
    info = {"splits": {"a": {"image_root": "../images", "mask_root": None},
                       "b": {"image_root": "/abs/images", "mask_root": "."}}}
    resolved = resolve_roots(info, tmp_path / "meta")
    assert resolved["splits"]["a"] == {"image_root": os.path.abspath(tmp_path / "images"), "mask_root": None}
    assert resolved["splits"]["b"] == {"image_root": "/abs/images", "mask_root": os.path.abspath(tmp_path / "meta")}
    assert info["splits"]["a"]["image_root"] == "../images"  # the input is not modified
    with pytest.raises(InputError, match=r"dataset.json: image_root of split a must be a folder path or null \(3\)"):
        resolve_roots({"splits": {"a": {"image_root": 3}}}, tmp_path)


# --- digits: moved or copied as a whole --------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["move", "copy"])
def test_moved_digits_dataset_evaluates(tmp_path, weights, how):
    original = tmp_path / "a" / "digits"
    prepare_digits(original, config=TINY, workers=1)
    stored = _stored(original / "metadata")["splits"]
    assert stored["test"]["image_root"] == "../images" and stored["test_masks"]["mask_root"] == ".."
    before = _evaluate(weights, original / "metadata" / "test", tmp_path / "before.json")

    (tmp_path / "b").mkdir()
    moved = _relocate(original.parent, tmp_path / "b" / "elsewhere", how) / "digits"
    after = _evaluate(weights, moved / "metadata" / "test", tmp_path / "after.json")
    assert after["num_images"] == before["num_images"] == 10
    for key in ("top1_cls", "maxboxacc", "maxboxacc_v2"):
        assert after[key] == before[key]
    masks = _evaluate(weights, moved / "metadata" / "test_masks", tmp_path / "masks.json")
    assert "pxap" in masks
    dataset = open_split(moved / "metadata" / "train", image_size=32)
    assert dataset.image_root == moved / "images" and dataset[0]["image"].shape == (3, 32, 32)


# --- CUB: metadata inside the tree, or the tree inside the metadata folder ----------------------------------------

@pytest.mark.parametrize("how", ["move", "copy"])
def test_moved_cub_tree_with_its_metadata(tmp_path, weights, how):
    data = tmp_path / "data"
    cub = write_cub(data / "CUB_200_2011", segmentations=True)
    write_prepared(prepare_cub(cub), cub / "metadata")  # metadata inside the tree it describes
    write_prepared(prepare_cub(cub), data)  # the tree inside the metadata folder
    assert _stored(cub / "metadata")["splits"]["test"]["image_root"] == "../images"
    assert _stored(cub / "metadata")["splits"]["test_masks"]["mask_root"] == ".."
    assert _stored(data)["splits"]["train"]["image_root"] == "CUB_200_2011/images"

    moved = _relocate(data, tmp_path / "moved", how)
    for meta in (moved / "CUB_200_2011" / "metadata", moved):
        dataset = open_split(meta / "test", localization="boxes", image_size=32)
        assert dataset.image_root == moved / "CUB_200_2011" / "images"
        assert len(dataset) == 2 and dataset[0]["image"].shape == (3, 32, 32)
        masks = open_split(meta / "test_masks", localization="masks", image_size=32)
        assert masks.mask_root == moved / "CUB_200_2011" and masks[0]["mask"].any()
    result = _evaluate(weights, moved / "CUB_200_2011" / "metadata" / "test", tmp_path / "cub.json")
    assert result["num_images"] == 2


# --- roots outside stay absolute; old absolute files still load --------------------------------------------------

def test_roots_outside_the_folder_stay_absolute(tmp_path):
    cub = write_cub(tmp_path / "CUB_200_2011")
    full = write_cub(tmp_path / "fullsup", CUB_IMAGES[:2])
    (full / "train_test_split.txt").unlink()
    write_prepared(prepare_cub(cub, fullsup_root=full), tmp_path / "meta")  # metadata outside the tree
    stored = _stored(tmp_path / "meta")["splits"]
    assert stored["train"]["image_root"] == os.path.abspath(cub / "images")
    assert stored["train_fullsup"]["image_root"] == os.path.abspath(full / "images")

    write_prepared(prepare_cub(cub, fullsup_root=full), cub / "metadata")  # inside the tree; fullsup is not
    stored = _stored(cub / "metadata")["splits"]
    assert stored["train"]["image_root"] == "../images"
    assert stored["train_fullsup"]["image_root"] == os.path.abspath(full / "images")

    # the metadata folder alone moves elsewhere: absolute roots keep pointing at the tree
    moved = _relocate(tmp_path / "meta", tmp_path / "somewhere" / "meta", "move")
    assert open_split(moved / "train_fullsup").image_root == full / "images"
    assert open_split(moved / "test", image_size=32)[1]["image_id"] == "002.Beta/Beta_0001.jpg"


def test_old_dataset_json_with_absolute_roots_loads(tmp_path):
    cub = write_cub(tmp_path / "CUB_200_2011", segmentations=True)
    prepared = prepare_cub(cub)
    meta = cub / "metadata"
    write_prepared(prepared, meta)
    old = dataset_info(prepared)  # as versions before relative roots wrote it: every root absolute
    assert old["splits"]["test"]["image_root"] == os.path.abspath(cub / "images")
    (meta / "dataset.json").write_text(json.dumps(old, indent=2) + "\n")
    assert read_dataset_info(meta) == old
    assert read_dataset_info(meta / "test")["splits"]["test_masks"]["mask_root"] == os.path.abspath(cub)
    dataset = open_split(meta / "test", image_size=32)
    assert dataset.image_root == cub / "images" and dataset[0]["image"].shape == (3, 32, 32)
