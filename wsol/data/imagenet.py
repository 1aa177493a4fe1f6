"""ImageNet (ILSVRC2012): convert a train/val tree with box annotations to wsolevaluation metadata.

Layout (``ROOT`` is the folder passed to :func:`prepare_imagenet`)::

    ROOT/
      train/<synset>/<name>.JPEG       training images, one folder per class (optional, see below)
      val/ILSVRC2012_val_00000001.JPEG the 50,000 validation images, flat
      val/ILSVRC2012_val_00000001.xml  optional: per-image Pascal-VOC boxes beside the images
      LOC_synset_mapping.txt           optional (Kaggle layout): ``n01440764 tench, Tinca tinca`` per line
      LOC_val_solution.csv             optional (Kaggle layout): val boxes as CSV

Image files are recognised by their extension, ``.JPEG``/``.jpeg``/``.jpg``/``.png`` in any letter case; hidden
files (names starting with ``.``, such as macOS ``._*`` resource forks) and other files are ignored.

Classes
    Labels 0..K-1 follow the sorted synset folder names of ``train/`` (the standard 0..999 order torchvision and
    wsolevaluation use). Without ``train/``, the sorted synsets of ``LOC_synset_mapping.txt`` are used and no train
    split is written. Class names come from ``LOC_synset_mapping.txt`` when it exists (its synsets must then be
    exactly the ``train/`` folders), otherwise they are the synset ids.

Splits
    ``train``: every image under ``train/<synset>/`` (no localization), ids ``train/<synset>/<file name>``, image
    root ``ROOT``. ``train_proxy=K`` keeps K images per class (all of a class with fewer), chosen with
    ``numpy.random.default_rng(seed)`` before image headers are read, in sorted order.

    ``test``: ImageNet "val" with boxes, ids ``val/<file name>``, image root ``ROOT``; the label is the synset of
    the image's objects (all of them must name the same synset) and every box is kept, in annotation order.

    ``train_fullsup`` (when ``fullsup_root`` is given): an ImageNetV2-style folder, see :func:`read_fullsup_boxes`.

Val boxes come from, in this order of precedence:

1. ``val_annotations``: a folder of per-image XML files (the ``ILSVRC2012_bbox_val_v3.tgz`` layout) or a CSV file in
   the ``LOC_val_solution.csv`` format;
2. ``*.xml`` files beside the images in ``val/``;
3. ``ROOT/LOC_val_solution.csv``.

The annotation formats (Pascal-VOC XML, ``LOC_val_solution.csv``, ImageNetV2 box files, the synset mapping) and
their readers are in :mod:`wsol.data.imagenet_annotations`; the readers are re-exported here. An XML file's image
is the one ``<filename>`` names (with or without extension), which must agree with the XML file's own name; a
``<size>`` that disagrees with the image header is an error.

Boxes are stored as annotated, ``(xmin, ymin, xmax, ymax)`` in pixels, which is what wsolevaluation's released
``metadata/ILSVRC/test/localization.txt`` holds. Coordinates must be integers; integral decimals such as ``12.0`` are
accepted, ``12.5`` is an error. Every box must satisfy the metadata rule ``0 <= x0 <= x1 <= width`` and
``0 <= y0 <= y1 <= height`` (:mod:`wsol.data.metadata`), checked against the image header.

Every problem raises :class:`~wsol.errors.InputError` naming the file, the line and the offending value. With
``skip_bad_images=True`` unreadable or truncated images, and annotated images whose file is missing, are left out of
their split and listed in ``PreparedDataset.skipped`` instead; annotation errors still raise.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from wsol.constants import TEST, TRAIN, TRAIN_FULLSUP
from wsol.data.imagenet_annotations import (  # re-exported (see __all__)
    FULLSUP_BOXES_HEADER, VAL_SOLUTION_HEADER, WSOLEVAL_V2_PREFIX, AnnotatedObject, FullsupBox, FullsupBoxes,
    ValAnnotation, read_fullsup_boxes, read_synset_mapping, read_val_solution, read_voc_annotation)
from wsol.data.images import IMAGE_EXTENSIONS, is_image_name, strip_image_extension
from wsol.data.metadata import Box, Metadata, require_image_id
from wsol.data.prepare import (PreparedDataset, PreparedSplit, SkippedImage, probe_split, require_box,
                               select_per_class)
from wsol.errors import InputError

logger = logging.getLogger(__name__)

SYNSET_MAPPING_FILE = "LOC_synset_mapping.txt"
VAL_SOLUTION_FILE = "LOC_val_solution.csv"
#: Default box file inside a ``fullsup_root`` folder.
FULLSUP_BOXES_FILE = "boxes.txt"


def _image_names(folder: Path) -> list[str]:
    """Sorted names of the image files directly in ``folder`` (see :func:`wsol.data.images.is_image_name`)."""
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if is_image_name(e.name) and e.is_file())


def _subfolders(folder: Path) -> list[str]:
    """Sorted names of the non-hidden folders directly in ``folder``."""
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if not e.name.startswith(".") and e.is_dir())


def _read_classes(root: Path) -> tuple[list[str], list[str], bool]:
    """``(synsets in label order, class names, whether train/ exists)``."""
    train_dir = root / "train"
    mapping_path = root / SYNSET_MAPPING_FILE
    mapping = read_synset_mapping(mapping_path) if mapping_path.is_file() else None
    if train_dir.is_dir():
        synsets = _subfolders(train_dir)
        if not synsets:
            raise InputError("no class folders in train/", path=train_dir)
        if mapping is not None and set(mapping) != set(synsets):
            only_train = sorted(set(synsets) - set(mapping))
            if only_train:
                raise InputError(f"class folder in train/ is not in {SYNSET_MAPPING_FILE}", path=train_dir,
                                 value=only_train[0])
            only_mapping = sorted(set(mapping) - set(synsets))
            raise InputError("synset has no class folder in train/", path=mapping_path, value=only_mapping[0])
        has_train = True
    elif mapping is not None:
        synsets = sorted(mapping)
        has_train = False
    else:
        raise InputError(f"no train/ folder and no {SYNSET_MAPPING_FILE}: cannot tell the classes", path=root)
    names = [mapping[s] for s in synsets] if mapping is not None else list(synsets)
    return synsets, names, has_train


def _class_index(folder: str, num_classes: int, *, path: Path | str, line: int | None = None) -> int:
    if not folder.isdigit() or not folder.isascii() or int(folder) >= num_classes:
        raise InputError(f"not a class index 0..{num_classes - 1}", path=path, line=line, value=folder)
    return int(folder)


# ----------------------------------------------------------------------------------------------------------------
# Conversion


def _missing(error: InputError, *, split: str, image_id: str, skip_bad: bool, skipped: list[SkippedImage]) -> None:
    if not skip_bad:
        raise error
    skipped.append(SkippedImage(split=split, image_id=image_id, reason=str(error)))


def _prepare_train(root: Path, synsets: list[str], *, train_proxy: int, seed: int, skip_bad: bool, progress: bool,
                   skipped: list[SkippedImage]) -> Metadata:
    ids: list[str] = []
    labels: dict[str, int] = {}
    for label, synset in enumerate(synsets):
        folder = root / "train" / synset
        names = _image_names(folder)
        if not names:
            logger.warning("train/%s holds no images", synset)
        for name in names:
            image_id = require_image_id(f"train/{synset}/{name}", path=folder / name)
            ids.append(image_id)
            labels[image_id] = label
    logger.info("train: %d images in %d classes", len(ids), len(synsets))
    if train_proxy:
        ids = select_per_class(ids, labels, train_proxy, seed=seed)
        logger.info("train proxy: kept %d images (%d per class, seed %d)", len(ids), train_proxy, seed)
    kept, sizes = probe_split([(i, root / i) for i in ids], split=TRAIN, skip_bad=skip_bad, progress=progress,
                         skipped=skipped)
    return Metadata(image_ids=kept, labels={i: labels[i] for i in kept}, sizes=sizes)


def _find_val_annotations(root: Path, val_dir: Path, val_annotations: str | os.PathLike | None
                          ) -> tuple[str, Path, list[Path]]:
    """``(kind, source, xml files)``: kind ``"xml"`` (a folder, its files) or ``"csv"`` (a file, no list)."""
    if val_annotations is not None:
        source = Path(val_annotations)
        if source.is_dir():
            xml_files = _xml_files(source)
            if not xml_files:
                raise InputError("no .xml files in the val annotation folder", path=source)
            return "xml", source, xml_files
        if source.is_file():
            return "csv", source, []
        raise InputError("val annotations not found", path=source)
    xml_files = _xml_files(val_dir)
    if xml_files:
        return "xml", val_dir, xml_files
    csv_path = root / VAL_SOLUTION_FILE
    if csv_path.is_file():
        return "csv", csv_path, []
    raise InputError(f"no val boxes found: no .xml files in val/ and no {VAL_SOLUTION_FILE} in the root; give "
                     "them with val_annotations (--val-annotations)", path=root)


def _xml_files(folder: Path) -> list[Path]:
    with os.scandir(folder) as entries:
        return sorted(Path(e.path) for e in entries
                      if not e.name.startswith(".") and e.name.lower().endswith(".xml") and e.is_file())


def _label_of(ann: ValAnnotation, class_of: dict[str, int]) -> int:
    synsets = [o.synset for o in ann.objects]
    for obj in ann.objects:
        if obj.synset != synsets[0]:
            raise InputError(f"objects of image {ann.name} name different synsets", path=ann.source, line=obj.line,
                             value=sorted(set(synsets)))
    obj = ann.objects[0]
    if obj.synset not in class_of:
        raise InputError("unknown synset (not one of the classes)", path=ann.source, line=obj.line, value=obj.synset)
    return class_of[obj.synset]


def _prepare_val(root: Path, class_of: dict[str, int], *, val_annotations: str | os.PathLike | None, skip_bad: bool,
                 progress: bool, skipped: list[SkippedImage], notes: list[str]) -> Metadata:
    from tqdm.auto import tqdm

    val_dir = root / "val"
    if not val_dir.is_dir():
        raise InputError("val/ folder not found", path=val_dir)
    for sub in _subfolders(val_dir):
        if _image_names(val_dir / sub):
            raise InputError("images in a subfolder of val/; expected the flat layout val/ILSVRC2012_val_*.JPEG",
                             path=val_dir / sub)
    file_of: dict[str, str] = {}
    for name in _image_names(val_dir):
        stem = strip_image_extension(name)
        if stem in file_of:
            raise InputError(f"two val images with the same name ({file_of[stem]})", path=val_dir / name, value=name)
        file_of[stem] = name

    kind, source, xml_files = _find_val_annotations(root, val_dir, val_annotations)
    if kind == "xml":
        annotations = [read_voc_annotation(p) for p in tqdm(xml_files, desc="val annotations", unit="file",
                                                             disable=not progress, dynamic_ncols=True)]
        described = f"{len(xml_files)} Pascal-VOC XML files in {source}"
    else:
        annotations = read_val_solution(source)
        described = str(source)
    logger.info("val boxes from %s", described)
    notes.append(f"test boxes read from {described}.")

    by_name: dict[str, ValAnnotation] = {}
    for ann in annotations:
        if ann.name in by_name:
            first = by_name[ann.name]
            raise InputError(f"second annotation of image {ann.name} (first in {first.source}:{first.line})",
                             path=ann.source, line=ann.line, value=ann.name)
        by_name[ann.name] = ann
    labels: dict[str, int] = {}
    items: list[tuple[str, Path]] = []
    ann_of: dict[str, ValAnnotation] = {}
    for name, ann in sorted(by_name.items()):
        label = _label_of(ann, class_of)
        if name not in file_of:
            _missing(InputError("annotated image missing from val/", path=ann.source, line=ann.line, value=name),
                     split=TEST, image_id=f"val/{name}.JPEG", skip_bad=skip_bad, skipped=skipped)
            continue
        image_id = require_image_id(f"val/{file_of[name]}", path=val_dir / file_of[name])
        labels[image_id] = label
        ann_of[image_id] = ann
        items.append((image_id, val_dir / file_of[name]))
    for stem, name in sorted(file_of.items()):
        if stem not in by_name:
            raise InputError(f"val image has no annotation in {source}", path=val_dir / name, value=name)

    kept, sizes = probe_split(items, split=TEST, skip_bad=skip_bad, progress=progress, skipped=skipped)
    boxes: dict[str, list[Box]] = {}
    for image_id in kept:
        ann = ann_of[image_id]
        if ann.size is not None and ann.size != sizes[image_id]:
            raise InputError(f"annotated size {ann.size[0]}x{ann.size[1]} disagrees with the header of {image_id} "
                             f"({sizes[image_id][0]}x{sizes[image_id][1]})", path=ann.source, line=ann.size_line,
                             value=f"{ann.size[0]}x{ann.size[1]}")
        for obj in ann.objects:
            require_box(obj.box, sizes[image_id], path=ann.source, line=obj.line, image_id=image_id)
        boxes[image_id] = [obj.box for obj in ann.objects]
    logger.info("test: %d images, %d boxes", len(kept), sum(len(b) for b in boxes.values()))
    return Metadata(image_ids=kept, labels={i: labels[i] for i in kept}, sizes=sizes, boxes=boxes)


def _prepare_fullsup(fullsup_root: Path, boxes_path: Path, num_classes: int, *, skip_bad: bool, progress: bool,
                     skipped: list[SkippedImage], notes: list[str]) -> Metadata:
    listed: dict[str, int] = {}
    for folder in _subfolders(fullsup_root):
        label = _class_index(folder, num_classes, path=fullsup_root / folder)
        for name in _image_names(fullsup_root / folder):
            listed[require_image_id(f"{folder}/{name}", path=fullsup_root / folder / name)] = label
    if not listed:
        raise InputError("no images in <class index>/ folders of the fullsup folder", path=fullsup_root)

    parsed = read_fullsup_boxes(boxes_path)
    if parsed.stripped_prefix:
        notes.append(f"train_fullsup: removed the '{parsed.stripped_prefix}' prefix of the ids in {boxes_path} "
                     "(wsolevaluation's metadata names).")
    boxes_of: dict[str, list[FullsupBox]] = {}
    for row in parsed.rows:
        parts = row.image_id.split("/")
        if len(parts) != 2:
            raise InputError("expected an id '<class index>/<file name>'", path=boxes_path, line=row.line,
                             value=row.image_id)
        _class_index(parts[0], num_classes, path=boxes_path, line=row.line)
        boxes_of.setdefault(row.image_id, []).append(row)

    items: list[tuple[str, Path]] = []
    for image_id in sorted(boxes_of, key=lambda i: (int(i.split("/")[0]), i.split("/")[1])):
        if image_id not in listed:
            _missing(InputError("annotated image missing from the fullsup folder", path=boxes_path,
                                line=boxes_of[image_id][0].line, value=image_id),
                     split=TRAIN_FULLSUP, image_id=image_id, skip_bad=skip_bad, skipped=skipped)
            continue
        items.append((image_id, fullsup_root / image_id))
    for image_id in sorted(listed):
        if image_id not in boxes_of:
            raise InputError(f"fullsup image has no box in {boxes_path}", path=fullsup_root / image_id,
                             value=image_id)

    kept, sizes = probe_split(items, split=TRAIN_FULLSUP, skip_bad=skip_bad, progress=progress, skipped=skipped)
    boxes: dict[str, list[Box]] = {}
    for image_id in kept:
        for row in boxes_of[image_id]:
            require_box(row.box, sizes[image_id], path=boxes_path, line=row.line, image_id=image_id)
        boxes[image_id] = [row.box for row in boxes_of[image_id]]
    logger.info("train_fullsup: %d images, %d boxes (%s form)", len(kept), sum(len(b) for b in boxes.values()),
                parsed.form)
    return Metadata(image_ids=kept, labels={i: listed[i] for i in kept}, sizes=sizes, boxes=boxes)


def prepare_imagenet(root: str | os.PathLike, *, val_annotations: str | os.PathLike | None = None,
                     train_proxy: int = 0, fullsup_root: str | os.PathLike | None = None,
                     fullsup_boxes: str | os.PathLike | None = None, seed: int = 0, skip_bad_images: bool = False,
                     progress: bool = False) -> PreparedDataset:
    """Convert an ImageNet tree (layout and formats in the module docstring) to metadata splits, in memory.

    Args:
        root: the folder holding ``train/`` and ``val/``.
        val_annotations: a folder of per-image XML files or a ``LOC_val_solution.csv``-format file; overrides the
            automatic search (XML files in ``val/``, then ``ROOT/LOC_val_solution.csv``).
        train_proxy: keep this many training images per class (0: all), chosen deterministically from ``seed``.
        fullsup_root: ImageNetV2-style folder ``<class index>/<name>.jpeg`` (class index = label) giving split
            ``train_fullsup``; every image in it must have boxes (see :func:`read_fullsup_boxes`).
        fullsup_boxes: box file of ``fullsup_root`` (default: ``fullsup_root/boxes.txt``).
        seed: seed for ``train_proxy``.
        skip_bad_images: leave out (and list in ``skipped``) unreadable or truncated images and annotated images
            whose file is missing, instead of failing.
        progress: tqdm bars while reading annotations and image headers.

    Returns:
        Splits ``train`` (when ``ROOT/train`` exists), ``train_fullsup`` (with ``fullsup_root``) and ``test``.

    Raises:
        InputError: any problem with the tree, the annotations or the options, located as
            ``file:line: what (value)``. (It is a ``ValueError``.)
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError("ImageNet root folder not found", path=root)
    if isinstance(train_proxy, bool) or not isinstance(train_proxy, int) or train_proxy < 0:
        raise InputError("train_proxy must be an integer >= 0", value=train_proxy)
    if fullsup_boxes is not None and fullsup_root is None:
        raise InputError("fullsup_boxes needs fullsup_root (the folder of its images)", value=os.fspath(fullsup_boxes))

    synsets, class_names, has_train = _read_classes(root)
    class_of = {s: k for k, s in enumerate(synsets)}
    logger.info("%d classes (%s)", len(synsets), "train/ folders" if has_train else SYNSET_MAPPING_FILE)
    skipped: list[SkippedImage] = []
    notes: list[str] = []
    splits: dict[str, PreparedSplit] = {}

    if has_train:
        train = _prepare_train(root, synsets, train_proxy=train_proxy, seed=seed, skip_bad=skip_bad_images,
                               progress=progress, skipped=skipped)
        splits[TRAIN] = PreparedSplit(train, root)
        if train_proxy:
            notes.append(f"train is a proxy: at most {train_proxy} images per class drawn from the full ImageNet "
                         f"train set (seed {seed}); it deviates from the published protocol, which trains on all.")
    else:
        if train_proxy:
            raise InputError("train_proxy given but there is no train/ folder", path=root / "train",
                             value=train_proxy)
        logger.warning("no train/ folder in %s: classes from %s, no train split", root, SYNSET_MAPPING_FILE)
        notes.append(f"no train/ folder: classes and their order come from {SYNSET_MAPPING_FILE} (sorted synsets); "
                     "no train split was written.")

    if fullsup_root is not None:
        fullsup_root = Path(fullsup_root)
        if not fullsup_root.is_dir():
            raise InputError("fullsup folder not found", path=fullsup_root)
        boxes_path = Path(fullsup_boxes) if fullsup_boxes is not None else fullsup_root / FULLSUP_BOXES_FILE
        if not boxes_path.is_file():
            hint = "" if fullsup_boxes is not None else "; give it with fullsup_boxes (--fullsup-boxes)"
            raise InputError(f"fullsup box file not found{hint}", path=boxes_path)
        fullsup = _prepare_fullsup(fullsup_root, boxes_path, len(synsets), skip_bad=skip_bad_images,
                                   progress=progress, skipped=skipped, notes=notes)
        splits[TRAIN_FULLSUP] = PreparedSplit(fullsup, fullsup_root)

    test = _prepare_val(root, class_of, val_annotations=val_annotations, skip_bad=skip_bad_images, progress=progress,
                        skipped=skipped, notes=notes)
    splits[TEST] = PreparedSplit(test, root)
    if skipped:
        logger.warning("skipped %d bad image(s); listed in dataset.json", len(skipped))
    return PreparedDataset(dataset="imagenet", class_names=class_names, splits=splits, skipped=skipped, notes=notes,
                           root=root)


__all__ = [
    "prepare_imagenet", "read_synset_mapping", "read_voc_annotation", "read_val_solution", "read_fullsup_boxes",
    "AnnotatedObject", "ValAnnotation", "FullsupBox", "FullsupBoxes", "IMAGE_EXTENSIONS", "SYNSET_MAPPING_FILE",
    "VAL_SOLUTION_FILE", "VAL_SOLUTION_HEADER", "FULLSUP_BOXES_FILE", "FULLSUP_BOXES_HEADER", "WSOLEVAL_V2_PREFIX",
]
