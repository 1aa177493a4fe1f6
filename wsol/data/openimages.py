"""OpenImages30k (wsolevaluation's OpenImages): convert the released image and mask tree to metadata.

Layout (``ROOT`` is the ``OpenImages`` folder of clovaai/wsolevaluation, Choe et al., CVPR 2020)::

    ROOT/
      train/<class folder>/<id>.jpg                       training images, no masks (optional)
      val/<class folder>/<id>.jpg                         held-out images with masks (optional)
      val/<class folder>/<id>_ignore.png                  ignore region of image <id> (optional per image)
      val/<class folder>/<id>_m<class folder>_<hex>.png   one file per object instance (at least one per image)
      test/<class folder>/...                             the same as val/ (required)

Class folders are OpenImages MIDs without their ``/m/`` prefix (``01226z``, ``0bt_c3``, ``01gkx_``). Every present
split folder must hold the same set of class folders.

File rules, in a class folder
    Only image files count (:func:`wsol.data.images.is_image_name`); other files are ignored. ``<stem>_ignore.png``
    is the ignore mask of image ``<stem>.<ext>``. ``<stem>_m<anything>.png`` is a mask of image ``<stem>.<ext>``
    when that image is in the folder (with several candidate stems, the longest one). Every other image file is an
    image. In ``val/`` and ``test/`` a ``.png`` named ``<x>_m<anything>.png`` that is the mask of no image and has
    no mask of its own is taken for a mask whose image is missing (an error, as an ignore file without its image
    is); every image needs at least one mask. ``train/`` holds no localization: a mask or ignore file there is an
    error. Masks of an image are listed by file name.

Labels
    A class's label is the 0-based index of its folder name in the sorted (code-point order) list of class
    folders, which is how wsolevaluation's released ``metadata/OpenImages`` numbers them (``01226z`` = 0,
    ``0138tl`` = 1, ...). Class names come from an optional ``<MID>,<name>`` CSV file such as OpenImages'
    ``class-descriptions-boxable.csv`` (:func:`read_class_descriptions`); without it they are the folder names.

Splits
    ``train/`` becomes ``train`` (no localization), ``val/`` becomes ``train_fullsup`` (masks; wsolevaluation's role
    for OpenImages val: choosing thresholds and hyper-parameters) and ``test/`` becomes ``test`` (masks). A missing
    ``train/`` or ``val/`` is simply not written (and a note says so). The image root and the mask root of every
    split is ``ROOT``; image ids and mask paths keep their ``train/``, ``val/``, ``test/`` prefix
    (``test/01226z/7af766bd43da900b.jpg``, ``test/01226z/7af766bd43da900b_m01226z_6554d965.png``), so the written
    ``image_ids.txt``, ``class_labels.txt`` and ``localization.txt`` hold the released metadata's images, labels,
    mask files and ignore files (of the images present). Only the order differs: ours lists images by class folder,
    then file name, and an image's masks by file name (its first line, the one naming the ignore file, is then its
    first mask by name), where the released files keep their own order within a class and an image; no metric
    depends on it. ``image_sizes.txt`` is filled in from the image headers (the released mask splits leave it
    empty; the scores are the same).

Every mask and ignore file must have its image's size (read from the headers). Problems raise
:class:`~wsol.errors.InputError` naming the file; with ``skip_bad_images=True`` an unreadable or truncated image,
an image without masks and an image whose mask is unreadable or of another size are left out and listed in
``PreparedDataset.skipped`` instead. Structural problems (missing ``test/``, differing class folders, a mask without
its image, a mask in ``train/``) always raise.
"""
from __future__ import annotations

import csv
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from wsol.constants import TEST, TRAIN, TRAIN_FULLSUP
from wsol.data.images import is_image_name, strip_image_extension
from wsol.data.metadata import MaskAnnotation, Metadata, check_image_id, require_image_id
from wsol.data.prepare import (PreparedDataset, PreparedSplit, SkippedImage, probe_sizes, probe_split,
                               select_per_class)
from wsol.data.textfiles import text_lines
from wsol.errors import InputError

logger = logging.getLogger(__name__)

#: ``(folder under ROOT, split written, whether it has masks)``, in the order the splits are written.
SPLIT_FOLDERS: tuple[tuple[str, str, bool], ...] = (("train", TRAIN, False), ("val", TRAIN_FULLSUP, True),
                                                    ("test", TEST, True))
#: The split folder that must exist; the other folders' class folders are compared with its.
REQUIRED_FOLDER = "test"
IGNORE_SUFFIX = "_ignore.png"
MASK_MARKER = "_m"
MID_PREFIX = "/m/"

_MASK_NOTE = ("masks are binarised and resized as wsolevaluation's get_mask does (stated in "
              "wsol.localization.protocol, 'Masks'): grey value > 0.5, i.e. every non-zero pixel of a 0..255 file; "
              "the instance masks of an image are united, the ignore region is the ignore mask minus that "
              "foreground, and both are resized to the score map with nearest-neighbour interpolation.")


@dataclass
class _Image:
    """One image of a class folder and its annotation files (file names in the folder)."""

    name: str
    masks: list[str] = field(default_factory=list)
    ignore: str | None = None


def _subfolders(folder: Path) -> list[str]:
    """Sorted names of the non-hidden folders directly in ``folder``."""
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if not e.name.startswith(".") and e.is_dir())


def _image_files(folder: Path) -> list[str]:
    """Sorted names of the image files directly in ``folder``."""
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if is_image_name(e.name) and e.is_file())


def _is_png(name: str) -> bool:
    return os.path.splitext(name)[1].lower() == ".png"


def _is_ignore_name(name: str) -> bool:
    return name.lower().endswith(IGNORE_SUFFIX) and len(name) > len(IGNORE_SUFFIX)


def _marker_prefixes(name: str) -> list[str]:
    """The prefixes of a ``.png`` name's stem before each ``_m``, longest first (empty for other names)."""
    if not _is_png(name):
        return []
    stem = os.path.splitext(name)[0]
    cuts = [i for i in range(1, len(stem)) if stem.startswith(MASK_MARKER, i)]
    return [stem[:i] for i in reversed(cuts)]


def _scan_class_folder(folder: Path, *, has_masks: bool) -> list[_Image]:
    """The images of one class folder with their mask files (rules in the module docstring), by file name.

    Raises:
        InputError: two images with the same stem, a mask or ignore file whose image is missing, or (in a split
            without masks) any mask or ignore file.
    """
    names = _image_files(folder)
    images: dict[str, _Image] = {}  # stem -> image
    ignores: list[str] = []
    # A mask name is longer than its image's name (``<stem>_m<x>.png`` against ``<stem>.<ext>``, ext at most 4
    # letters), so visiting names by length classifies every image before any of its masks.
    for name in sorted(names, key=lambda n: (len(n), n)):
        if _is_ignore_name(name):
            ignores.append(name)
            continue
        owner = next((p for p in _marker_prefixes(name) if p in images), None)
        if owner is not None:
            if not has_masks:
                raise InputError(f"mask file in the {TRAIN} split (it has no localization; image {images[owner].name})",
                                 path=folder / name)
            images[owner].masks.append(name)
            continue
        stem = strip_image_extension(name)
        if stem in images:
            raise InputError(f"two images with the same name ({images[stem].name})", path=folder / name)
        images[stem] = _Image(name)
    for name in sorted(ignores):
        stem = name[:-len(IGNORE_SUFFIX)]
        if not has_masks:
            raise InputError(f"mask file in the {TRAIN} split (an ignore mask; it has no localization)",
                             path=folder / name)
        if stem not in images:
            raise InputError(f"ignore mask without its image (no {stem}.<ext> in the folder)", path=folder / name)
        images[stem].ignore = name
    if has_masks:
        for image in images.values():
            prefixes = _marker_prefixes(image.name)
            if not image.masks and prefixes:
                raise InputError(f"mask file without its image (no {prefixes[-1]}.<ext> in the folder)",
                                 path=folder / image.name)
    for image in images.values():
        image.masks.sort()
    return sorted(images.values(), key=lambda im: im.name)


def read_class_descriptions(path: str | os.PathLike) -> dict[str, str]:
    """Class names from a ``<MID>,<name>`` CSV file such as OpenImages' ``class-descriptions-boxable.csv``.

    Lines are parsed with :mod:`csv` (a name holding a comma is quoted: ``/m/0abc,"Tortoise, turtle"``) after the
    line reader of :mod:`wsol.data.textfiles` (UTF-8, a byte-order mark allowed; blank lines skipped). Surrounding
    whitespace of both fields is removed; further columns are ignored.

    Returns:
        folder name -> class name: the MID without its ``/m/`` prefix (a first column without the prefix is taken
        as the folder name itself).

    Raises:
        InputError: the file is missing or not UTF-8, a line has fewer than two fields or an empty field, or a MID
            comes twice (file, line and value named).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("class-names file not found", path=path)
    names: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for number, line in text_lines(path, encoding="utf-8-sig"):
        try:
            row = next(csv.reader([line]))
        except csv.Error as e:
            raise InputError(f"not a CSV line: {e}", path=path, line=number, value=line) from None
        fields = [f.strip() for f in row]
        if len(fields) < 2 or not fields[0] or not fields[1]:
            raise InputError("expected '<MID>,<name>'", path=path, line=number, value=line)
        mid, name = fields[0], fields[1]
        key = mid[len(MID_PREFIX):] if mid.startswith(MID_PREFIX) else mid
        if key in first_line:
            raise InputError(f"class given twice (first on line {first_line[key]})", path=path, line=number,
                             value=mid)
        first_line[key] = number
        names[key] = name
    return names


def _class_folders(root: Path, present: list[str]) -> list[str]:
    """The sorted class folders, the same in every present split folder."""
    reference = _subfolders(root / REQUIRED_FOLDER)
    if not reference:
        raise InputError(f"no class folders in {REQUIRED_FOLDER}/", path=root / REQUIRED_FOLDER)
    for folder in present:
        if folder == REQUIRED_FOLDER:
            continue
        classes = _subfolders(root / folder)
        if classes != reference:
            extra, missing = set(classes) - set(reference), set(reference) - set(classes)
            first = min(extra | missing)
            what = (f"has a class folder that {REQUIRED_FOLDER}/ lacks" if first in extra
                    else f"lacks a class folder of {REQUIRED_FOLDER}/")
            raise InputError(f"{what} (every split folder must hold the same class folders, or labels would shift)",
                             path=root / folder, value=first)
    return reference


@dataclass
class _Listed:
    """One split folder, listed: ids in order, their labels, image files and annotation files."""

    ids: list[str] = field(default_factory=list)
    labels: dict[str, int] = field(default_factory=dict)
    masks: dict[str, MaskAnnotation] = field(default_factory=dict)


def _list_split(root: Path, folder: str, classes: list[str], *, split: str, has_masks: bool, skip_bad: bool,
                skipped: list[SkippedImage]) -> _Listed:
    base = root / folder
    stray = _image_files(base)
    if stray:
        raise InputError(f"image file directly in {folder}/; expected {folder}/<class folder>/<file>",
                         path=base / stray[0])
    listed = _Listed()
    for label, cls in enumerate(classes):
        images = _scan_class_folder(base / cls, has_masks=has_masks)
        if not images:
            logger.warning("%s/%s holds no images", folder, cls)
        for image in images:
            image_id = require_image_id(f"{folder}/{cls}/{image.name}", path=base / cls / image.name)
            if has_masks and not image.masks:
                error = InputError(f"image has no mask files (expected {strip_image_extension(image.name)}"
                                   f"{MASK_MARKER}*.png beside it)", path=base / cls / image.name)
                if not skip_bad:
                    raise error
                skipped.append(SkippedImage(split=split, image_id=image_id, reason="no mask files"))
                continue
            if has_masks:
                paths = tuple(f"{folder}/{cls}/{m}" for m in image.masks)
                ignore = None if image.ignore is None else f"{folder}/{cls}/{image.ignore}"
                for rel in paths + (() if ignore is None else (ignore,)):
                    reason = check_image_id(rel)
                    if reason is not None:
                        raise InputError(reason.replace("image id", "mask path"), path=root / rel, value=rel)
                listed.masks[image_id] = MaskAnnotation(mask_paths=paths, ignore_path=ignore)
            listed.ids.append(image_id)
            listed.labels[image_id] = label
    return listed


def _check_mask_sizes(root: Path, kept: list[str], masks: dict[str, MaskAnnotation],
                      sizes: dict[str, tuple[int, int]], *, split: str, skip_bad: bool, progress: bool,
                      skipped: list[SkippedImage]) -> list[str]:
    """The images of ``kept`` whose mask and ignore files are readable and of the image's size, in order.

    Headers are read in a thread pool (:func:`wsol.data.prepare.probe_sizes`, which also checks for truncation).

    Raises:
        InputError: the first bad file, naming it (and, for a size mismatch, both sizes), unless ``skip_bad``.
    """
    files = [(image_id, rel) for image_id in kept
             for rel in masks[image_id].mask_paths + ((masks[image_id].ignore_path,)
                                                       if masks[image_id].ignore_path else ())]
    results = probe_sizes([root / rel for _, rel in files], skip_bad=True, progress=progress,
                          desc=f"{split} mask headers")
    bad: dict[str, str] = {}
    for (image_id, rel), result in zip(files, results):
        if image_id in bad:
            continue
        if isinstance(result, InputError):
            error = InputError(result.what.replace("image", "mask"), path=root / rel,
                               **({"value": result.value} if result.has_value else {}))
        elif result != sizes[image_id]:
            (w, h), (iw, ih) = result, sizes[image_id]
            error = InputError(f"mask is {w}x{h} but its image {image_id} is {iw}x{ih}", path=root / rel)
        else:
            continue
        if not skip_bad:
            raise error
        bad[image_id] = str(error)
    for image_id, reason in bad.items():
        skipped.append(SkippedImage(split=split, image_id=image_id, reason=reason))
    return [i for i in kept if i not in bad]


def _prepare_split(root: Path, folder: str, classes: list[str], *, split: str, has_masks: bool, skip_bad: bool,
                   progress: bool, skipped: list[SkippedImage]) -> Metadata:
    listed = _list_split(root, folder, classes, split=split, has_masks=has_masks, skip_bad=skip_bad, skipped=skipped)
    kept, sizes = probe_split([(i, root / i) for i in listed.ids], split=split, skip_bad=skip_bad, progress=progress,
                              skipped=skipped)
    if has_masks:
        kept = _check_mask_sizes(root, kept, listed.masks, sizes, split=split, skip_bad=skip_bad, progress=progress,
                                 skipped=skipped)
    meta = Metadata(image_ids=kept, labels={i: listed.labels[i] for i in kept}, sizes={i: sizes[i] for i in kept},
                    masks={i: listed.masks[i] for i in kept} if has_masks else None)
    logger.info("%s (%s/): %d images%s", split, folder, len(kept),
                f", {sum(len(m.mask_paths) for m in meta.masks.values())} masks" if meta.masks is not None else "")
    return meta


def prepare_openimages(root: str | os.PathLike, *, class_names: str | os.PathLike | None = None,
                       fullsup_per_class: int = 0, seed: int = 0, skip_bad_images: bool = False,
                       progress: bool = False) -> PreparedDataset:
    """Convert an OpenImages30k tree (layout and rules in the module docstring) to metadata splits, in memory.

    Args:
        root: the ``OpenImages`` folder holding ``test/`` and optionally ``train/`` and ``val/``.
        class_names: a ``<MID>,<name>`` CSV file (see :func:`read_class_descriptions`) naming every class folder;
            None: the names are the folder names.
        fullsup_per_class: keep this many images per class of ``val/`` as ``train_fullsup`` (0: all), chosen with
            :func:`wsol.data.prepare.select_per_class` (all of a class with fewer).
        seed: seed for ``fullsup_per_class``.
        skip_bad_images: leave out (and list in ``skipped``) unreadable or truncated images, images without masks
            and images whose masks are unreadable or of another size, instead of failing.
        progress: tqdm bars while reading image and mask headers.

    Returns:
        Splits ``train`` (from ``train/``, no localization), ``train_fullsup`` (from ``val/``, masks) and ``test``
        (from ``test/``, masks), those present, in this order; image and mask root ``root``.

    Raises:
        InputError: any problem with the tree, the class-names file or the options, naming the file (and line).
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError("OpenImages root folder not found", path=root)
    if isinstance(fullsup_per_class, bool) or not isinstance(fullsup_per_class, int) or fullsup_per_class < 0:
        raise InputError("fullsup_per_class must be an integer >= 0", value=fullsup_per_class)
    if not (root / REQUIRED_FOLDER).is_dir():
        raise InputError(f"{REQUIRED_FOLDER}/ folder not found (the OpenImages root holds train/, val/, test/)",
                         path=root / REQUIRED_FOLDER)
    present = [folder for folder, _, _ in SPLIT_FOLDERS if (root / folder).is_dir()]
    if fullsup_per_class and "val" not in present:
        raise InputError("fullsup_per_class needs the val/ folder", path=root / "val", value=fullsup_per_class)

    classes = _class_folders(root, present)
    if class_names is not None:
        described = read_class_descriptions(class_names)
        for cls in classes:
            if cls not in described:
                raise InputError(f"class folder has no name in the class-names file (no {MID_PREFIX}{cls} line)",
                                 path=class_names, value=cls)
        names = [described[cls] for cls in classes]
    else:
        names = list(classes)
    logger.info("%d classes in %s (sorted folder order)", len(classes), root / REQUIRED_FOLDER)

    skipped: list[SkippedImage] = []
    notes = [f"labels are the 0-based indices of the {len(classes)} class folders in sorted (code-point) order, as "
             "in wsolevaluation's released OpenImages metadata; image ids and mask paths are relative to the "
             "OpenImages root (train/..., val/..., test/...), as there. image_sizes.txt is filled in from the image "
             "headers (the released mask splits leave it empty).",
             _MASK_NOTE]
    splits: dict[str, PreparedSplit] = {}
    for folder, split, has_masks in SPLIT_FOLDERS:
        if folder not in present:
            logger.warning("no %s/ folder in %s: no %s split", folder, root, split)
            notes.append(f"no {folder}/ folder in the OpenImages root: no {split} split was written.")
            continue
        meta = _prepare_split(root, folder, classes, split=split, has_masks=has_masks, skip_bad=skip_bad_images,
                              progress=progress, skipped=skipped)
        if split == TRAIN_FULLSUP and fullsup_per_class:
            meta = meta.select(select_per_class(meta.image_ids, meta.labels, fullsup_per_class, seed=seed))
            logger.info("%s: kept %d images (%d per class, seed %d)", split, len(meta), fullsup_per_class, seed)
            notes.append(f"{split} holds {fullsup_per_class} images per class of OpenImages val/ (all of a class "
                         f"with fewer), {len(meta)} in all, drawn with seed {seed} "
                         "(wsol.data.prepare.select_per_class): reproducible, but not the draw of the authors' "
                         "own code.")
        splits[split] = PreparedSplit(meta, root, mask_root=root if has_masks else None)
    if skipped:
        logger.warning("skipped %d bad image(s); listed in dataset.json", len(skipped))
    return PreparedDataset(dataset="openimages", class_names=names, splits=splits, skipped=skipped, notes=notes,
                           root=root)


__all__ = ["prepare_openimages", "read_class_descriptions", "SPLIT_FOLDERS", "IGNORE_SUFFIX", "MASK_MARKER"]
