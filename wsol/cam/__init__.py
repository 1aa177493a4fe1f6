"""Class activation maps: plain CAM from features and classifier weights, Grad-CAM / Grad-CAM++ for any layer, and
the published resize + min-max normalisation. Methods are registered by name in :data:`CAMS`.
"""
from wsol.cam.cam import cam_from_features, class_activation_maps
from wsol.cam.gradcam import grad_cam
from wsol.cam.normalize import normalize_cam, resize_and_normalize
from wsol.cam.registry import CAMS

__all__ = ["CAMS", "cam_from_features", "class_activation_maps", "grad_cam", "normalize_cam",
           "resize_and_normalize"]
