"""Grad-CAM (Selvaraju et al., ICCV 2017) and Grad-CAM++ (Chattopadhay et al., WACV 2018) for a named layer.

Only the layer's output gets a gradient: a forward hook replaces the output by a detached leaf that requires grad
(so nothing before the layer is recorded) and ``torch.autograd.grad`` differentiates the class scores with respect to
that leaf alone (no parameter ``.grad`` is written). The model's mode and ``requires_grad`` flags are not touched;
the hook is removed even when the forward pass raises.
"""
from __future__ import annotations

from typing import Optional, Union

import torch
from torch import Tensor, nn

from wsol.cam.registry import CAMS


def _find_layer(model: nn.Module, layer: Union[str, nn.Module, None]) -> nn.Module:
    if isinstance(layer, nn.Module):
        return layer
    if layer is None:
        layer = getattr(model, "cam_layer_name", "") or None
        if layer is None:
            raise ValueError("layer is required for a model without cam_layer_name")
    modules = dict(model.named_modules())
    if layer not in modules:
        raise ValueError(f"no layer named {layer!r} in the model (e.g. {', '.join(list(modules)[1:8])}, ...)")
    return modules[layer]


def grad_cam(model: nn.Module, images: Tensor, classes: Optional[Tensor] = None, *,
             layer: Union[str, nn.Module, None] = None, plus: bool = False) -> tuple[Tensor, Tensor]:
    """Grad-CAM or Grad-CAM++ maps of ``classes`` at ``layer``.

    Args:
        model: any network returning logits ``(N, K)``.
        images: float ``(N, 3, H, W)`` on the model's device.
        classes: int64 ``(N,)``; ``None`` uses the predicted class.
        layer: a module of ``model`` or its name in ``named_modules()``; default ``model.cam_layer_name``.
        plus: Grad-CAM++ weights instead of Grad-CAM's.

    Returns:
        ``(logits (N, K) detached, maps (N, h, w) >= 0)``; ``h, w`` of the layer's output.

    Definitions (``A`` the layer output, ``g = d y_c / d A`` for the class score ``y_c``):
        Grad-CAM: ``relu(sum_k mean_xy(g_k) A_k)``.
        Grad-CAM++: ``alpha = g^2 / (2 g^2 + sum_xy(A) g^3)`` (0 where the denominator is 0),
        ``w_k = sum_xy(alpha relu(g_k))``, map ``relu(sum_k w_k A_k)`` (the closed form for an exponential score).
    """
    target = _find_layer(model, layer)
    store: dict[str, Tensor] = {}
    grad_was_enabled = torch.is_grad_enabled()

    def hook(module: nn.Module, inputs: tuple, output: Tensor) -> Tensor:
        if not isinstance(output, Tensor):
            raise TypeError(f"layer output must be a tensor, got {type(output).__name__}")
        leaf = output.detach().requires_grad_(True)
        store["a"] = leaf
        torch.set_grad_enabled(True)  # record only what follows the layer
        return leaf

    handle = target.register_forward_hook(hook)
    try:
        torch.set_grad_enabled(False)
        logits = model(images)
    finally:
        handle.remove()
        torch.set_grad_enabled(grad_was_enabled)
    if "a" not in store:
        raise RuntimeError("the layer was not used in the forward pass")
    a = store["a"]
    if classes is None:
        classes = logits.detach().argmax(dim=1)
    if classes.dtype != torch.int64 or classes.shape != (logits.shape[0],):
        raise ValueError(f"classes must be int64 ({logits.shape[0]},), got {classes.dtype} {tuple(classes.shape)}")
    with torch.enable_grad():
        score = logits.gather(1, classes[:, None]).sum()
        (g,) = torch.autograd.grad(score, a)
    a = a.detach()
    with torch.no_grad():
        if plus:
            g2 = g * g
            denom = 2 * g2 + a.sum(dim=(2, 3), keepdim=True) * g2 * g
            alpha = torch.where(denom != 0, g2 / torch.where(denom != 0, denom, torch.ones_like(denom)),
                                torch.zeros_like(denom))
            weights = (alpha * g.clamp(min=0)).sum(dim=(2, 3), keepdim=True)
        else:
            weights = g.mean(dim=(2, 3), keepdim=True)
        maps = (weights * a).sum(dim=1).clamp(min=0)
    return logits.detach(), maps


@CAMS.register("gradcam")
def gradcam_method(model: nn.Module, images: Tensor, classes: Tensor) -> tuple[Tensor, Tensor]:
    """Grad-CAM (Selvaraju et al.) at the model's CAM layer, gradients to that layer only."""
    return grad_cam(model, images, classes)


@CAMS.register("gradcam++")
def gradcam_plus_method(model: nn.Module, images: Tensor, classes: Tensor) -> tuple[Tensor, Tensor]:
    """Grad-CAM++ (Chattopadhay et al.) at the model's CAM layer."""
    return grad_cam(model, images, classes, plus=True)
