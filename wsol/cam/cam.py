"""Plain CAM (Zhou et al., CVPR 2016) without hooks: the feature map weighted by the classifier's weights.

Convention (wsolevaluation's ``return_cam`` in its ResNet / VGG / Inception models): the CAM of class ``k`` is the
*mean* over channels of ``w_kc * f_c`` (no bias), ``(1 / C) sum_c w_kc f_c(y, x)``. The scale does not matter after
min-max normalisation, but the same arithmetic keeps the uint8-quantised maps identical.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from wsol.cam.registry import CAMS
from wsol.models.base import WSOLModel


def cam_from_features(features: Tensor, weight: Tensor, classes: Optional[Tensor] = None) -> Tensor:
    """CAMs from a feature map and linear-classifier weights.

    Args:
        features: float ``(N, C, h, w)``.
        weight: float ``(K, C)`` classifier weights.
        classes: ``None`` (every class), int64 ``(N,)`` (one class per image) or ``(N, k)`` (k classes per image).

    Returns:
        ``(N, K, h, w)``, ``(N, h, w)`` or ``(N, k, h, w)`` respectively, in the dtype of ``features``.
    """
    if features.dim() != 4:
        raise ValueError(f"features must be (N, C, h, w), got {tuple(features.shape)}")
    n, c = features.shape[:2]
    if weight.dim() != 2 or weight.shape[1] != c:
        raise ValueError(f"weight must be (K, {c}), got {tuple(weight.shape)}")
    weight = weight.to(features.dtype)
    if classes is None:
        return torch.einsum("nchw,kc->nkhw", features, weight) / c
    if classes.dtype != torch.int64 or classes.shape[0] != n or classes.dim() not in (1, 2):
        raise ValueError(f"classes must be int64 (N,) or (N, k) with N={n}, got {classes.dtype} "
                         f"{tuple(classes.shape)}")
    if classes.numel() and (int(classes.min()) < 0 or int(classes.max()) >= weight.shape[0]):
        raise ValueError(f"classes must lie in [0, {weight.shape[0]}), got range "
                         f"[{int(classes.min())}, {int(classes.max())}]")
    w = weight[classes]  # (N, C) or (N, k, C)
    if classes.dim() == 1:
        return torch.einsum("nchw,nc->nhw", features, w) / c
    return torch.einsum("nchw,nkc->nkhw", features, w) / c


@torch.no_grad()
def class_activation_maps(model: WSOLModel, images: Tensor, classes: Optional[Tensor] = None, *,
                          top: int = 0) -> tuple[Tensor, Tensor]:
    """One forward pass: logits and CAMs, on the model's device (no hooks, no gradients).

    Args:
        model: a :class:`~wsol.models.base.WSOLModel` (its mode is left as it is; call ``eval()`` first).
        images: float ``(N, 3, H, W)`` on the model's device.
        classes: as in :func:`cam_from_features`; ignored when ``top > 0``.
        top: when > 0, the CAMs of the ``top`` highest-scoring classes, ``(N, top, h, w)``, best first.

    Returns:
        ``(logits (N, K), cams)``.
    """
    features = model.forward_features(images)
    logits = model.classify(features)
    if top > 0:
        classes = logits.topk(min(top, logits.shape[1]), dim=1).indices
    return logits, cam_from_features(features, model.classifier.weight, classes)


@CAMS.register("cam")
def cam_method(model: WSOLModel, images: Tensor, classes: Tensor) -> tuple[Tensor, Tensor]:
    """Plain CAM (Zhou et al.): classifier weights x feature map, one forward pass, no hooks."""
    return class_activation_maps(model, images, classes)
