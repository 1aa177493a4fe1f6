"""Training-time augmentation methods of the CutMix paper and its baselines, registered in :data:`METHODS`.

Each method is a class built with keyword-only options (``METHODS.get("cutmix")(beta=1.0)``) and called per
batch: ``method(images, labels, *, generator, model=None) -> MixedBatch``. Only KeepAugment needs the model
(``method.needs_model``). Each class is a thin wrapper over pure functions of the same module: the draws
(``sample_*``, from an explicit ``torch.Generator``) are separate from their application (``apply_*``).

Names: ``vanilla``, ``cutmix``, ``feature_cutmix``, ``mixup``, ``cutout``, ``random_erasing``, ``keepaugment``.
"""
from __future__ import annotations

from wsol.methods.base import (METHODS, FeatureMix, Method, MixedBatch, mixed_cross_entropy, soft_cross_entropy,
                               soft_targets)
from wsol.methods.cutmix import CutMix, apply_cutmix, cutmix_, cutmix_lambda, sample_cutmix_boxes
from wsol.methods.cutout import Cutout, apply_cutout, sample_cutout_boxes
from wsol.methods.feature_cutmix import FeatureCutMix, feature_box, forward_with_feature_mix, mix_features
from wsol.methods.keepaugment import KeepAugment, region_scores, saliency_map, select_regions, selective_paste
from wsol.methods.mixup import Mixup, apply_mixup
from wsol.methods.random_erasing import RandomErasing, apply_erasing, sample_erasing_boxes
from wsol.methods.sampling import sample_beta
from wsol.methods.vanilla import Vanilla

__all__ = ["METHODS", "MixedBatch", "FeatureMix", "Method", "mixed_cross_entropy", "soft_targets",
           "soft_cross_entropy", "sample_beta",
           "Vanilla", "CutMix", "sample_cutmix_boxes", "cutmix_lambda", "apply_cutmix", "cutmix_",
           "FeatureCutMix", "feature_box", "mix_features", "forward_with_feature_mix",
           "Mixup", "apply_mixup", "Cutout", "sample_cutout_boxes", "apply_cutout",
           "RandomErasing", "sample_erasing_boxes", "apply_erasing",
           "KeepAugment", "saliency_map", "region_scores", "select_regions", "selective_paste"]
