"""Small CNNs for the 64x64 embedded-digits dataset (train on CPU in minutes).

``digits_cnn``: four conv blocks (3x3 conv, BatchNorm, ReLU) with 32, 64, 128, 128 channels; the first two are
followed by a 2x2 max-pool, so a 64x64 input gives a 16x16 feature map (stride 4). Then global average pooling and a
linear classifier. By default the last two convs are dilated (2 and 4): the receptive field of a feature-map cell grows
from 26 to 58 pixels, enough to see a whole digit, at the same cost and map size (``dilated=False`` gives the plain
stack). About 79 M multiply-adds per 64x64 image.

``digits_net`` (:class:`DigitsNet`): the fast classifier, about 18 M multiply-adds per 64x64 image, 8x8 CAM with a
63-px receptive field: it classifies well and localizes badly (its CAMs cover most of the image).

``digits_locnet`` (:class:`DigitsLocNet`): the model of the ``digits-*`` presets: 16x16 CAM at stride 4 with a 23-px
receptive field matched to the digits, about 12 M multiply-adds.
It starts with a per-image, per-channel normalisation of the input (``InstanceNorm2d`` without affine parameters)
and a polarity-invariant stem (``|BN(conv(x))|``): the digit's ink has a random colour, darker or brighter than the
photograph beneath, and without these two priors plain SGD sits at chance level for several epochs.

No torchvision weights; only ``fc`` is in the larger-learning-rate group.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from wsol.models.base import MODELS, WSOLModel, check_bool, check_num_classes


def _conv_block(in_channels: int, out_channels: int, *, pool: bool, dilation: int = 1,
                stride: int = 1) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=dilation,
                                         dilation=dilation, bias=False),
                               nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]
    if pool:
        layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


class _StagedDigitsModel(WSOLModel):
    """A digits model whose feature map is its named stages applied in order (``stage_names``), registered as
    ``arch``; a state dict is recognised by its exact set of top-level modules."""

    arch: str = ""
    stage_names: tuple[str, ...] = ()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        for stage in self.stages():
            x = stage(x)
        return x

    def stages(self) -> list[nn.Module]:
        return [getattr(self, name) for name in self.stage_names]

    def _init_with_stem(self, *, num_classes: int, in_channels: int, widths: tuple[int, ...], count: int,
                        input_norm: bool, abs_stem: bool) -> tuple[int, ...]:
        """Check the options, initialise the module and build ``stem``; returns the widths as a tuple."""
        check_num_classes(num_classes)
        widths = _check_widths(widths, count)
        _check_positive("in_channels", in_channels)
        check_bool("input_norm", input_norm)
        check_bool("abs_stem", abs_stem)
        WSOLModel.__init__(self, num_classes=num_classes, feature_dim=widths[-1])
        self.stem = _stem(in_channels, widths[0], input_norm=input_norm, abs_stem=abs_stem)
        return widths

    @classmethod
    def options_from_state_dict(cls, state_dict: dict[str, torch.Tensor]) -> dict[str, Any]:
        """``widths`` (the output channels of each stage's first conv) and ``input_norm`` (whether the stem's conv
        follows a parameter-free input normalisation), so a checkpoint of any width loads."""
        convs = _first_convs(state_dict, cls.stage_names)
        if convs is None:
            return {}
        return {"widths": tuple(width for _, width in convs), "input_norm": convs[0][0] == 1}

    @classmethod
    def recognize_state_dict(cls, keys: frozenset[str]) -> str | None:
        """``arch`` when the top-level modules with weights are exactly ``stage_names`` and ``fc``."""
        if not cls.arch:  # the abstract base recognises nothing
            return None
        return cls.arch if {k.split(".", 1)[0] for k in keys} == {*cls.stage_names, "fc"} else None


def _first_convs(state_dict: dict[str, torch.Tensor],
                 stage_names: tuple[str, ...]) -> list[tuple[int, int]] | None:
    """``(index in its stage, output channels)`` of the first conv (``<stage>.<i>.weight`` of 4 dims, lowest ``i``)
    of every stage, or None when a stage has none."""
    found = []
    for stage in stage_names:
        convs = sorted((int(key.split(".")[1]), tensor) for key, tensor in state_dict.items()
                       if key.startswith(f"{stage}.") and key.count(".") == 2 and key.split(".")[1].isdigit()
                       and key.endswith(".weight") and getattr(tensor, "ndim", 0) == 4)
        if not convs:
            return None
        found.append((convs[0][0], int(convs[0][1].shape[0])))
    return found


def _check_widths(widths: tuple[int, ...], count: int) -> tuple[int, ...]:
    widths = tuple(widths)
    if len(widths) != count or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in widths):
        raise ValueError(f"widths must be {_NUMBERS[count]} positive integers, got {widths!r}")
    return widths


def _check_positive(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


_NUMBERS = {4: "four", 5: "five"}


def _refuse_large_feature_map(arch: str, value: object) -> None:
    """The digits builders accept ``large_feature_map`` for a uniform signature; only ``False`` is valid."""
    if check_bool("large_feature_map", value):
        raise ValueError(f"{arch} has no large_feature_map variant, got large_feature_map={value!r}")


class DigitsCNN(_StagedDigitsModel):
    """Four conv blocks (32-64-128-128), two 2x downsamplings, GAP, linear classifier.

    Args:
        num_classes: number of classes.
        in_channels: input channels (3 for RGB, 1 for grey).
        width: channels of the first block; the others are 2x, 4x, 4x.
        dilated: dilate the convs of blocks 3 and 4 by 2 and 4 (receptive field 58 instead of 26 pixels).
    """

    arch = "digits_cnn"
    stage_names = ("block1", "block2", "block3", "block4")
    cam_layer_name = "block4"
    head_prefixes = ("fc.",)

    @classmethod
    def options_from_state_dict(cls, state_dict: dict[str, torch.Tensor]) -> dict[str, Any]:
        """``width``: the output channels of ``block1``'s conv."""
        convs = _first_convs(state_dict, cls.stage_names)
        return {"width": convs[0][1]} if convs is not None else {}

    def __init__(self, *, num_classes: int, in_channels: int = 3, width: int = 32, dilated: bool = True) -> None:
        check_num_classes(num_classes)
        _check_positive("in_channels", in_channels)
        _check_positive("width", width)
        check_bool("dilated", dilated)
        super().__init__(num_classes=num_classes, feature_dim=4 * width)
        self.block1 = _conv_block(in_channels, width, pool=True)
        self.block2 = _conv_block(width, 2 * width, pool=True)
        self.block3 = _conv_block(2 * width, 4 * width, pool=False, dilation=2 if dilated else 1)
        self.block4 = _conv_block(4 * width, 4 * width, pool=False, dilation=4 if dilated else 1)
        self.fc = nn.Linear(4 * width, num_classes)
        _init_convs(self)
        nn.init.normal_(self.fc.weight, 0.0, 0.01)
        nn.init.zeros_(self.fc.bias)


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


class Abs(nn.Module):
    """Element-wise absolute value (a polarity-invariant activation)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.abs()


def _stem(in_channels: int, width: int, *, input_norm: bool, abs_stem: bool) -> nn.Sequential:
    """Optional per-image input normalisation, a stride-2 3x3 conv, BatchNorm, then ``|x|`` or ReLU."""
    stem: list[nn.Module] = [nn.InstanceNorm2d(in_channels, affine=False)] if input_norm else []
    stem += [nn.Conv2d(in_channels, width, kernel_size=3, stride=2, padding=1, bias=False),
             nn.BatchNorm2d(width), Abs() if abs_stem else nn.ReLU(inplace=True)]
    return nn.Sequential(*stem)


def _init_convs(model: nn.Module) -> None:
    """Kaiming-normal (fan-out) init of every conv of ``model``, in place."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")


class DigitsNet(_StagedDigitsModel):
    """Fast digits CNN: five 3x3 conv-BN blocks, three of them stride 2, then GAP and a linear classifier.

    Layout at a 64x64 input (``widths=(24, 48, 96, 96, 128)``): ``stem`` (input normalisation, stride-2 conv, 32x32),
    ``block2`` (stride 2, 16x16), ``block3`` (stride 2, 8x8), ``block4`` (8x8), ``block5`` (dilation 2, 8x8; the CAM
    layer). Feature map stride 8, receptive field 63 pixels, about 18 M multiply-adds and 0.25 M parameters.

    Args:
        num_classes: number of classes.
        in_channels: input channels.
        widths: output channels of the five blocks; the last is ``feature_dim``.
        input_norm: start with an affine-free ``InstanceNorm2d`` (each image's channels to zero mean, unit
            variance), which removes the photograph's colour cast and contrast.
        abs_stem: use ``|x|`` instead of ReLU after the stem's BatchNorm (responds to ink darker or brighter than the
            background alike).
    """

    arch = "digits_net"
    stage_names = ("stem", "block2", "block3", "block4", "block5")
    cam_layer_name = "block5"
    head_prefixes = ("fc.",)

    def __init__(self, *, num_classes: int, in_channels: int = 3, widths: tuple[int, ...] = (24, 48, 96, 96, 128),
                 input_norm: bool = True, abs_stem: bool = True) -> None:
        widths = self._init_with_stem(num_classes=num_classes, in_channels=in_channels, widths=widths, count=5,
                                      input_norm=input_norm, abs_stem=abs_stem)
        self.block2 = _conv_block(widths[0], widths[1], pool=False, stride=2)
        self.block3 = _conv_block(widths[1], widths[2], pool=False, stride=2)
        self.block4 = _conv_block(widths[2], widths[3], pool=False)
        self.block5 = _conv_block(widths[3], widths[4], pool=False, dilation=2)
        self.fc = nn.Linear(widths[-1], num_classes)
        _init_convs(self)
        self.reset_classifier()


@MODELS.register("digits_net")
def digits_net(*, num_classes: int, large_feature_map: bool = False, in_channels: int = 3,
               widths: tuple[int, ...] = (24, 48, 96, 96, 128), input_norm: bool = True,
               abs_stem: bool = True) -> DigitsNet:
    """Fast CNN for 64x64 digits: ``widths[-1]``-channel feature map at stride 8 (8x8 at 64); see :class:`DigitsNet`.

    ``large_feature_map`` is accepted for a uniform builder signature; only ``False`` is valid.
    """
    _refuse_large_feature_map("digits_net", large_feature_map)
    return DigitsNet(num_classes=num_classes, in_channels=in_channels, widths=widths, input_norm=input_norm,
                     abs_stem=abs_stem)


class DigitsLocNet(_StagedDigitsModel):
    """The localizing digits CNN of the ``digits-*`` presets: four 3x3 conv-BN blocks, two of them stride 2, then GAP
    and a linear classifier.

    Layout at a 64x64 input (default ``widths=(16, 32, 48, 64)``): ``stem`` (input normalisation, stride-2 conv, |x|,
    16 channels at 32x32), ``block2`` (stride 2, 32 channels at 16x16), ``block3`` (48 at 16x16), ``block4`` (64 at
    16x16; the CAM layer). Feature map stride 4, so a **16x16 CAM** at 64 px; receptive field of a CAM cell
    **23 pixels** (3, 7, 15, 23 after the four blocks), about the size of a digit (30-70 % of the side, 19-45 px), so
    a cell's evidence stays near the digit instead of spreading over the image as with :class:`DigitsNet`'s 63-px
    field. **12.2 M multiply-adds and 47.5 k parameters** at 64 px (``widths=(32, 64, 64, 96)``: 29.2 M and 113 k).

    The map size alone does not localize: 16x16 or 32x32 maps with a 63-px field score as badly as 8x8 ones; the
    receptive field matched to the object does (measured on digits, see the project's issue on the embedded
    benchmark). The default widths (about 1,150 training images/s on 2 CPU cores) are the widest that train the
    presets' 30 epochs in about two minutes; the README's "The embedded benchmark" gives their numbers. The default
    was ``(32, 64, 64, 96)`` before; checkpoints of any widths load, the widths being read from the weights
    (:meth:`options_from_state_dict`).

    Args:
        num_classes: number of classes.
        in_channels: input channels.
        widths: output channels of the four blocks; the last is ``feature_dim``.
        input_norm: start with an affine-free ``InstanceNorm2d`` (see :class:`DigitsNet`).
        abs_stem: ``|x|`` instead of ReLU after the stem's BatchNorm (see :class:`DigitsNet`).
    """

    arch = "digits_locnet"
    stage_names = ("stem", "block2", "block3", "block4")
    cam_layer_name = "block4"
    head_prefixes = ("fc.",)

    def __init__(self, *, num_classes: int, in_channels: int = 3, widths: tuple[int, ...] = (16, 32, 48, 64),
                 input_norm: bool = True, abs_stem: bool = True) -> None:
        widths = self._init_with_stem(num_classes=num_classes, in_channels=in_channels, widths=widths, count=4,
                                      input_norm=input_norm, abs_stem=abs_stem)
        self.block2 = _conv_block(widths[0], widths[1], pool=False, stride=2)
        self.block3 = _conv_block(widths[1], widths[2], pool=False)
        self.block4 = _conv_block(widths[2], widths[3], pool=False)
        self.fc = nn.Linear(widths[-1], num_classes)
        _init_convs(self)
        self.reset_classifier()


@MODELS.register("digits_locnet")
def digits_locnet(*, num_classes: int, large_feature_map: bool = False, in_channels: int = 3,
                  widths: tuple[int, ...] = (16, 32, 48, 64), input_norm: bool = True,
                  abs_stem: bool = True) -> DigitsLocNet:
    """Localizing CNN for 64x64 digits (the presets' model): 16x16 CAM at stride 4, 23-px receptive field; see
    :class:`DigitsLocNet`.

    ``large_feature_map`` is accepted for a uniform builder signature; only ``False`` is valid.
    """
    _refuse_large_feature_map("digits_locnet", large_feature_map)
    return DigitsLocNet(num_classes=num_classes, in_channels=in_channels, widths=widths, input_norm=input_norm,
                        abs_stem=abs_stem)
