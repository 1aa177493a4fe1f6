"""The score-map file layout, defined once: ``ROOT/<image_id>.npy``, one 2-D float array per image.

That is wsolevaluation's layout: its ``inference.py`` calls ``np.save(join(folder, image_id), cam)``, which appends
``.npy`` and keeps the image's own extension (``a/b.jpg`` -> ``a/b.jpg.npy``). Image ids are safe relative paths
(checked when the metadata is read), so every map stays under ``ROOT``. ``wsol evaluate --save-scoremaps`` writes
this layout and ``wsol score`` reads it.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from wsol.data.metadata import Metadata
from wsol.errors import InputError
from wsol.fileio import atomic_write_bytes

MAP_SUFFIX = ".npy"


def score_map_path(root: str | os.PathLike, image_id: str) -> Path:
    """Where the map of ``image_id`` lives under ``root``."""
    return Path(root) / (image_id + MAP_SUFFIX)


def save_score_map(root: str | os.PathLike, image_id: str, score_map: np.ndarray) -> None:
    """Write ``root/<image_id>.npy`` (float64, no pickle) atomically, creating subfolders."""
    target = score_map_path(root, image_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.save(buffer, score_map.astype(np.float64, copy=False), allow_pickle=False)
    atomic_write_bytes(target, buffer.getvalue())


def load_score_map(path: str | os.PathLike) -> np.ndarray:
    """``np.load`` one score map (no pickle); unreadable files raise :class:`InputError`."""
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise InputError("score map not found", path=path) from None
    except (ValueError, OSError, EOFError) as e:
        raise InputError("cannot read score map", path=path, value=str(e)) from None


def score_map_items(root: str | os.PathLike, meta: Metadata) -> list[tuple[str, str]]:
    """``(image_id, path)`` for every id of the split, in metadata order.

    Raises:
        InputError: the folder is missing, a map is missing, or a map under the folder names an image id that is not
            in the split.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError("score map folder not found", path=root)
    known = set(meta.image_ids)
    for dirpath, _, files in os.walk(root):
        for name in files:
            if not name.endswith(MAP_SUFFIX):
                continue
            full = Path(dirpath) / name
            image_id = full.relative_to(root).as_posix()[:-len(MAP_SUFFIX)]
            if image_id not in known:
                raise InputError("score map for an image id not in the split", path=full, value=image_id)
    items = []
    for image_id in meta.image_ids:
        path = score_map_path(root, image_id)
        if not path.is_file():
            raise InputError("missing score map for image id", path=path, value=image_id)
        items.append((image_id, os.fspath(path)))
    return items
