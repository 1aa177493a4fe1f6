"""KeepAugment (Gong et al., "KeepAugment: A Simple Information-Preserving Data Augmentation Approach", CVPR 2021).

Saliency (paper, Eq. 1): ``g_ij = max_c |∂ l_y / ∂ x_cij|``, the vanilla gradient of the label's logit with respect
to the input, maximum over channels; a region's importance ``I(S) = Σ_{(i,j)∈S} g_ij``.

Threshold (paper, Sec. 3): adaptive — for a region size ``h × w`` the importance of **all** candidate regions is
computed and the threshold is their ``τ``-quantile; selective-cut samples regions uniformly until one scores below the
threshold, selective-paste until one scores above it. Here all candidate regions are the boxes centred on every
pixel (clipped at the border, as in Cutout), scored at once with two separable box filters of the saliency map;
``num_candidates`` uniform centres are drawn at once and the first acceptable one is kept (the bounded form of the
paper's "keep sampling"); if none is acceptable the first candidate is used unconstrained. Ties (e.g. large
zero-saliency areas) are decided so that the acceptable set is never empty: the quantile is an order statistic
(``"lower"`` interpolation for cut, ``"higher"`` for paste) and the comparison is strict as in the paper (score
``<`` threshold for cut, ``>`` for paste) unless no region at all is strictly beyond the threshold, in which case it
is non-strict (``<=`` / ``>=``). The paper does not fix one τ for
all experiments in the sources checked while writing this (see the package notes); the default here is 0.5 (the
median) and is an option.

Selective-paste is implemented for the image-level mixing methods of this package (``other="cutmix"`` or
``"mixup"``): the method is applied, then the most salient region of each **original** image is pasted back on top.
Because this changes how much of each image is visible, λ is recomputed exactly: for Mixup
``λ' = λ + (1 - λ)|S| / (H·W)``; for CutMix ``λ' = λ + |S ∩ B| / (H·W)`` with ``B`` the CutMix box.

Efficiency: ``low_res_factor = f > 1`` computes the saliency on the input downsampled by ``f`` (bilinear,
antialiased) and upsamples the map back (bilinear) — the paper's low-resolution approximation.

Side effects: none on the model. The gradient is taken with ``torch.autograd.grad`` w.r.t. the input only, so no
parameter's ``.grad`` or ``requires_grad`` changes; the training flag of every submodule is restored exactly (also
on exceptions). With ``saliency_eval_mode=True`` (default) the saliency pass runs in eval mode, so BatchNorm running
statistics are not updated by it and samples do not interact through batch statistics.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wsol.methods import sampling
from wsol.methods.base import METHODS, MixedBatch, check_batch, check_choice, check_generator, unmixed
from wsol.methods.cutmix import CutMix
from wsol.methods.cutout import apply_cutout, check_fill, hole_size
from wsol.methods.mixup import Mixup
from wsol.methods.regions import box_area, centred_boxes, intersection_area, union_masks

__all__ = ["KeepAugment", "saliency_map", "region_scores", "select_regions", "selective_paste"]

MODES = ("cut", "paste")
OTHERS = {"cutmix": CutMix, "mixup": Mixup}


def saliency_map(model: nn.Module, images: Tensor, labels: Tensor, *, low_res_factor: int = 1,
                 eval_mode: bool = True) -> Tensor:
    """``max_c |∂ logit_y / ∂ x|`` for each pixel, with the model left exactly as it was.

    Args:
        model: maps ``(N, C, h, w)`` to logits ``(N, K)``.
        images: float ``(N, C, H, W)``; untouched (a detached copy gets the gradient).
        labels: int64 ``(N,)`` class whose logit is differentiated.
        low_res_factor: compute on the input downsampled by this integer factor and upsample the map (1 = off).
        eval_mode: run the pass with the whole model in eval mode (each submodule's flag is restored afterwards).

    Returns:
        float32 ``(N, H, W)``, values >= 0.
    """
    check_batch(images, labels)
    if isinstance(low_res_factor, bool) or not isinstance(low_res_factor, int) or low_res_factor < 1:
        raise ValueError(f"low_res_factor must be an int >= 1, got {low_res_factor!r}")
    n, _, h, w = images.shape
    if h // low_res_factor < 1 or w // low_res_factor < 1:
        raise ValueError(f"low_res_factor {low_res_factor} too large for {h}x{w} images")
    flags = [(m, m.training) for m in model.modules()]
    try:
        if eval_mode:
            model.eval()
        x = images.detach()
        if low_res_factor > 1:
            x = F.interpolate(x, size=(h // low_res_factor, w // low_res_factor), mode="bilinear",
                              align_corners=False, antialias=True)
        x = x.clone().requires_grad_(True)
        with torch.enable_grad():
            logits = model(x)
            if logits.dim() != 2 or logits.shape[0] != n:
                raise ValueError(f"model must return logits (N, K), got {tuple(logits.shape)}")
            score = logits.gather(1, labels.to(logits.device)[:, None]).sum()
            (grad,) = torch.autograd.grad(score, x)
    finally:
        for module, training in flags:
            module.training = training
    sal = grad.abs().amax(dim=1).to(torch.float32)
    if low_res_factor > 1:
        sal = F.interpolate(sal[:, None], size=(h, w), mode="bilinear", align_corners=False)[:, 0].clamp_min(0)
    return sal


def region_scores(saliency: Tensor, *, box_h: int, box_w: int) -> Tensor:
    """Importance of the ``box_h × box_w`` box centred on every pixel (clipped at the border).

    Box ``(cy, cx)`` covers rows ``[cy - box_h // 2, cy - box_h // 2 + box_h)`` ∩ image (same for columns), matching
    :func:`wsol.methods.regions.centred_boxes`. Computed with two separable box filters on a zero-padded map, so a
    region of exact zeros scores exactly 0.

    Args:
        saliency: float ``(N, H, W)``, >= 0.
        box_h, box_w: region size (>= 1).

    Returns:
        float64 ``(N, H, W)`` region sums.
    """
    if saliency.dim() != 3:
        raise ValueError(f"saliency must be (N, H, W), got {tuple(saliency.shape)}")
    if box_h < 1 or box_w < 1:
        raise ValueError(f"box size must be >= 1, got {box_h}x{box_w}")
    s = saliency.to(torch.float64)[:, None]
    top, left = box_h // 2, box_w // 2
    s = F.pad(s, (left, box_w - 1 - left, top, box_h - 1 - top))
    s = F.avg_pool2d(s, (box_h, 1), stride=1)
    s = F.avg_pool2d(s, (1, box_w), stride=1)
    return s[:, 0] * float(box_h * box_w)


def _quantile(values: Tensor, q: float, *, higher: bool) -> Tensor:
    """Row-wise order-statistic quantile of ``(N, M)`` values (``lower`` or ``higher`` interpolation)."""
    m = values.shape[1]
    pos = q * (m - 1)
    k = (math.ceil(pos) if higher else math.floor(pos)) + 1
    return values.kthvalue(min(max(k, 1), m), dim=1).values


def select_regions(scores: Tensor, cy: Tensor, cx: Tensor, *, tau: float, keep: str = "low") -> tuple[Tensor, Tensor]:
    """Pick, per sample, the first candidate centre whose region score passes the τ-quantile threshold.

    Args:
        scores: float ``(N, H, W)`` from :func:`region_scores`.
        cy, cx: int64 ``(N, K)`` candidate centres, in drawing order.
        tau: quantile level in [0, 1] over all ``H·W`` regions of the sample.
        keep: ``"low"`` (selective-cut: score < lower τ-quantile) or ``"high"`` (selective-paste:
            score > higher τ-quantile); non-strict when no region of the sample is strictly beyond the threshold.

    Returns:
        ``(index, accepted)``: int64 ``(N,)`` chosen candidate (0 when none passed: unconstrained fallback) and
        bool ``(N,)`` whether it passed.
    """
    check_choice("keep", keep, ("low", "high"))
    n, h, w = scores.shape
    flat = scores.reshape(n, h * w)
    thr = _quantile(flat, tau, higher=keep == "high")[:, None]
    cand = flat.gather(1, cy * w + cx)
    if keep == "low":
        ok = torch.where((flat < thr).any(dim=1, keepdim=True), cand < thr, cand <= thr)
    else:
        ok = torch.where((flat > thr).any(dim=1, keepdim=True), cand > thr, cand >= thr)
    index = torch.argmax(ok.to(torch.int8), dim=1)
    return index, ok.any(dim=1)


def selective_paste(mixed: Tensor, originals: Tensor, boxes: Tensor) -> Tensor:
    """Paste each original image's box region onto the augmented image, out of place.

    Args:
        mixed: float ``(N, C, H, W)`` augmented images.
        originals: float ``(N, C, H, W)`` images before augmentation.
        boxes: int64 ``(N, 1, 4)`` half-open regions.

    Returns:
        float ``(N, C, H, W)`` new tensor.
    """
    if mixed.shape != originals.shape:
        raise ValueError(f"shape mismatch: {tuple(mixed.shape)} vs {tuple(originals.shape)}")
    mask = union_masks(boxes.to(mixed.device), height=mixed.shape[2], width=mixed.shape[3])[:, None]
    return torch.where(mask, originals, mixed)


@METHODS.register("keepaugment")
class KeepAugment:
    """KeepAugment: saliency-aware Cutout (``mode="cut"``) or CutMix / Mixup with selective paste (``"paste"``).

    Args:
        mode: ``"cut"`` (selective-cut Cutout) or ``"paste"`` (selective-paste after ``other``).
        size: region side, ``int`` pixels or ``float`` fraction of each side (as :func:`wsol.methods.cutout.hole_size`);
            the Cutout hole for ``"cut"``, the kept region for ``"paste"``.
        tau: quantile level of the adaptive threshold, in [0, 1].
        num_candidates: candidate centres drawn per sample (>= 1).
        low_res_factor: integer downsampling of the saliency pass (1 = full resolution).
        saliency_eval_mode: compute saliency in eval mode (flags restored afterwards).
        fill: value of the cut region (``"cut"``; 0 = dataset mean after normalisation).
        other: ``"cutmix"`` or ``"mixup"``, the image-level augmentation of ``"paste"``.
        other_options: keyword options of ``other``'s builder (CutMix's ``in_place`` is not allowed).
    """

    needs_model = True

    def __init__(self, *, mode: str = "cut", size: int | float = 16, tau: float = 0.5, num_candidates: int = 16,
                 low_res_factor: int = 1, saliency_eval_mode: bool = True, fill: float = 0.0,
                 other: str = "cutmix", other_options: Optional[Mapping[str, Any]] = None) -> None:
        self.mode = check_choice("mode", mode, MODES)
        hole_size(size, height=1, width=1)
        self.size = size
        if isinstance(tau, bool) or not isinstance(tau, (int, float)) or not 0.0 <= tau <= 1.0:
            raise ValueError(f"tau must be in [0, 1], got {tau!r}")
        self.tau = float(tau)
        if isinstance(num_candidates, bool) or not isinstance(num_candidates, int) or num_candidates < 1:
            raise ValueError(f"num_candidates must be an int >= 1, got {num_candidates!r}")
        self.num_candidates = num_candidates
        if isinstance(low_res_factor, bool) or not isinstance(low_res_factor, int) or low_res_factor < 1:
            raise ValueError(f"low_res_factor must be an int >= 1, got {low_res_factor!r}")
        self.low_res_factor = low_res_factor
        self.saliency_eval_mode = bool(saliency_eval_mode)
        self.fill = check_fill(fill)
        self.other_name = check_choice("other", other, tuple(OTHERS))
        options = dict(other_options or {})
        if options.get("in_place", False):
            raise ValueError(f"other_options in_place={options['in_place']!r} is not allowed: selective paste needs "
                             "the original images")
        self.other = OTHERS[other](**options)

    def __repr__(self) -> str:
        return (f"KeepAugment(mode={self.mode!r}, size={self.size!r}, tau={self.tau}, "
                f"num_candidates={self.num_candidates}, low_res_factor={self.low_res_factor}, other={self.other!r})")

    def _regions(self, saliency: Tensor, *, keep: str, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        n, h, w = saliency.shape
        box_h, box_w = hole_size(self.size, height=h, width=w)
        cx = sampling.randint_below(w, (n, self.num_candidates), generator=generator).to(saliency.device)
        cy = sampling.randint_below(h, (n, self.num_candidates), generator=generator).to(saliency.device)
        scores = region_scores(saliency, box_h=box_h, box_w=box_w)
        index, accepted = select_regions(scores, cy, cx, tau=self.tau, keep=keep)
        pick = index[:, None]
        boxes = centred_boxes(cx.gather(1, pick)[:, 0], cy.gather(1, pick)[:, 0], box_w, box_h, height=h, width=w)
        return boxes[:, None], accepted

    def __call__(self, images: Tensor, labels: Tensor, *, generator: torch.Generator,
                 model: Optional[torch.nn.Module] = None) -> MixedBatch:
        """Augment a batch (out of place).

        Consumes: (``"paste"`` only) the draws of ``other``; then ``N·num_candidates`` uniforms for ``x`` and as many
        for ``y``.

        Returns:
            :class:`MixedBatch`; ``boxes`` is ``(N, 1, 4)`` (the cut region) for ``"cut"`` and ``(N, 2, 4)``
            (CutMix box or empty for Mixup, then the pasted region) for ``"paste"``.
        """
        check_batch(images, labels)
        check_generator(generator)
        if model is None:
            raise ValueError("keepaugment needs the model (model=None given)")
        n, _, h, w = images.shape
        if self.mode == "cut":
            sal = saliency_map(model, images, labels, low_res_factor=self.low_res_factor,
                               eval_mode=self.saliency_eval_mode)
            boxes, _ = self._regions(sal, keep="low", generator=generator)
            return unmixed(apply_cutout(images, boxes, fill=self.fill), labels, boxes=boxes)
        batch = self.other(images, labels, generator=generator)
        sal = saliency_map(model, images, labels, low_res_factor=self.low_res_factor,
                           eval_mode=self.saliency_eval_mode)
        paste, _ = self._regions(sal, keep="high", generator=generator)
        out = selective_paste(batch.images, images, paste)
        hw = float(h * w)
        if batch.boxes is not None:  # CutMix: pixels of the box inside the pasted region come back to the original
            mix_boxes = batch.boxes.to(images.device)
            lam = batch.lam + intersection_area(mix_boxes[:, 0], paste[:, 0]).to(torch.float32) / hw
        else:  # Mixup (or an unmixed batch): every pasted pixel goes from weight lam to 1
            mix_boxes = torch.zeros_like(paste)
            lam = batch.lam + (1.0 - batch.lam) * box_area(paste[:, 0]).to(torch.float32) / hw
        return batch.replace(images=out, lam=lam.clamp(0.0, 1.0), boxes=torch.cat([mix_boxes, paste], dim=1))
