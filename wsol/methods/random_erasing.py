"""Random Erasing (Zhong et al., "Random Erasing Data Augmentation", AAAI 2020).

With probability ``prob`` (paper: 0.5) each image gets one rectangle erased. Up to ``max_attempts`` (paper: 10)
candidates are tried: target area ``S_e = U(s_l, s_h)·H·W`` (paper: ``s_l = 0.02``, ``s_h = 0.4``), aspect ratio
``r_e`` log-uniform in ``(r_1, 1/r_1)`` (paper: ``r_1 = 0.3``), ``h = round(sqrt(S_e·r_e))``,
``w = round(sqrt(S_e / r_e))``; the first candidate with ``1 <= h < H`` and ``1 <= w < W`` is used, with its
top-left corner uniform over the positions where it fits. If none fits, the image is left as is.

Fill: ``"random"`` (i.i.d. N(0, 1) values per pixel and channel, i.e. random values in normalised space),
``"mean"`` (0, the dataset mean after normalisation) or a constant.

All candidates of all samples are drawn at once (a fixed number of draws) and the choice is vectorised.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor

from wsol.methods import sampling
from wsol.methods.base import METHODS, MixedBatch, check_batch, check_generator, check_probability, unmixed
from wsol.methods.cutout import check_fill
from wsol.methods.regions import box_masks

__all__ = ["RandomErasing", "sample_erasing_boxes", "apply_erasing", "erasing_noise"]


def _check_range(name: str, value: object, *, low: float, high: float) -> tuple[float, float]:
    ok = (isinstance(value, (tuple, list)) and len(value) == 2
          and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value))
    if not ok or not (low < value[0] <= value[1] <= high):
        raise ValueError(f"{name} must be a pair (lo, hi) with {low} < lo <= hi <= {high}, got {value!r}")
    return float(value[0]), float(value[1])


def sample_erasing_boxes(n: int, *, height: int, width: int, generator: torch.Generator, prob: float = 0.5,
                         area: tuple[float, float] = (0.02, 0.4), ratio: tuple[float, float] = (0.3, 1 / 0.3),
                         max_attempts: int = 10) -> Tensor:
    """Draw one erasing rectangle per image (or none).

    Consumes, in order: ``n`` uniforms (apply?), then ``n·max_attempts`` uniforms each for area, log-ratio,
    top ``y`` and left ``x``.

    Args:
        n: batch size.
        height, width: image size.
        generator: source of randomness.
        prob: probability of erasing an image.
        area: ``(s_l, s_h)`` range of the erased area as a fraction of ``H·W``, within (0, 1].
        ratio: ``(r_lo, r_hi)`` range of the aspect ratio ``h / w`` (log-uniform), within (0, inf).
        max_attempts: candidates tried per image (>= 1).

    Returns:
        int64 ``(n, 1, 4)`` half-open boxes on ``generator.device``; ``(0, 0, 0, 0)`` where nothing is erased.
    """
    check_generator(generator)
    prob = check_probability("prob", prob)
    s_lo, s_hi = _check_range("area", area, low=0.0, high=1.0)
    r_lo, r_hi = _check_range("ratio", ratio, low=0.0, high=math.inf)
    if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
        raise ValueError(f"max_attempts must be an int >= 1, got {max_attempts!r}")
    shape = (n, max_attempts)
    apply = sampling.uniform((n,), generator=generator) < prob
    target = (s_lo + (s_hi - s_lo) * sampling.uniform(shape, generator=generator)) * (height * width)
    log_r = math.log(r_lo) + (math.log(r_hi) - math.log(r_lo)) * sampling.uniform(shape, generator=generator)
    u_y = sampling.uniform(shape, generator=generator)
    u_x = sampling.uniform(shape, generator=generator)
    aspect = torch.exp(log_r)
    h = torch.round(torch.sqrt(target * aspect)).to(torch.int64)
    w = torch.round(torch.sqrt(target / aspect)).to(torch.int64)
    fits = (h >= 1) & (h < height) & (w >= 1) & (w < width)
    y0 = torch.floor(u_y * (height - h + 1).clamp_min(1)).to(torch.int64)
    x0 = torch.floor(u_x * (width - w + 1).clamp_min(1)).to(torch.int64)
    first = torch.argmax(fits.to(torch.int8), dim=1, keepdim=True)  # first True (0 when none)
    pick = lambda t: t.gather(1, first)[:, 0]  # noqa: E731
    ok = apply & fits.any(dim=1)
    h, w, y0, x0 = pick(h), pick(w), pick(y0), pick(x0)
    boxes = torch.stack([x0, y0, x0 + w, y0 + h], dim=1)
    boxes = torch.where(ok[:, None], boxes, torch.zeros_like(boxes))
    return boxes[:, None]


def erasing_noise(shape: tuple[int, ...], *, generator: torch.Generator, dtype: torch.dtype = torch.float32) -> Tensor:
    """i.i.d. N(0, 1) fill values of ``shape`` on ``generator.device`` (the ``"random"`` fill)."""
    return torch.randn(shape, generator=generator, device=generator.device, dtype=dtype)


def apply_erasing(images: Tensor, boxes: Tensor, fill: float | Tensor) -> Tensor:
    """Erase each sample's box, out of place.

    Args:
        images: float ``(N, C, H, W)``; untouched.
        boxes: int64 ``(N, 1, 4)`` (or ``(N, R, 4)``; the union is erased) half-open boxes.
        fill: a constant, or a float tensor broadcastable to ``images`` giving the values written inside the box.

    Returns:
        float ``(N, C, H, W)`` new tensor.
    """
    n, _, h, w = images.shape
    if boxes.dim() != 3 or boxes.shape[0] != n or boxes.shape[2] != 4:
        raise ValueError(f"boxes must be ({n}, R, 4), got {tuple(boxes.shape)}")
    mask = box_masks(boxes.to(images.device), height=h, width=w).any(dim=1)[:, None]
    if isinstance(fill, Tensor):
        return torch.where(mask, fill.to(device=images.device, dtype=images.dtype), images)
    return images.masked_fill(mask, check_fill(fill))


FILLS = ("random", "mean")


@METHODS.register("random_erasing")
class RandomErasing:
    """Random Erasing as a training method (per-sample, vectorised, out of place).

    Args:
        prob: probability of erasing each image (paper: 0.5).
        area: range of erased area fraction (paper: (0.02, 0.4)).
        ratio: range of aspect ratio h/w, sampled log-uniformly (paper: (0.3, 1/0.3)).
        max_attempts: candidates per image before giving up (paper: 10).
        fill: ``"random"`` (N(0, 1) per pixel, paper's best), ``"mean"`` (0) or a finite constant.
    """

    needs_model = False

    def __init__(self, *, prob: float = 0.5, area: tuple[float, float] = (0.02, 0.4),
                 ratio: tuple[float, float] = (0.3, 1 / 0.3), max_attempts: int = 10,
                 fill: str | float = "random") -> None:
        self.prob = check_probability("prob", prob)
        self.area = _check_range("area", area, low=0.0, high=1.0)
        self.ratio = _check_range("ratio", ratio, low=0.0, high=math.inf)
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise ValueError(f"max_attempts must be an int >= 1, got {max_attempts!r}")
        self.max_attempts = max_attempts
        if isinstance(fill, str):
            if fill not in FILLS:
                raise ValueError(f"fill must be one of {', '.join(FILLS)} or a number; got {fill!r}")
            self.fill: str | float = fill
        else:
            self.fill = check_fill(fill)

    def __repr__(self) -> str:
        return (f"RandomErasing(prob={self.prob}, area={self.area}, ratio={self.ratio}, "
                f"max_attempts={self.max_attempts}, fill={self.fill!r})")

    def __call__(self, images: Tensor, labels: Tensor, *, generator: torch.Generator,
                 model: Optional[torch.nn.Module] = None) -> MixedBatch:
        """Erase. Returns a :class:`MixedBatch` with ``boxes`` int64 ``(N, 1, 4)``; ``model`` ignored.

        With ``fill="random"`` a full ``(N, C, H, W)`` noise tensor is drawn after the boxes.
        """
        check_batch(images, labels)
        n, _, h, w = images.shape
        boxes = sample_erasing_boxes(n, height=h, width=w, generator=generator, prob=self.prob, area=self.area,
                                     ratio=self.ratio, max_attempts=self.max_attempts).to(images.device)
        if self.fill == "random":
            fill: float | Tensor = erasing_noise(tuple(images.shape), generator=generator, dtype=images.dtype)
        elif self.fill == "mean":
            fill = 0.0
        else:
            fill = float(self.fill)
        return unmixed(apply_erasing(images, boxes, fill), labels, boxes=boxes)
