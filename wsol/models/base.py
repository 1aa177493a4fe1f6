"""The interface every WSOL backbone implements, and the model registry.

A WSOL model is ``features -> global average pooling -> linear classifier``. The class activation map (CAM) of
class ``k`` is ``sum_c classifier.weight[k, c] * features[:, c]``, computed elsewhere (``wsol.cam``) from
:meth:`WSOLModel.forward_features` and :attr:`WSOLModel.classifier`.

Naming convention: the linear classifier is always the child module ``fc`` (as in torchvision's ResNet and in
wsolevaluation's CAM models), so state dicts map directly; :attr:`WSOLModel.classifier` is an alias of it.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from wsol.registry import Registry

#: Model builders by name; each takes keyword-only options and returns a :class:`WSOLModel`.
MODELS: Registry = Registry("model")

#: wsolevaluation's ``--lr_classifier_ratio`` default: the "classifier" layers train with 10x the learning rate.
DEFAULT_CLASSIFIER_LR_MULT = 10.0


class WSOLModel(nn.Module):
    """Base class of WSOL backbones: a feature extractor, global average pooling and a linear classifier.

    Subclasses create the child ``fc`` (an ``nn.Linear(feature_dim, num_classes)``), implement
    :meth:`forward_features` and :meth:`stages`, and set the class attributes below.

    Attributes:
        num_classes: number of output classes ``K``.
        feature_dim: number of channels ``C`` of the feature map.
        cam_layer_name: name (as in ``named_modules()``) of the module whose output is the feature map, for
            Grad-CAM style hooks or ``autograd.grad``.
        head_prefixes: parameter-name prefixes of the layers trained with the larger learning rate
            (wsolevaluation's "classifier" parameters); see :meth:`parameter_groups`.
    """

    cam_layer_name: str = ""
    head_prefixes: tuple[str, ...] = ("fc.",)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _MODEL_CLASSES.append(cls)

    def __init__(self, *, num_classes: int, feature_dim: int) -> None:
        super().__init__()
        self.num_classes = check_num_classes(num_classes)
        self.feature_dim = feature_dim
        #: Dropout applied to the feature map inside :meth:`classify` (identity unless a subclass replaces it).
        self.head_dropout: nn.Module = nn.Identity()

    # -- the interface --------------------------------------------------------------------------------------------
    @property
    def classifier(self) -> nn.Linear:
        """The linear classifier ``nn.Linear(feature_dim, num_classes)`` (the child module ``fc``)."""
        return self.fc

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Feature map CAMs are computed from.

        Args:
            x: images, float ``(N, 3, H, W)``, normalised as the weights expect.

        Returns:
            float ``(N, feature_dim, h, w)``; ``h, w`` follow ``H, W`` (see each model for the stride).
        """
        raise NotImplementedError

    def stages(self) -> list[nn.Module]:
        """Modules that, applied in sequence to the input, give exactly :meth:`forward_features`.

        Used to mix features at an intermediate stage (feature-level CutMix). The modules share parameters with
        the model; nothing is copied.
        """
        raise NotImplementedError

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        """Global average pooling followed by the linear classifier.

        Args:
            features: ``(N, feature_dim, h, w)`` as returned by :meth:`forward_features`.

        Returns:
            logits ``(N, num_classes)``.
        """
        pooled = self.head_dropout(features).mean(dim=(2, 3))
        return self.fc(pooled)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, num_classes)``; equal to ``classify(forward_features(x))``."""
        return self.classify(self.forward_features(x))

    # -- training helpers -----------------------------------------------------------------------------------------
    def is_head_parameter(self, name: str) -> bool:
        """Whether the parameter ``name`` (as in ``named_parameters()``) belongs to the larger-lr group."""
        return name.startswith(self.head_prefixes)

    def parameter_groups(self, *, lr: float, classifier_lr_mult: float = DEFAULT_CLASSIFIER_LR_MULT,
                         weight_decay: float | None = None) -> list[dict[str, Any]]:
        """Optimizer parameter groups: backbone at ``lr``, classifier layers at ``lr * classifier_lr_mult``.

        Which layers count as "classifier" follows wsolevaluation's ``_FEATURE_PARAM_LAYER_PATTERNS``
        (``head_prefixes`` of each model). Every trainable parameter is in exactly one group; a group with no
        parameters is left out.

        Args:
            lr: base learning rate.
            classifier_lr_mult: learning-rate multiplier of the classifier group.
            weight_decay: when given, set on both groups.

        Returns:
            list of dicts with ``params``, ``lr``, ``name`` (``"features"`` / ``"classifier"``) and optionally
            ``weight_decay``; pass it straight to a ``torch.optim`` optimizer.
        """
        if not lr > 0:
            raise ValueError(f"lr must be positive, got {lr!r}")
        if not classifier_lr_mult > 0:
            raise ValueError(f"classifier_lr_mult must be positive, got {classifier_lr_mult!r}")
        features, head = [], []
        for name, param in self.named_parameters():
            if param.requires_grad:
                (head if self.is_head_parameter(name) else features).append(param)
        groups = [{"name": "features", "params": features, "lr": lr},
                  {"name": "classifier", "params": head, "lr": lr * classifier_lr_mult}]
        if weight_decay is not None:
            for group in groups:
                group["weight_decay"] = weight_decay
        return [g for g in groups if g["params"]]

    def reset_classifier(self) -> None:
        """Re-initialise the linear classifier: weights ~ N(0, 0.01), bias 0 (wsolevaluation's init)."""
        nn.init.normal_(self.fc.weight, 0.0, 0.01)
        nn.init.zeros_(self.fc.bias)

    # -- weights --------------------------------------------------------------------------------------------------
    def torchvision_weights(self) -> Any:
        """The torchvision weights enum member used for ``pretrained="torchvision"``.

        Raises:
            ValueError: the model has no torchvision weights.
        """
        raise ValueError(f"model {type(self).__name__} has no torchvision weights")

    def adapt_state_dict(self, state_dict: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], set[str]]:
        """Convert a foreign key layout (torchvision, wsolevaluation) to this model's.

        Args:
            state_dict: keys already stripped of ``module.``; not modified.

        Returns:
            the converted dict, and the model keys that may legitimately be missing from it (layers that the
            foreign layout does not have and that stay freshly initialised).
        """
        return dict(state_dict), set()

    @classmethod
    def recognize_state_dict(cls, keys: frozenset[str]) -> str | None:
        """The registered model name these state-dict keys (``module.`` stripped) belong to, or ``None``.

        The per-model hook behind architecture inference (:func:`wsol.models.loading.infer_arch`): a model class
        answers for its own layouts (its key names and the foreign ones :meth:`adapt_state_dict` converts) and
        ``None`` otherwise. The base class recognises nothing.
        """
        return None

    @classmethod
    def options_from_state_dict(cls, state_dict: dict[str, torch.Tensor]) -> dict[str, Any]:
        """Builder options that the weights themselves fix (e.g. layer widths), for loading a checkpoint whose
        settings do not name them; the base class reads none. Options a checkpoint's config names take precedence."""
        return {}


#: Every WSOLModel subclass, in definition order (plugins' included); see :func:`model_classes`.
_MODEL_CLASSES: list[type[WSOLModel]] = []


def model_classes() -> list[type[WSOLModel]]:
    """All defined :class:`WSOLModel` subclasses (those of plugins included), for architecture inference."""
    return list(_MODEL_CLASSES)


def check_num_classes(num_classes: int) -> int:
    """Return ``num_classes`` if it is a positive int, else raise ``ValueError`` naming it."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    return num_classes


def check_bool(name: str, value: object) -> bool:
    """Return ``value`` if it is a bool, else raise ``ValueError`` naming the option."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value
