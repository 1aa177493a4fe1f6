"""Torch datasets and transforms."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from fixtures_data import write_cub
from wsol.constants import IMAGENET_MEAN, IMAGENET_STD
from wsol.data.cub import prepare_cub
from wsol.data.datasets import WSOLDataset, collate, open_split, scale_boxes
from wsol.data.prepare import write_prepared
from wsol.data.transforms import denormalize, eval_transform, train_transform
from wsol.errors import InputError


@pytest.fixture
def prepared_meta(tmp_path):
    root = write_cub(tmp_path / "CUB", segmentations=True)
    write_prepared(prepare_cub(root), tmp_path / "meta")
    return tmp_path / "meta"


def test_eval_sample_with_boxes(prepared_meta):
    ds = open_split(prepared_meta / "test", localization="boxes", image_size=32)
    assert len(ds) == 2
    sample = ds[1]
    assert sample["image"].shape == (3, 32, 32) and sample["image"].dtype == torch.float32
    assert sample["image_id"] == "002.Beta/Beta_0001.jpg" and sample["label"] == 1 and sample["index"] == 1
    # box (12, 2, 20, 11) in a 50x40 image -> x * 32/50, y * 32/40
    assert torch.allclose(sample["boxes"], torch.tensor([[7.68, 1.6, 12.8, 8.8]]))


def test_scale_boxes_non_square():
    out = scale_boxes([(0, 0, 100, 50), (10, 20, 30, 40)], (100, 50), 224)
    assert torch.equal(out, torch.tensor([[0, 0, 224, 224], [22.4, 89.6, 67.2, 179.2]], dtype=torch.float32))


def test_masks_sample(prepared_meta):
    ds = open_split(prepared_meta / "test_masks", localization="masks", image_size=16)
    sample = ds[0]  # 60x48 image, mask rows 12:24, cols 15:30
    assert sample["mask"].dtype == torch.bool and sample["mask"].shape == (16, 16)
    assert not sample["ignore"].any()
    ys, xs = np.nonzero(sample["mask"].numpy())
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (4, 7, 4, 7)


def test_collate_keeps_box_lists(prepared_meta):
    ds = open_split(prepared_meta / "test", localization="boxes", image_size=8)
    batch = collate([ds[0], ds[1]])
    assert batch["image"].shape == (2, 3, 8, 8) and batch["label"].tolist() == [0, 1]
    assert isinstance(batch["boxes"], list) and batch["image_id"][0] == "001.Alpha/Alpha_0002.jpg"


def test_loader_end_to_end(prepared_meta):
    ds = open_split(prepared_meta / "train", transform=train_transform(image_size=24, resize_size=28))
    loader = torch.utils.data.DataLoader(ds, batch_size=2, collate_fn=collate)
    shapes = [b["image"].shape for b in loader]
    assert shapes == [(2, 3, 24, 24), (2, 3, 24, 24)]


def test_errors(prepared_meta, tmp_path):
    with pytest.raises(InputError, match="split has no masks"):
        open_split(prepared_meta / "test", localization="masks")
    with pytest.raises(InputError, match="image root folder not found"):
        WSOLDataset(prepared_meta / "test", tmp_path / "nowhere")
    ds = open_split(prepared_meta / "test")
    # an image whose size disagrees with the metadata is reported, not silently used
    Image.fromarray(np.zeros((5, 5, 3), np.uint8)).save(ds.image_path(0), format="JPEG")
    with pytest.raises(InputError, match=r"Alpha_0002.jpg: image is 5x5 but the metadata says 60x48"):
        ds[0]


def test_eval_transform_normalises_with_imagenet_stats():
    im = Image.fromarray(np.full((10, 20, 3), 255, np.uint8))
    out = eval_transform(image_size=4)(im)
    expected = (1.0 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    assert out.shape == (3, 4, 4) and torch.allclose(out[:, 0, 0], expected)
    assert torch.allclose(denormalize(out), torch.ones(3, 4, 4))


def test_transform_options_are_checked():
    with pytest.raises(ValueError, match="unknown crop style 'nope'"):
        train_transform(crop="nope")
    with pytest.raises(ValueError, match="resize_size"):
        train_transform(image_size=224, resize_size=200)
    torch.manual_seed(0)
    out = train_transform(image_size=8, crop="random_resized_crop")(Image.new("RGB", (30, 20)))
    assert out.shape == (3, 8, 8)
