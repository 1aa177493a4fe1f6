"""CutMix on an intermediate feature map instead of the input image.

One λ and box are drawn at **image** scale exactly as in :mod:`wsol.methods.cutmix`, then expressed in relative
coordinates (fractions of the width / height) so that they map onto any feature resolution ``h × w``:
``x = floor(r·w + 0.5)`` (round half up) for each relative coordinate ``r``, clipped to ``[0, w]`` (same in ``y``).
λ is then **recomputed** from the feature-map area actually pasted: ``λ = 1 - area / (h·w)``; the training loop
must use that λ (returned by :func:`forward_with_feature_mix`) rather than the image-scale one in the batch.

The method's ``__call__`` leaves the images untouched and returns a :class:`~wsol.methods.base.FeatureMix` spec
(stage, relative box, permutation) that the training loop applies inside the model with
:func:`forward_with_feature_mix`. Models expose ``stages()``: modules applied in sequence to produce the CAM
feature map; "stage ``k``" means "mix the output of ``stages[k]``".
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import torch
from torch import Tensor, nn

from wsol.methods import sampling
from wsol.methods.base import (METHODS, FeatureMix, MixedBatch, check_batch, check_generator, check_positive,
                               check_probability, unmixed)
from wsol.methods.cutmix import cutmix_lambda, sample_cutmix_boxes
from wsol.methods.regions import box_masks

__all__ = ["FeatureCutMix", "relative_box", "feature_box", "mix_features", "forward_with_feature_mix"]


def relative_box(boxes: Tensor, *, height: int, width: int) -> Tensor:
    """float32 ``(..., 4)`` pixel boxes divided by ``(W, H, W, H)`` (values in [0, 1])."""
    scale = torch.tensor([width, height, width, height], dtype=torch.float64, device=boxes.device)
    return (boxes.to(torch.float64) / scale).to(torch.float32)


def feature_box(rel_box: Tensor, *, height: int, width: int) -> Tensor:
    """int64 ``(..., 4)`` half-open box on an ``height × width`` grid: ``floor(r·size + 0.5)`` clipped to the grid."""
    if rel_box.shape[-1] != 4:
        raise ValueError(f"rel_box must end in 4 coordinates, got {tuple(rel_box.shape)}")
    scale = torch.tensor([width, height, width, height], dtype=torch.float64, device=rel_box.device)
    box = torch.floor(rel_box.to(torch.float64) * scale + 0.5).to(torch.int64)
    return torch.minimum(box.clamp_min(0), scale.to(torch.int64))


def mix_features(features: Tensor, rel_box: Tensor, perm: Tensor) -> tuple[Tensor, Tensor]:
    """Paste the partner's box region into each feature map, out of place and autograd-safe.

    Args:
        features: float ``(N, C, h, w)``; untouched.
        rel_box: float ``(4,)`` one relative box for the batch, or ``(N, 4)`` one per sample.
        perm: int64 ``(N,)`` partner indices.

    Returns:
        ``(mixed, lam)``: float ``(N, C, h, w)`` and float32 ``(N,)`` λ = 1 - pasted area / (h·w).
    """
    if features.dim() != 4:
        raise ValueError(f"features must be (N, C, h, w), got {tuple(features.shape)}")
    n, _, h, w = features.shape
    if perm.dim() != 1 or perm.shape[0] != n:
        raise ValueError(f"perm must be ({n},), got {tuple(perm.shape)}")
    if rel_box.shape not in ((4,), (n, 4)):
        raise ValueError(f"rel_box must be (4,) or ({n}, 4), got {tuple(rel_box.shape)}")
    box = feature_box(rel_box.to(features.device), height=h, width=w)
    perm = perm.to(features.device)
    lam = cutmix_lambda(box, height=h, width=w)
    if box.dim() == 1:
        x0, y0, x1, y1 = (int(v) for v in box.tolist())
        out = features.clone()
        if x1 > x0 and y1 > y0:
            out[:, :, y0:y1, x0:x1] = features[perm, :, y0:y1, x0:x1]
        return out, lam.expand(n).clone()
    mask = box_masks(box, height=h, width=w)[:, None]
    return torch.where(mask, features[perm], features), lam


def forward_with_feature_mix(stages: Sequence[nn.Module], head: Callable[[Tensor], Tensor], images: Tensor,
                             spec: Optional[FeatureMix]) -> tuple[Tensor, Tensor]:
    """Run ``stages`` in sequence, mix the output of ``stages[spec.stage]``, continue, then apply ``head``.

    Args:
        stages: modules applied in sequence (a model's ``stages()``).
        head: maps the last stage's output to logits.
        images: float ``(N, C, H, W)``.
        spec: the batch's :class:`FeatureMix`, or ``None`` for a plain forward pass.

    Returns:
        ``(logits, lam)``: the head's output and float32 ``(N,)`` λ recomputed at the mixed stage's resolution
        (all ones when ``spec`` is ``None``).
    """
    stages = list(stages)
    if spec is not None and not 0 <= spec.stage < len(stages):
        raise ValueError(f"feature mix stage {spec.stage} out of range for {len(stages)} stages")
    lam = torch.ones(images.shape[0], dtype=torch.float32, device=images.device)
    x = images
    for k, stage in enumerate(stages):
        x = stage(x)
        if spec is not None and k == spec.stage:
            x, lam = mix_features(x, spec.rel_box, spec.perm)
    return head(x), lam


@METHODS.register("feature_cutmix")
class FeatureCutMix:
    """CutMix applied to the features after a chosen or random stage.

    Args:
        beta: Beta(β, β) parameter of the image-scale λ.
        prob: probability of mixing a batch.
        stages: candidate stage indices; one is drawn uniformly per batch (a single entry fixes the stage).
    """

    needs_model = False

    def __init__(self, *, beta: float = 1.0, prob: float = 1.0, stages: Sequence[int] = (0,)) -> None:
        self.beta = check_positive("beta", beta)
        self.prob = check_probability("prob", prob)
        stages = tuple(stages) if isinstance(stages, (list, tuple)) else stages
        if (not isinstance(stages, tuple) or not stages or len(set(stages)) != len(stages)
                or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in stages)):
            raise ValueError(f"stages must be a non-empty sequence of distinct ints >= 0, got {stages!r}")
        self.stages = stages

    def __repr__(self) -> str:
        return f"FeatureCutMix(beta={self.beta}, prob={self.prob}, stages={self.stages})"

    def __call__(self, images: Tensor, labels: Tensor, *, generator: torch.Generator,
                 model: Optional[torch.nn.Module] = None) -> MixedBatch:
        """Draw the mix; ``images`` are returned untouched (same tensor).

        Consumes: one uniform (apply?), one box (:func:`sample_cutmix_boxes`), one uniform (stage), a permutation.

        Returns:
            :class:`MixedBatch` with ``feature_mix`` set (``None`` when the batch is not mixed), ``lam`` the
            image-scale λ (replace it by the λ of :func:`forward_with_feature_mix`), ``boxes`` ``(N, 1, 4)`` at
            image scale and ``perm``.
        """
        check_batch(images, labels)
        check_generator(generator)
        n, _, h, w = images.shape
        apply = bool(sampling.uniform((1,), generator=generator)[0] < self.prob)
        boxes, lam = sample_cutmix_boxes(1, height=h, width=w, generator=generator, beta=self.beta)
        stage = self.stages[int(sampling.randint_below(len(self.stages), (1,), generator=generator)[0])]
        perm = sampling.permutation(n, generator=generator).to(images.device)
        if not apply:
            return unmixed(images, labels)
        box = boxes[0].to(images.device)
        spec = FeatureMix(stage=stage, rel_box=relative_box(box, height=h, width=w), perm=perm)
        return MixedBatch(images=images, labels_a=labels, labels_b=labels[perm],
                          lam=lam.to(images.device).expand(n).clone(), boxes=box.expand(n, 1, 4), perm=perm,
                          feature_mix=spec)
