"""Torch datasets over a metadata split and an image root.

A sample is a dict::

    image     float tensor (3, S, S), normalised (see wsol.data.transforms)
    label     int, 0-based class
    image_id  str, the metadata id
    index     int, position in the split
    boxes     float tensor (K, 4), xyxy scaled from the original image to the S×S evaluation frame
              (x * S / width, y * S / height, not rounded) -- only with localization="boxes"
    mask      bool tensor (S, S), union of the image's masks, nearest-neighbour resized -- localization="masks"
    ignore    bool tensor (S, S), the ignore region (all False when none)               -- localization="masks"

The published scoring protocol rescales the *original-size* boxes itself (with its own truncation rule); these
float boxes are for drawing and for methods that need boxes in the network's frame.
Use :func:`collate` with a DataLoader when samples carry boxes (their count varies per image).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.utils.data import Dataset

from wsol.constants import DEFAULT_IMAGE_SIZE
from wsol.data.images import load_mask, load_rgb, resolve_image_path
from wsol.data.metadata import Metadata, read_metadata
from wsol.data.prepare import read_dataset_info
from wsol.data.transforms import eval_transform
from wsol.errors import InputError

LOCALIZATION_MODES = (None, "boxes", "masks")


class WSOLDataset(Dataset):
    """Images of one metadata split.

    Args:
        metadata: the split (a :class:`~wsol.data.metadata.Metadata` or its folder).
        image_root: folder the image ids are relative to.
        transform: PIL image -> tensor; default :func:`~wsol.data.transforms.eval_transform` at ``image_size``.
        localization: also return ``"boxes"`` or ``"masks"`` (see the module docstring), or ``None``.
        image_size: side ``S`` of the evaluation frame for boxes and masks; must match the transform's output.
        mask_root: folder the mask paths are relative to (``localization="masks"``).
    """

    def __init__(self, metadata: Metadata | str | os.PathLike, image_root: str | os.PathLike, *,
                 transform: Callable | None = None, localization: str | None = None,
                 image_size: int = DEFAULT_IMAGE_SIZE, mask_root: str | os.PathLike | None = None) -> None:
        if localization not in LOCALIZATION_MODES:
            raise ValueError(f"localization must be one of {LOCALIZATION_MODES}, got {localization!r}")
        self.metadata = metadata if isinstance(metadata, Metadata) else read_metadata(metadata)
        self.image_root = Path(image_root)
        if not self.image_root.is_dir():
            raise InputError("image root folder not found", path=self.image_root)
        if localization is not None and self.metadata.localization != localization:
            raise InputError(f"split has no {localization} (its localization.txt holds "
                             f"{self.metadata.localization or 'nothing'})", value=localization)
        if localization == "masks" and mask_root is None:
            raise ValueError("localization='masks' needs mask_root")
        self.transform = transform if transform is not None else eval_transform(image_size=image_size)
        self.localization = localization
        self.image_size = image_size
        self.mask_root = None if mask_root is None else Path(mask_root)

    def __len__(self) -> int:
        return len(self.metadata)

    def image_path(self, index: int) -> Path:
        return resolve_image_path(self.image_root, self.metadata.image_ids[index])

    def __getitem__(self, index: int) -> dict[str, Any]:
        image_id = self.metadata.image_ids[index]
        image = load_rgb(self.image_path(index))
        expected = self.metadata.sizes.get(image_id)  # None: a mask split without image sizes (masks give them)
        if expected is not None and image.size != expected:
            raise InputError(f"image is {image.size[0]}x{image.size[1]} but the metadata says "
                             f"{expected[0]}x{expected[1]}", path=self.image_path(index))
        sample: dict[str, Any] = {"image": self.transform(image), "label": self.metadata.labels[image_id],
                                  "image_id": image_id, "index": index}
        if self.localization == "boxes":
            sample["boxes"] = scale_boxes(self.metadata.boxes[image_id], expected, self.image_size)
        elif self.localization == "masks":
            sample["mask"], sample["ignore"] = self._masks(image_id, expected)
        return sample

    def _masks(self, image_id: str, size: tuple[int, int] | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The union of an image's masks and its ignore mask, resized to the network input. Without a recorded
        image size the first mask file sets it and every other file of the image must agree with it."""
        ann = self.metadata.masks[image_id]
        first = resolve_image_path(self.mask_root, ann.mask_paths[0]) if size is None else None
        union = None
        for rel in ann.mask_paths:
            mask = self._read_mask(rel, size, first)
            size = size or (mask.shape[1], mask.shape[0])
            union = mask if union is None else union | mask
        ignore = self._read_mask(ann.ignore_path, size, first) if ann.ignore_path else np.zeros_like(union)
        return resize_mask(union, self.image_size), resize_mask(ignore, self.image_size)

    def _read_mask(self, rel: str, size: tuple[int, int] | None, first: Path | None = None) -> np.ndarray:
        path = resolve_image_path(self.mask_root, rel)
        mask = load_mask(path)
        if size is not None and mask.shape != (size[1], size[0]):
            if first is not None:
                raise InputError(f"mask is {mask.shape[1]}x{mask.shape[0]} but the image's first mask {first} is "
                                 f"{size[0]}x{size[1]}", path=path)
            raise InputError(f"mask is {mask.shape[1]}x{mask.shape[0]} but its image is {size[0]}x{size[1]}",
                             path=path)
        return mask


def scale_boxes(boxes: list[tuple[int, int, int, int]], size: tuple[int, int], image_size: int) -> torch.Tensor:
    """Boxes ``xyxy`` in an original ``(width, height)`` image -> float32 ``(K, 4)`` in the S×S frame."""
    width, height = size
    scale = torch.tensor([image_size / width, image_size / height] * 2, dtype=torch.float64)
    return (torch.tensor(boxes, dtype=torch.float64).reshape(-1, 4) * scale).to(torch.float32)


def resize_mask(mask: np.ndarray, image_size: int) -> torch.Tensor:
    """Nearest-neighbour resize of a bool ``(H, W)`` mask to ``(S, S)``."""
    import cv2

    resized = cv2.resize(mask.astype(np.uint8), (image_size, image_size), interpolation=cv2.INTER_NEAREST)
    return torch.from_numpy(resized.astype(bool))


def collate(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack tensors and ints; keep ``image_id`` and ``boxes`` (varying count per image) as lists."""
    out: dict[str, Any] = {}
    for key in samples[0]:
        values = [s[key] for s in samples]
        if key in ("image_id", "boxes"):
            out[key] = values
        elif isinstance(values[0], torch.Tensor):
            out[key] = torch.stack(values)
        else:
            out[key] = torch.as_tensor(values)
    return out


def collate_image_label(samples: list[dict[str, Any]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Only ``(images (N, 3, S, S), labels int64 (N,))`` from a list of samples (training, attacks)."""
    return (torch.stack([s["image"] for s in samples]),
            torch.tensor([s["label"] for s in samples], dtype=torch.int64))


def open_split(meta_dir: str | os.PathLike, *, image_root: str | os.PathLike | None = None,
               mask_root: str | os.PathLike | None = None, **kwargs: Any) -> WSOLDataset:
    """A :class:`WSOLDataset` for a split folder written by ``wsol prepare``.

    The image and mask roots default to those recorded in the prepared folder's ``dataset.json`` (see
    :func:`recorded_roots`).
    """
    recorded_image_root, recorded_mask_root = recorded_roots(meta_dir)
    image_root = image_root if image_root is not None else recorded_image_root
    mask_root = mask_root if mask_root is not None else recorded_mask_root
    if image_root is None:
        raise InputError("no image root given and none recorded in dataset.json (pass --images)", path=meta_dir)
    return WSOLDataset(meta_dir, image_root, mask_root=mask_root, **kwargs)


def recorded_roots(meta_dir: str | os.PathLike) -> tuple[str | None, str | None]:
    """``(image_root, mask_root)`` recorded for the split folder ``meta_dir`` in its ``dataset.json`` (or ``None``).

    The roots are absolute: relative ones are resolved against the folder of ``dataset.json``
    (:func:`wsol.data.prepare.read_dataset_info`), so a prepared folder works wherever it was moved or copied.
    """
    meta_dir = Path(meta_dir)
    info = read_dataset_info(meta_dir.parent) or {}
    recorded = info.get("splits", {}).get(meta_dir.name, {})
    return recorded.get("image_root"), recorded.get("mask_root")
