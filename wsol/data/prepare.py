"""What every ``wsol prepare`` converter shares: probing images, choosing images per class, checking boxes, and
writing and reading a prepared metadata folder.

A prepared metadata folder (``--out META_DIR``) looks like this::

    META_DIR/
      dataset.json          what was prepared: dataset, class count, per split its image root, mask root, size;
                            images skipped with --skip-bad-images (count and list); notes on deviations
      class_names.txt       label,name per line (extra to the wsolevaluation format; its tools ignore it)
      README.md             the same notes in prose, when there are any
      train/ test/ ...      one wsolevaluation metadata folder per split (see wsol.data.metadata)
      test_masks/           the same images with mask localization, where the dataset has masks

Roots in ``dataset.json`` (the rule, stated once here). Each split's ``image_root`` and ``mask_root`` is written
as a POSIX path relative to ``META_DIR`` (the folder holding ``dataset.json``) when

- it lies inside ``META_DIR`` (``wsol prepare cub DATA/CUB_200_2011 --out DATA`` records ``CUB_200_2011/images``), or
- it and ``META_DIR`` both lie inside the dataset's own tree, :attr:`PreparedDataset.root` (the folder the converter
  read: the CUB, ImageNet or OpenImages root, the digits ``ROOT``); the path then climbs out of ``META_DIR`` with ``..``
  (``wsol prepare cub CUB_200_2011 --out CUB_200_2011/metadata`` and the digits set record ``../images``).

Any other root is written absolute: metadata written outside the tree it describes keeps pointing at that tree
wherever the metadata goes. "Inside" is decided on absolute paths, without resolving symbolic links. Readers
(:func:`read_dataset_info`) resolve relative roots against the folder of the ``dataset.json`` they read and return
absolute paths, so a prepared folder (or a dataset tree holding its metadata) keeps working when it is moved or
copied as a whole. ``dataset.json`` files of older versions, with absolute roots only, load unchanged.

Converters build a :class:`PreparedDataset` in memory and call :func:`write_prepared`; nothing is written until
everything was read and checked, so a failed prepare never leaves a half-written folder behind.
"""
from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Hashable, Iterable, Sequence, TypeVar

from wsol.constants import CLASS_NAMES_FILE, DATASET_INFO_FILE
from wsol.data.images import probe_image
from wsol.data.metadata import Box, Metadata, box_problem, check_metadata, write_metadata
from wsol.data.textfiles import read_json, text_lines
from wsol.errors import InputError
from wsol.fileio import atomic_write_json, atomic_write_text

logger = logging.getLogger(__name__)

#: Threads used to read image headers (I/O bound; helps most on network filesystems).
_PROBE_THREADS = 8
#: Keys of a split in ``dataset.json`` that hold folders (see the module docstring for how they are written).
ROOT_KEYS = ("image_root", "mask_root")

_Key = TypeVar("_Key", bound=Hashable)


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
    """A converted dataset, before it is written.

    Attributes:
        dataset: its name (``"cub"``, ``"imagenet"``, ``"openimages"``, ``"digits"``).
        class_names: names in label order.
        splits: split name -> split.
        skipped: images left out by ``skip_bad_images``.
        notes: deviations from the published protocol, written to ``dataset.json`` and ``README.md``.
        root: the dataset's own tree (the folder the converter read), or None; roots inside it are recorded relative
            to the metadata folder when that folder lies inside it too (see the module docstring).
    """

    dataset: str
    class_names: list[str]
    splits: dict[str, PreparedSplit]
    skipped: list[SkippedImage] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    root: Path | None = None

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


def probe_split(items: Sequence[tuple[_Key, Path]], *, split: str, skip_bad: bool, progress: bool,
                skipped: list[SkippedImage], image_id: Callable[[_Key], str] = str
                ) -> tuple[list[_Key], dict[_Key, tuple[int, int]]]:
    """Sizes of the images of one split, leaving out (and recording) the bad ones when ``skip_bad``.

    Args:
        items: ``(key, image file)`` pairs; the key is whatever the converter indexes its images by.
        split: split name, for the progress bar and the skipped records.
        skip_bad: record a bad image in ``skipped`` and go on, instead of raising.
        progress: show a tqdm bar.
        skipped: receives a :class:`SkippedImage` per bad image.
        image_id: the metadata id of a key (default ``str``: the key is the id).

    Returns:
        ``(kept keys in input order, key -> (width, height))``.

    Raises:
        InputError: the first bad image, when ``skip_bad`` is False.
    """
    results = probe_sizes([p for _, p in items], skip_bad=skip_bad, progress=progress, desc=f"{split} image headers")
    kept: list[_Key] = []
    sizes: dict[_Key, tuple[int, int]] = {}
    for (key, _), result in zip(items, results):
        if isinstance(result, InputError):
            skipped.append(SkippedImage(split=split, image_id=image_id(key), reason=str(result)))
            continue
        kept.append(key)
        sizes[key] = result
    return kept, sizes


def require_box(box: Box, size: tuple[int, int], *, path: str | os.PathLike, line: int | None, image_id: str) -> None:
    """Raise unless ``box`` keeps the box rule of :mod:`wsol.data.metadata` in an image of ``size``.

    Raises:
        InputError: ``file:line: box outside the WxH image ID ('x0,y0,x1,y1')`` (or ``box of ID is inverted``).
    """
    what = box_problem(box, size, image_id=image_id)
    if what is not None:
        raise InputError(what, path=path, line=line, value=",".join(str(v) for v in box))


def _inside(path: str, folder: str) -> bool:
    try:
        return os.path.commonpath([path, folder]) == folder
    except ValueError:  # different drives
        return False


def stored_root(root: str | os.PathLike, *, meta_dir: str | os.PathLike, tree: str | os.PathLike | None = None
                ) -> str:
    """How a split's root is written in the ``dataset.json`` of ``meta_dir`` (rule in the module docstring).

    Args:
        root: the image or mask root.
        meta_dir: the folder holding ``dataset.json``.
        tree: the dataset's own tree (:attr:`PreparedDataset.root`), or None.

    Returns:
        A POSIX path relative to ``meta_dir`` (possibly with leading ``..``), or an absolute path.
    """
    root_abs, meta_abs = os.path.abspath(root), os.path.abspath(meta_dir)
    tops = [meta_abs]
    if tree is not None and _inside(meta_abs, os.path.abspath(tree)):
        tops.append(os.path.abspath(tree))
    if any(_inside(root_abs, top) for top in tops):
        return Path(os.path.relpath(root_abs, meta_abs)).as_posix()
    return root_abs


def dataset_info(prepared: PreparedDataset, *, out_dir: str | os.PathLike | None = None) -> dict:
    """The content of ``dataset.json`` for ``prepared``.

    Args:
        prepared: the converted dataset.
        out_dir: the folder ``dataset.json`` goes to; roots are then written by the rule of the module docstring.
            None: every root absolute.
    """
    def root(path: Path | None) -> str | None:
        if path is None:
            return None
        if out_dir is None:
            return os.path.abspath(path)
        return stored_root(path, meta_dir=out_dir, tree=prepared.root)

    return {
        "dataset": prepared.dataset,
        "num_classes": prepared.num_classes,
        "splits": {
            name: {
                "num_images": len(split.metadata),
                "localization": split.metadata.localization,
                "image_root": root(split.image_root),
                "mask_root": root(split.mask_root),
            }
            for name, split in prepared.splits.items()
        },
        "skipped_images": len(prepared.skipped),
        "skipped": [{"split": s.split, "image_id": s.image_id, "reason": s.reason} for s in prepared.skipped],
        "notes": list(prepared.notes),
    }


def write_prepared(prepared: PreparedDataset, out_dir: str | os.PathLike) -> dict:
    """Write ``prepared`` under ``out_dir`` (layout in the module docstring) and return the ``dataset.json`` dict.

    The dict is returned as written (roots relative where the module docstring says so); :func:`resolve_roots`
    makes them absolute.

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
    info = dataset_info(prepared, out_dir=out)
    atomic_write_json(out / DATASET_INFO_FILE, info)
    if prepared.notes:
        text = f"# {prepared.dataset} metadata prepared by wsol\n\n" + "".join(f"- {n}\n" for n in prepared.notes)
        atomic_write_text(out / "README.md", text)
    for s in prepared.skipped:
        logger.warning("skipped %s image %s: %s", s.split, s.image_id, s.reason)
    return info


def resolve_roots(info: dict, meta_dir: str | os.PathLike, *, source: str | os.PathLike | None = None) -> dict:
    """A copy of a ``dataset.json`` dict whose split roots are absolute.

    Relative roots are joined to ``meta_dir`` (the folder of the ``dataset.json``) and normalised; absolute roots
    (roots outside the tree, and every root of files written by older versions) are kept as they are.

    Args:
        info: the dict as read or written.
        meta_dir: the folder holding that ``dataset.json``.
        source: the file, for error messages (default ``meta_dir/dataset.json``).

    Raises:
        InputError: ``splits`` is not a mapping of mappings, or a root is neither a string nor null.
    """
    source = source if source is not None else Path(meta_dir) / DATASET_INFO_FILE
    splits = info.get("splits", {})
    if not isinstance(splits, dict) or not all(isinstance(v, dict) for v in splits.values()):
        raise InputError("'splits' must map split names to objects", path=source)
    base = os.path.abspath(meta_dir)
    resolved = dict(info)
    resolved["splits"] = {}
    for name, split in splits.items():
        split = dict(split)
        for key in ROOT_KEYS:
            value = split.get(key)
            if value is None:
                continue
            if not isinstance(value, str) or not value:
                raise InputError(f"{key} of split {name} must be a folder path or null", path=source, value=value)
            if not os.path.isabs(value):
                split[key] = os.path.normpath(os.path.join(base, *value.split("/")))
        resolved["splits"][name] = split
    return resolved


def read_dataset_info(meta_root: str | os.PathLike) -> dict | None:
    """``dataset.json`` of a prepared folder (or of the parent of a split folder), or None when there is none.

    Roots come back absolute (see :func:`resolve_roots`), whether the file records them relative or absolute.
    """
    root = Path(meta_root)
    for candidate in (root / DATASET_INFO_FILE, root.parent / DATASET_INFO_FILE):
        if candidate.is_file():
            info = read_json(candidate)
            if not isinstance(info, dict):
                raise InputError("dataset.json must hold a JSON object", path=candidate)
            return resolve_roots(info, candidate.parent, source=candidate)
    return None


def read_class_names(meta_root: str | os.PathLike) -> list[str] | None:
    """Class names from ``class_names.txt`` of a prepared folder (or the parent of a split), or None."""
    root = Path(meta_root)
    for candidate in (root / CLASS_NAMES_FILE, root.parent / CLASS_NAMES_FILE):
        if candidate.is_file():
            names: list[str] = []
            for number, line in text_lines(candidate):
                label, sep, name = line.partition(",")
                if not sep or not label.isdigit() or int(label) != len(names):
                    raise InputError("expected 'label,name' with labels 0,1,2,... in order", path=candidate,
                                     line=number, value=line)
                names.append(name)
            return names
    return None


def select_per_class(ids: Iterable[str], labels: dict[str, int], per_class: int, *, seed: int,
                     keep_one: bool = False) -> list[str]:
    """Deterministically choose ``per_class`` ids of each class.

    Classes are visited in label order and drawn from one ``numpy.random.default_rng(seed)``, with
    ``rng.choice(n, size=k, replace=False)`` over the class's ids in input order; a class whose whole membership is
    taken (or none of it) draws nothing, so the choice in one class never depends on the size of a smaller one.

    Args:
        ids: image ids.
        labels: id -> class.
        per_class: how many ids to take per class.
        seed: seed of the draw.
        keep_one: leave at least one id of every class unchosen (carving a held-out split out of a training set).

    Returns:
        The chosen ids in the order of ``ids``. A class with ``per_class`` or fewer ids gives all of them, or all but
        one with ``keep_one``.
    """
    import numpy as np

    ids = list(ids)
    rng = np.random.default_rng(seed)
    by_class: dict[int, list[str]] = {}
    for i in ids:
        by_class.setdefault(labels[i], []).append(i)
    chosen: set[str] = set()
    for label in sorted(by_class):
        members = by_class[label]
        k = min(per_class, len(members) - 1 if keep_one else len(members))
        if k >= len(members):
            chosen.update(members)
        elif k > 0:
            chosen.update(members[j] for j in rng.choice(len(members), size=k, replace=False))
    return [i for i in ids if i in chosen]

def check_mask_files(meta_dir: str | os.PathLike, mask_root: str | os.PathLike) -> list[InputError]:
    """Problems of a mask split's files under ``mask_root``, each located at its ``localization.txt`` line: a mask or
    ignore file that is missing, outside the root or not a readable image; an image whose files differ in size from
    its first mask; a size that differs from ``image_sizes.txt`` where that gives one. Only image headers are read.

    Returns:
        the problems (empty when every file is there and the sizes agree; also empty for a split without masks, and
        ``check_metadata``'s problems when the split's text files are invalid).
    """
    from wsol.data.images import read_image_size, resolve_image_path
    from wsol.data.metadata import LOCALIZATION_FILE, read_metadata
    from wsol.data.textfiles import text_lines

    meta_dir = Path(meta_dir)
    found = check_metadata(meta_dir)
    if found:
        return found
    meta = read_metadata(meta_dir)
    if meta.masks is None:
        return []
    source = meta_dir / LOCALIZATION_FILE
    problems: list[InputError] = []
    first: dict[str, tuple[str, tuple[int, int]]] = {}
    for number, line in text_lines(source):
        image_id, mask_path, ignore_path = line.split(",")
        for rel in (mask_path, ignore_path):
            if not rel:
                continue
            try:
                size = read_image_size(resolve_image_path(mask_root, rel, source=os.fspath(source), line=number))
            except InputError as e:
                what = "mask file missing" if e.what == "image file missing" else \
                    "unreadable mask" if e.what == "unreadable image" else e.what
                problems.append(InputError(what, path=source, line=number, value=rel))
                continue
            expected = meta.sizes.get(image_id)
            if expected is not None and size != expected:
                problems.append(InputError(f"mask is {size[0]}x{size[1]} but image_sizes.txt gives "
                                           f"{expected[0]}x{expected[1]}", path=source, line=number, value=rel))
            elif image_id in first and size != first[image_id][1]:
                name, (w, h) = first[image_id]
                problems.append(InputError(f"mask is {size[0]}x{size[1]} but the image's first mask {name} is "
                                           f"{w}x{h}", path=source, line=number, value=rel))
            first.setdefault(image_id, (rel, size))
    return problems

