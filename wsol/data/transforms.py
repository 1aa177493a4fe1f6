"""Image transforms of the WSOL protocol, with the normalisation defined once.

Training crops come in three named styles:

``"pad_crop"``
    zero-pad by ``pad`` pixels on every side, random ``image_size`` crop (small images such as the digits set; the
    image is first resized to ``image_size`` when it is not already that size).

``"resize_random_crop"`` (default; what clovaai/wsolevaluation's data loader does)
    resize to ``resize_size × resize_size`` (aspect ratio not kept), random ``image_size`` crop, horizontal flip.
``"random_resized_crop"``
    torchvision's ``RandomResizedCrop(image_size)`` (scale 0.08–1, ratio 3/4–4/3) and horizontal flip, the usual
    ImageNet recipe of classification papers (the CutMix paper's ImageNet runs among them).

Evaluation resizes to ``image_size × image_size`` (aspect ratio not kept), as wsolevaluation does, so box
coordinates scale by ``image_size / width`` and ``image_size / height`` independently.
"""
from __future__ import annotations

from typing import Callable

from torchvision import transforms as T

from wsol.constants import DEFAULT_IMAGE_SIZE, DEFAULT_RESIZE_SIZE, IMAGENET_MEAN, IMAGENET_STD

CROP_STYLES = ("pad_crop", "resize_random_crop", "random_resized_crop")


def normalize() -> T.Normalize:
    """ImageNet mean/std normalisation of a [0, 1] RGB tensor."""
    return T.Normalize(IMAGENET_MEAN, IMAGENET_STD)


def train_transform(*, image_size: int = DEFAULT_IMAGE_SIZE, resize_size: int = DEFAULT_RESIZE_SIZE,
                    crop: str = "resize_random_crop", pad: int = 4, hflip: bool = True) -> Callable:
    """PIL RGB image -> normalised float tensor ``(3, image_size, image_size)`` with training augmentation.

    Randomness comes from torch's global generator (per DataLoader worker, seeded by the loader).

    Args:
        image_size: side of the crop.
        resize_size: side the image is resized to before the random crop (``resize_random_crop`` only).
        crop: one of :data:`CROP_STYLES` (see the module docstring).
        pad: padding in pixels (``pad_crop`` only).
        hflip: random horizontal flip with probability 1/2.
    """
    if crop not in CROP_STYLES:
        raise ValueError(f"unknown crop style {crop!r}; expected one of {', '.join(CROP_STYLES)}")
    if image_size <= 0:
        raise ValueError(f"image_size must be positive, got {image_size}")
    if crop == "resize_random_crop":
        if resize_size < image_size:
            raise ValueError(f"resize_size ({resize_size}) must be at least image_size ({image_size})")
        steps = [T.Resize((resize_size, resize_size)), T.RandomCrop(image_size)]
    elif crop == "pad_crop":
        if pad < 0:
            raise ValueError(f"pad must be >= 0, got {pad}")
        steps = [T.Resize((image_size, image_size)), T.RandomCrop(image_size, padding=pad)]
    else:
        steps = [T.RandomResizedCrop(image_size)]
    flip = [T.RandomHorizontalFlip()] if hflip else []
    return T.Compose(steps + flip + [T.ToTensor(), normalize()])


def eval_transform(*, image_size: int = DEFAULT_IMAGE_SIZE) -> Callable:
    """PIL RGB image -> normalised float tensor ``(3, image_size, image_size)`` (plain resize, no crop)."""
    if image_size <= 0:
        raise ValueError(f"image_size must be positive, got {image_size}")
    return T.Compose([T.Resize((image_size, image_size)), T.ToTensor(), normalize()])


def denormalize(images):
    """Inverse of :func:`normalize` for display: ``(..., 3, H, W)`` tensor -> values in [0, 1] (clamped)."""
    import torch

    mean = torch.tensor(IMAGENET_MEAN, dtype=images.dtype, device=images.device).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=images.dtype, device=images.device).view(3, 1, 1)
    return (images * std + mean).clamp(0.0, 1.0)


def pixel_transform(*, image_size: int = DEFAULT_IMAGE_SIZE) -> Callable:
    """PIL RGB image -> float tensor ``(3, image_size, image_size)`` in [0, 1], *not* normalised (plain resize).

    For pixel-space evaluations (adversarial attacks, occlusion), where the model is wrapped so that it normalises
    its input itself (:class:`wsol.robustness.PixelSpaceModel`).
    """
    if image_size <= 0:
        raise ValueError(f"image_size must be positive, got {image_size}")
    return T.Compose([T.Resize((image_size, image_size)), T.ToTensor()])
