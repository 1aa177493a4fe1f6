"""OOD image sets: determinism, normalisation, folder listing, geometry and errors."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from wsol.constants import IMAGENET_MEAN, IMAGENET_STD
from wsol.errors import InputError
from wsol.ood.datasets import GaussianNoise, ImageFolderOOD, UniformNoise, list_image_files


def _pixels(image: torch.Tensor) -> torch.Tensor:
    """Undo the ImageNet normalisation (no clamping, so that wrong constants would show)."""
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return image * std + mean


@pytest.mark.parametrize("cls", [GaussianNoise, UniformNoise])
def test_noise_sample_format_and_determinism(cls):
    ds = cls(5, 8, 3)
    assert len(ds) == 5
    sample = ds[2]
    assert set(sample) == {"image", "index"} and sample["index"] == 2
    assert sample["image"].dtype == torch.float32 and sample["image"].shape == (3, 8, 8)
    forward = [ds[i]["image"] for i in range(5)]
    backward = [cls(5, 8, 3)[i]["image"] for i in reversed(range(5))][::-1]
    for a, b in zip(forward, backward):
        assert torch.equal(a, b)  # same seed, any order: same images
    assert not torch.equal(forward[0], forward[1])
    assert not torch.equal(forward[0], cls(5, 8, 4)[0]["image"])
    assert torch.equal(ds[-1]["image"], forward[4]) and ds[-1]["index"] == 4
    # a longer set with the same seed starts with the same images
    assert torch.equal(cls(50, 8, 3)[2]["image"], forward[2])


def test_gaussian_noise_distribution():
    pixels = _pixels(GaussianNoise(1, 64, 0)[0]["image"])
    assert pixels.min() > -1e-5 and pixels.max() < 1 + 1e-5
    # N(0.5, 1) clipped: P(x <= 0) = P(x >= 1) = Phi(-0.5) = 0.3085
    assert (pixels < 1e-5).float().mean().item() == pytest.approx(0.3085, abs=0.02)
    assert (pixels > 1 - 1e-5).float().mean().item() == pytest.approx(0.3085, abs=0.02)


def test_uniform_noise_distribution():
    pixels = _pixels(UniformNoise(1, 64, 0)[0]["image"])
    assert pixels.min() > -1e-5 and pixels.max() < 1 + 1e-5
    assert pixels.mean().item() == pytest.approx(0.5, abs=0.02)
    assert (pixels < 1e-3).float().mean().item() < 0.01  # no mass piled up at the ends


@pytest.mark.parametrize("cls", [GaussianNoise, UniformNoise])
def test_noise_normalisation_uses_the_constants(cls):
    ds = cls(3, 6, 9)
    raw = torch.from_numpy(ds.pixels(ds.generator(1)))
    assert torch.allclose(_pixels(ds[1]["image"]), raw, atol=1e-6)


def test_noise_batches_with_default_collate():
    batch = next(iter(DataLoader(UniformNoise(10, 4, 0), batch_size=4)))
    assert batch["image"].shape == (4, 3, 4, 4) and batch["index"].tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("kwargs, match", [
    (dict(n=-1, size=4, seed=0), "n must be"),
    (dict(n=2, size=0, seed=0), "size must be"),
    (dict(n=2, size=4.0, seed=0), "size must be"),
    (dict(n=2, size=4, seed=-3), "seed must be"),
])
def test_noise_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GaussianNoise(**kwargs)


def test_noise_index_out_of_range():
    ds = UniformNoise(2, 4, 0)
    with pytest.raises(IndexError):
        ds[2]
    assert len(UniformNoise(0, 4, 0)) == 0
    assert list(ds) and len(list(ds)) == 2  # iteration stops at IndexError


# ------------------------------------------------------------------------------------------------ image folders
def _stripes(path: Path, width: int = 60, height: int = 20) -> None:
    """Three vertical stripes: red | green | blue (non-square, to catch H/W mix-ups)."""
    arr = np.zeros((height, width, 3), dtype=np.uint8)
    third = width // 3
    arr[:, :third, 0] = 255
    arr[:, third:2 * third, 1] = 255
    arr[:, 2 * third:, 2] = 255
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def _solid(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((12, 9, 3), value, dtype=np.uint8)).save(path)


def test_folder_listing_is_recursive_sorted_and_skips_hidden(tmp_path):
    _solid(tmp_path / "b" / "2.png", 10)
    _solid(tmp_path / "b" / "10.JPG", 20)
    _solid(tmp_path / "a.jpeg", 30)
    _solid(tmp_path / "c" / "d" / "e.png", 40)
    _solid(tmp_path / ".hidden" / "x.png", 50)
    _solid(tmp_path / ".y.png", 60)
    (tmp_path / "notes.txt").write_text("not an image")
    rel = [p.relative_to(tmp_path).as_posix() for p in list_image_files(tmp_path)]
    assert rel == ["a.jpeg", "b/10.JPG", "b/2.png", "c/d/e.png"]
    ds = ImageFolderOOD(tmp_path, 8)
    assert len(ds) == 4
    sample = ds[1]
    assert set(sample) == {"image", "index"} and sample["index"] == 1
    assert sample["image"].shape == (3, 8, 8) and sample["image"].dtype == torch.float32
    assert _pixels(ds[3]["image"]).mean().item() == pytest.approx(40 / 255, abs=1e-3)
    assert ds[-1]["index"] == 3
    with pytest.raises(IndexError):
        ds[4]


def test_folder_modes_on_a_non_square_image(tmp_path):
    _stripes(tmp_path / "stripes.png", width=90, height=20)
    resized = _pixels(ImageFolderOOD(tmp_path, 12, mode="resize")[0]["image"])
    cropped = _pixels(ImageFolderOOD(tmp_path, 12, mode="center_crop")[0]["image"])
    assert resized.shape == cropped.shape == (3, 12, 12)
    red, green, blue = (torch.tensor(c, dtype=torch.float32) for c in ([1, 0, 0], [0, 1, 0], [0, 0, 1]))
    # resize squeezes the width: red on the left, green in the middle, blue on the right, on every row
    assert torch.allclose(resized[:, 0, 0], red, atol=0.02) and torch.allclose(resized[:, 11, 0], red, atol=0.02)
    assert torch.allclose(resized[:, 6, 6], green, atol=0.02)
    assert torch.allclose(resized[:, 0, 11], blue, atol=0.02)
    # center_crop keeps the aspect ratio (54 x 12) and keeps the middle 12 of the green 18 columns: all green
    assert torch.allclose(cropped, green.view(3, 1, 1).expand(3, 12, 12), atol=0.02)


def test_folder_errors(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(InputError, match="OOD image folder not found") as info:
        ImageFolderOOD(missing, 8)
    assert str(missing) in str(info.value)
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "readme.txt").write_text("x")
    with pytest.raises(InputError, match="no image files") as info:
        ImageFolderOOD(empty, 8)
    assert str(empty) in str(info.value)
    _solid(tmp_path / "ok" / "a.png", 1)
    with pytest.raises(ValueError, match="unknown mode 'crop'"):
        ImageFolderOOD(tmp_path / "ok", 8, mode="crop")
    with pytest.raises(ValueError, match="size must be"):
        ImageFolderOOD(tmp_path / "ok", 0)
    (tmp_path / "ok" / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    ds = ImageFolderOOD(tmp_path / "ok", 8)
    with pytest.raises(InputError, match="b.png"):
        ds[1]
