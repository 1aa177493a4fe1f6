"""Out-of-distribution detection: detectors (scores from a classifier), metrics over scores, OOD image sets.

Convention everywhere: **higher score = more in-distribution**. Detectors live in :mod:`wsol.ood.detectors`
(registry :data:`DETECTORS`), the metrics and their exact tie / 95%-TPR rules in :mod:`wsol.ood.metrics`, the noise
and folder sets in :mod:`wsol.ood.datasets`.
"""
from __future__ import annotations

from wsol.ood.datasets import FOLDER_MODES, GaussianNoise, ImageFolderOOD, UniformNoise, list_image_files
from wsol.ood.detectors import (
    DETECTORS, Detector, energy, entropy, max_logit, msp, odin, register_detector, score_batch, scores_from_logits,
)
from wsol.ood.metrics import (
    METRIC_NAMES, aupr_in, aupr_out, auroc, detection_accuracy, fpr_at_tpr_ood_positive, ood_metrics, tnr_at_tpr,
)

__all__ = [
    "DETECTORS", "Detector", "register_detector", "scores_from_logits", "score_batch", "msp", "max_logit", "energy",
    "entropy", "odin", "METRIC_NAMES", "ood_metrics", "tnr_at_tpr", "fpr_at_tpr_ood_positive", "auroc",
    "detection_accuracy", "aupr_in", "aupr_out", "GaussianNoise", "UniformNoise", "ImageFolderOOD", "FOLDER_MODES",
    "list_image_files",
]
