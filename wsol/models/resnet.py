"""ResNet-18/50 CAM backbones as in WSOL work (wsolevaluation ``ResNetCam``).

Architecture (checked against wsolevaluation ``wsol/resnet.py``):

* torchvision's ResNet (v1.5: in a Bottleneck the stride sits on the 3x3 ``conv2``; in a BasicBlock on ``conv1``)
  with ``layer4`` at stride 1, so the feature map is the input size / 16 (14x14 at 224);
* ``large_feature_map=True`` also puts ``layer3`` at stride 1: input size / 8 (28x28 at 224);
* a stride-1 stage keeps its 1x1 projection shortcut (``downsample.0`` conv, ``downsample.1`` BN), now with stride 1,
  because the channel count still changes; its weights keep their shapes;
* global average pooling, ``fc = nn.Linear(512 * expansion, K)``.

Module names are torchvision's (``conv1, bn1, layer1..layer4, fc``), which wsolevaluation also uses, so torchvision
state dicts and wsolevaluation checkpoints (``{"state_dict": ...}``) load without renaming. Following
wsolevaluation's optimizer, ``layer4`` and ``fc`` form the larger-learning-rate group.
"""
from __future__ import annotations

import torch
from torch import nn
from torchvision.models import resnet as tv_resnet

from wsol.models.base import MODELS, WSOLModel, check_bool, check_num_classes


def _set_stage_stride_one(stage: nn.Sequential) -> None:
    """Make the first block of a torchvision ResNet stage stride 1 (the conv that carries the stride + shortcut)."""
    block = stage[0]
    strided = block.conv2 if isinstance(block, tv_resnet.Bottleneck) else block.conv1
    strided.stride = (1, 1)
    block.stride = 1
    if block.downsample is not None:
        block.downsample[0].stride = (1, 1)


class ResNetCAM(WSOLModel):
    """ResNet with stride-1 ``layer4`` (and ``layer3`` with ``large_feature_map``), GAP and a linear classifier.

    Args:
        block: torchvision ``Bottleneck`` or ``BasicBlock``.
        layers: blocks per stage, e.g. ``[3, 4, 6, 3]``.
        num_classes: number of classes.
        large_feature_map: stride 8 instead of 16.
    """

    cam_layer_name = "layer4"
    head_prefixes = ("layer4.", "fc.")

    def __init__(self, block: type[nn.Module], layers: list[int], *, num_classes: int,
                 large_feature_map: bool = False, weights_enum: object = None) -> None:
        check_num_classes(num_classes)
        check_bool("large_feature_map", large_feature_map)
        net = tv_resnet.ResNet(block, layers, num_classes=num_classes)
        super().__init__(num_classes=num_classes, feature_dim=net.fc.in_features)
        self.large_feature_map = large_feature_map
        self._weights_enum = weights_enum
        _set_stage_stride_one(net.layer4)
        if large_feature_map:
            _set_stage_stride_one(net.layer3)
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        self.fc = net.fc
        self.reset_classifier()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        return self.layer4(x)

    def stages(self) -> list[nn.Module]:
        stem = nn.Sequential(self.conv1, self.bn1, self.relu, self.maxpool)
        return [stem, self.layer1, self.layer2, self.layer3, self.layer4]

    @classmethod
    def recognize_state_dict(cls, keys: frozenset[str]) -> str | None:
        """``resnet50`` (bottleneck blocks, ``conv3``) or ``resnet18`` (basic blocks); torchvision's layout."""
        if "layer1.0.conv3.weight" in keys:
            return "resnet50"
        return "resnet18" if "layer1.0.conv1.weight" in keys else None

    def torchvision_weights(self) -> object:
        return self._weights_enum


@MODELS.register("resnet50")
def resnet50(*, num_classes: int, large_feature_map: bool = False) -> ResNetCAM:
    """ResNet-50 CAM backbone: 2048-channel feature map at stride 16 (8 with ``large_feature_map``)."""
    return ResNetCAM(tv_resnet.Bottleneck, [3, 4, 6, 3], num_classes=num_classes,
                     large_feature_map=large_feature_map, weights_enum=tv_resnet.ResNet50_Weights.IMAGENET1K_V1)


@MODELS.register("resnet18")
def resnet18(*, num_classes: int, large_feature_map: bool = False) -> ResNetCAM:
    """ResNet-18 CAM backbone: 512-channel feature map at stride 16 (8 with ``large_feature_map``)."""
    return ResNetCAM(tv_resnet.BasicBlock, [2, 2, 2, 2], num_classes=num_classes,
                     large_feature_map=large_feature_map, weights_enum=tv_resnet.ResNet18_Weights.IMAGENET1K_V1)
