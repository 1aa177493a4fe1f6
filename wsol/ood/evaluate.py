"""Scores of a model on in-distribution and OOD sets, and the per-set / mean metric tables (the CutMix paper's
Table: mean over OOD sets of TNR at TPR 95%, AUROC, detection accuracy).
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from wsol.ood.detectors import score_batch
from wsol.ood.metrics import METRIC_NAMES, ood_metrics


def _images_only(samples: list[dict[str, Any]]) -> torch.Tensor:
    return torch.stack([s["image"] for s in samples])


def collect_scores(model: torch.nn.Module, dataset: Dataset, *, detectors: Mapping[str, Mapping[str, Any]],
                   device: torch.device, batch_size: int = 64, workers: int = 0) -> dict[str, np.ndarray]:
    """Every detector's scores over a dataset whose samples are dicts with a normalised ``"image"``.

    Args:
        model: the classifier, in eval mode, on ``device``.
        dataset: in-distribution split or OOD set.
        detectors: detector name -> its options (e.g. ``{"msp": {}, "odin": {"temperature": 1000}}``).
        device: where the model runs.
        batch_size, workers: DataLoader settings.

    Returns:
        detector name -> float64 ``(N,)`` scores in dataset order (higher = more in-distribution).
    """
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers,
                        collate_fn=_images_only)
    out: dict[str, list[np.ndarray]] = {name: [] for name in detectors}
    for images in loader:
        images = images.to(device)
        for name, opts in detectors.items():
            out[name].append(score_batch(model, images, detector=name, **dict(opts)).double().cpu().numpy())
    return {name: np.concatenate(parts) if parts else np.zeros(0) for name, parts in out.items()}


def metric_tables(scores_in: Mapping[str, np.ndarray], scores_out: Mapping[str, Mapping[str, np.ndarray]]
                  ) -> dict[str, dict[str, dict[str, float]]]:
    """Per detector: metrics per OOD set and their ``"mean"`` over the sets (as the CutMix paper reports).

    Args:
        scores_in: detector -> in-distribution scores.
        scores_out: OOD set name -> detector -> scores.
    """
    tables: dict[str, dict[str, dict[str, float]]] = {}
    for det, s_in in scores_in.items():
        per_set = {name: ood_metrics(s_in, sets[det]) for name, sets in scores_out.items()}
        mean = {k: float(np.mean([m[k] for m in per_set.values()])) for k in METRIC_NAMES}
        tables[det] = {**per_set, "mean": mean}
    return tables
