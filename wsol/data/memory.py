"""A split decoded once into memory, and whole-batch augmentation on tensors (for small datasets such as digits).

Decoding a 64x64 PNG costs more than a training step of a small CNN spends on it, so for small datasets the
training loop keeps the split as one uint8 tensor ``(N, 3, S, S)`` and augments whole batches with tensor ops, with
randomness from an explicit ``torch.Generator`` (same seed, same batches, on any device).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from wsol.constants import IMAGENET_MEAN, IMAGENET_STD
from wsol.data.datasets import WSOLDataset
from wsol.data.images import load_rgb

#: Crop styles :func:`augment_batch` implements (``random_resized_crop`` needs the PIL path).
MEMORY_CROPS = ("pad_crop", "resize_random_crop")


@dataclass
class MemorySplit:
    """A split decoded into memory.

    Attributes:
        images: uint8 ``(N, 3, S, S)`` RGB, resized to ``S x S`` (aspect ratio not kept, bilinear as the PIL path).
        labels: int64 ``(N,)``.
        image_ids: the metadata ids, in split order.
    """

    images: Tensor
    labels: Tensor
    image_ids: list[str]

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def to(self, device: torch.device | str) -> "MemorySplit":
        """The same split with its tensors on ``device``."""
        return MemorySplit(self.images.to(device), self.labels.to(device), self.image_ids)


def load_split(dataset: WSOLDataset, *, size: int, threads: int = 4) -> MemorySplit:
    """Decode every image of ``dataset`` once, resized to ``size x size``.

    Args:
        dataset: the split (its transform is not used).
        size: side of the stored images.
        threads: decoding threads.

    Raises:
        InputError: a missing, unreadable or truncated image (named in the message).
    """
    if size < 1:
        raise ValueError(f"size must be positive, got {size}")
    from PIL import Image

    def one(index: int) -> np.ndarray:
        image = load_rgb(dataset.image_path(index))
        if image.size != (size, size):
            image = image.resize((size, size), Image.BILINEAR)
        return np.asarray(image, dtype=np.uint8)

    n = len(dataset)
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        arrays = list(pool.map(one, range(n)))
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous() if n else torch.zeros(
        (0, 3, size, size), dtype=torch.uint8)
    ids = list(dataset.metadata.image_ids)
    labels = torch.tensor([dataset.metadata.labels[i] for i in ids], dtype=torch.int64)
    return MemorySplit(images=images, labels=labels, image_ids=ids)


def normalize_batch(images: Tensor, *, dtype: torch.dtype = torch.float32) -> Tensor:
    """uint8 ``(N, 3, H, W)`` -> float, scaled to [0, 1] and normalised with the ImageNet mean / std."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=dtype, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=dtype, device=images.device).view(1, 3, 1, 1)
    return (images.to(dtype) / 255.0 - mean) / std


def random_crops(images: Tensor, *, size: int, pad: int, generator: torch.Generator) -> Tensor:
    """One random ``size x size`` crop per image of the zero-padded batch (vectorised gather, no Python loop).

    Args:
        images: ``(N, C, H, W)`` any dtype, ``H, W >= size - 2 * pad``.
        size: side of the crops.
        pad: zero padding added on every side before cropping.
        generator: source of the offsets (on the CPU); offsets are uniform over all valid positions.

    Returns:
        ``(N, C, size, size)``, same dtype and device as ``images``.
    """
    n, c, h, w = images.shape
    if pad:
        images = torch.nn.functional.pad(images, (pad, pad, pad, pad))
        h, w = h + 2 * pad, w + 2 * pad
    if h < size or w < size:
        raise ValueError(f"images of {h}x{w} (after padding) are smaller than the crop {size}")
    y0 = torch.randint(0, h - size + 1, (n,), generator=generator).to(images.device)
    x0 = torch.randint(0, w - size + 1, (n,), generator=generator).to(images.device)
    ar = torch.arange(size, device=images.device)
    rows = (y0[:, None] + ar).view(n, 1, size, 1).expand(n, c, size, w)
    out = torch.gather(images, 2, rows)
    cols = (x0[:, None] + ar).view(n, 1, 1, size).expand(n, c, size, size)
    return torch.gather(out, 3, cols)


def random_hflip(images: Tensor, *, generator: torch.Generator) -> Tensor:
    """Flip each image horizontally with probability 1/2 (a new tensor)."""
    flip = (torch.rand(images.shape[0], generator=generator) < 0.5).to(images.device)
    return torch.where(flip.view(-1, 1, 1, 1), images.flip(3), images)


def augment_batch(images: Tensor, *, crop: str, size: int, pad: int, hflip: bool, generator: torch.Generator,
                  dtype: torch.dtype = torch.float32) -> Tensor:
    """Training augmentation of a uint8 batch, then normalisation.

    Args:
        images: uint8 ``(N, 3, S, S)`` as stored by :func:`load_split` (``S = size`` for ``pad_crop``, the resize
            size for ``resize_random_crop``).
        crop: ``"pad_crop"`` (pad by ``pad``, random crop) or ``"resize_random_crop"`` (random crop of the stored,
            already resized image).
        size: output side.
        pad: padding of ``pad_crop``.
        hflip: random horizontal flips.
        generator: CPU ``torch.Generator``, the only source of randomness.
        dtype: float dtype of the result.

    Returns:
        normalised float ``(N, 3, size, size)``.
    """
    if crop not in MEMORY_CROPS:
        raise ValueError(f"in-memory augmentation supports crop in {MEMORY_CROPS}, got {crop!r}")
    x = random_crops(images, size=size, pad=pad if crop == "pad_crop" else 0, generator=generator)
    if hflip:
        x = random_hflip(x, generator=generator)
    return normalize_batch(x, dtype=dtype)


def eval_batch(images: Tensor, *, size: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """Evaluation view of a uint8 batch: resized to ``size`` when needed (bilinear), normalised."""
    x = images
    if x.shape[-1] != size or x.shape[-2] != size:
        x = torch.nn.functional.interpolate(x.float(), size=(size, size), mode="bilinear", align_corners=False,
                                            antialias=True).round().clamp(0, 255)
    return normalize_batch(x, dtype=dtype)
