"""Scores of a model on in-distribution and OOD sets, the per-set / mean metric tables (the CutMix paper's
Table: mean over OOD sets of TNR at TPR 95%, AUROC, detection accuracy), and :func:`detect_ood`, the job behind
``wsol ood``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

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


#: How the results name the score convention (written into every OOD result).
CONVENTIONS = ("scores: higher = more in-distribution; ties are groups (thresholds at distinct scores, no "
               "interpolation); tnr_at_tpr95: largest threshold with in-distribution TPR >= 95%; "
               "fpr_at_tpr95_ood_positive: OOD as positive (pytorch-ood / OpenOOD); all in %")
#: OOD set kinds a spec may name: ``"gaussian"``, ``"uniform"``, ``"folder:PATH"``.
NOISE_SETS = ("gaussian", "uniform")


@dataclass
class OODDetection:
    """What :func:`detect_ood` returns.

    Attributes:
        results: the JSON-ready dict ``wsol ood`` writes (per-detector tables, set sizes, provenance).
        scores_in: detector -> float64 ``(N,)`` in-distribution scores (for histograms and ROC figures).
        scores_out: OOD set name -> detector -> scores.
    """

    results: dict[str, Any]
    scores_in: dict[str, np.ndarray]
    scores_out: dict[str, dict[str, np.ndarray]]


def parse_ood_spec(text: str) -> tuple[str, str | None]:
    """``"gaussian"`` / ``"uniform"`` -> ``(kind, None)``; ``"folder:PATH"`` -> ``("folder", PATH)``.

    Raises:
        ValueError: any other text.
    """
    if text in NOISE_SETS:
        return text, None
    kind, sep, path = text.partition(":")
    if kind == "folder" and sep and path:
        return "folder", path
    raise ValueError(f"an OOD set is gaussian, uniform or folder:PATH, got {text!r}")


def detect_ood(checkpoint: str | os.PathLike, metadata: str | os.PathLike, *,
               ood: Sequence[str | tuple[str, str]] = ("gaussian", "uniform"),
               detectors: Mapping[str, Mapping[str, Any]] | None = None, num_noise: int | None = 1000, seed: int = 0,
               folder_mode: str = "resize", images: str | os.PathLike | None = None, arch: str | None = None,
               image_size: int | None = None, batch_size: int = 64, workers: int = 2,
               device: str | torch.device = "auto") -> OODDetection:
    """Detector scores on the in-distribution split and on OOD sets, and the metric tables: the job behind
    ``wsol ood``.

    Args:
        checkpoint, metadata: the classifier and its in-distribution split (its images; labels are ignored).
        ood: OOD sets, each a spec (``"gaussian"``, ``"uniform"``, ``"folder:PATH"``; named by the spec) or a
            ``(name, spec)`` pair.
        detectors: detector name -> options (default ``{"msp": {}}``, the CutMix paper's); see
            :data:`wsol.ood.DETECTORS`.
        num_noise: images per noise set; ``None``: as many as the in-distribution split.
        seed: seed of the noise images (image ``i`` of a set is the same for every run and model).
        folder_mode: ``"resize"`` or ``"center_crop"`` for folder sets.
        images, arch, image_size, batch_size, workers, device: as in
            :func:`wsol.engine.evaluate.evaluate_checkpoint`.

    Returns:
        :class:`OODDetection`; ``.results`` holds ``metrics`` (detector -> set -> metrics, with ``mean`` over the
        sets), ``in_distribution``, ``ood_sets`` (name -> size), ``detectors``, ``conventions`` and provenance.

    Raises:
        InputError: bad checkpoint, split, set or option (one line).

    Example::

        from wsol.api import detect_ood
        run = detect_ood("runs/demo/vanilla/model.pt", "datasets/digits/metadata/test",
                         ood=["gaussian", "folder:datasets/digits/ood"], device="cpu")
        print(run.results["metrics"]["msp"]["mean"]["auroc"])
    """
    import time

    import wsol
    from wsol.data.datasets import open_split
    from wsol.data.transforms import eval_transform
    from wsol.engine.evaluate import open_checkpoint
    from wsol.errors import InputError
    from wsol.ood.datasets import GaussianNoise, ImageFolderOOD, UniformNoise

    start = time.perf_counter()
    detectors = {k: dict(v) for k, v in (detectors or {"msp": {}}).items()}
    if num_noise is not None and num_noise < 1:
        raise InputError("--num-noise must be >= 1", value=num_noise)
    try:
        specs = [(item, parse_ood_spec(item)) if isinstance(item, str) else (item[0], parse_ood_spec(item[1]))
                 for item in ood]
    except ValueError as e:
        raise InputError(str(e)) from None
    loaded, dev, size = open_checkpoint(checkpoint, arch=arch, device=device, image_size=image_size)
    model = loaded.model.to(dev).eval()
    in_set = open_split(metadata, image_root=images, image_size=size, transform=eval_transform(image_size=size))
    count = len(in_set) if num_noise is None else num_noise
    sets: dict[str, Any] = {}
    for name, (kind, path) in specs:
        if kind == "gaussian":
            sets[name] = GaussianNoise(count, size, seed)
        elif kind == "uniform":
            sets[name] = UniformNoise(count, size, seed)
        else:
            sets[name] = ImageFolderOOD(path, size, mode=folder_mode)
    try:
        scores_in = collect_scores(model, in_set, detectors=detectors, device=dev, batch_size=batch_size,
                                   workers=workers)
        scores_out = {name: collect_scores(model, ds, detectors=detectors, device=dev, batch_size=batch_size,
                                           workers=workers)
                      for name, ds in sets.items()}
        tables = metric_tables(scores_in, scores_out)
    except ValueError as e:
        raise InputError(str(e)) from None
    results = {
        "metrics": tables, "in_distribution": {"metadata": os.fspath(metadata), "num_images": len(in_set)},
        "ood_sets": {name: len(ds) for name, ds in sets.items()}, "detectors": detectors,
        "conventions": CONVENTIONS, "checkpoint": os.fspath(checkpoint), "checkpoint_sha256": loaded.sha256,
        "arch": loaded.arch, "image_size": size, "seed": seed, "wsol_version": wsol.__version__,
        "timing": {"total_s": time.perf_counter() - start},
    }
    return OODDetection(results, scores_in, scores_out)
