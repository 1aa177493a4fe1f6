"""Occlusion and in-between-class robustness (Yun et al., "CutMix", ICCV 2019: robustness experiments, Figure 5).

Pixel space and model conventions are those of :mod:`wsol.robustness.attacks` (images in ``[0, 1]``, pixel-space
models, eval mode restored afterwards).

Centred square (the one convention of this module): for an ``H x W`` image and a side ``s >= 0``, the square covers
rows ``top <= y < top + s_h`` and columns ``left <= x < left + s_w`` with ``s_h = min(s, H)``, ``s_w = min(s, W)``,
``top = (H - s_h) // 2``, ``left = (W - s_w) // 2``. When ``H - s_h`` is odd the square sits half a pixel up (and
likewise left) of the exact centre: the bottom/right margin gets the extra pixel. ``s = 0`` is empty; ``s >= H``
spans every row (for a square image ``s >= side`` covers everything).

Fill values (``fill``) are pixel values in ``[0, 1]`` space, before the model's normalisation:

* ``"zero"`` or ``0``: black (pixel value 0);
* ``"mean"``: the ImageNet mean per channel (:data:`wsol.constants.IMAGENET_MEAN`), i.e. exactly 0 after
  normalisation, which is what "zero occlusion" of an already-normalised tensor means in most PyTorch code;
* any number in ``[0, 1]`` (every channel) or a sequence of ``C`` such numbers.

In-between-class samples: each image ``x_a`` of a batch gets a partner ``x_b`` drawn from the **same batch**, uniformly
among the images with a **different** label (pairs with equal labels are excluded, since "neither class" would then
just be the misclassification rate); an image whose batch holds no other label is skipped and counted in
``excluded``. Partners are drawn independently per image (a partner may serve several anchors), from an explicit
generator. Because pairs come from one batch, evaluate with a shuffled loader (seeded) when the split is sorted by
class (CUB test is), or most batches hold one or two classes.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Optional, Union

import torch
from torch import Tensor, nn

from wsol.constants import IMAGENET_MEAN
from wsol.robustness.attacks import DeviceLike, _check_model, check_pixel_images, eval_mode, iter_batches

__all__ = ["occlusion_mask", "center_occlusion", "boundary_occlusion", "occlusion_accuracy", "OCCLUSION_MODES",
           "sample_partners", "mixup_pairs", "cutmix_pairs", "in_between_accuracy", "DEFAULT_LAMS"]

#: ``mode`` values of :func:`occlusion_accuracy`: fill inside the centred square, or outside it.
OCCLUSION_MODES = ("center", "boundary")
#: Default Mixup weights of ``x_a`` for :func:`in_between_accuracy`.
DEFAULT_LAMS: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
#: Default CutMix sides of :func:`in_between_accuracy`, as eighths of the image's shorter side (floored).
DEFAULT_SIZE_EIGHTHS: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7)

Fill = Union[str, float, int, Sequence[float]]


def _check_size(size: object, name: str = "size") -> int:
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError(f"{name} must be a non-negative integer (pixels), got {size!r}")
    return size


def occlusion_mask(height: int, width: int, size: int, *, device: DeviceLike = None) -> Tensor:
    """bool ``(height, width)`` mask, ``True`` inside the centred ``size x size`` square (module convention).

    Args:
        height, width: image size ``H, W`` in pixels (>= 1).
        size: side of the square in pixels (>= 0); clipped to each axis.
        device: where to create the mask.
    """
    for name, value in (("height", height), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    size = _check_size(size)
    s_h, s_w = min(size, height), min(size, width)
    top, left = (height - s_h) // 2, (width - s_w) // 2
    rows = torch.zeros(height, dtype=torch.bool, device=device)
    cols = torch.zeros(width, dtype=torch.bool, device=device)
    rows[top:top + s_h] = True
    cols[left:left + s_w] = True
    return rows[:, None] & cols[None, :]


def _fill_values(fill: Fill, images: Tensor) -> Tensor:
    """``(C, 1, 1)`` tensor of ``fill`` in ``images``' dtype and device."""
    channels = images.shape[1]
    if isinstance(fill, str):
        if fill == "zero":
            values: Sequence[float] = [0.0] * channels
        elif fill == "mean":
            if channels != len(IMAGENET_MEAN):
                raise ValueError(f"fill='mean' is the 3-channel ImageNet mean, but images have {channels} channels")
            values = IMAGENET_MEAN
        else:
            raise ValueError(f"fill must be 'zero', 'mean', a number in [0, 1] or {channels} such numbers, "
                             f"got {fill!r}")
    elif isinstance(fill, (int, float)) and not isinstance(fill, bool):
        values = [float(fill)] * channels
    elif isinstance(fill, Sequence) and len(fill) == channels and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in fill):
        values = [float(v) for v in fill]
    else:
        raise ValueError(f"fill must be 'zero', 'mean', a number in [0, 1] or {channels} such numbers, got {fill!r}")
    if not all(0.0 <= v <= 1.0 for v in values):
        raise ValueError(f"fill values must be pixel values in [0, 1], got {fill!r}")
    return torch.tensor(values, dtype=images.dtype, device=images.device).view(channels, 1, 1)


def center_occlusion(images: Tensor, size: int, *, fill: Fill) -> Tensor:
    """Images with the centred ``size x size`` square set to ``fill`` (CutMix paper's "center occlusion").

    Args:
        images: float ``(N, C, H, W)`` in ``[0, 1]``; not modified.
        size: side of the square in pixels (>= 0, clipped to each axis; see the module convention).
        fill: ``"zero"``/``0``, ``"mean"``, a number or ``C`` numbers in ``[0, 1]`` (module docstring).

    Returns:
        new tensor like ``images``.
    """
    images = check_pixel_images(images)
    mask = occlusion_mask(images.shape[2], images.shape[3], size, device=images.device)
    return torch.where(mask, _fill_values(fill, images), images)


def boundary_occlusion(images: Tensor, size: int, *, fill: Fill) -> Tensor:
    """Images with everything **outside** the centred ``size x size`` square set to ``fill`` ("boundary occlusion").

    Same arguments as :func:`center_occlusion`; ``size = 0`` fills the whole image, ``size >= max(H, W)`` none of it.
    """
    images = check_pixel_images(images)
    mask = occlusion_mask(images.shape[2], images.shape[3], size, device=images.device)
    return torch.where(mask, images, _fill_values(fill, images))


def _check_sizes(sizes: object) -> list[int]:
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Iterable):
        raise ValueError(f"sizes must be a sequence of non-negative integers, got {sizes!r}")
    return [_check_size(s, "sizes item") for s in sizes]


def _pct(hits: int, total: int) -> float:
    return 100.0 * hits / total if total else float("nan")


def occlusion_accuracy(model: nn.Module, batches: Iterable[Any], *, sizes: Sequence[int], mode: str, fill: Fill,
                       device: DeviceLike = None) -> dict[str, Any]:
    """Top-1 accuracy of ``model`` on centre- or boundary-occluded images, for each hole side in ``sizes``.

    Args:
        model: pixel-space model, already on ``device``; run in eval mode under ``no_grad`` (mode restored).
        batches: iterable of ``(images in [0, 1], labels)`` batches (see :mod:`wsol.robustness.attacks`).
        sizes: square sides in pixels (>= 0).
        mode: ``"center"`` (fill inside the square) or ``"boundary"`` (fill outside it).
        fill: fill value (module docstring).
        device: where to move each batch; ``None`` leaves them where they are.

    Returns:
        JSON-ready dict: ``mode``, ``fill``, ``total`` (images), ``results``: one ``{"size", "top1", "top1_pct"}``
        per size, in order.

    Raises:
        ValueError: bad options, or ``batches`` held no image.
    """
    model = _check_model(model)
    if mode not in OCCLUSION_MODES:
        raise ValueError(f"mode must be one of {OCCLUSION_MODES}, got {mode!r}")
    size_list = _check_sizes(sizes)
    if not size_list:
        raise ValueError("sizes must not be empty")
    occlude = center_occlusion if mode == "center" else boundary_occlusion
    hits = [0] * len(size_list)
    total = 0
    with eval_mode(model), torch.no_grad():
        for images, labels in iter_batches(batches, device):
            _fill_values(fill, images)  # validate fill before any forward pass
            total += images.shape[0]
            for i, size in enumerate(size_list):
                logits = model(occlude(images, size, fill=fill))
                hits[i] += int((logits.argmax(dim=1) == labels).sum())
    if total == 0:
        raise ValueError("batches held no images")
    return {"mode": mode, "fill": fill if isinstance(fill, (str, int, float)) else list(fill), "total": total,
            "results": [{"size": s, "top1": h, "top1_pct": _pct(h, total)} for s, h in zip(size_list, hits)]}


# -- in-between-class samples -----------------------------------------------------------------------------------------
def sample_partners(labels: Tensor, *, generator: torch.Generator) -> Tensor:
    """For each sample, a partner index drawn uniformly among the samples with a different label.

    Draws one ``(N, N)`` block of uniforms from ``generator`` (on ``generator.device``) and takes, per row, the
    argmax over the columns with a different label: a uniform choice among them.

    Args:
        labels: int ``(N,)``.
        generator: source of randomness.

    Returns:
        int64 ``(N,)`` on ``labels``' device: the partner of each sample, or ``-1`` when every sample of the batch
        shares its label.
    """
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator, got {generator!r}")
    if not isinstance(labels, Tensor) or labels.dim() != 1:
        raise ValueError(f"labels must be a 1-D tensor, got {labels!r}")
    n = labels.shape[0]
    scores = torch.rand((n, n), generator=generator, device=generator.device)
    lab = labels.to(generator.device)
    different = lab[:, None] != lab[None, :]
    partners = torch.where(different, scores, torch.full_like(scores, -1.0)).argmax(dim=1) if n else lab.long()
    partners = torch.where(different.any(dim=1), partners, torch.full_like(partners, -1))
    return partners.to(device=labels.device, dtype=torch.int64)


def mixup_pairs(x_a: Tensor, x_b: Tensor, lam: float) -> Tensor:
    """Mixup in-between samples ``lam * x_a + (1 - lam) * x_b`` (new tensor, clamped to ``[0, 1]`` against rounding)."""
    lam = float(lam)
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must be in [0, 1], got {lam!r}")
    if x_a.shape != x_b.shape:
        raise ValueError(f"x_a and x_b must have the same shape, got {tuple(x_a.shape)} and {tuple(x_b.shape)}")
    return (lam * x_a + (1.0 - lam) * x_b).clamp_(0.0, 1.0)


def cutmix_pairs(x_a: Tensor, x_b: Tensor, size: int) -> Tensor:
    """CutMix in-between samples: ``x_a`` with its centred ``size x size`` square taken from ``x_b`` (new tensor).

    The square follows the module convention; the fraction of ``x_a`` kept is ``1 - s_h * s_w / (H * W)``.
    """
    if x_a.shape != x_b.shape or x_a.dim() != 4:
        raise ValueError(f"x_a and x_b must be equal-shape (N, C, H, W), got {tuple(x_a.shape)} and "
                         f"{tuple(x_b.shape)}")
    mask = occlusion_mask(x_a.shape[2], x_a.shape[3], size, device=x_a.device)
    return torch.where(mask, x_b, x_a)


def _check_lams(lams: object) -> list[float]:
    if isinstance(lams, (str, bytes)) or not isinstance(lams, Iterable):
        raise ValueError(f"lams must be a sequence of numbers in [0, 1], got {lams!r}")
    values = []
    for lam in lams:
        if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not 0.0 <= lam <= 1.0:
            raise ValueError(f"lams items must be numbers in [0, 1], got {lam!r}")
        values.append(float(lam))
    return values


class _PairTally:
    def __init__(self) -> None:
        self.total = self.neither = self.as_a = self.as_b = 0

    def update(self, logits: Tensor, y_a: Tensor, y_b: Tensor) -> None:
        pred = logits.argmax(dim=1)
        is_a, is_b = pred == y_a, pred == y_b
        self.total += int(pred.shape[0])
        self.as_a += int(is_a.sum())
        self.as_b += int(is_b.sum())
        self.neither += int((~(is_a | is_b)).sum())

    def compute(self) -> dict[str, Any]:
        return {"total": self.total, "neither": self.neither, "neither_pct": _pct(self.neither, self.total),
                "as_a": self.as_a, "as_a_pct": _pct(self.as_a, self.total), "as_b": self.as_b,
                "as_b_pct": _pct(self.as_b, self.total)}


def in_between_accuracy(model: nn.Module, batches: Iterable[Any], *, generator: torch.Generator,
                        lams: Sequence[float] = DEFAULT_LAMS, sizes: Optional[Sequence[int]] = None,
                        device: DeviceLike = None) -> dict[str, Any]:
    """How often ``model`` predicts **neither** class of a Mixup or CutMix in-between-class sample (CutMix Fig. 5).

    Per batch, partners come from :func:`sample_partners` (one draw from ``generator`` per batch; pairs of equal
    labels excluded, see the module docstring); the same pairs serve every ``lam`` and every size. Mixup samples are
    ``lam * x_a + (1 - lam) * x_b``; CutMix samples are ``x_a`` with the centred ``s x s`` square of ``x_b``.
    A sample counts as "neither" when its top-1 class is neither ``y_a`` nor ``y_b``; ``as_a`` / ``as_b`` count
    the other outcomes.

    Args:
        model: pixel-space model, already on ``device``; run in eval mode under ``no_grad`` (mode restored).
        batches: iterable of ``(images in [0, 1], labels)`` batches.
        generator: source of the pairings.
        lams: Mixup weights of ``x_a``, each in ``[0, 1]``; may be empty.
        sizes: CutMix square sides in pixels (>= 0); ``None`` for ``k/8`` of the first batch's shorter side
            (floored), ``k = 1..7``; may be empty.
        device: where to move each batch; ``None`` leaves them where they are.

    Returns:
        JSON-ready dict: ``pairs`` (anchors evaluated), ``excluded`` (anchors without a different-label partner),
        ``mixup``: one dict per lam (``lam`` plus the counts ``total``, ``neither``, ``as_a``, ``as_b`` and their
        ``*_pct``), ``cutmix``: one per size (``size``, ``lam`` = fraction of ``x_a`` kept, same counts).

    Raises:
        ValueError: bad options, or ``batches`` held no image.
    """
    model = _check_model(model)
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator, got {generator!r}")
    lam_list = _check_lams(lams)
    size_list = None if sizes is None else _check_sizes(sizes)
    mix_tallies = [_PairTally() for _ in lam_list]
    cut_tallies: list[_PairTally] = [] if size_list is None else [_PairTally() for _ in size_list]
    seen = excluded = 0
    shape: Optional[tuple[int, int]] = None
    with eval_mode(model), torch.no_grad():
        for images, labels in iter_batches(batches, device):
            seen += images.shape[0]
            if shape is None:
                shape = (images.shape[2], images.shape[3])
                if size_list is None:
                    size_list = [min(shape) * k // 8 for k in DEFAULT_SIZE_EIGHTHS]
                    cut_tallies = [_PairTally() for _ in size_list]
            partners = sample_partners(labels, generator=generator)
            keep = partners >= 0
            excluded += int((~keep).sum())
            if not bool(keep.any()):
                continue
            x_a, y_a = images[keep], labels[keep]
            x_b, y_b = images[partners[keep]], labels[partners[keep]]
            for lam, tally in zip(lam_list, mix_tallies):
                tally.update(model(mixup_pairs(x_a, x_b, lam)), y_a, y_b)
            for size, tally in zip(size_list, cut_tallies):
                tally.update(model(cutmix_pairs(x_a, x_b, size)), y_a, y_b)
    if seen == 0:
        raise ValueError("batches held no images")
    height, width = shape
    cut_results = []
    for size, tally in zip(size_list, cut_tallies):
        kept = 1.0 - min(size, height) * min(size, width) / (height * width)
        cut_results.append({"size": size, "lam": kept, **tally.compute()})
    return {"pairs": seen - excluded, "excluded": excluded,
            "mixup": [{"lam": lam, **tally.compute()} for lam, tally in zip(lam_list, mix_tallies)],
            "cutmix": cut_results}
