"""ImageNet annotation files: Pascal-VOC XML, ``LOC_val_solution.csv``, ImageNetV2 box files, the synset mapping.

Readers only: each turns one file into records that keep the line every value came from, and raises
:class:`~wsol.errors.InputError` naming the file, the line and the offending value. Checking the records against
the image tree (sizes, classes, missing images) is the conversion's job (:mod:`wsol.data.imagenet`).

The formats (facts about the published files):

- Pascal-VOC XML, one file per val image (the ``ILSVRC2012_bbox_val_v3.tgz`` layout):
  ``<annotation><filename>ILSVRC2012_val_00000001</filename><size><width>500</width><height>375</height>...
  </size><object><name>n01751748</name><bndbox><xmin>111</xmin><ymin>108</ymin><xmax>441</xmax><ymax>332</ymax>
  </bndbox></object>...</annotation>`` (:func:`read_voc_annotation`). DTDs are refused (no entity expansion).
- ``LOC_val_solution.csv``: header ``ImageId,PredictionString``, then rows ``ILSVRC2012_val_00008726,n02119789 255
  142 454 329 n02119789 44 21 322 295``: groups of ``synset xmin ymin xmax ymax`` (:func:`read_val_solution`).
- ImageNetV2 box files, ``image_id,x0,y0,x1,y1`` with or without wsolevaluation's header
  (:func:`read_fullsup_boxes`).
- ``LOC_synset_mapping.txt``: ``n01440764 tench, Tinca tinca`` per line (:func:`read_synset_mapping`).

Boxes are kept as annotated, ``(xmin, ymin, xmax, ymax)`` in pixels (``xyxy``, see :mod:`wsol.data.metadata`).
Coordinates must be integers; integral decimals such as ``12.0`` are accepted, ``12.5`` is an error. Text files are
read as UTF-8 (a byte-order mark is accepted) with :func:`wsol.data.textfiles.text_lines`.
"""
from __future__ import annotations

import math
import os
import xml.parsers.expat
from dataclasses import dataclass, field
from pathlib import Path

from wsol.data.images import strip_image_extension
from wsol.data.metadata import Box, check_image_id, require_image_id
from wsol.data.textfiles import text_lines
from wsol.errors import InputError

VAL_SOLUTION_HEADER = "ImageId,PredictionString"
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


def _bare_image_name(name: str, *, path: Path, line: int) -> str:
    """An annotation's image name reduced to a file stem in ``val/``; paths (``/``, ``..``) are refused."""
    if "/" in name or "\\" in name or name in (".", ".."):
        raise InputError("annotation names a path; expected the bare name of an image in val/", path=path,
                         line=line, value=name)
    stem = strip_image_extension(name)
    reason = check_image_id(stem)
    if reason is not None:
        raise InputError(reason.replace("image id", "annotated image name"), path=path, line=line, value=name)
    return stem


# ----------------------------------------------------------------------------------------------------------------
# LOC_synset_mapping.txt


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
    for number, line in text_lines(path, encoding="utf-8-sig", strip=True):
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
    own_name = strip_image_extension(path.stem) if path.suffix.lower() == ".xml" else path.name
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
    for number, line in text_lines(path, encoding="utf-8-sig", strip=True):
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
    for number, line in text_lines(path, encoding="utf-8-sig", strip=True):
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
        image_id = require_image_id(fields[0].strip(), path=path, line=number)
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


__all__ = [
    "AnnotatedObject", "ValAnnotation", "FullsupBox", "FullsupBoxes", "read_synset_mapping", "read_voc_annotation",
    "read_val_solution", "read_fullsup_boxes", "VAL_SOLUTION_HEADER", "FULLSUP_BOXES_HEADER", "WSOLEVAL_V2_PREFIX",
]
