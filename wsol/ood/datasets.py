"""Out-of-distribution image sets: synthetic noise and a folder of images.

Every set yields ``{"image": float32 tensor (3, S, S), "index": int}``, the image normalised with the ImageNet
mean/std of :mod:`wsol.constants` (the same :func:`wsol.data.transforms.normalize` as the in-distribution sets), so
it can go through the same model. Batches collate with torch's default collate.

The noise sets draw every image from its own generator, seeded from ``(seed, index)`` with numpy's
``SeedSequence``: the same seed gives the same image for an index whatever the order or the number of workers.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision import transforms as T

from wsol.constants import IMAGENET_MEAN, IMAGENET_STD
from wsol.data.images import IMAGE_EXTENSIONS
from wsol.data.images import load_rgb
from wsol.data.transforms import normalize
from wsol.errors import InputError

__all__ = ["GaussianNoise", "UniformNoise", "ImageFolderOOD", "FOLDER_MODES", "list_image_files"]

#: How :class:`ImageFolderOOD` brings an image to ``size x size``.
FOLDER_MODES: tuple[str, ...] = ("resize", "center_crop")


def _check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _normalize_array(pixels: np.ndarray) -> torch.Tensor:
    """float32 ``(3, S, S)`` pixels in [0, 1] -> normalised tensor, ``(x - mean) / std`` per channel."""
    mean = np.asarray(IMAGENET_MEAN, dtype=np.float32).reshape(3, 1, 1)
    std = np.asarray(IMAGENET_STD, dtype=np.float32).reshape(3, 1, 1)
    return torch.from_numpy((pixels - mean) / std)


class _NoiseDataset(Dataset):
    """``n`` noise images of side ``size``; subclasses draw the [0, 1] pixels from a per-index generator."""

    def __init__(self, n: int, size: int, seed: int) -> None:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"n must be an integer >= 0, got {n!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
        self.n = int(n)
        self.size = _check_positive_int(size, "size")
        self.seed = int(seed)

    def __len__(self) -> int:
        return self.n

    def generator(self, index: int) -> np.random.Generator:
        """The generator of image ``index``: independent of every other index and of the access order."""
        return np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(index,)))

    def pixels(self, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def __getitem__(self, index: int) -> dict[str, Any]:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"index must be an integer, got {index!r}")
        if not -self.n <= index < self.n:
            raise IndexError(f"index {index} out of range for {type(self).__name__} of length {self.n}")
        index = int(index) % self.n
        pixels = self.pixels(self.generator(index))
        return {"image": _normalize_array(pixels), "index": index}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n={self.n}, size={self.size}, seed={self.seed})"


class GaussianNoise(_NoiseDataset):
    """Gaussian noise images: every pixel ``N(0.5, 1)``, clipped to [0, 1], then normalised.

    With a standard deviation of 1, about 31% of the pixels clip to 0 and 31% to 1 (the usual "Gaussian" OOD set of
    Hendrycks & Gimpel's and the CutMix paper's tables).

    Args:
        n: number of images.
        size: image side ``S``.
        seed: base seed; image ``i`` is drawn from ``SeedSequence(seed, spawn_key=(i,))``.
    """

    def pixels(self, rng: np.random.Generator) -> np.ndarray:
        x = rng.normal(0.5, 1.0, size=(3, self.size, self.size)).astype(np.float32)
        return np.clip(x, 0.0, 1.0)


class UniformNoise(_NoiseDataset):
    """Uniform noise images: every pixel ``U[0, 1)``, then normalised.

    Args:
        n: number of images.
        size: image side ``S``.
        seed: base seed; image ``i`` is drawn from ``SeedSequence(seed, spawn_key=(i,))``.
    """

    def pixels(self, rng: np.random.Generator) -> np.ndarray:
        return rng.random(size=(3, self.size, self.size), dtype=np.float32)


def list_image_files(root: str | os.PathLike) -> list[Path]:
    """Every image file under ``root`` (recursively), sorted by relative POSIX path.

    Image files are recognised by extension (:data:`wsol.data.images.IMAGE_EXTENSIONS`, any letter case); hidden
    files and folders (names starting with ``.``) are skipped; symbolic links to folders are not followed.

    Raises:
        InputError: ``root`` is not a folder, or it holds no image file (the message names the folder).
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError("OOD image folder not found", path=root)
    found: list[tuple[str, Path]] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS:
                path = Path(folder) / name
                found.append((path.relative_to(root).as_posix(), path))
    if not found:
        raise InputError(f"no image files ({', '.join(IMAGE_EXTENSIONS)}) in OOD image folder", path=root)
    return [path for _, path in sorted(found)]


class ImageFolderOOD(Dataset):
    """Every image file under a folder, as an OOD set (labels, if any, are ignored).

    Args:
        root: the folder; searched recursively (see :func:`list_image_files`).
        size: output side ``S``.
        mode: ``"resize"`` to ``S x S`` (aspect ratio not kept, as the WSOL evaluation transform), or
            ``"center_crop"``: resize the shorter side to ``S`` (aspect ratio kept), then crop the central ``S x S``.

    Raises:
        InputError: missing folder or no image in it; images that cannot be decoded raise when read.
    """

    def __init__(self, root: str | os.PathLike, size: int, *, mode: str = "resize") -> None:
        if mode not in FOLDER_MODES:
            raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(FOLDER_MODES)}")
        self.size = _check_positive_int(size, "size")
        self.mode = mode
        self.root = Path(root)
        self.paths = list_image_files(self.root)
        geometry = [T.Resize((size, size))] if mode == "resize" else [T.Resize(size), T.CenterCrop(size)]
        self.transform: Callable = T.Compose(geometry + [T.ToTensor(), normalize()])

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict[str, Any]:
        index = range(len(self.paths))[index]  # negative indices and IndexError as for a list
        return {"image": self.transform(load_rgb(self.paths[index])), "index": index}

    def __repr__(self) -> str:
        return f"ImageFolderOOD(root={str(self.root)!r}, size={self.size}, mode={self.mode!r}, n={len(self.paths)})"
