"""Shared fixtures for the model tests: each backbone built once (eval mode, fixed seed)."""
from __future__ import annotations

import pytest
import torch

from wsol.models import build_model

NUM_CLASSES = 7


@pytest.fixture(scope="session")
def built_models() -> dict:
    """One model per registered name (plus the large-feature-map variants), in eval mode. Do not modify."""
    torch.manual_seed(0)
    specs = {
        "resnet50": ("resnet50", {}), "resnet50_large": ("resnet50", {"large_feature_map": True}),
        "resnet18": ("resnet18", {}), "vgg16": ("vgg16", {}), "vgg16_large": ("vgg16", {"large_feature_map": True}),
        "inception_v3": ("inception_v3", {}), "inception_v3_large": ("inception_v3", {"large_feature_map": True}),
        "digits_cnn": ("digits_cnn", {}), "digits_net": ("digits_net", {}), "digits_locnet": ("digits_locnet", {}),
    }
    return {key: build_model(name, num_classes=NUM_CLASSES, **kw).eval() for key, (name, kw) in specs.items()}
