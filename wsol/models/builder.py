"""``build_model``: a registered backbone by name, with optional pretrained weights."""
from __future__ import annotations

import inspect
import os

from wsol.models.base import MODELS, WSOLModel
from wsol.models.weights import load_weights


def model_options(name: str) -> list[str]:
    """The keyword options the builder ``name`` accepts besides ``num_classes`` (sorted).

    Raises:
        ValueError: unknown model name, listing the valid ones.
    """
    builder = MODELS.get(name)
    params = inspect.signature(builder).parameters
    return sorted(p for p in params if p != "num_classes")


def build_model(name: str, *, num_classes: int, pretrained: str | os.PathLike | None = None,
                large_feature_map: bool = False, **options: object) -> WSOLModel:
    """Build the registered model ``name``.

    Args:
        name: one of ``MODELS.names()`` (``digits_cnn``, ``digits_net``, ``inception_v3``, ``resnet18``, ``resnet50``,
            ``vgg16``).
        num_classes: number of classes ``K``.
        pretrained: ``None`` (random init), ``"torchvision"`` (torchvision's ImageNet weights; needs network access
            or the torch hub cache) or the path of a local state dict / checkpoint (see :mod:`wsol.models.weights`).
        large_feature_map: stride 8 instead of 16 (ResNet, VGG, Inception).
        **options: model-specific keyword options (``model_options(name)`` lists them).

    Returns:
        the model, in training mode, on the CPU.

    Raises:
        ValueError: unknown name or option (the message lists the valid ones), invalid option value.
        InputError: the weights could not be loaded.
    """
    builder = MODELS.get(name)
    valid = model_options(name)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(unknown)} for model {name!r}; valid: {', '.join(valid)}")
    model = builder(num_classes=num_classes, large_feature_map=large_feature_map, **options)
    if pretrained is not None:
        load_weights(model, pretrained)
    return model
