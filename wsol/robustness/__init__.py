"""Robustness evaluators in pixel space: adversarial attacks (FGSM, PGD), occlusion and in-between-class samples.

Every function takes a pixel-space model (images in ``[0, 1]`` -> logits); wrap a wsol backbone with
:class:`PixelSpaceModel`. Conventions are stated once in :mod:`wsol.robustness.attacks` (pixel space, budgets, loss,
model state, top-k) and :mod:`wsol.robustness.occlusion` (centred square, fill values, pairing).
"""
from __future__ import annotations

from wsol.robustness.attacks import (ATTACKS, PixelSpaceModel, TopKCounter, attack_accuracy, check_pixel_images, fgsm,
                                     fgsm_reference, pgd)
from wsol.robustness.occlusion import (DEFAULT_LAMS, OCCLUSION_MODES, boundary_occlusion, center_occlusion,
                                       cutmix_pairs, in_between_accuracy, mixup_pairs, occlusion_accuracy,
                                       occlusion_mask, sample_partners)

__all__ = ["PixelSpaceModel", "fgsm", "fgsm_reference", "pgd", "attack_accuracy", "TopKCounter", "ATTACKS",
           "check_pixel_images", "occlusion_mask", "center_occlusion", "boundary_occlusion", "occlusion_accuracy",
           "OCCLUSION_MODES", "sample_partners", "mixup_pairs", "cutmix_pairs", "in_between_accuracy", "DEFAULT_LAMS"]
