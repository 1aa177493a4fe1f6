"""Robustness jobs on a checkpoint: accuracy under FGSM / PGD (``wsol attack``), occlusion and in-between-class
curves (``wsol robustness``). Each returns the JSON-ready dict the command writes (figures are added by the caller
from these numbers).

Images are read in pixel space ``[0, 1]`` and the ImageNet normalisation lives inside
:class:`~wsol.robustness.attacks.PixelSpaceModel`, so budgets and fills are pixel values. ``max_images`` evaluates a
seeded random subset (the indices ``sorted(randperm(n, seed)[:max_images])``), the same for every model.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import torch
from torch.utils.data import DataLoader, Subset

from wsol.errors import InputError


@dataclass
class PixelRun:
    """What :func:`open_pixel_run` sets up: the wrapped model, the loader, the device and the run's provenance."""

    model: torch.nn.Module
    loader: DataLoader
    device: torch.device
    info: dict[str, Any]


def open_pixel_run(checkpoint: str | os.PathLike, metadata: str | os.PathLike, *,
                   images: Optional[str | os.PathLike] = None, arch: Optional[str] = None,
                   image_size: Optional[int] = None, max_images: int = 0, seed: int = 0, batch_size: int = 64,
                   workers: int = 2, shuffle: bool = False, device: str | torch.device = "auto") -> PixelRun:
    """The checkpoint as a pixel-space model and a loader of ``(images in [0, 1], labels)`` over the split.

    Args:
        checkpoint, metadata, images, arch, image_size, device: as in
            :func:`wsol.engine.evaluate.evaluate_checkpoint`.
        max_images: evaluate a seeded random subset of this many images (0: all).
        seed: seed of the subset and of the shuffling.
        batch_size, workers: DataLoader settings.
        shuffle: shuffle the batches (seeded): in-between-class pairs are drawn within a batch.
    """
    from wsol.constants import IMAGENET_MEAN, IMAGENET_STD
    from wsol.data.datasets import collate_image_label, open_split
    from wsol.data.transforms import pixel_transform
    from wsol.engine.evaluate import open_checkpoint
    from wsol.robustness.attacks import PixelSpaceModel

    loaded, dev, size = open_checkpoint(checkpoint, arch=arch, device=device, image_size=image_size)
    dataset = open_split(metadata, image_root=images, image_size=size, transform=pixel_transform(image_size=size))
    n = len(dataset)
    subset_note = None
    if max_images and max_images < n:
        g = torch.Generator().manual_seed(seed)
        keep = sorted(torch.randperm(n, generator=g)[:max_images].tolist())
        dataset = Subset(dataset, keep)
        subset_note = f"a random subset of {len(keep)} of the split's {n} images (seed {seed})"
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=workers,
                        generator=torch.Generator().manual_seed(seed) if shuffle else None,
                        collate_fn=collate_image_label)
    model = PixelSpaceModel(loaded.model, IMAGENET_MEAN, IMAGENET_STD).to(dev).eval()
    info = {"checkpoint": os.fspath(checkpoint), "checkpoint_sha256": loaded.sha256, "arch": loaded.arch,
            "image_size": size, "metadata": os.fspath(metadata), "num_images": len(dataset), "subset": subset_note,
            "device": str(dev), "seed": seed}
    return PixelRun(model, loader, dev, info)


def attack_checkpoint(checkpoint: str | os.PathLike, metadata: str | os.PathLike, *,
                      attacks: Sequence[str] = ("fgsm",), eps_255: Sequence[float] = (1, 2, 4, 8), steps: int = 10,
                      alpha_255: Optional[float] = None, images: Optional[str | os.PathLike] = None,
                      arch: Optional[str] = None, image_size: Optional[int] = None, max_images: int = 0,
                      seed: int = 0, batch_size: int = 64, workers: int = 2,
                      device: str | torch.device = "auto", per_image: bool = False) -> dict[str, Any]:
    """Clean and adversarial top-1 / top-5 accuracy per budget: the job behind ``wsol attack``.

    Args:
        checkpoint, metadata: the model and the split (labels are used; boxes are not).
        attacks: ``"fgsm"`` and / or ``"pgd"`` (PGD-``steps`` with a random start drawn from ``seed``).
        eps_255: budgets in /255 units, each in ``[0, 255]``.
        steps, alpha_255: PGD steps and step size in /255 units (default ``2.5 eps / steps``).
        images, arch, image_size, max_images, seed, batch_size, workers, device: see :func:`open_pixel_run`.
        per_image: every attack's result also holds ``per_image_top1`` (see
            :func:`wsol.robustness.attack_accuracy`), and the result ``image_indices``: the split positions of the
            attacked images, in that order.

    Returns:
        ``eps_255``, the run's provenance, ``attacks`` (name -> :func:`wsol.robustness.attack_accuracy` result),
        ``wsol_version``, ``timing``.

    Raises:
        InputError: bad checkpoint, split or option (one line).

    Example::

        from wsol.api import attack_checkpoint
        r = attack_checkpoint("runs/demo/vanilla/model.pt", "datasets/digits/metadata/test", eps_255=[8],
                              max_images=200, device="cpu")
        print(r["attacks"]["fgsm"]["adversarial"][0]["top1_pct"])
    """
    import wsol
    from wsol.robustness.attacks import attack_accuracy

    start = time.perf_counter()
    if any(e < 0 or e > 255 for e in eps_255):
        raise InputError("--eps values are /255 budgets in [0, 255]", value=list(eps_255))
    run = open_pixel_run(checkpoint, metadata, images=images, arch=arch, image_size=image_size,
                         max_images=max_images, seed=seed, batch_size=batch_size, workers=workers, device=device)
    results: dict[str, Any] = {"eps_255": list(eps_255), **run.info, "wsol_version": wsol.__version__,
                               "attacks": {}}
    for name in attacks:
        try:
            results["attacks"][name] = attack_accuracy(
                run.model, run.loader, eps_list=[e / 255 for e in eps_255], attack=name,
                alpha=None if alpha_255 is None else alpha_255 / 255, steps=steps,
                generator=torch.Generator().manual_seed(seed), device=run.device, per_image=per_image)
        except ValueError as e:
            raise InputError(str(e)) from None
    if per_image:
        dataset = run.loader.dataset
        results["image_indices"] = list(dataset.indices) if isinstance(dataset, Subset) else list(range(len(dataset)))
    results["timing"] = {"total_s": time.perf_counter() - start}
    return results


def robustness_checkpoint(checkpoint: str | os.PathLike, metadata: str | os.PathLike, *, occlusion: bool = True,
                          in_between: bool = True, sizes: Optional[Sequence[int]] = None, fill: str = "zero",
                          lams: Optional[Sequence[float]] = None, images: Optional[str | os.PathLike] = None,
                          arch: Optional[str] = None, image_size: Optional[int] = None, max_images: int = 0,
                          seed: int = 0, batch_size: int = 64, workers: int = 2,
                          device: str | torch.device = "auto") -> dict[str, Any]:
    """Occlusion and in-between-class curves (the CutMix paper's Figure 5): the job behind ``wsol robustness``.

    Args:
        checkpoint, metadata: the model and the split.
        occlusion: centre and boundary occlusion top-1 for each square side in ``sizes``.
        in_between: % of Mixup (weights ``lams``) and CutMix (sides ``sizes``) samples of two images of different
            classes predicted as neither class.
        sizes: square sides in pixels (default ``0, 1/8, ..., 8/8`` of the image side).
        fill: ``"zero"`` (pixel value 0) or ``"mean"`` (the ImageNet mean).
        lams: Mixup weights of the first image (default 0.1 ... 0.9).
        images, arch, image_size, max_images, seed, batch_size, workers, device: see :func:`open_pixel_run`; with
            ``in_between`` the batches are shuffled (seeded) so that pairs mix classes.

    Returns:
        the provenance, ``fill``, ``occlusion`` (mode -> :func:`wsol.robustness.occlusion_accuracy` result),
        ``in_between`` (:func:`wsol.robustness.in_between_accuracy` result), ``wsol_version``, ``timing``.

    Raises:
        InputError: bad checkpoint, split or option (one line).

    Example::

        from wsol.api import robustness_checkpoint
        r = robustness_checkpoint("runs/demo/vanilla/model.pt", "datasets/digits/metadata/test",
                                  in_between=False, device="cpu")
        print([p["top1_pct"] for p in r["occlusion"]["center"]["results"]])
    """
    import wsol
    from wsol.robustness.occlusion import in_between_accuracy, occlusion_accuracy

    start = time.perf_counter()
    if not (occlusion or in_between):
        raise InputError("nothing to do: ask for occlusion and / or in-between-class curves")
    run = open_pixel_run(checkpoint, metadata, images=images, arch=arch, image_size=image_size,
                         max_images=max_images, seed=seed, batch_size=batch_size, workers=workers,
                         shuffle=in_between, device=device)
    size = run.info["image_size"]
    sizes = list(sizes) if sizes is not None else [size * k // 8 for k in range(9)]
    results: dict[str, Any] = {**run.info, "wsol_version": wsol.__version__, "fill": fill}
    try:
        if occlusion:
            results["occlusion"] = {mode: occlusion_accuracy(run.model, run.loader, sizes=sizes, mode=mode,
                                                             fill=fill, device=run.device)
                                    for mode in ("center", "boundary")}
        if in_between:
            kwargs = {} if lams is None else {"lams": list(lams)}
            results["in_between"] = in_between_accuracy(run.model, run.loader,
                                                        generator=torch.Generator().manual_seed(seed),
                                                        sizes=[s for s in sizes if s > 0], device=run.device,
                                                        **kwargs)
    except ValueError as e:
        raise InputError(str(e)) from None
    results["timing"] = {"total_s": time.perf_counter() - start}
    return results
