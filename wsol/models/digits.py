"""A small CNN for the 64x64 embedded-digits dataset (trains on CPU in minutes).

Four conv blocks (3x3 conv, BatchNorm, ReLU) with 32, 64, 128, 128 channels; the first two are followed by a 2x2
max-pool, so a 64x64 input gives a 16x16 feature map (stride 4). Then global average pooling and a linear
classifier. By default the last two convs are dilated (2 and 4): the receptive field of a feature-map cell grows
from 26 to 58 pixels, enough to see a whole digit, at the same cost and map size (``dilated=False`` gives the plain
stack). No torchvision weights; only ``fc`` is in the larger-learning-rate group.
"""
from __future__ import annotations

import torch
from torch import nn

from wsol.models.base import MODELS, WSOLModel, check_bool, check_num_classes


def _conv_block(in_channels: int, out_channels: int, *, pool: bool, dilation: int = 1) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=dilation, dilation=dilation,
                                         bias=False),
                               nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]
    if pool:
        layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


class DigitsCNN(WSOLModel):
    """Four conv blocks (32-64-128-128), two 2x downsamplings, GAP, linear classifier.

    Args:
        num_classes: number of classes.
        in_channels: input channels (3 for RGB, 1 for grey).
        width: channels of the first block; the others are 2x, 4x, 4x.
        dilated: dilate the convs of blocks 3 and 4 by 2 and 4 (receptive field 58 instead of 26 pixels).
    """

    cam_layer_name = "block4"
    head_prefixes = ("fc.",)

    def __init__(self, *, num_classes: int, in_channels: int = 3, width: int = 32, dilated: bool = True) -> None:
        check_num_classes(num_classes)
        for name, value in (("in_channels", in_channels), ("width", width)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        check_bool("dilated", dilated)
        super().__init__(num_classes=num_classes, feature_dim=4 * width)
        self.block1 = _conv_block(in_channels, width, pool=True)
        self.block2 = _conv_block(width, 2 * width, pool=True)
        self.block3 = _conv_block(2 * width, 4 * width, pool=False, dilation=2 if dilated else 1)
        self.block4 = _conv_block(4 * width, 4 * width, pool=False, dilation=4 if dilated else 1)
        self.fc = nn.Linear(4 * width, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        nn.init.normal_(self.fc.weight, 0.0, 0.01)
        nn.init.zeros_(self.fc.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.block4(self.block3(self.block2(self.block1(x))))

    def stages(self) -> list[nn.Module]:
        return [self.block1, self.block2, self.block3, self.block4]


@MODELS.register("digits_cnn")
def digits_cnn(*, num_classes: int, large_feature_map: bool = False, in_channels: int = 3, width: int = 32,
               dilated: bool = True) -> DigitsCNN:
    """Small CNN for 64x64 digits: ``4 * width``-channel feature map at stride 4 (16x16 at 64).

    ``large_feature_map`` is accepted for a uniform builder signature; only ``False`` is valid.
    """
    if check_bool("large_feature_map", large_feature_map):
        raise ValueError("digits_cnn has no large_feature_map variant (its map is already stride 4), "
                         f"got large_feature_map={large_feature_map!r}")
    return DigitsCNN(num_classes=num_classes, in_channels=in_channels, width=width, dilated=dilated)
