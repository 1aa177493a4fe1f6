"""CUB-200-2011: convert the official layout to wsolevaluation metadata.

Official layout (``ROOT`` = the ``CUB_200_2011`` folder), every id 1-based:

- ``images.txt``: ``<image id> <relative path under images/>``
- ``image_class_labels.txt``: ``<image id> <class id, 1-based>``
- ``train_test_split.txt``: ``<image id> <1 = train | 0 = test>``
- ``bounding_boxes.txt``: ``<image id> <x> <y> <width> <height>`` (floats)
- ``classes.txt``: ``<class id> <class name>``
- ``images/<relative path>``; optionally ``segmentations/<relative path with extension .png>`` (the separate CUB
  segmentation release; foreground = grayscale value > 0.5, i.e. every non-zero pixel, as wsolevaluation's
  ``get_mask`` binarises masks).

Conversion follows wsolevaluation's released CUB metadata: ids are the paths relative to ``images/``, labels are
0-based, a box ``x y w h`` becomes ``(int(x), int(y), int(x + w), int(y + h))``.

The held-out split with boxes (``train_fullsup``; wsolevaluation's CUBV2 "val") comes from either

- ``fullsup_root``: a folder in the same layout without ``train_test_split.txt`` (``images.txt``,
  ``image_class_labels.txt``, ``bounding_boxes.txt``, ``images/``), classes numbered as in the main ``classes.txt``;
  or
- ``fullsup_per_class=N``: N images per class carved out of train (deterministic from ``seed``). This deviates from
  the published split and is said so in the metadata README and ``dataset.json``.

wsolevaluation's released ``metadata/CUB/{train,val,test}`` folders load unchanged with
:func:`wsol.data.metadata.read_metadata`; for the real CUBV2 images use them as they are.
"""
from __future__ import annotations

import logging
import math
import os
from pathlib import Path

from wsol.constants import MASK_SPLIT_SUFFIX, TEST, TRAIN, TRAIN_FULLSUP
from wsol.data.images import resolve_image_path
from wsol.data.metadata import Box, MaskAnnotation, Metadata
from wsol.data.prepare import (PreparedDataset, PreparedSplit, SkippedImage, probe_split, require_box,
                               select_per_class)
from wsol.data.textfiles import text_lines
from wsol.errors import InputError

logger = logging.getLogger(__name__)

IMAGES_FILE = "images.txt"
LABELS_FILE = "image_class_labels.txt"
SPLIT_FILE = "train_test_split.txt"
BOXES_FILE = "bounding_boxes.txt"
CLASSES_FILE = "classes.txt"


def _read_table(path: Path, num_fields: int, description: str) -> list[tuple[int, list[str]]]:
    """Whitespace-separated rows ``(line number, fields)``; the last field takes the rest of the line."""
    if not path.is_file():
        raise InputError("missing CUB file", path=path)
    rows = []
    for number, line in text_lines(path, strip=True):
        fields = line.split(maxsplit=num_fields - 1)
        if len(fields) != num_fields:
            raise InputError(f"expected {num_fields} fields '{description}', got {len(fields)}", path=path,
                             line=number, value=line)
        rows.append((number, fields))
    return rows


def _int_field(text: str, *, path: Path, line: int, name: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InputError(f"{name} is not an integer", path=path, line=line, value=text) from None


def _float_field(text: str, *, path: Path, line: int, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{name} is not a number", path=path, line=line, value=text) from None
    if not math.isfinite(value):
        raise InputError(f"{name} is not finite", path=path, line=line, value=text)
    return value


def _keyed(path: Path, num_fields: int, description: str) -> dict[int, tuple[int, list[str]]]:
    """Rows keyed by their integer first field: ``{id: (line, other fields)}``; duplicates raise."""
    table: dict[int, tuple[int, list[str]]] = {}
    for number, fields in _read_table(path, num_fields, description):
        key = _int_field(fields[0], path=path, line=number, name="image id")
        if key in table:
            raise InputError(f"duplicate image id (first on line {table[key][0]})", path=path, line=number,
                             value=key)
        table[key] = (number, fields[1:])
    return table


def read_classes(root: Path) -> list[str]:
    """Class names in label order from ``classes.txt`` (ids must be 1..K in order)."""
    path = root / CLASSES_FILE
    names = []
    for number, (class_id, name) in _read_table(path, 2, "<class id> <name>"):
        expected = len(names) + 1
        if _int_field(class_id, path=path, line=number, name="class id") != expected:
            raise InputError(f"class ids must be 1, 2, 3, ... in order (expected {expected})", path=path,
                             line=number, value=class_id)
        names.append(name)
    if not names:
        raise InputError("no classes", path=path)
    return names


class _CubTree:
    """The parsed text files of one CUB-layout folder (main or fullsup)."""

    def __init__(self, root: Path, num_classes: int, *, with_split: bool) -> None:
        self.root = root
        images_path, labels_path, boxes_path = root / IMAGES_FILE, root / LABELS_FILE, root / BOXES_FILE
        images = _keyed(images_path, 2, "<image id> <path>")
        labels = _keyed(labels_path, 2, "<image id> <class id>")
        boxes = _keyed(boxes_path, 5, "<image id> <x> <y> <width> <height>")
        split = _keyed(root / SPLIT_FILE, 2, "<image id> <is_train>") if with_split else {}

        self.ids = sorted(images)
        self.paths: dict[int, str] = {}
        self.image_lines: dict[int, int] = {}
        for key in self.ids:
            number, (rel,) = images[key]
            self.paths[key] = rel
            self.image_lines[key] = number
            resolve_image_path(root / "images", rel, source=os.fspath(images_path), line=number)

        for name, table, path in (("class label", labels, labels_path), ("box", boxes, boxes_path),
                                  ("split", split, root / SPLIT_FILE)):
            if not with_split and name == "split":
                continue
            for key in table:
                if key not in images:
                    raise InputError(f"image id not in {IMAGES_FILE}", path=path, line=table[key][0], value=key)
            for key in self.ids:
                if key not in table:
                    raise InputError(f"image id has no {name} in {path.name}", path=images_path,
                                     line=self.image_lines[key], value=key)

        self.labels: dict[int, int] = {}
        for key in self.ids:
            number, (text,) = labels[key]
            class_id = _int_field(text, path=labels_path, line=number, name="class id")
            if not 1 <= class_id <= num_classes:
                raise InputError(f"class id out of range 1..{num_classes}", path=labels_path, line=number,
                                 value=class_id)
            self.labels[key] = class_id - 1

        self.boxes: dict[int, Box] = {}
        self.box_lines: dict[int, int] = {}
        for key in self.ids:
            number, fields = boxes[key]
            x, y, w, h = (_float_field(t, path=boxes_path, line=number, name=n)
                          for t, n in zip(fields, ("x", "y", "width", "height")))
            if w < 0 or h < 0:
                raise InputError("negative box width or height", path=boxes_path, line=number,
                                 value=" ".join(fields))
            self.boxes[key] = (int(x), int(y), int(x + w), int(y + h))
            self.box_lines[key] = number

        self.is_train: dict[int, bool] = {}
        for key in (self.ids if with_split else []):
            number, (text,) = split[key]
            if text not in ("0", "1"):
                raise InputError("split must be 1 (train) or 0 (test)", path=root / SPLIT_FILE, line=number,
                                 value=text)
            self.is_train[key] = text == "1"

    def image_path(self, key: int) -> Path:
        return resolve_image_path(self.root / "images", self.paths[key])

    def segmentation_rel(self, key: int) -> str:
        return "segmentations/" + os.path.splitext(self.paths[key])[0] + ".png"


def _build_split(tree: _CubTree, keys: list[int], sizes: dict[int, tuple[int, int]]) -> Metadata:
    ids = [tree.paths[k] for k in keys]
    boxes = {}
    for k in keys:
        require_box(tree.boxes[k], sizes[k], path=tree.root / BOXES_FILE, line=tree.box_lines[k],
                    image_id=tree.paths[k])
        boxes[tree.paths[k]] = [tree.boxes[k]]
    return Metadata(image_ids=ids, labels={tree.paths[k]: tree.labels[k] for k in keys},
                    sizes={tree.paths[k]: sizes[k] for k in keys}, boxes=boxes)


def _probe(tree: _CubTree, keys: list[int], *, split: str, skip_bad: bool, progress: bool,
           skipped: list[SkippedImage]) -> tuple[list[int], dict[int, tuple[int, int]]]:
    return probe_split([(k, tree.image_path(k)) for k in keys], split=split, skip_bad=skip_bad, progress=progress,
                       skipped=skipped, image_id=tree.paths.__getitem__)


def prepare_cub(root: str | os.PathLike, *, fullsup_root: str | os.PathLike | None = None,
                fullsup_per_class: int = 0, seed: int = 0, skip_bad_images: bool = False,
                progress: bool = False) -> PreparedDataset:
    """Convert a CUB_200_2011 tree (see the module docstring) to metadata splits, in memory.

    Args:
        root: the ``CUB_200_2011`` folder.
        fullsup_root: held-out folder with boxes, giving split ``train_fullsup``.
        fullsup_per_class: instead, carve this many images per class out of train (0: no such split).
        seed: seed for ``fullsup_per_class``.
        skip_bad_images: leave out (and count) unreadable or truncated images instead of failing.
        progress: tqdm bars while reading image headers.

    Returns:
        Splits ``train``, ``test`` and, where available, ``train_fullsup`` and ``test_masks`` (same ids as ``test``,
        masks from ``segmentations/``, mask root = ``root``).

    Raises:
        InputError: any problem with the tree, located as ``file:line: what (value)``.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError("CUB root folder not found", path=root)
    if fullsup_root is not None and fullsup_per_class:
        raise InputError("give either a fullsup folder or a per-class count, not both", value=fullsup_per_class)
    if fullsup_per_class < 0:
        raise InputError("fullsup images per class must be >= 0", value=fullsup_per_class)
    class_names = read_classes(root)
    tree = _CubTree(root, len(class_names), with_split=True)
    skipped: list[SkippedImage] = []
    notes: list[str] = []

    train_keys = [k for k in tree.ids if tree.is_train[k]]
    test_keys = [k for k in tree.ids if not tree.is_train[k]]
    train_keys, train_sizes = _probe(tree, train_keys, split=TRAIN, skip_bad=skip_bad_images, progress=progress,
                                     skipped=skipped)
    test_keys, test_sizes = _probe(tree, test_keys, split=TEST, skip_bad=skip_bad_images, progress=progress,
                                   skipped=skipped)
    train = _build_split(tree, train_keys, train_sizes)
    test = _build_split(tree, test_keys, test_sizes)
    splits = {TRAIN: PreparedSplit(train, root / "images")}

    if fullsup_per_class:
        carved = select_per_class(train.image_ids, train.labels, fullsup_per_class, seed=seed, keep_one=True)
        taken = set(carved)
        rest = [i for i in train.image_ids if i not in taken]
        splits[TRAIN] = PreparedSplit(train.select(rest), root / "images")
        splits[TRAIN_FULLSUP] = PreparedSplit(train.select(carved), root / "images")
        notes.append(f"train_fullsup holds {fullsup_per_class} images per class carved out of the official train "
                     f"split (seed {seed}); this deviates from the published protocol, which uses the separate "
                     "CUBV2 images, and train is smaller than the official one by as many images.")
    elif fullsup_root is not None:
        fullsup_root = Path(fullsup_root)
        if not fullsup_root.is_dir():
            raise InputError("fullsup folder not found", path=fullsup_root)
        full = _CubTree(fullsup_root, len(class_names), with_split=False)
        keys, sizes = _probe(full, full.ids, split=TRAIN_FULLSUP, skip_bad=skip_bad_images, progress=progress,
                             skipped=skipped)
        splits[TRAIN_FULLSUP] = PreparedSplit(_build_split(full, keys, sizes), fullsup_root / "images")

    splits[TEST] = PreparedSplit(test, root / "images")
    if (root / "segmentations").is_dir():
        masks = {}
        for key in test_keys:
            rel = tree.segmentation_rel(key)
            path = resolve_image_path(root, rel)
            if not path.is_file():
                raise InputError(f"segmentation missing for test image {tree.paths[key]}", path=path)
            masks[tree.paths[key]] = MaskAnnotation(mask_paths=(rel,), ignore_path=None)
        mask_meta = Metadata(image_ids=list(test.image_ids), labels=dict(test.labels), sizes=dict(test.sizes),
                             masks=masks)
        splits[TEST + MASK_SPLIT_SUFFIX] = PreparedSplit(mask_meta, root / "images", mask_root=root)
        notes.append("test_masks: CUB segmentations, foreground = grayscale value > 0.5 (every non-zero pixel, the "
                     "binarisation of wsolevaluation's get_mask), no ignore regions.")
    if skipped:
        logger.warning("skipped %d bad image(s); listed in dataset.json", len(skipped))
    return PreparedDataset(dataset="cub", class_names=class_names, splits=splits, skipped=skipped, notes=notes,
                           root=root)
