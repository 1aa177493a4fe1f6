"""The wsolevaluation metadata text format: read, write, validate.

A metadata split folder holds four text files (the format clovaai/wsolevaluation publishes, so its released
metadata for CUB, ImageNet and OpenImages loads unchanged, and ours loads in its tools):

``image_ids.txt``
    One image id per line: a relative POSIX path to the image under the split's image root.
``class_labels.txt``
    ``image_id,label`` with a 0-based integer label.
``image_sizes.txt``
    ``image_id,width,height`` in pixels of the original image. Required, for every image, in box splits (boxes are
    rescaled with it); mask and training splits may leave it empty, partial or out, as wsolevaluation's released
    OpenImages metadata does (its evaluator never reads it: masks are resized to the score map). A mask's size then
    comes from the mask files; a size that is given is checked against the image when it is read.
``localization.txt`` (optional for training splits)
    Either boxes, ``image_id,x0,y0,x1,y1`` (integers, one line per box, several lines per image allowed), or masks,
    ``image_id,mask_path,ignore_path`` (paths relative to a mask root; one line per mask; the ignore path is given on
    the first line of an image only and may be empty).

Box convention (stated once here): ``xyxy`` integer pixel coordinates of the original image with
``0 <= x0 <= x1 <= width`` and ``0 <= y0 <= y1 <= height``. The upper bound is ``width`` (not ``width - 1``) because
wsolevaluation's released CUB boxes are ``int(x + w)``, which can equal the width. How boxes are rescaled and whether
``x1`` counts as inside the box is a matter for the scoring protocol (:mod:`wsol.localization`), not of this file.

Every violation is reported as ``file:line: what is wrong (value)``. :func:`check_metadata` collects all of them
(``wsol prepare --check``); :func:`read_metadata` raises the first one.
"""
from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from wsol.data.textfiles import text_lines
from wsol.errors import InputError
from wsol.fileio import atomic_write_text

IMAGE_IDS_FILE = "image_ids.txt"
CLASS_LABELS_FILE = "class_labels.txt"
IMAGE_SIZES_FILE = "image_sizes.txt"
LOCALIZATION_FILE = "localization.txt"
REQUIRED_FILES = (IMAGE_IDS_FILE, CLASS_LABELS_FILE)

#: A box in ``xyxy`` integer pixel coordinates of the original image (see the module docstring).
Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class MaskAnnotation:
    """The masks of one image: one or more mask files and an optional ignore-region file (paths under a mask root)."""

    mask_paths: tuple[str, ...]
    ignore_path: str | None = None


@dataclass
class Metadata:
    """One split's metadata, in memory.

    Attributes:
        image_ids: ids in file order (the order evaluation reports per-image results in).
        labels: id -> 0-based class label.
        sizes: id -> ``(width, height)`` of the original image; complete in box splits, possibly partial or empty in
            mask and training splits (the mask files then give a mask's size).
        boxes: id -> list of boxes (``xyxy``, see the module docstring), or ``None`` when the split has no boxes.
        masks: id -> :class:`MaskAnnotation`, or ``None`` when the split has no masks.
    """

    image_ids: list[str]
    labels: dict[str, int]
    sizes: dict[str, tuple[int, int]]
    boxes: dict[str, list[Box]] | None = None
    masks: dict[str, MaskAnnotation] | None = None

    def __post_init__(self) -> None:
        if self.boxes is not None and self.masks is not None:
            raise ValueError("a metadata split holds either boxes or masks, not both")

    def __len__(self) -> int:
        return len(self.image_ids)

    @property
    def localization(self) -> str | None:
        """``"boxes"``, ``"masks"`` or ``None``."""
        if self.boxes is not None:
            return "boxes"
        if self.masks is not None:
            return "masks"
        return None

    @property
    def num_classes_seen(self) -> int:
        """1 + the largest label (0 for an empty split)."""
        return 1 + max(self.labels.values(), default=-1)

    def select(self, image_ids: Iterable[str]) -> "Metadata":
        """A new :class:`Metadata` restricted to ``image_ids`` (in the given order)."""
        ids = list(image_ids)
        return Metadata(
            image_ids=ids,
            labels={i: self.labels[i] for i in ids},
            sizes={i: self.sizes[i] for i in ids if i in self.sizes},
            boxes=None if self.boxes is None else {i: list(self.boxes[i]) for i in ids},
            masks=None if self.masks is None else {i: self.masks[i] for i in ids},
        )


def check_image_id(image_id: str) -> str | None:
    """Why ``image_id`` cannot be an image id, or ``None`` when it can.

    An id is a non-empty relative POSIX path that stays inside its root: no leading ``/``, no drive letter, no
    backslash, no ``..`` component, no comma (the field separator) and no control characters.
    """
    if not image_id:
        return "empty image id"
    if image_id != image_id.strip():
        return "image id has leading or trailing whitespace"
    if any(ord(c) < 32 for c in image_id):
        return "image id has a control character"
    if "," in image_id:
        return "image id contains a comma"
    if "\\" in image_id:
        return "image id contains a backslash (ids are POSIX paths)"
    if image_id.startswith("/") or (len(image_id) > 1 and image_id[1] == ":"):
        return "image id is an absolute path"
    if ".." in image_id.split("/"):
        return "image id climbs out of the root with .."
    if posixpath.normpath(image_id) in (".", ""):
        return "image id names the root itself"
    return None


def require_image_id(image_id: str, *, path: str | os.PathLike | None = None, line: int | None = None) -> str:
    """``image_id`` itself when it can be an image id (see :func:`check_image_id`).

    Args:
        image_id: the candidate id.
        path, line: where it came from, for the error message.

    Raises:
        InputError: why it cannot, with ``path``, ``line`` and the id.
    """
    reason = check_image_id(image_id)
    if reason is not None:
        raise InputError(reason, path=path, line=line, value=image_id)
    return image_id


def box_problem(box: Box, size: tuple[int, int], *, image_id: str | None = None) -> str | None:
    """Why ``box`` breaks the box rule of the module docstring in an image of ``size``, or ``None`` when it keeps it.

    Args:
        box: ``(x0, y0, x1, y1)``.
        size: ``(width, height)`` of the image.
        image_id: named in the reason when given.

    Returns:
        ``"box is inverted (needs x0<=x1, y0<=y1)"`` or ``"box outside the WxH image"`` (with the id), or ``None``.
    """
    x0, y0, x1, y1 = box
    width, height = size
    if 0 <= x0 <= x1 <= width and 0 <= y0 <= y1 <= height:
        return None
    if x0 > x1 or y0 > y1:
        return f"box{'' if image_id is None else ' of ' + image_id} is inverted (needs x0<=x1, y0<=y1)"
    return f"box outside the {width}x{height} image{'' if image_id is None else ' ' + image_id}"


class _Problems:
    """Collects problems; raises the first one at once when ``strict``."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.items: list[InputError] = []

    def add(self, error: InputError) -> None:
        if self.strict:
            raise error
        self.items.append(error)


def _parse_int(text: str, *, path: Path, line: int, name: str, problems: _Problems) -> int | None:
    try:
        return int(text)
    except ValueError:
        problems.add(InputError(f"{name} is not an integer", path=path, line=line, value=text))
        return None


def _parse(meta_dir: Path, *, num_classes: int | None, strict: bool) -> tuple[Metadata | None, list[InputError]]:
    problems = _Problems(strict)
    if not meta_dir.is_dir():
        problems.add(InputError("metadata folder not found", path=meta_dir))
        return None, problems.items
    for name in REQUIRED_FILES:
        if not (meta_dir / name).is_file():
            problems.add(InputError("missing metadata file", path=meta_dir / name))
    if problems.items:
        return None, problems.items

    # image_ids.txt
    path = meta_dir / IMAGE_IDS_FILE
    image_ids: list[str] = []
    id_line: dict[str, int] = {}
    for number, line in text_lines(path):
        reason = check_image_id(line)
        if reason is not None:
            problems.add(InputError(reason, path=path, line=number, value=line))
            continue
        if line in id_line:
            problems.add(InputError(f"duplicate image id (first on line {id_line[line]})", path=path, line=number,
                                    value=line))
            continue
        id_line[line] = number
        image_ids.append(line)

    def known_id(image_id: str, *, path: Path, line: int) -> bool:
        if image_id in id_line:
            return True
        problems.add(InputError(f"image id not in {IMAGE_IDS_FILE}", path=path, line=line, value=image_id))
        return False

    def report_missing(seen: dict, file_name: str) -> None:
        for image_id in image_ids:
            if image_id not in seen:
                problems.add(InputError(f"image id missing from {file_name}", path=meta_dir / IMAGE_IDS_FILE,
                                        line=id_line[image_id], value=image_id))

    def rows(path: Path, header: str) -> Iterator[tuple[int, list[str]]]:
        """Lines of ``path`` split at commas; a line without the fields of ``header`` is reported and skipped."""
        count = header.count(",") + 1
        for number, line in text_lines(path):
            fields = line.split(",")
            if len(fields) != count:
                problems.add(InputError(f"expected {count} fields '{header}', got {len(fields)}", path=path,
                                        line=number, value=line))
                continue
            yield number, fields

    # class_labels.txt
    path = meta_dir / CLASS_LABELS_FILE
    labels: dict[str, int] = {}
    for number, (image_id, text) in rows(path, "image_id,label"):
        label = _parse_int(text, path=path, line=number, name="label", problems=problems)
        if label is None or not known_id(image_id, path=path, line=number):
            continue
        if image_id in labels:
            problems.add(InputError("duplicate image id", path=path, line=number, value=image_id))
            continue
        if label < 0 or (num_classes is not None and label >= num_classes):
            bound = "" if num_classes is None else f" (expected 0..{num_classes - 1})"
            problems.add(InputError(f"label out of range{bound}", path=path, line=number, value=label))
            continue
        labels[image_id] = label
    report_missing(labels, CLASS_LABELS_FILE)

    # image_sizes.txt (complete in box splits: checked once localization.txt says what the split holds)
    path = meta_dir / IMAGE_SIZES_FILE
    sizes: dict[str, tuple[int, int]] = {}
    has_sizes = path.is_file()
    for number, (image_id, width_text, height_text) in rows(path, "image_id,width,height") if has_sizes else ():
        width = _parse_int(width_text, path=path, line=number, name="width", problems=problems)
        height = _parse_int(height_text, path=path, line=number, name="height", problems=problems)
        if width is None or height is None or not known_id(image_id, path=path, line=number):
            continue
        if image_id in sizes:
            problems.add(InputError("duplicate image id", path=path, line=number, value=image_id))
            continue
        if width <= 0 or height <= 0:
            problems.add(InputError("image size must be positive", path=path, line=number,
                                    value=f"{width}x{height}"))
            continue
        sizes[image_id] = (width, height)

    def report_sizes() -> None:
        if has_sizes:
            report_missing(sizes, IMAGE_SIZES_FILE)
        else:
            problems.add(InputError("missing metadata file (a box split needs every image's size)",
                                    path=meta_dir / IMAGE_SIZES_FILE))

    # localization.txt (optional)
    path = meta_dir / LOCALIZATION_FILE
    boxes: dict[str, list[Box]] | None = None
    masks: dict[str, MaskAnnotation] | None = None
    if path.is_file():
        kind: str | None = None
        box_lines: dict[str, list[Box]] = {}
        mask_lines: dict[str, list[str]] = {}
        ignores: dict[str, str | None] = {}
        for number, line in text_lines(path):
            fields = line.split(",")
            line_kind = {5: "boxes", 3: "masks"}.get(len(fields))
            if line_kind is None:
                problems.add(InputError("expected 5 fields 'image_id,x0,y0,x1,y1' or 3 fields "
                                        f"'image_id,mask_path,ignore_path', got {len(fields)}",
                                        path=path, line=number, value=line))
                continue
            if kind is None:
                kind = line_kind
            elif line_kind != kind:
                problems.add(InputError(f"mixes boxes and masks (this file holds {kind})", path=path, line=number,
                                        value=line))
                continue
            image_id = fields[0]
            if kind == "boxes":
                names = ("x0", "y0", "x1", "y1")
                values = [_parse_int(t, path=path, line=number, name=n, problems=problems)
                          for t, n in zip(fields[1:], names)]
                if any(v is None for v in values) or not known_id(image_id, path=path, line=number):
                    continue
                box = tuple(values)  # type: ignore[arg-type]
                what = box_problem(box, sizes[image_id]) if image_id in sizes else None  # type: ignore[arg-type]
                if what is not None:
                    problems.add(InputError(what, path=path, line=number, value=",".join(map(str, box))))
                    continue
                box_lines.setdefault(image_id, []).append(box)  # type: ignore[arg-type]
            else:
                _, mask_path, ignore_path = fields
                if not known_id(image_id, path=path, line=number):
                    continue
                reason = check_image_id(mask_path)
                if reason is not None:
                    problems.add(InputError(reason.replace("image id", "mask path"), path=path, line=number,
                                            value=mask_path))
                    continue
                if ignore_path:
                    reason = check_image_id(ignore_path)
                    if reason is not None:
                        problems.add(InputError(reason.replace("image id", "ignore path"), path=path, line=number,
                                                value=ignore_path))
                        continue
                if image_id in mask_lines:
                    if ignore_path:
                        problems.add(InputError("ignore path given again for an image (only its first line may "
                                                "name one)", path=path, line=number, value=ignore_path))
                        continue
                    mask_lines[image_id].append(mask_path)
                else:
                    mask_lines[image_id] = [mask_path]
                    ignores[image_id] = ignore_path or None
        if kind == "boxes":
            report_sizes()
        if kind == "masks":
            report_missing(mask_lines, LOCALIZATION_FILE)
            masks = {i: MaskAnnotation(tuple(mask_lines[i]), ignores[i]) for i in image_ids if i in mask_lines}
        else:
            report_missing(box_lines, LOCALIZATION_FILE)
            boxes = {i: box_lines[i] for i in image_ids if i in box_lines}
    if problems.items:
        return None, problems.items
    return Metadata(image_ids=image_ids, labels=labels, sizes=sizes, boxes=boxes, masks=masks), []


def read_metadata(meta_dir: str | os.PathLike, *, num_classes: int | None = None) -> Metadata:
    """Read and validate one metadata split folder.

    Args:
        meta_dir: the split folder (holding ``image_ids.txt`` and the others).
        num_classes: when given, labels must lie in ``0..num_classes-1``.

    Raises:
        InputError: at the first problem found, as ``file:line: what (value)``.
    """
    meta, _ = _parse(Path(meta_dir), num_classes=num_classes, strict=True)
    assert meta is not None
    return meta


def check_metadata(meta_dir: str | os.PathLike, *, num_classes: int | None = None) -> list[InputError]:
    """All problems of one metadata split folder (an empty list when it is valid)."""
    _, problems = _parse(Path(meta_dir), num_classes=num_classes, strict=False)
    return problems


def find_split_dirs(meta_root: str | os.PathLike) -> list[Path]:
    """The metadata split folders at or directly under ``meta_root`` (those holding ``image_ids.txt``), sorted."""
    root = Path(meta_root)
    if (root / IMAGE_IDS_FILE).is_file():
        return [root]
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if (p / IMAGE_IDS_FILE).is_file())


def format_metadata(meta: Metadata) -> dict[str, str]:
    """The text of each metadata file (file name -> content) for ``meta``; validates ids first."""
    for number, image_id in enumerate(meta.image_ids, start=1):
        require_image_id(image_id, path=f"<metadata image {number}>")
    files = {
        IMAGE_IDS_FILE: "".join(f"{i}\n" for i in meta.image_ids),
        CLASS_LABELS_FILE: "".join(f"{i},{meta.labels[i]}\n" for i in meta.image_ids),
        IMAGE_SIZES_FILE: "".join(f"{i},{meta.sizes[i][0]},{meta.sizes[i][1]}\n" for i in meta.image_ids
                                  if i in meta.sizes),
    }
    if meta.boxes is not None:
        files[LOCALIZATION_FILE] = "".join(
            f"{i},{x0},{y0},{x1},{y1}\n" for i in meta.image_ids for (x0, y0, x1, y1) in meta.boxes[i])
    elif meta.masks is not None:
        lines = []
        for i in meta.image_ids:
            ann = meta.masks[i]
            for k, mask_path in enumerate(ann.mask_paths):
                ignore = (ann.ignore_path or "") if k == 0 else ""
                lines.append(f"{i},{mask_path},{ignore}\n")
        files[LOCALIZATION_FILE] = "".join(lines)
    return files


def write_metadata(meta: Metadata, meta_dir: str | os.PathLike) -> None:
    """Write ``meta`` as a wsolevaluation metadata split folder; each file is written atomically.

    A stale ``localization.txt`` is removed when ``meta`` has no localization.
    """
    meta_dir = Path(meta_dir)
    files = format_metadata(meta)
    for name, text in files.items():
        atomic_write_text(meta_dir / name, text)
    if LOCALIZATION_FILE not in files and (meta_dir / LOCALIZATION_FILE).exists():
        (meta_dir / LOCALIZATION_FILE).unlink()


__all__ = [
    "Box", "MaskAnnotation", "Metadata", "check_image_id", "require_image_id", "box_problem", "read_metadata",
    "check_metadata", "write_metadata", "format_metadata", "find_split_dirs", "IMAGE_IDS_FILE", "CLASS_LABELS_FILE",
    "IMAGE_SIZES_FILE", "LOCALIZATION_FILE",
]
