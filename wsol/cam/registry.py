"""The CAM-method registry: a name -> ``method(model, images, classes) -> (logits, maps)``.

A new CAM method is one file with one decorated function::

    from wsol.cam.registry import CAMS

    @CAMS.register("mycam")
    def my_cam(model, images, classes):
        \"\"\"One line that ``wsol list cams`` shows.\"\"\"
        ...
        return logits, maps        # (N, K) logits; (N, h, w) maps of ``classes``, any scale

``wsol evaluate --cam NAME`` and :class:`wsol.engine.evaluate.EvalSettings` take any registered name; a plugin
module (``wsol --plugin MODULE``) can register its own.
"""
from __future__ import annotations

from typing import Callable

from torch import Tensor, nn

from wsol.registry import Registry

#: ``method(model, images (N, 3, H, W), classes int64 (N,)) -> (logits (N, K), maps (N, h, w))``.
CamMethod = Callable[[nn.Module, Tensor, Tensor], "tuple[Tensor, Tensor]"]

#: CAM methods by name (``cam``, ``gradcam``, ``gradcam++`` and plugins').
CAMS: Registry[CamMethod] = Registry("CAM method")
