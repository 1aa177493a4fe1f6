"""The embedded digits dataset: real handwritten digits pasted on crops of real photographs, built without download.

Everything comes with scikit-learn: the 1,797 handwritten digits of :func:`sklearn.datasets.load_digits` (8x8,
values 0..16) and the two photographs of :func:`sklearn.datasets.load_sample_images` (``china.jpg``,
``flower.jpg``). How one image is drawn (background crop, clutter, the pasted digit) and its ground truth (mask
``alpha >= 0.5``, tight box with inclusive ``x1, y1``) are stated in :mod:`wsol.data.digits_render`, whose public
names are re-exported here. This module decides which digit and which random stream every image gets, writes the
images as a CUB-layout tree in worker processes, converts it with the CUB converter and caches the result.

In ``bounding_boxes.txt`` the inclusive box ``(x0, y0, x1, y1)`` is written the CUB way, ``x y w h`` with
``w = x1 - x0`` and ``h = y1 - y0`` as floats (``"12.0"``), so that the CUB conversion
``(int(x), int(y), int(x + w), int(y + h))`` gives back exactly ``(x0, y0, x1, y1)``.

The source digits are split per class into disjoint pools for train, train_fullsup and test (70/10/20 %,
:data:`SPLIT_FRACTIONS`); image ``i`` of a split has class ``i % num_classes`` and draws its digit from its split's
pool. Randomness: every image has its own generator, seeded by ``SeedSequence(seed, spawn_key=(stream, i))``, where
the stream names the split (:data:`STREAMS`); the pools have a stream of their own. Hence the same seed gives
byte-identical files, and changing the size of one split changes no image of another (nor the first images of that
split).

On disk (:func:`prepare_digits`), ``ROOT`` is a CUB_200_2011-layout tree converted with the CUB converter, so the
CUB code path is exercised for real::

    ROOT/
      images/NNN.digit_k/{train,test}_IIIII.png          RGB, lossless
      segmentations/NNN.digit_k/{train,test}_IIIII.png   8-bit masks, 0 / 255
      images.txt image_class_labels.txt train_test_split.txt bounding_boxes.txt classes.txt
      fullsup/                      train_fullsup in CUB layout without train_test_split.txt (its own images/,
                                    segmentations/, text files)
      ood/IIIII.png                 background-only crops (no digit), when num_ood > 0
      metadata/                     wsolevaluation metadata: train, train_fullsup, test, test_masks, dataset.json
                                    (image and mask roots recorded relative to metadata/, ``../images``, so the
                                    folder can be moved or copied; see :mod:`wsol.data.prepare`)
      digits.json                   config, versions, counts, source digit of every image; written last
                                    (completion marker)
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from wsol.constants import DATASET_INFO_FILE, TEST, TRAIN, TRAIN_FULLSUP
from wsol.data.digits_render import (  # re-exported (see __all__)
    BACKGROUND_CONTRAST, DIGIT_SCALE, GENERATOR_VERSION, BackgroundParams, ClutterShape, DigitImage, DigitParams,
    ImageParams, choose_colour, digit_alpha, draw_clutter, generate_background_image, generate_digit_image, mask_box,
    paste_digit, render_background, render_image, sample_background_params, sample_clutter_params,
    sample_digit_params, sample_image_params)
from wsol.data.prepare import read_dataset_info, resolve_roots
from wsol.data.textfiles import read_json
from wsol.errors import InputError
from wsol.fileio import atomic_write_json, atomic_write_text

logger = logging.getLogger(__name__)

#: Completion marker and record of a built dataset, at the top of ``ROOT``.
DIGITS_INFO_FILE = "digits.json"
#: Present while a build is under way; lets an interrupted build be cleaned up and restarted safely.
BUILDING_MARKER = ".digits-building"
#: What a build writes at the top of ``ROOT`` (anything else there means ROOT is not ours).
_OWNED_NAMES = frozenset({"images", "segmentations", "fullsup", "ood", "metadata", "images.txt",
                          "image_class_labels.txt", "train_test_split.txt", "bounding_boxes.txt", "classes.txt",
                          DIGITS_INFO_FILE, BUILDING_MARKER})
#: Fractions of each class's source digits given to (train, train_fullsup, test).
SPLIT_FRACTIONS: tuple[float, float, float] = (0.7, 0.1, 0.2)
#: ``spawn_key`` prefix of each random stream (the source-digit pools, each split, the OOD crops).
STREAMS: dict[str, int] = {"pools": 0, TRAIN: 1, TRAIN_FULLSUP: 2, TEST: 3, "ood": 4}
#: PNG compression (zlib level); fixed so that the bytes are deterministic.
_PNG_COMPRESSION = 1
#: Images per unit of work handed to a worker process.
_CHUNK_SIZE = 100
#: Fewer images than twice this are generated in-process (a worker pool costs about a second to start).
_MIN_IMAGES_PER_WORKER = 500
#: Most worker processes used by default.
_MAX_WORKERS = 8


@dataclass(frozen=True)
class DigitsConfig:
    """What to generate. Part of the cache key: a folder built with one config is never mixed with another.

    A bad value raises :class:`~wsol.errors.InputError` (a ``ValueError``) naming the field and the value.

    Attributes:
        image_size: side of the square images in pixels (>= 32).
        num_classes: digits ``0 .. num_classes - 1`` (2..10).
        num_train, num_fullsup, num_test: images per split (train and test >= 1; fullsup >= 0).
        seed: seed of every random stream.
        num_ood: background-only images written to ``ROOT/ood`` (>= 0; default 1000, the test size, for the
            demo's OOD section).
    """

    image_size: int = 64
    num_classes: int = 10
    num_train: int = 5000
    num_fullsup: int = 500
    num_test: int = 1000
    seed: int = 0
    num_ood: int = 1000

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise InputError(f"DigitsConfig.{f.name} must be an integer", value=value)
            object.__setattr__(self, f.name, int(value))
        lower = {"image_size": 32, "num_classes": 2, "num_train": 1, "num_test": 1, "num_fullsup": 0, "num_ood": 0,
                 "seed": 0}
        for name, bound in lower.items():
            if getattr(self, name) < bound:
                raise InputError(f"DigitsConfig.{name} must be >= {bound}", value=getattr(self, name))
        if self.num_classes > 10:
            raise InputError("DigitsConfig.num_classes must be <= 10 (digits 0..9)", value=self.num_classes)

    def split_sizes(self) -> dict[str, int]:
        """Images per split, in the order they are written."""
        return {TRAIN: self.num_train, TRAIN_FULLSUP: self.num_fullsup, TEST: self.num_test}


# ---------------------------------------------------------------------------------------------------------------
# Sources


@dataclass(frozen=True)
class DigitSources:
    """The raw material of the dataset.

    Attributes:
        digits: ``(N, 8, 8)`` float32 ink values in ``[0, 16]``.
        labels: ``(N,)`` int64 classes 0..9.
        photos: RGB uint8 photographs, each ``(height, width, 3)``.
        photo_names: file names of the photographs.
    """

    digits: np.ndarray
    labels: np.ndarray
    photos: tuple[np.ndarray, ...]
    photo_names: tuple[str, ...]


def load_sources() -> DigitSources:
    """scikit-learn's handwritten digits and sample photographs (shipped with scikit-learn; no download)."""
    from sklearn.datasets import load_digits, load_sample_images

    digits = load_digits()
    photos = load_sample_images()
    return DigitSources(
        digits=np.ascontiguousarray(digits.images, dtype=np.float32),
        labels=np.asarray(digits.target, dtype=np.int64),
        photos=tuple(np.ascontiguousarray(p, dtype=np.uint8) for p in photos.images),
        photo_names=tuple(os.path.basename(f) for f in photos.filenames),
    )


def split_source_digits(labels: np.ndarray, *, rng: np.random.Generator,
                        fractions: Sequence[float] = SPLIT_FRACTIONS) -> dict[str, np.ndarray]:
    """Split source digit indices per class into disjoint pools for train, train_fullsup and test.

    Args:
        labels: ``(N,)`` class of each source digit.
        rng: source of the shuffles.
        fractions: shares of each class for (train, train_fullsup, test); must sum to 1.

    Returns:
        ``{split: sorted int64 indices into labels}``; every class with at least three digits has at least one in
        each pool (train_fullsup and test get ``round(fraction * n)`` but at least one, train the rest).

    Raises:
        ValueError: bad fractions, or a class with fewer than three digits.
    """
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) != 3 or min(fractions) <= 0 or abs(sum(fractions) - 1.0) > 1e-9:
        raise ValueError(f"fractions must be three positive shares summing to 1, got {fractions!r}")
    labels = np.asarray(labels)
    pools: dict[str, list[np.ndarray]] = {TRAIN: [], TRAIN_FULLSUP: [], TEST: []}
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) < 3:
            raise ValueError(f"class {int(label)} has {len(members)} source digit(s); need >= 3")
        members = members[rng.permutation(len(members))]
        n_full = max(1, int(round(fractions[1] * len(members))))
        n_test = max(1, int(round(fractions[2] * len(members))))
        n_train = len(members) - n_full - n_test
        pools[TRAIN].append(members[:n_train])
        pools[TRAIN_FULLSUP].append(members[n_train:n_train + n_full])
        pools[TEST].append(members[n_train + n_full:])
    return {name: np.sort(np.concatenate(parts)).astype(np.int64) for name, parts in pools.items()}


def image_rng(seed: int, stream: str, index: int) -> np.random.Generator:
    """The generator of image ``index`` of ``stream`` (a split name, ``"ood"`` or ``"pools"`` with index 0).

    Its seed is ``SeedSequence(seed, spawn_key=(STREAMS[stream], index))``: the ``index``-th child of the
    ``STREAMS[stream]``-th child of ``SeedSequence(seed)``, so images are independent of each other and of the
    number of images drawn before them.
    """
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(STREAMS[stream], index)))



# ---------------------------------------------------------------------------------------------------------------
# Writing the CUB-layout tree


def class_folder(label: int) -> str:
    """CUB-style class folder / name of digit ``label``: ``001.digit_0`` for 0."""
    return f"{label + 1:03d}.digit_{label}"


def encode_png(pixels: np.ndarray) -> bytes:
    """Lossless PNG bytes of a uint8 ``(H, W)`` grey or ``(H, W, 3)`` RGB array; same pixels, same bytes."""
    if pixels.ndim == 3:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(".png", pixels, [cv2.IMWRITE_PNG_COMPRESSION, _PNG_COMPRESSION])
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return data.tobytes()


def _write(path: Path, data: bytes) -> None:
    # Plain write: a build is only complete once digits.json exists, so a half-written image is never used.
    with open(path, "wb") as f:
        f.write(data)


@dataclass(frozen=True)
class _Chunk:
    """Images ``start:stop`` of one stream (a split, or ``"ood"``), written under ``tree``."""

    stream: str
    start: int
    stop: int
    tree: str
    index_digits: int


#: (relative path, label, box, source digit) of each image of a chunk; empty for OOD chunks.
_ChunkResult = list[tuple[str, int, tuple[int, int, int, int], int]]


def _render_chunk(chunk: _Chunk, *, config: DigitsConfig, sources: DigitSources,
                  pools: dict[str, np.ndarray]) -> _ChunkResult:
    """Generate and write the images (and masks) of ``chunk``; deterministic whatever process runs it."""
    size = config.image_size
    tree = Path(chunk.tree)
    photo_shapes = [p.shape[:2] for p in sources.photos]
    results: _ChunkResult = []
    if chunk.stream == "ood":
        for i in range(chunk.start, chunk.stop):
            params = sample_image_params(image_rng(config.seed, "ood", i), photo_shapes=photo_shapes, height=size,
                                         width=size, with_digit=False)
            image = render_image(None, sources.photos, params, height=size, width=size).image
            _write(tree / f"{i:0{chunk.index_digits}d}.png", encode_png(image))
        return results
    pool = pools[chunk.stream]
    by_class = {k: pool[sources.labels[pool] == k] for k in range(config.num_classes)}
    for i in range(chunk.start, chunk.stop):
        label = i % config.num_classes
        rng = image_rng(config.seed, chunk.stream, i)
        source = int(by_class[label][rng.integers(len(by_class[label]))])
        params = sample_image_params(rng, photo_shapes=photo_shapes, height=size, width=size)
        out = render_image(sources.digits[source], sources.photos, params, height=size, width=size)
        rel = f"{class_folder(label)}/{chunk.stream}_{i:0{chunk.index_digits}d}.png"
        _write(tree / "images" / rel, encode_png(out.image))
        _write(tree / "segmentations" / rel, encode_png(out.mask.astype(np.uint8) * np.uint8(255)))
        results.append((rel, label, out.box, source))  # type: ignore[arg-type]
    return results


#: Arguments of :func:`_render_chunk` in a worker process (set once per worker by :func:`_init_worker`).
_WORKER_ARGS: dict = {}


def _init_worker(config: DigitsConfig, sources: DigitSources, pools: dict[str, np.ndarray]) -> None:
    cv2.setNumThreads(1)
    _WORKER_ARGS.update(config=config, sources=sources, pools=pools)


def _worker_chunk(chunk: _Chunk) -> _ChunkResult:
    return _render_chunk(chunk, **_WORKER_ARGS)


def _default_workers(num_images: int) -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return 1 if num_images < _MIN_IMAGES_PER_WORKER * 2 else max(1, min(cores, _MAX_WORKERS))


def _mp_context():
    """``fork`` on Linux when this process runs a single Python thread (fast, and works from scripts without a
    ``__main__`` guard); ``spawn`` otherwise (forking a multi-threaded process can deadlock the child).

    ``spawn`` re-imports the main script in every worker, so a script that calls :func:`prepare_digits` after
    anything started a thread (a tqdm bar starts tqdm's monitor) needs the usual ``if __name__ == "__main__":``
    guard, or ``workers=1``. (Counting only "harmless" threads was tried: forking beside the thread pools that
    torch and OpenCV start deadlocked workers.)
    """
    import multiprocessing
    import sys
    import threading

    if sys.platform.startswith("linux") and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _generate(root: Path, *, config: DigitsConfig, sources: DigitSources, pools: dict[str, np.ndarray],
              workers: int, progress: bool) -> dict[str, _ChunkResult]:
    """Write every image, mask and OOD crop; returns per split the records of its images in index order."""
    from tqdm.auto import tqdm

    counts = {**config.split_sizes(), "ood": config.num_ood}
    trees = {TRAIN: root, TEST: root, TRAIN_FULLSUP: root / "fullsup", "ood": root / "ood"}
    chunks = []
    for stream, count in counts.items():
        if not count:
            continue
        if stream == "ood":
            trees[stream].mkdir(parents=True, exist_ok=True)
        else:
            for sub in ("images", "segmentations"):
                for k in range(config.num_classes):
                    (trees[stream] / sub / class_folder(k)).mkdir(parents=True, exist_ok=True)
        index_digits = max(5, len(str(count - 1)))
        for start in range(0, count, _CHUNK_SIZE):
            chunks.append(_Chunk(stream=stream, start=start, stop=min(start + _CHUNK_SIZE, count),
                                 tree=os.fspath(trees[stream]), index_digits=index_digits))
    results: dict[str, _ChunkResult] = {stream: [] for stream in counts}
    with tqdm(total=sum(counts.values()), desc="digits", unit="img", disable=not progress,
              dynamic_ncols=True) as bar:
        if workers <= 1:
            for chunk in chunks:
                results[chunk.stream].extend(_render_chunk(chunk, config=config, sources=sources, pools=pools))
                bar.update(chunk.stop - chunk.start)
        else:
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(max_workers=workers, mp_context=_mp_context(), initializer=_init_worker,
                                     initargs=(config, sources, pools)) as executor:
                for chunk, out in zip(chunks, executor.map(_worker_chunk, chunks)):
                    results[chunk.stream].extend(out)
                    bar.update(chunk.stop - chunk.start)
    return results


def _format_box(box: tuple[int, int, int, int]) -> str:
    x0, y0, x1, y1 = box
    return f"{float(x0)!r} {float(y0)!r} {float(x1 - x0)!r} {float(y1 - y0)!r}"


def _write_cub_files(tree: Path, splits: Sequence[tuple[_ChunkResult, int | None]], num_classes: int) -> None:
    """Write the CUB text files of ``tree``; ``splits`` pairs each split's records with its is_train flag (None for
    every split: no ``train_test_split.txt``)."""
    lines: dict[str, list[str]] = {"images.txt": [], "image_class_labels.txt": [], "bounding_boxes.txt": [],
                                   "train_test_split.txt": []}
    key = 0
    for records, is_train in splits:
        for rel, label, box, _ in records:
            key += 1
            lines["images.txt"].append(f"{key} {rel}\n")
            lines["image_class_labels.txt"].append(f"{key} {label + 1}\n")
            lines["bounding_boxes.txt"].append(f"{key} {_format_box(box)}\n")
            if is_train is not None:
                lines["train_test_split.txt"].append(f"{key} {is_train}\n")
    if all(is_train is None for _, is_train in splits):
        del lines["train_test_split.txt"]
    for name, content in lines.items():
        atomic_write_text(tree / name, "".join(content))
    atomic_write_text(tree / "classes.txt", "".join(f"{k + 1} {class_folder(k)}\n" for k in range(num_classes)))


# ---------------------------------------------------------------------------------------------------------------
# The whole build, with caching


def _format_record(record: dict) -> str:
    """Indented JSON with every list of integers on one line (the source-digit lists are long)."""
    text = json.dumps(record, indent=2)
    return re.sub(r"\[([-\d,\s]+)\]", lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]",
                  text) + "\n"


def _returned_info(root: Path, dataset: dict, record: dict) -> dict:
    """What :func:`prepare_digits` returns: ``dataset.json`` with absolute roots, plus the OOD and record paths."""
    info = resolve_roots(dataset, root / "metadata")
    info["num_ood"] = record["counts"]["ood"]
    info["ood_root"] = os.path.abspath(root / record["ood_dir"]) if record["ood_dir"] else None
    info["digits_info"] = os.path.abspath(root / DIGITS_INFO_FILE)
    return info


def _convert(root: Path, *, config: DigitsConfig, progress: bool) -> dict:
    """Run the CUB converter on the tree and write ``ROOT/metadata``; returns the ``dataset.json`` dict."""
    from wsol.data.cub import prepare_cub
    from wsol.data.prepare import write_prepared

    fullsup = root / "fullsup" if config.num_fullsup else None
    prepared = prepare_cub(root, fullsup_root=fullsup, progress=progress)
    notes = [f"digits: generated by `wsol prepare digits` (generator version {GENERATOR_VERSION}, seed "
             f"{config.seed}, {config.image_size}x{config.image_size} pixels) from scikit-learn's handwritten digits "
             "and sample photographs; source digits are disjoint between splits; config in ../digits.json.",
             "Boxes are the tight box of the ink mask (alpha >= 0.5) with inclusive x1, y1.",
             "test_masks: the ink masks (segmentations/, 0 or 255), no ignore regions."]
    prepared = replace(prepared, dataset="digits", notes=notes)
    return write_prepared(prepared, root / "metadata")


def _stale_metadata(root: Path, dataset: dict) -> bool:
    """Whether ``dataset`` (read with its roots resolved) points elsewhere than under ``root``.

    Roots written relative to ``metadata/`` (``../images``) always resolve under ``root``; only a ``dataset.json``
    of an older version, with absolute roots, goes stale when the folder is moved or copied.
    """
    recorded = dataset.get("splits", {}).get(TRAIN, {}).get("image_root")
    return recorded != os.path.abspath(root / "images")


def _clean_owned(root: Path) -> None:
    """Remove what an earlier, unfinished build of ours left at ``root`` (only the names a build writes)."""
    for name in sorted(_OWNED_NAMES - {BUILDING_MARKER}):
        path = root / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


def prepare_digits(root: str | os.PathLike, *, config: DigitsConfig = DigitsConfig(), progress: bool = False,
                   workers: int | None = None) -> dict:
    """Build the digits dataset at ``root`` (layout in the module docstring), or reuse the one already there.

    Caching: when ``root/digits.json`` records the same config and generator version and ``root/metadata`` is
    present, nothing is generated and the stored info is returned. The metadata records its roots relative to
    ``root/metadata`` (``../images``), so a moved or copied folder is reused as it is; only a ``dataset.json`` of an
    older version, with absolute roots pointing elsewhere, is rewritten to point at the new place. A finished build
    with another config raises. A folder left by an interrupted build (marked by ``.digits-building``) is cleaned
    and rebuilt; any other non-empty folder raises.

    Args:
        root: output folder.
        config: what to generate.
        progress: tqdm bars.
        workers: processes generating images (the files are the same for any number); None: one per available
            core (at most 8), or 1 for small configs.

    Returns:
        The ``metadata/dataset.json`` dict (dataset ``"digits"``, ``num_classes``, ``splits`` with absolute roots,
        ``skipped_images``, ...) plus ``num_ood``, ``ood_root`` (absolute path, or None) and ``digits_info`` (path
        of ``digits.json``, which also lists the source digit of every image under ``source_digits``).

    Raises:
        InputError: ``root`` holds something else, or a digits dataset built with another config.

    Example::

        from wsol.api import DigitsConfig, prepare_digits
        info = prepare_digits("datasets/digits-small", config=DigitsConfig(num_train=500, num_test=200))
        print(info["splits"]["test"]["num_images"])
    """
    if not isinstance(config, DigitsConfig):
        raise TypeError(f"config must be a DigitsConfig, got {type(config).__name__}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers must be a positive integer or None, got {workers!r}")
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise InputError("output path exists and is not a folder", path=root)
    info_path = root / DIGITS_INFO_FILE
    wanted = asdict(config)
    if info_path.is_file():
        record = read_json(info_path)
        if record.get("config") != wanted or record.get("generator_version") != GENERATOR_VERSION:
            raise InputError(
                f"folder holds a digits dataset built with another config ({record.get('config')}, generator "
                f"version {record.get('generator_version')}); choose another --out or delete the folder",
                path=root, value=wanted)
        if (root / "metadata" / DATASET_INFO_FILE).is_file():
            dataset = read_dataset_info(root / "metadata")
            if _stale_metadata(root, dataset):
                logger.info("digits dataset at %s was moved (absolute roots); rewriting its metadata", root)
                dataset = _convert(root, config=config, progress=progress)
            else:
                logger.info("reusing the digits dataset at %s (same config)", root)
            return _returned_info(root, dataset, record)
        logger.info("digits dataset at %s has no metadata folder; rebuilding it", root)
        _clean_owned(root)
    elif (root / BUILDING_MARKER).exists():
        logger.info("cleaning up an interrupted digits build at %s", root)
        _clean_owned(root)
    elif root.is_dir() and any(root.iterdir()):
        raise InputError("folder is not empty and holds no digits dataset; choose another --out or empty it",
                         path=root)

    start = time.perf_counter()
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_json(root / BUILDING_MARKER, {"config": wanted})
    sources = load_sources()
    pools = split_source_digits(sources.labels, rng=image_rng(config.seed, "pools", 0))
    if workers is None:
        workers = _default_workers(sum(config.split_sizes().values()) + config.num_ood)
    records = _generate(root, config=config, sources=sources, pools=pools, workers=workers, progress=progress)
    _write_cub_files(root, [(records[TRAIN], 1), (records[TEST], 0)], config.num_classes)
    if config.num_fullsup:
        _write_cub_files(root / "fullsup", [(records[TRAIN_FULLSUP], None)], config.num_classes)
    sizes = config.split_sizes()
    logger.info("generated %d digit images%s in %.1f s", sum(sizes.values()),
                f" and {config.num_ood} OOD images" if config.num_ood else "", time.perf_counter() - start)

    dataset = _convert(root, config=config, progress=progress)
    from wsol import __version__

    record = {
        "dataset": "digits",
        "generator_version": GENERATOR_VERSION,
        "wsol_version": __version__,
        "config": wanted,
        "counts": {**{split: sizes[split] for split in (TRAIN, TRAIN_FULLSUP, TEST)}, "ood": config.num_ood},
        "ood_dir": "ood" if config.num_ood else None,
        "photos": list(sources.photo_names),
        "source_pools": {split: pools[split].tolist() for split in (TRAIN, TRAIN_FULLSUP, TEST)},
        "source_digits": {split: [source for *_, source in records[split]] for split in (TRAIN, TRAIN_FULLSUP, TEST)},
    }
    atomic_write_text(info_path, _format_record(record))  # last: the completion marker
    (root / BUILDING_MARKER).unlink()
    return _returned_info(root, dataset, record)


__all__ = [
    "DigitsConfig", "DigitSources", "DigitImage", "ImageParams", "BackgroundParams", "DigitParams", "ClutterShape",
    "load_sources", "split_source_digits", "image_rng", "sample_background_params", "sample_digit_params",
    "sample_clutter_params", "sample_image_params", "render_background", "draw_clutter", "digit_alpha",
    "choose_colour", "paste_digit", "mask_box", "render_image", "generate_digit_image", "generate_background_image",
    "class_folder", "encode_png", "prepare_digits", "GENERATOR_VERSION", "DIGITS_INFO_FILE", "SPLIT_FRACTIONS",
    "STREAMS", "DIGIT_SCALE", "BACKGROUND_CONTRAST",
]
