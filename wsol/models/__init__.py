"""WSOL backbones by name: features -> GAP -> linear classifier, with a common interface.

Every model is a :class:`WSOLModel`; see :mod:`wsol.models.base` for the interface, :func:`build_model` for the
builder and :mod:`wsol.models.loading` for reading any checkpoint safely (:func:`load_model`). Registered names
(``MODELS.names()``): ``digits_cnn``, ``digits_net``, ``inception_v3``, ``resnet18``, ``resnet50``, ``vgg16``.
"""
from __future__ import annotations

from wsol.models.base import DEFAULT_CLASSIFIER_LR_MULT, MODELS, WSOLModel
from wsol.models.builder import build_model, model_options
# importing the architecture modules registers them in MODELS
from wsol.models.digits import DigitsCNN, DigitsNet
from wsol.models.inception import InceptionV3CAM
from wsol.models.resnet import ResNetCAM
from wsol.models.vgg import VGG16CAM
from wsol.models.loading import LoadedModel, infer_arch, load_model, read_torch_file
from wsol.models.weights import TORCHVISION, load_state_dict_checked, load_weights, read_state_dict

__all__ = ["MODELS", "WSOLModel", "load_model", "LoadedModel", "infer_arch", "read_torch_file", "DEFAULT_CLASSIFIER_LR_MULT", "build_model", "model_options", "load_weights",
           "read_state_dict", "load_state_dict_checked", "TORCHVISION", "DigitsCNN", "DigitsNet", "InceptionV3CAM",
           "ResNetCAM", "VGG16CAM"]
