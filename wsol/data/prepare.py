"""What every ``wsol prepare`` converter shares: probing images, and writing a prepared metadata folder.

A prepared metadata folder (``--out META_DIR``) looks like this::

    META_DIR/
      dataset.json          what was prepared: dataset, class count, per split its image root, mask root, size;
                            images skipped with --skip-bad-images (count and list); notes on deviations
      class_names.txt       label,name per line (extra to the wsolevaluation format; its tools ignore it)
      README.md             the same notes in prose, when there are any
      train/ test/ ...      one wsolevaluation metadata folder per split (see wsol.data.metadata)
      test_masks/           the same images with mask localization, where the dataset has masks

Converters build a :class:`PreparedDataset` in memory and call :func:`write_prepared`; nothing is written until
everything was read and checked, so a failed prepare never leaves a half-written folder behind.
"""
from __future__ import annotations

import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from wsol.constants import CLASS_NAMES_FILE, DATASET_INFO_FILE
from wsol.data.images import probe_image
from wsol.data.metadata import Metadata, check_metadata, write_metadata
from wsol.errors import InputError
from wsol.fileio import atomic_write_json, atomic_write_text

logger = logging.getLogger(__name__)

#: Threads used to read image headers (I/O bound; helps most on network filesystems).
_PROBE_THREADS = 8


@dataclass
class PreparedSplit:
    """One split ready to be written: its metadata and where its images (and masks) live."""

    metadata: Metadata
    image_root: Path
    mask_root: Path | None = None


@dataclass
class SkippedImage:
    """An image left out by ``--skip-bad-images``."""

    split: str
    image_id: str
    reason: str


@dataclass
class PreparedDataset:
    """A converted dataset, before it is written."""

    dataset: str
    class_names: list[str]
    splits: dict[str, PreparedSplit]
    skipped: list[SkippedImage] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def probe_sizes(paths: Sequence[Path], *, skip_bad: bool, progress: bool = False,
                desc: str = "reading image headers") -> list[tuple[int, int] | InputError]:
    """Size of each image from its header (after a truncation check), in order.

    Args:
        paths: image files.
        skip_bad: when True a bad image yields its :class:`InputError` in the result instead of raising.
        progress: show a tqdm bar.

    Raises:
        InputError: the first bad image, when ``skip_bad`` is False.
    """
    from tqdm.auto import tqdm

    def one(path: Path) -> tuple[int, int] | InputError:
        try:
            return probe_image(path)
        except InputError as e:
            if not skip_bad:
                raise
            return e

    with ThreadPoolExecutor(max_workers=_PROBE_THREADS) as pool:
        results = pool.map(one, paths)
        return list(tqdm(results, total=len(paths), desc=desc, disable=not progress, unit="img",
                         dynamic_ncols=True))


def dataset_info(prepared: PreparedDataset) -> dict:
    """The content of ``dataset.json`` for ``prepared``."""
    return {
        "dataset": prepared.dataset,
        "num_classes": prepared.num_classes,
        "splits": {
            name: {
                "num_images": len(split.metadata),
                "localization": split.metadata.localization,
                "image_root": os.path.abspath(split.image_root),
                "mask_root": None if split.mask_root is None else os.path.abspath(split.mask_root),
            }
            for name, split in prepared.splits.items()
        },
        "skipped_images": len(prepared.skipped),
        "skipped": [{"split": s.split, "image_id": s.image_id, "reason": s.reason} for s in prepared.skipped],
        "notes": list(prepared.notes),
    }


def write_prepared(prepared: PreparedDataset, out_dir: str | os.PathLike) -> dict:
    """Write ``prepared`` under ``out_dir`` (layout in the module docstring) and return the ``dataset.json`` dict.

    Each split is validated after writing by reading it back; a problem there is a bug in the converter and raises.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, split in prepared.splits.items():
        write_metadata(split.metadata, out / name)
        problems = check_metadata(out / name, num_classes=prepared.num_classes)
        if problems:
            raise InputError(f"converter wrote invalid metadata: {problems[0]}", path=out / name)
    atomic_write_text(out / CLASS_NAMES_FILE,
                      "".join(f"{label},{name}\n" for label, name in enumerate(prepared.class_names)))
    info = dataset_info(prepared)
    atomic_write_json(out / DATASET_INFO_FILE, info)
    if prepared.notes:
        text = f"# {prepared.dataset} metadata prepared by wsol\n\n" + "".join(f"- {n}\n" for n in prepared.notes)
        atomic_write_text(out / "README.md", text)
    for s in prepared.skipped:
        logger.warning("skipped %s image %s: %s", s.split, s.image_id, s.reason)
    return info


def read_dataset_info(meta_root: str | os.PathLike) -> dict | None:
    """``dataset.json`` of a prepared folder (or of the parent of a split folder), or None when there is none."""
    root = Path(meta_root)
    for candidate in (root / DATASET_INFO_FILE, root.parent / DATASET_INFO_FILE):
        if candidate.is_file():
            try:
                return json.loads(candidate.read_text(encoding="utf-8"))
            except json.JSONDecodeError as e:
                raise InputError("invalid JSON", path=candidate, line=e.lineno, value=e.msg) from None
    return None


def read_class_names(meta_root: str | os.PathLike) -> list[str] | None:
    """Class names from ``class_names.txt`` of a prepared folder (or the parent of a split), or None."""
    root = Path(meta_root)
    for candidate in (root / CLASS_NAMES_FILE, root.parent / CLASS_NAMES_FILE):
        if candidate.is_file():
            names: list[str] = []
            for number, line in enumerate(candidate.read_text(encoding="utf-8").splitlines(), start=1):
                if not line.strip():
                    continue
                label, sep, name = line.partition(",")
                if not sep or not label.isdigit() or int(label) != len(names):
                    raise InputError("expected 'label,name' with labels 0,1,2,... in order", path=candidate,
                                     line=number, value=line)
                names.append(name)
            return names
    return None


def split_by_class(ids: Iterable[str], labels: dict[str, int], per_class: int, *, seed: int
                   ) -> tuple[list[str], list[str]]:
    """Deterministically carve ``per_class`` ids of each class out of ``ids``.

    Returns:
        ``(rest, carved)``, both in the original order of ``ids``. A class with ``per_class`` or fewer images gives
        all but one of them (it keeps at least one training image).
    """
    import numpy as np

    ids = list(ids)
    rng = np.random.default_rng(seed)
    by_class: dict[int, list[str]] = {}
    for i in ids:
        by_class.setdefault(labels[i], []).append(i)
    carved: set[str] = set()
    for label in sorted(by_class):
        members = by_class[label]
        k = min(per_class, max(len(members) - 1, 0))
        chosen = rng.choice(len(members), size=k, replace=False) if k else []
        carved.update(members[j] for j in chosen)
    return [i for i in ids if i not in carved], [i for i in ids if i in carved]
