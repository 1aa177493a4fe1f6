"""VGG-16 GAP backbone as in WSOL work (wsolevaluation ``VggCam``).

Architecture (checked against wsolevaluation ``wsol/vgg.py``, ``configs_dict['cam']``):

* ``features``: conv1_1 ... conv5_3 (3x3, padding 1, ReLU) with the max-pools after conv1, conv2, conv3 and conv4
  kept (2x2, stride 2) and the one after conv5_3 removed: stride 16, 14x14 at 224;
* ``large_feature_map=True`` also removes the pool after conv4_3: stride 8, 28x28 at 224;
* ``conv6 = Conv2d(512, 1024, 3, padding=1)`` + ReLU, global average pooling, ``fc = Linear(1024, K)``.

``features.<i>`` indices are those of that layer list, as in wsolevaluation. With the 14x14 layout they equal
torchvision ``vgg16``'s ``features`` indices (conv at 0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28). With
``large_feature_map`` the conv5 indices shift by one (23, 25, 27); a state dict with other indices but the same 13
convs is renumbered in order, as wsolevaluation's ``adjust_pretrained_model`` does. torchvision's ``classifier.*``
(fc6-fc8) is dropped; ``conv6`` and ``fc`` then stay freshly initialised. Following wsolevaluation's optimizer,
everything outside ``features`` (``conv6``, ``fc``) forms the larger-learning-rate group.
"""
from __future__ import annotations

import logging

import torch
from torch import nn
from torchvision.models import vgg as tv_vgg

from wsol.models.base import MODELS, WSOLModel, check_bool, check_num_classes

logger = logging.getLogger(__name__)

_CONV_CHANNELS = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)


def _layer_config(large_feature_map: bool) -> list[int | str]:
    config = list(_CONV_CHANNELS)
    if large_feature_map:
        del config[13]  # the pool after conv4_3
    return config


class VGG16CAM(WSOLModel):
    """VGG-16 without pool5, plus a 3x3 conv to 1024 channels, GAP and a linear classifier.

    Args:
        num_classes: number of classes.
        large_feature_map: stride 8 instead of 16.
    """

    cam_layer_name = "relu6"
    head_prefixes = ("conv6.", "fc.")

    def __init__(self, *, num_classes: int, large_feature_map: bool = False) -> None:
        check_num_classes(num_classes)
        check_bool("large_feature_map", large_feature_map)
        super().__init__(num_classes=num_classes, feature_dim=1024)
        self.large_feature_map = large_feature_map
        self.features = tv_vgg.make_layers(_layer_config(large_feature_map))
        self.conv6 = nn.Conv2d(512, 1024, kernel_size=3, padding=1)
        self.relu6 = nn.ReLU(inplace=False)
        self.fc = nn.Linear(1024, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(module.bias)
        self.reset_classifier()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu6(self.conv6(self.features(x)))

    def stages(self) -> list[nn.Module]:
        bounds = [i + 1 for i, m in enumerate(self.features) if isinstance(m, nn.MaxPool2d)]
        starts = [0] + bounds
        ends = bounds + [len(self.features)]
        blocks: list[nn.Module] = [self.features[a:b] for a, b in zip(starts, ends)]
        blocks.append(nn.Sequential(self.conv6, self.relu6))
        return blocks

    def torchvision_weights(self) -> object:
        return tv_vgg.VGG16_Weights.IMAGENET1K_V1

    def conv_indices(self) -> list[int]:
        """Indices of the 13 convolutions inside ``features``."""
        return [i for i, m in enumerate(self.features) if isinstance(m, nn.Conv2d)]

    @classmethod
    def recognize_state_dict(cls, keys: frozenset[str]) -> str | None:
        """``vgg16`` for our layout (``conv6``) and torchvision's (``features.28``)."""
        return "vgg16" if "conv6.weight" in keys or any(k.startswith("features.28") for k in keys) else None

    def adapt_state_dict(self, state_dict: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], set[str]]:
        out = dict(state_dict)
        allowed_missing: set[str] = set()
        if any(k.startswith("classifier.") for k in out):  # torchvision VGG: fc6, fc7, fc8 (no conv6)
            out = {k: v for k, v in out.items() if not k.startswith("classifier.")}
            allowed_missing |= {"conv6.weight", "conv6.bias", "fc.weight", "fc.bias"}
            logger.info("torchvision VGG layout: dropped classifier.* (fc6-fc8); conv6 and fc stay initialised")
        source = sorted({int(k.split(".")[1]) for k in out if k.startswith("features.") and k.count(".") == 2
                         and k.split(".")[1].isdigit()})
        target = self.conv_indices()
        if source != target and len(source) == len(target):
            mapping = dict(zip(source, target))
            renamed = {}
            for key, value in out.items():
                parts = key.split(".")
                if parts[0] == "features" and len(parts) == 3 and parts[1].isdigit():
                    parts[1] = str(mapping[int(parts[1])])
                renamed[".".join(parts)] = value
            out = renamed
            logger.info("renumbered VGG features %s -> %s", source, target)
        return out, allowed_missing


@MODELS.register("vgg16")
def vgg16(*, num_classes: int, large_feature_map: bool = False) -> VGG16CAM:
    """VGG-16 GAP backbone: 1024-channel feature map at stride 16 (8 with ``large_feature_map``)."""
    return VGG16CAM(num_classes=num_classes, large_feature_map=large_feature_map)
