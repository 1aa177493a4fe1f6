"""Image files: which file names are images, safe id -> path resolution, sizes from headers, integrity checks,
decoding.

Image ids come from metadata written by others, so every id is resolved with :func:`resolve_image_path`, which
refuses absolute ids, ``..`` and symbolic links that lead outside the dataset root.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from wsol.data.metadata import require_image_id
from wsol.errors import InputError

#: Extensions (lower case) of the files taken as images when a folder is listed (ImageNet trees, OOD folders).
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpeg", ".jpg", ".png")

#: How many bytes at the end of a JPEG are searched for the end-of-image marker (encoders may pad after it).
_JPEG_TAIL_BYTES = 4096
_PNG_IEND = b"IEND\xaeB`\x82"


def resolve_image_path(root: str | os.PathLike, image_id: str, *, source: str | None = None,
                       line: int | None = None) -> Path:
    """The path of ``image_id`` under ``root``, guaranteed to stay inside ``root``.

    Args:
        root: the image root folder.
        image_id: relative POSIX path (see :func:`wsol.data.metadata.check_image_id`).
        source, line: where the id came from, for the error message.

    Raises:
        InputError: the id is absolute, climbs out with ``..``, or resolves (through symbolic links) outside root.
    """
    require_image_id(image_id, path=source, line=line)
    root_real = os.path.realpath(root)
    path = os.path.realpath(os.path.join(root_real, *image_id.split("/")))
    if os.path.commonpath([root_real, path]) != root_real:
        raise InputError(f"image id resolves outside the dataset root {root_real}", path=source, line=line,
                         value=image_id)
    return Path(path)


def is_image_name(name: str) -> bool:
    """Whether a file name is taken as an image: an :data:`IMAGE_EXTENSIONS` extension in any letter case, and not
    hidden (names starting with ``.``, such as macOS ``._*`` resource forks, are not)."""
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def strip_image_extension(name: str) -> str:
    """``name`` without its extension when that is an :data:`IMAGE_EXTENSIONS` one (any letter case)."""
    stem, ext = os.path.splitext(name)
    return stem if ext.lower() in IMAGE_EXTENSIONS else name


def read_image_size(path: str | os.PathLike) -> tuple[int, int]:
    """``(width, height)`` from the image header, without decoding the pixels.

    Raises:
        InputError: file missing or not a readable image.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                return int(im.size[0]), int(im.size[1])
    except FileNotFoundError:
        raise InputError("image file missing", path=path) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise InputError("unreadable image", path=path, value=str(e)) from None


def check_image_complete(path: str | os.PathLike) -> None:
    """Cheap truncation check that reads only the end of the file.

    JPEG files must carry the end-of-image marker ``FFD9`` within their last 4 KiB and PNG files must end with
    the ``IEND`` chunk; other formats are accepted as they are. This finds files cut short (interrupted copies or
    downloads), the common corruption; damage inside a file is found when the image is decoded for use.

    Raises:
        InputError: the file is empty or truncated.
    """
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(8)
            f.seek(max(0, size - _JPEG_TAIL_BYTES))
            tail = f.read()
    except FileNotFoundError:
        raise InputError("image file missing", path=path) from None
    if size == 0:
        raise InputError("image file is empty", path=path)
    if head[:2] == b"\xff\xd8" and b"\xff\xd9" not in tail:
        raise InputError("truncated JPEG (no end-of-image marker)", path=path)
    if head == b"\x89PNG\r\n\x1a\n" and not tail.endswith(_PNG_IEND):
        raise InputError("truncated PNG (no IEND chunk)", path=path)


def probe_image(path: str | os.PathLike) -> tuple[int, int]:
    """Size from the header after the truncation check: what ``wsol prepare`` records for every image."""
    check_image_complete(path)
    return read_image_size(path)


def load_rgb(path: str | os.PathLike) -> Image.Image:
    """Decode an image fully as RGB.

    Raises:
        InputError: missing, unreadable or truncated file (named in the message).
    """
    check_image_complete(path)
    try:
        with Image.open(path) as im:
            im.load()
            return im.convert("RGB")
    except FileNotFoundError:
        raise InputError("image file missing", path=path) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise InputError("unreadable image", path=path, value=str(e)) from None


def load_mask(path: str | os.PathLike):
    """A binary mask from an image file, binarised as the published protocol does: grey ``value > 0.5`` (every
    non-zero pixel of a 0..255 file; 16-bit files at their own scale; colour through ITU-R 601 luma). The mask
    conventions are stated once, in :mod:`wsol.localization.protocol` ("Masks").

    Returns:
        ``numpy.ndarray`` of ``bool``, shape ``(height, width)``.

    Raises:
        InputError: missing or unreadable file.
    """
    import numpy as np

    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
                arr = np.asarray(im, dtype=np.float64)
            else:
                arr = np.asarray(im.convert("L"), dtype=np.float64)
    except FileNotFoundError:
        raise InputError("mask file missing", path=path) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise InputError("unreadable mask", path=path, value=str(e)) from None
    return arr > 0.5
