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

The two formats (facts about the published files):

- Pascal-VOC XML, one file per image: ``<annotation><filename>ILSVRC2012_val_00000001</filename>
  <size><width>500</width><height>375</height>...</size><object><name>n01751748</name><bndbox><xmin>111</xmin>
  <ymin>108</ymin><xmax>441</xmax><ymax>332</ymax></bndbox></object>...</annotation>``. The image is the one
  ``<filename>`` names (with or without extension); it must agree with the XML file's own name. A ``<size>`` that
  disagrees with the image header is an error.
- ``LOC_val_solution.csv``: header ``ImageId,PredictionString``, then rows ``ILSVRC2012_val_00008726,n02119789 255
  142 454 329 n02119789 44 21 322 295``: groups of ``synset xmin ymin xmax ymax``.

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
import math
import os
import xml.parsers.expat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from wsol.constants import TEST, TRAIN, TRAIN_FULLSUP
from wsol.data.metadata import Box, Metadata, check_image_id
from wsol.data.prepare import PreparedDataset, PreparedSplit, SkippedImage, probe_sizes
from wsol.errors import InputError

logger = logging.getLogger(__name__)

#: Extensions (lower case) of the files taken as images.
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpeg", ".jpg", ".png")
SYNSET_MAPPING_FILE = "LOC_synset_mapping.txt"
VAL_SOLUTION_FILE = "LOC_val_solution.csv"
VAL_SOLUTION_HEADER = "ImageId,PredictionString"
#: Default box file inside a ``fullsup_root`` folder.
FULLSUP_BOXES_FILE = "boxes.txt"
#: First line of wsolevaluation's ``release/ImageNetV2_boxes.txt``.
FULLSUP_BOXES_HEADER = "image_id,x0,y0,x1,y1"
#: Folder prefix of ImageNetV2 ids in wsolevaluation's ``metadata/ILSVRC/val`` files.
WSOLEVAL_V2_PREFIX = "val2/"

_COORDS = ("xmin", "ymin", "xmax", "ymax")


# ----------------------------------------------------------------------------------------------------------------
# Annotation records


@dataclass(frozen=True)
class AnnotatedObject:
    """One annotated object: its synset and box, with the line it was read from.

    Attributes:
        synset: WordNet id such as ``n01440764``.
        box: ``(xmin, ymin, xmax, ymax)`` in pixels, as annotated (``xyxy``, see :mod:`wsol.data.metadata`).
        line: 1-based line of the object in its annotation file (the ``<name>`` element, or the CSV row).
    """

    synset: str
    box: Box
    line: int


@dataclass(frozen=True)
class ValAnnotation:
    """The annotation of one ImageNet val image.

    Attributes:
        name: image file name without extension, e.g. ``ILSVRC2012_val_00000001``.
        source: the annotation file (an XML file or the CSV).
        line: 1-based line naming the image (``<filename>`` or the CSV row).
        objects: the objects in annotation order (at least one).
        size: ``(width, height)`` stated by the annotation (XML ``<size>``), or ``None``.
        size_line: line of ``<size>``, or ``None``.
    """

    name: str
    source: Path
    line: int
    objects: tuple[AnnotatedObject, ...]
    size: tuple[int, int] | None = None
    size_line: int | None = None


@dataclass(frozen=True)
class FullsupBox:
    """One line of an ImageNetV2 box file: an image id relative to the fullsup folder and one ``xyxy`` box."""

    image_id: str
    box: Box
    line: int


@dataclass
class FullsupBoxes:
    """A parsed ImageNetV2 box file.

    Attributes:
        path: the file.
        form: ``"wsolevaluation"`` (header ``image_id,x0,y0,x1,y1``) or ``"metadata"`` (no header).
        rows: the boxes in file order.
        stripped_prefix: ``"val2/"`` when the ids carried wsolevaluation's ``val2/`` prefix and it was removed.
    """

    path: Path
    form: str
    rows: list[FullsupBox] = field(default_factory=list)
    stripped_prefix: str | None = None


# ----------------------------------------------------------------------------------------------------------------
# Small parsing helpers


def _coordinate(text: str | None, *, path: Path, line: int, name: str) -> int:
    """An integer pixel coordinate; integral decimals (``"12.0"``) are accepted, anything else raises."""
    text = "" if text is None else text.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{name} is not an integer", path=path, line=line, value=text) from None
    if not math.isfinite(value) or not value.is_integer():
        raise InputError(f"{name} is not an integer", path=path, line=line, value=text)
    return int(value)


def _text_lines(path: Path, *, encoding: str = "utf-8") -> Iterable[tuple[int, str]]:
    """Non-blank lines with their 1-based numbers, stripped of surrounding whitespace."""
    try:
        with open(path, encoding=encoding, newline="") as f:
            for number, raw in enumerate(f, start=1):
                line = raw.strip()
                if line:
                    yield number, line
    except UnicodeDecodeError as e:
        raise InputError("file is not UTF-8 text", path=path, value=str(e)) from None


def _is_image_name(name: str) -> bool:
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _image_names(folder: Path) -> list[str]:
    """Sorted names of the image files directly in ``folder`` (see :data:`IMAGE_EXTENSIONS`)."""
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if _is_image_name(e.name) and e.is_file())


def _subfolders(folder: Path) -> list[str]:
    """Sorted names of the non-hidden folders directly in ``folder``."""
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if not e.name.startswith(".") and e.is_dir())


def _checked_id(image_id: str, *, path: Path | str, line: int | None = None) -> str:
    reason = check_image_id(image_id)
    if reason is not None:
        raise InputError(reason, path=path, line=line, value=image_id)
    return image_id


def _strip_image_extension(name: str) -> str:
    stem, ext = os.path.splitext(name)
    return stem if ext.lower() in IMAGE_EXTENSIONS else name


def _bare_image_name(name: str, *, path: Path, line: int) -> str:
    """An annotation's image name reduced to a file stem in ``val/``; paths (``/``, ``..``) are refused."""
    if "/" in name or "\\" in name or name in (".", ".."):
        raise InputError("annotation names a path; expected the bare name of an image in val/", path=path,
                         line=line, value=name)
    stem = _strip_image_extension(name)
    reason = check_image_id(stem)
    if reason is not None:
        raise InputError(reason.replace("image id", "annotated image name"), path=path, line=line, value=name)
    return stem


def _check_box(box: Box, size: tuple[int, int], *, path: Path, line: int, image_id: str) -> None:
    x0, y0, x1, y1 = box
    width, height = size
    if x0 > x1 or y0 > y1:
        raise InputError(f"box of {image_id} is inverted (needs x0<=x1, y0<=y1)", path=path, line=line,
                         value=f"{x0},{y0},{x1},{y1}")
    if not (0 <= x0 <= x1 <= width and 0 <= y0 <= y1 <= height):
        raise InputError(f"box outside the {width}x{height} image {image_id}", path=path, line=line,
                         value=f"{x0},{y0},{x1},{y1}")


# ----------------------------------------------------------------------------------------------------------------
# Classes


def read_synset_mapping(path: str | os.PathLike) -> dict[str, str]:
    """Read ``LOC_synset_mapping.txt``: ``<synset> <class name>`` per line.

    Returns:
        synset -> class name, in file order. A line holding only a synset gets the synset as its name.

    Raises:
        InputError: a duplicate synset, or a synset that could not be part of an image path.
    """
    path = Path(path)
    mapping: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for number, line in _text_lines(path, encoding="utf-8-sig"):
        fields = line.split(maxsplit=1)
        synset = fields[0]
        reason = check_image_id(synset)
        if reason is not None or "/" in synset:
            raise InputError("synset is not a plain folder name", path=path, line=number, value=synset)
        if synset in mapping:
            raise InputError(f"duplicate synset (first on line {first_line[synset]})", path=path, line=number,
                             value=synset)
        mapping[synset] = fields[1].strip() if len(fields) > 1 else synset
        first_line[synset] = number
    if not mapping:
        raise InputError("no synsets", path=path)
    return mapping


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


# ----------------------------------------------------------------------------------------------------------------
# Pascal-VOC XML


@dataclass
class _Node:
    tag: str
    line: int
    children: list["_Node"] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.parts).strip()

    def find(self, tag: str) -> "_Node | None":
        return next((c for c in self.children if c.tag == tag), None)

    def findall(self, tag: str) -> list["_Node"]:
        return [c for c in self.children if c.tag == tag]


def _parse_xml(path: Path) -> _Node:
    """A minimal element tree with 1-based line numbers; DTDs are refused (no entity expansion)."""
    parser = xml.parsers.expat.ParserCreate()
    stack: list[_Node] = []
    roots: list[_Node] = []

    def start(tag: str, _attrs: dict) -> None:
        node = _Node(tag, parser.CurrentLineNumber)
        (stack[-1].children if stack else roots).append(node)
        stack.append(node)

    def end(_tag: str) -> None:
        stack.pop()

    def data(text: str) -> None:
        if stack:
            stack[-1].parts.append(text)

    def doctype(*_args) -> None:
        raise InputError("XML document type declarations are not accepted", path=path,
                         line=parser.CurrentLineNumber)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = data
    parser.StartDoctypeDeclHandler = doctype
    try:
        with open(path, "rb") as f:
            parser.ParseFile(f)
    except xml.parsers.expat.ExpatError as e:
        what = xml.parsers.expat.ErrorString(e.code)
        raise InputError(f"malformed XML: {what} (column {e.offset + 1})", path=path, line=e.lineno) from None
    return roots[0]


def _child_text(node: _Node, tag: str, *, path: Path) -> tuple[str, int]:
    child = node.find(tag)
    if child is None:
        raise InputError(f"<{node.tag}> has no <{tag}>", path=path, line=node.line)
    return child.text, child.line


def read_voc_annotation(path: str | os.PathLike) -> ValAnnotation:
    """Read one ILSVRC Pascal-VOC XML file (format in the module docstring).

    The image is the one ``<filename>`` names (extension optional); without ``<filename>`` it is the XML file's
    own name. ``<size>`` is optional.

    Raises:
        InputError: malformed XML (file and parser line), a ``<filename>`` that is a path or differs from the XML
            file name, no ``<object>``, or a missing or non-integer field (file, line, value).
    """
    path = Path(path)
    root = _parse_xml(path)
    if root.tag != "annotation":
        raise InputError("not a Pascal-VOC annotation (root element is not <annotation>)", path=path, line=root.line,
                         value=root.tag)
    own_name = _strip_image_extension(path.stem) if path.suffix.lower() == ".xml" else path.name
    filename = root.find("filename")
    if filename is not None and filename.text:
        name = _bare_image_name(filename.text, path=path, line=filename.line)
        if name != own_name:
            raise InputError(f"<filename> disagrees with the XML file name {path.name}", path=path,
                             line=filename.line, value=filename.text)
        line = filename.line
    else:
        name = _bare_image_name(own_name, path=path, line=root.line)
        line = root.line

    size = size_line = None
    size_node = root.find("size")
    if size_node is not None:
        width_text, width_line = _child_text(size_node, "width", path=path)
        height_text, height_line = _child_text(size_node, "height", path=path)
        size = (_coordinate(width_text, path=path, line=width_line, name="width"),
                _coordinate(height_text, path=path, line=height_line, name="height"))
        size_line = size_node.line

    objects = []
    for obj in root.findall("object"):
        synset, synset_line = _child_text(obj, "name", path=path)
        if not synset:
            raise InputError("empty object <name>", path=path, line=synset_line, value=synset)
        bndbox = obj.find("bndbox")
        if bndbox is None:
            raise InputError("<object> has no <bndbox>", path=path, line=obj.line)
        coords = []
        for tag in _COORDS:
            text, text_line = _child_text(bndbox, tag, path=path)
            coords.append(_coordinate(text, path=path, line=text_line, name=tag))
        objects.append(AnnotatedObject(synset=synset, box=tuple(coords), line=synset_line))  # type: ignore[arg-type]
    if not objects:
        raise InputError("annotation has no <object>", path=path, line=root.line, value=name)
    return ValAnnotation(name=name, source=path, line=line, objects=tuple(objects), size=size, size_line=size_line)


# ----------------------------------------------------------------------------------------------------------------
# LOC_val_solution.csv


def read_val_solution(path: str | os.PathLike) -> list[ValAnnotation]:
    """Read a ``LOC_val_solution.csv`` file (format in the module docstring), in file order.

    Raises:
        InputError: a wrong header, a row without ``ImageId,PredictionString``, a PredictionString that is not a
            non-empty sequence of 5-field groups, a non-integer coordinate, a duplicate ImageId, or an ImageId that
            is a path (file, line, value).
    """
    path = Path(path)
    annotations: list[ValAnnotation] = []
    first_line: dict[str, int] = {}
    header_seen = False
    for number, line in _text_lines(path, encoding="utf-8-sig"):
        if not header_seen:
            if line.replace(" ", "") != VAL_SOLUTION_HEADER:
                raise InputError(f"expected the header '{VAL_SOLUTION_HEADER}'", path=path, line=number, value=line)
            header_seen = True
            continue
        image_id, sep, prediction = line.partition(",")
        if not sep or "," in prediction:
            raise InputError("expected 2 fields 'ImageId,PredictionString'", path=path, line=number, value=line)
        name = _bare_image_name(image_id.strip(), path=path, line=number)
        if name in first_line:
            raise InputError(f"duplicate ImageId (first on line {first_line[name]})", path=path, line=number,
                             value=image_id)
        tokens = prediction.split()
        if not tokens or len(tokens) % 5:
            raise InputError(f"PredictionString must be groups of 5 'synset xmin ymin xmax ymax', got "
                             f"{len(tokens)} fields", path=path, line=number, value=prediction.strip())
        objects = []
        for k in range(0, len(tokens), 5):
            synset = tokens[k]
            coords = tuple(_coordinate(t, path=path, line=number, name=n) for t, n in zip(tokens[k + 1:k + 5],
                                                                                          _COORDS))
            objects.append(AnnotatedObject(synset=synset, box=coords, line=number))  # type: ignore[arg-type]
        first_line[name] = number
        annotations.append(ValAnnotation(name=name, source=path, line=number, objects=tuple(objects)))
    if not header_seen:
        raise InputError(f"empty file (expected the header '{VAL_SOLUTION_HEADER}')", path=path)
    return annotations


# ----------------------------------------------------------------------------------------------------------------
# ImageNetV2 boxes


def read_fullsup_boxes(path: str | os.PathLike) -> FullsupBoxes:
    """Read the box file of an ImageNetV2-style ``train_fullsup`` folder.

    Two forms, told apart by the first line; both hold one box per line, ``image_id,x0,y0,x1,y1``, several lines per
    image allowed:

    - ``"wsolevaluation"``: the first line is the header ``image_id,x0,y0,x1,y1``. This is wsolevaluation's
      ``release/ImageNetV2_boxes.txt``, whose ids are ``<class index>/<k>.jpeg`` relative to the ImageNetV2 folder
      (``0/0.jpeg`` ... ``999/9.jpeg``, the ``val2/<class>/<k>.jpeg`` names of its ``metadata/ILSVRC/val`` files
      without ``val2/``). Its values really are ``x0,y0,x1,y1`` corners: in every row x1 >= x0 and y1 >= y0, values
      reach the image width (``0,0,500,280`` for a 500-pixel-wide image) and equal the boxes of wsolevaluation's
      ``metadata/ILSVRC/val/localization.txt`` except that there x1, y1 are clipped to ``width - 1``,
      ``height - 1``. (Unlike ``release/CUBV2_boxes.txt``, whose values are ``x,y,w,h`` under the same header;
      an inverted box in a file with this header is reported with that hint.)
    - ``"metadata"``: no header, the ``localization.txt`` box format of :mod:`wsol.data.metadata` (as written by
      ``wsol prepare``, or wsolevaluation's ``metadata/ILSVRC/val/localization.txt``).

    In either form, when every id starts with ``val2/`` (wsolevaluation's metadata names) the prefix is removed and
    recorded in :attr:`FullsupBoxes.stripped_prefix`. Ids are then relative to the fullsup folder.

    Raises:
        InputError: an unknown header, a line without 5 fields, a non-integer coordinate, an inverted box or an
            id that is not a safe relative path (file, line, value).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("fullsup box file not found", path=path)
    form: str | None = None
    rows: list[FullsupBox] = []
    for number, line in _text_lines(path, encoding="utf-8-sig"):
        if form is None:
            if line.replace(" ", "") == FULLSUP_BOXES_HEADER:
                form = "wsolevaluation"
                continue
            form = "metadata"
            fields = line.split(",")
            if len(fields) != 5 or not all(f.strip().lstrip("-").isdigit() for f in fields[1:]):
                raise InputError(f"unknown box file format: expected the header '{FULLSUP_BOXES_HEADER}' or "
                                 "lines 'image_id,x0,y0,x1,y1'", path=path, line=number, value=line)
        fields = line.split(",")
        if len(fields) != 5:
            raise InputError(f"expected 5 fields 'image_id,x0,y0,x1,y1', got {len(fields)}", path=path, line=number,
                             value=line)
        image_id = _checked_id(fields[0].strip(), path=path, line=number)
        box = tuple(_coordinate(t, path=path, line=number, name=n) for t, n in zip(fields[1:],
                                                                                  ("x0", "y0", "x1", "y1")))
        x0, y0, x1, y1 = box
        if x0 > x1 or y0 > y1:
            hint = (" (this converter reads x0,y0,x1,y1 corners; wsolevaluation's CUBV2_boxes.txt holds x,y,w,h "
                    "under the same header)") if form == "wsolevaluation" else ""
            raise InputError(f"box is inverted (needs x0<=x1, y0<=y1){hint}", path=path, line=number,
                             value=",".join(fields[1:]))
        rows.append(FullsupBox(image_id=image_id, box=box, line=number))  # type: ignore[arg-type]
    if not rows:
        raise InputError("no boxes in fullsup box file", path=path)
    result = FullsupBoxes(path=path, form=form or "metadata", rows=rows)
    if all(r.image_id.startswith(WSOLEVAL_V2_PREFIX) for r in rows):
        result.rows = [FullsupBox(r.image_id[len(WSOLEVAL_V2_PREFIX):], r.box, r.line) for r in rows]
        result.stripped_prefix = WSOLEVAL_V2_PREFIX
    return result


def _class_index(folder: str, num_classes: int, *, path: Path | str, line: int | None = None) -> int:
    if not folder.isdigit() or not folder.isascii() or int(folder) >= num_classes:
        raise InputError(f"not a class index 0..{num_classes - 1}", path=path, line=line, value=folder)
    return int(folder)


# ----------------------------------------------------------------------------------------------------------------
# Conversion


def _select_per_class(ids: Sequence[str], labels: dict[str, int], per_class: int, *, seed: int) -> list[str]:
    """``per_class`` ids of each class (all of a smaller class), chosen with ``default_rng(seed)``, in input order."""
    import numpy as np

    rng = np.random.default_rng(seed)
    by_class: dict[int, list[str]] = {}
    for i in ids:
        by_class.setdefault(labels[i], []).append(i)
    chosen: set[str] = set()
    for label in sorted(by_class):
        members = by_class[label]
        if len(members) <= per_class:
            chosen.update(members)
        else:
            chosen.update(members[j] for j in rng.choice(len(members), size=per_class, replace=False))
    return [i for i in ids if i in chosen]


def _probe(items: Sequence[tuple[str, Path]], *, split: str, skip_bad: bool, progress: bool,
           skipped: list[SkippedImage]) -> tuple[list[str], dict[str, tuple[int, int]]]:
    """Sizes of ``(image id, path)`` items; bad images are skipped (and recorded) or raise."""
    results = probe_sizes([p for _, p in items], skip_bad=skip_bad, progress=progress, desc=f"{split} image headers")
    kept: list[str] = []
    sizes: dict[str, tuple[int, int]] = {}
    for (image_id, _), result in zip(items, results):
        if isinstance(result, InputError):
            skipped.append(SkippedImage(split=split, image_id=image_id, reason=str(result)))
            continue
        kept.append(image_id)
        sizes[image_id] = result
    return kept, sizes


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
            image_id = _checked_id(f"train/{synset}/{name}", path=folder / name)
            ids.append(image_id)
            labels[image_id] = label
    logger.info("train: %d images in %d classes", len(ids), len(synsets))
    if train_proxy:
        ids = _select_per_class(ids, labels, train_proxy, seed=seed)
        logger.info("train proxy: kept %d images (%d per class, seed %d)", len(ids), train_proxy, seed)
    kept, sizes = _probe([(i, root / i) for i in ids], split=TRAIN, skip_bad=skip_bad, progress=progress,
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
        stem = _strip_image_extension(name)
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
        image_id = _checked_id(f"val/{file_of[name]}", path=val_dir / file_of[name])
        labels[image_id] = label
        ann_of[image_id] = ann
        items.append((image_id, val_dir / file_of[name]))
    for stem, name in sorted(file_of.items()):
        if stem not in by_name:
            raise InputError(f"val image has no annotation in {source}", path=val_dir / name, value=name)

    kept, sizes = _probe(items, split=TEST, skip_bad=skip_bad, progress=progress, skipped=skipped)
    boxes: dict[str, list[Box]] = {}
    for image_id in kept:
        ann = ann_of[image_id]
        if ann.size is not None and ann.size != sizes[image_id]:
            raise InputError(f"annotated size {ann.size[0]}x{ann.size[1]} disagrees with the header of {image_id} "
                             f"({sizes[image_id][0]}x{sizes[image_id][1]})", path=ann.source, line=ann.size_line,
                             value=f"{ann.size[0]}x{ann.size[1]}")
        for obj in ann.objects:
            _check_box(obj.box, sizes[image_id], path=ann.source, line=obj.line, image_id=image_id)
        boxes[image_id] = [obj.box for obj in ann.objects]
    logger.info("test: %d images, %d boxes", len(kept), sum(len(b) for b in boxes.values()))
    return Metadata(image_ids=kept, labels={i: labels[i] for i in kept}, sizes=sizes, boxes=boxes)


def _prepare_fullsup(fullsup_root: Path, boxes_path: Path, num_classes: int, *, skip_bad: bool, progress: bool,
                     skipped: list[SkippedImage], notes: list[str]) -> Metadata:
    listed: dict[str, int] = {}
    for folder in _subfolders(fullsup_root):
        label = _class_index(folder, num_classes, path=fullsup_root / folder)
        for name in _image_names(fullsup_root / folder):
            listed[_checked_id(f"{folder}/{name}", path=fullsup_root / folder / name)] = label
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

    kept, sizes = _probe(items, split=TRAIN_FULLSUP, skip_bad=skip_bad, progress=progress, skipped=skipped)
    boxes: dict[str, list[Box]] = {}
    for image_id in kept:
        for row in boxes_of[image_id]:
            _check_box(row.box, sizes[image_id], path=boxes_path, line=row.line, image_id=image_id)
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
    return PreparedDataset(dataset="imagenet", class_names=class_names, splits=splits, skipped=skipped, notes=notes)


__all__ = [
    "prepare_imagenet", "read_synset_mapping", "read_voc_annotation", "read_val_solution", "read_fullsup_boxes",
    "AnnotatedObject", "ValAnnotation", "FullsupBox", "FullsupBoxes", "IMAGE_EXTENSIONS",
]
