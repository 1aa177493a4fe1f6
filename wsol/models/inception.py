"""Inception-v3 CAM backbone as in WSOL work (wsolevaluation ``InceptionCam``).

Modifications of torchvision's Inception3 (checked against wsolevaluation ``wsol/inception.py``):

* ``Conv2d_1a_3x3`` has padding 1 (torchvision: 0); the two stem max-pools are 3x3, stride 2, **padding 1,
  ceil_mode** (torchvision: no padding, floor);
* before ``Mixed_6a`` a 3x3 stride-2 max-pool (ceil_mode, no padding) is inserted; ``large_feature_map=True``
  removes it;
* ``Mixed_6a`` (InceptionB) runs at **stride 1 with padding 1** in both conv branches and in its max-pool
  (torchvision: stride 2, no padding), so it keeps the spatial size;
* ``Mixed_7a/7b/7c``, ``AuxLogits`` and the 2048-d ``fc`` are removed; after ``Mixed_6e`` (768 ch) come
  ``SPG_A3_1b = Conv2d(768, 1024, 3, padding=1) + ReLU`` and ``SPG_A3_2b = Conv2d(1024, 1024, 3, padding=1) + ReLU``,
  each preceded by dropout 0.5, then dropout 0.5, global average pooling and the classifier.

At 224x224 the feature map is 14x14 (28x28 with ``large_feature_map``): 224 -> 112 (1a) -> 110 (2a) -> 56 (pool)
-> 54 (4a) -> 28 (pool) -> 14 (pool before 6a).

wsolevaluation's classifier is a 1x1 conv ``SPG_A4`` applied before GAP; GAP and a linear map commute, so here it
is ``fc = Linear(1024, K)`` after GAP and ``SPG_A4.weight`` (K, 1024, 1, 1) loads into ``fc.weight`` (K, 1024).
All other module names are wsolevaluation's (= torchvision's for the Inception blocks), so both layouts load.
Following wsolevaluation's optimizer, everything outside ``Conv2d_*`` and ``Mixed_*`` (``SPG_A3_1b``,
``SPG_A3_2b``, ``fc``) forms the larger-learning-rate group.

Caveat: torchvision's Inception weights were trained with ``transform_input=True`` (inputs in [-1, 1]); like
wsolevaluation, this model takes ImageNet-mean/std-normalised inputs and does not transform them.
"""
from __future__ import annotations

import logging

import torch
from torch import nn
from torchvision.models import inception as tv_inception

from wsol.models.base import MODELS, WSOLModel, check_bool, check_num_classes

logger = logging.getLogger(__name__)

BasicConv2d = tv_inception.BasicConv2d


class InceptionBStride1(nn.Module):
    """torchvision's InceptionB (``Mixed_6a``) at stride 1 with padding 1: same parameters, same spatial size.

    Args:
        in_channels: input channels (288); the output has ``384 + 96 + in_channels`` channels.
    """

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, kernel_size=3, stride=1, padding=1)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=1, padding=1)
        self.branch_pool = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch3x3 = self.branch3x3(x)
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([branch3x3, branch3x3dbl, self.branch_pool(x)], dim=1)


class InceptionV3CAM(WSOLModel):
    """Inception-v3 up to ``Mixed_6e`` at stride 16 (8), two 3x3 convs to 1024 channels, GAP, linear classifier.

    Args:
        num_classes: number of classes.
        large_feature_map: stride 8 instead of 16 (drops the max-pool before ``Mixed_6a``).
        dropout: probability of each of the three dropouts of the head (wsolevaluation: 0.5).
    """

    cam_layer_name = "SPG_A3_2b"
    head_prefixes = ("SPG_A3_1b.", "SPG_A3_2b.", "fc.")

    def __init__(self, *, num_classes: int, large_feature_map: bool = False, dropout: float = 0.5) -> None:
        check_num_classes(num_classes)
        check_bool("large_feature_map", large_feature_map)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be a probability in [0, 1), got {dropout!r}")
        super().__init__(num_classes=num_classes, feature_dim=1024)
        self.large_feature_map = large_feature_map
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2, padding=1)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.maxpool1 = nn.MaxPool2d(kernel_size=3, stride=2, padding=1, ceil_mode=True)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.maxpool2 = nn.MaxPool2d(kernel_size=3, stride=2, padding=1, ceil_mode=True)
        self.Mixed_5b = tv_inception.InceptionA(192, pool_features=32)
        self.Mixed_5c = tv_inception.InceptionA(256, pool_features=64)
        self.Mixed_5d = tv_inception.InceptionA(288, pool_features=64)
        self.maxpool3: nn.Module = (nn.Identity() if large_feature_map
                                    else nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True))
        self.Mixed_6a = InceptionBStride1(288)
        self.Mixed_6b = tv_inception.InceptionC(768, channels_7x7=128)
        self.Mixed_6c = tv_inception.InceptionC(768, channels_7x7=160)
        self.Mixed_6d = tv_inception.InceptionC(768, channels_7x7=160)
        self.Mixed_6e = tv_inception.InceptionC(768, channels_7x7=192)
        self.dropout1 = nn.Dropout(dropout)
        self.SPG_A3_1b = nn.Sequential(nn.Conv2d(768, 1024, kernel_size=3, padding=1), nn.ReLU(inplace=True))
        self.dropout2 = nn.Dropout(dropout)
        self.SPG_A3_2b = nn.Sequential(nn.Conv2d(1024, 1024, kernel_size=3, padding=1), nn.ReLU(inplace=True))
        self.head_dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(1024, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        self.reset_classifier()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = self.maxpool1(x)
        x = self.maxpool2(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)))
        x = self.Mixed_5d(self.Mixed_5c(self.Mixed_5b(x)))
        x = self.Mixed_6a(self.maxpool3(x))
        x = self.Mixed_6e(self.Mixed_6d(self.Mixed_6c(self.Mixed_6b(x))))
        x = self.SPG_A3_1b(self.dropout1(x))
        return self.SPG_A3_2b(self.dropout2(x))

    def stages(self) -> list[nn.Module]:
        return [
            nn.Sequential(self.Conv2d_1a_3x3, self.Conv2d_2a_3x3, self.Conv2d_2b_3x3, self.maxpool1),
            nn.Sequential(self.Conv2d_3b_1x1, self.Conv2d_4a_3x3, self.maxpool2),
            nn.Sequential(self.Mixed_5b, self.Mixed_5c, self.Mixed_5d),
            nn.Sequential(self.maxpool3, self.Mixed_6a, self.Mixed_6b, self.Mixed_6c, self.Mixed_6d, self.Mixed_6e),
            nn.Sequential(self.dropout1, self.SPG_A3_1b, self.dropout2, self.SPG_A3_2b),
        ]

    def torchvision_weights(self) -> object:
        return tv_inception.Inception_V3_Weights.IMAGENET1K_V1

    @classmethod
    def recognize_state_dict(cls, keys: frozenset[str]) -> str | None:
        """``inception_v3`` for our / torchvision's (``Mixed_6e``) and wsolevaluation's (``SPG_A3``) layouts."""
        return "inception_v3" if any(k.startswith(("SPG_A3", "Mixed_6e")) for k in keys) else None

    def adapt_state_dict(self, state_dict: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], set[str]]:
        out = dict(state_dict)
        allowed_missing: set[str] = set()
        if any(k.startswith(("Mixed_7", "AuxLogits.")) for k in out):  # torchvision Inception3
            out = {k: v for k, v in out.items() if not k.startswith(("Mixed_7", "AuxLogits.", "fc."))}
            allowed_missing = {k for k in self.state_dict() if k.startswith(self.head_prefixes)}
            logger.info("torchvision Inception3 layout: dropped Mixed_7*, AuxLogits and fc; "
                        "SPG_A3_1b, SPG_A3_2b and fc stay initialised")
        if "SPG_A4.weight" in out:  # wsolevaluation: 1x1 conv classifier before GAP
            weight = out.pop("SPG_A4.weight")
            out["fc.weight"] = weight.reshape(weight.shape[0], -1)
            if "SPG_A4.bias" in out:
                out["fc.bias"] = out.pop("SPG_A4.bias")
            logger.info("wsolevaluation Inception layout: SPG_A4 (1x1 conv) loaded as fc")
        return out, allowed_missing


@MODELS.register("inception_v3")
def inception_v3(*, num_classes: int, large_feature_map: bool = False, dropout: float = 0.5) -> InceptionV3CAM:
    """Inception-v3 CAM backbone: 1024-channel feature map at stride 16 (8 with ``large_feature_map``)."""
    return InceptionV3CAM(num_classes=num_classes, large_feature_map=large_feature_map, dropout=dropout)
