"""The embedded digits dataset: real handwritten digits pasted on crops of real photographs, built without download.

Everything comes with scikit-learn: the 1,797 handwritten digits of :func:`sklearn.datasets.load_digits` (8x8,
values 0..16) and the two photographs of :func:`sklearn.datasets.load_sample_images` (``china.jpg``,
``flower.jpg``). Each image is

1. a background: a random crop of one photograph (side 20-100 % of its short side, random horizontal flip), resized
   with ``cv2.INTER_AREA`` and given a random, lowered contrast (x0.15-0.45 around its mean) and a brightness
   shift (:func:`render_background`), so that the photograph's texture does not drown the digit;
2. one to three pieces of clutter (filled ellipses, rotated rectangles, soft blobs; often brighter than the digit)
   kept away from the digit (:func:`draw_clutter`), so that "the brightest blob" does not solve localization;
3. one digit of class ``k``: its 8x8 grid upscaled (bicubic) so that the grid spans 30-70 % of the image side, with
   the ink as alpha, ``alpha = value / 16`` clipped to ``[0, 1]``, at a random position fully inside the image, in
   a colour chosen among random candidates for the largest contrast with what lies beneath (:func:`choose_colour`,
   :func:`paste_digit`).

Ground truth (stated once here):

- mask: the pixels where ``alpha >= 0.5``; never empty (checked);
- box: the tight box of the mask, ``xyxy`` with **inclusive** ``x1, y1`` (the last ink column and row), as
  wsolevaluation reads boxes (its IoU adds 1). In ``bounding_boxes.txt`` it is written the CUB way, ``x y w h`` with
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
      digits.json                   config, versions, counts, source digit of every image; written last
                                    (completion marker)
"""
from __future__ import annotations

import colorsys
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
from wsol.errors import InputError
from wsol.fileio import atomic_write_json, atomic_write_text

logger = logging.getLogger(__name__)

#: Version of the image generator; part of the cache key in ``digits.json`` (bump when the images change).
#: Version 2: background contrast 0.15-0.45 (was 0.3-0.8) and digit grid 30-70 % of the side (was 25-70 %).
GENERATOR_VERSION = 2
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
#: Value of a fully inked pixel in ``load_digits``.
_DIGIT_MAX = 16.0
#: Contrast factor of the background photograph around its mean (uniform in this range). Version 1 used 0.3-0.8,
#: with which ``digits_net`` reached only ~94 % test accuracy in 18 epochs (about 2 CPU minutes) instead of >= 95 %.
BACKGROUND_CONTRAST = (0.15, 0.45)
#: Side of the digit's 8x8 grid as a fraction of the image side (uniform in this range).
DIGIT_SCALE = (0.30, 0.70)
#: Candidate colours drawn per digit; the one with the largest contrast to the pixels beneath is used.
_NUM_COLOUR_CANDIDATES = 8
#: Below this contrast (see :func:`choose_colour`), black or white (whichever contrasts more) is used instead.
_MIN_CONTRAST = 130.0
#: Largest fraction of a clutter shape's bounding box allowed to overlap the digit's patch.
_MAX_CLUTTER_OVERLAP = 0.1
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
# Parameters (all randomness is drawn here, apart from rendering)


@dataclass(frozen=True)
class BackgroundParams:
    """A crop of photo ``photo``: rows ``top:top+crop_height``, columns ``left:left+crop_width``; then an optional
    horizontal flip and ``out = (x - mean) * contrast + mean + brightness`` (8-bit scale)."""

    photo: int
    top: int
    left: int
    crop_height: int
    crop_width: int
    flip: bool
    contrast: float
    brightness: float


@dataclass(frozen=True)
class ClutterShape:
    """One distractor: ``kind`` is ``"ellipse"``, ``"rectangle"`` (rotated) or ``"blob"`` (blurred ellipse).

    ``centre`` is ``(x, y)`` in pixels, ``axes`` the half-extents ``(along x, along y)`` before rotation by
    ``angle`` degrees, ``colour`` RGB 0..255.
    """

    kind: str
    centre: tuple[float, float]
    axes: tuple[float, float]
    angle: float
    colour: tuple[int, int, int]

    def bounds(self) -> tuple[float, float, float, float]:
        """Conservative ``(x0, y0, x1, y1)`` extent (the circumscribed square of the shape)."""
        r = float(np.hypot(*self.axes)) if self.kind == "rectangle" else float(max(self.axes))
        if self.kind == "blob":
            r *= 1.5
        x, y = self.centre
        return x - r, y - r, x + r, y + r


@dataclass(frozen=True)
class DigitParams:
    """Where the digit goes: its patch (the 8x8 grid plus one empty source pixel on each side, upscaled) covers rows
    ``top:top+height`` and columns ``left:left+width``; the colour is the best of ``colour_candidates``."""

    top: int
    left: int
    height: int
    width: int
    colour_candidates: tuple[tuple[int, int, int], ...]


@dataclass(frozen=True)
class ImageParams:
    """Everything random about one image; ``digit`` is None for a background-only (OOD) image."""

    background: BackgroundParams
    clutter: tuple[ClutterShape, ...]
    digit: DigitParams | None


def _random_colour(rng: np.random.Generator, *, bright: bool = False) -> tuple[int, int, int]:
    hue = rng.uniform(0.0, 1.0)
    saturation = rng.uniform(0.0, 1.0)
    value = rng.uniform(0.85, 1.0) if bright else rng.uniform(0.05, 1.0)
    return tuple(int(round(255 * c)) for c in colorsys.hsv_to_rgb(hue, saturation, value))  # type: ignore[return-value]


def sample_background_params(rng: np.random.Generator, *, photo_shapes: Sequence[tuple[int, int]], height: int,
                             width: int) -> BackgroundParams:
    """Draw a background crop.

    Args:
        rng: randomness.
        photo_shapes: ``(height, width)`` of each photograph.
        height, width: output size in pixels (the crop has the same aspect ratio, up to rounding).
    """
    photo = int(rng.integers(len(photo_shapes)))
    ph, pw = photo_shapes[photo]
    short = min(ph, pw * height / width)
    crop_height = int(round(rng.uniform(0.2, 1.0) * short))
    crop_height = min(max(crop_height, 1), ph)
    crop_width = min(max(int(round(crop_height * width / height)), 1), pw)
    top = int(rng.integers(ph - crop_height + 1))
    left = int(rng.integers(pw - crop_width + 1))
    return BackgroundParams(photo=photo, top=top, left=left, crop_height=crop_height, crop_width=crop_width,
                            flip=bool(rng.random() < 0.5), contrast=float(rng.uniform(*BACKGROUND_CONTRAST)),
                            brightness=float(rng.uniform(-40.0, 40.0)))


def sample_digit_params(rng: np.random.Generator, *, height: int, width: int) -> DigitParams:
    """Draw the digit's patch (size from :data:`DIGIT_SCALE`, aspect jitter 0.75-1.1, fully inside the image)."""
    side = min(height, width)
    grid_h = rng.uniform(*DIGIT_SCALE) * side
    grid_w = grid_h * rng.uniform(0.75, 1.1)
    patch_h = min(int(round(grid_h * 10 / 8)), height)
    patch_w = min(int(round(grid_w * 10 / 8)), width)
    top = int(rng.integers(height - patch_h + 1))
    left = int(rng.integers(width - patch_w + 1))
    colours = tuple(_random_colour(rng) for _ in range(_NUM_COLOUR_CANDIDATES))
    return DigitParams(top=top, left=left, height=patch_h, width=patch_w, colour_candidates=colours)


def _overlap_fraction(bounds: tuple[float, float, float, float], box: tuple[float, float, float, float]) -> float:
    x0, y0, x1, y1 = bounds
    ix = max(0.0, min(x1, box[2]) - max(x0, box[0]))
    iy = max(0.0, min(y1, box[3]) - max(y0, box[1]))
    area = max((x1 - x0) * (y1 - y0), 1e-9)
    return ix * iy / area


def sample_clutter_params(rng: np.random.Generator, *, height: int, width: int,
                          avoid: tuple[float, float, float, float] | None = None,
                          max_tries: int = 30) -> tuple[ClutterShape, ...]:
    """Draw one to three distractors, each overlapping ``avoid`` by at most 10 % of its extent.

    Shapes are compact (aspect ratio at most 5:3, half-extents 3-9 % of the image side) and never strokes, so that
    none could be read as a digit.

    Args:
        rng: randomness.
        height, width: image size in pixels.
        avoid: ``(x0, y0, x1, y1)`` region (exclusive ends) to keep clear, e.g. the digit's patch.
        max_tries: placements tried per shape; a shape that finds no room is left out.

    Returns:
        The shapes in drawing order; about half of them are bright (HSV value >= 0.85).
    """
    side = min(height, width)
    shapes = []
    for _ in range(int(rng.integers(1, 4))):
        kind = ("ellipse", "rectangle", "blob")[int(rng.integers(3))]
        major = float(rng.uniform(0.03, 0.09) * side)
        axes = (major, major * float(rng.uniform(0.6, 1.0)))  # compact: no bar or stroke that could pass for a 1
        angle = float(rng.uniform(0.0, 180.0))
        colour = _random_colour(rng, bright=bool(rng.random() < 0.5))
        for _ in range(max_tries):
            centre = (float(rng.uniform(0, width)), float(rng.uniform(0, height)))
            shape = ClutterShape(kind=kind, centre=centre, axes=axes, angle=angle, colour=colour)
            if avoid is None or _overlap_fraction(shape.bounds(), avoid) <= _MAX_CLUTTER_OVERLAP:
                shapes.append(shape)
                break
    return tuple(shapes)


def sample_image_params(rng: np.random.Generator, *, photo_shapes: Sequence[tuple[int, int]], height: int,
                        width: int, with_digit: bool = True) -> ImageParams:
    """Draw everything random about one image (background, digit placement and colours, clutter), in that order."""
    background = sample_background_params(rng, photo_shapes=photo_shapes, height=height, width=width)
    digit = sample_digit_params(rng, height=height, width=width) if with_digit else None
    avoid = None if digit is None else (digit.left, digit.top, digit.left + digit.width, digit.top + digit.height)
    clutter = sample_clutter_params(rng, height=height, width=width, avoid=avoid)
    return ImageParams(background=background, clutter=clutter, digit=digit)


# ---------------------------------------------------------------------------------------------------------------
# Rendering (pure, deterministic)


def render_background(photo: np.ndarray, params: BackgroundParams, *, height: int, width: int) -> np.ndarray:
    """The background crop of ``photo`` described by ``params``.

    Args:
        photo: ``(H, W, 3)`` uint8 RGB.
        params: the crop, flip, contrast and brightness.
        height, width: output size.

    Returns:
        ``(height, width, 3)`` uint8 RGB (a new array).
    """
    p = params
    crop = photo[p.top:p.top + p.crop_height, p.left:p.left + p.crop_width]
    out = cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA).astype(np.float32)
    if p.flip:
        out = out[:, ::-1]
    mean = np.float32(out.mean())
    out = (out - mean) * np.float32(p.contrast) + mean + np.float32(p.brightness)
    return np.ascontiguousarray(np.clip(np.rint(out), 0, 255).astype(np.uint8))


def _shape_alpha(shape: ClutterShape, *, height: int, width: int) -> np.ndarray:
    """``(height, width)`` float32 coverage in ``[0, 1]`` of one clutter shape (anti-aliased)."""
    canvas = np.zeros((height, width), dtype=np.uint8)
    shift = 4  # sub-pixel precision of cv2's drawing (1/16 pixel)
    scale = 1 << shift
    cx, cy = shape.centre
    if shape.kind == "rectangle":
        corners = cv2.boxPoints(((cx, cy), (2 * shape.axes[0], 2 * shape.axes[1]), shape.angle))
        cv2.fillPoly(canvas, [np.rint(corners * scale).astype(np.int32)], 255, lineType=cv2.LINE_AA, shift=shift)
    else:
        centre = (int(round(cx * scale)), int(round(cy * scale)))
        axes = (max(int(round(shape.axes[0] * scale)), 1), max(int(round(shape.axes[1] * scale)), 1))
        cv2.ellipse(canvas, centre, axes, shape.angle, 0, 360, 255, thickness=-1, lineType=cv2.LINE_AA,
                    shift=shift)
    alpha = canvas.astype(np.float32) / np.float32(255)
    if shape.kind == "blob":
        sigma = max(shape.axes) / 2
        alpha = cv2.GaussianBlur(alpha, (0, 0), sigmaX=sigma, sigmaY=sigma)
        alpha = np.minimum(alpha * np.float32(1.5), np.float32(1))
    return alpha


def _composite(image: np.ndarray, alpha: np.ndarray, colour: Sequence[int]) -> np.ndarray:
    """``image * (1 - alpha) + colour * alpha`` in float32, rounded to uint8 (new array)."""
    a = alpha[..., None]
    out = image.astype(np.float32) * (np.float32(1) - a) + np.asarray(colour, dtype=np.float32) * a
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def draw_clutter(image: np.ndarray, shapes: Sequence[ClutterShape]) -> np.ndarray:
    """``image`` with ``shapes`` drawn on it in order (a new array; ``image`` is not modified).

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        shapes: from :func:`sample_clutter_params`.
    """
    out = image.copy()
    height, width = image.shape[:2]
    for shape in shapes:
        alpha = _shape_alpha(shape, height=height, width=width)
        rows = np.flatnonzero(alpha.any(axis=1))
        cols = np.flatnonzero(alpha.any(axis=0))
        if rows.size == 0:
            continue
        region = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        out[region] = _composite(out[region], alpha[region], shape.colour)
    return out


def digit_alpha(digit: np.ndarray, *, height: int, width: int) -> np.ndarray:
    """The digit's ink as alpha over its patch.

    The 8x8 grid gets one empty source pixel on each side (so that ink reaching the grid's edge fades out inside the
    patch instead of being cut), then is upscaled to ``(height, width)`` with ``cv2.INTER_CUBIC``; ``alpha = value
    / 16`` clipped to ``[0, 1]``.

    Args:
        digit: ``(8, 8)`` ink values in ``[0, 16]``.
        height, width: patch size in pixels.

    Returns:
        ``(height, width)`` float32 in ``[0, 1]``.
    """
    padded = np.pad(np.asarray(digit, dtype=np.float32) / np.float32(_DIGIT_MAX), 1)
    alpha = cv2.resize(padded, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(alpha, 0.0, 1.0).astype(np.float32)


def choose_colour(beneath: np.ndarray, alpha: np.ndarray, candidates: Sequence[Sequence[int]]
                  ) -> tuple[int, int, int]:
    """The candidate colour that contrasts most with the pixels under the ink.

    The contrast of a colour is the lower quartile (order statistic ``(n - 1) // 4``) of its Euclidean RGB distances
    to the pixels under the ink (``alpha >= 0.5``; all pixels with ink when there are none), so a colour must differ
    from most of a textured background, not from its average. When the best candidate scores below a floor, black or
    white (whichever scores higher) is used.

    Args:
        beneath: ``(h, w, 3)`` uint8 RGB under the patch.
        alpha: ``(h, w)`` ink alpha.
        candidates: RGB colours 0..255.
    """
    ink = alpha.reshape(-1) >= np.float32(0.5)
    if not ink.any():
        ink = alpha.reshape(-1) > 0
    if not ink.any():
        ink = np.ones_like(ink)
    pixels = beneath.reshape(-1, 3)[ink].astype(np.float32)
    options = [tuple(int(v) for v in c) for c in candidates] + [(0, 0, 0), (255, 255, 255)]
    palette = np.asarray(options, dtype=np.float32)
    squared = ((pixels[:, None, :] - palette[None, :, :]) ** 2).sum(axis=2)  # (pixels, colours)
    k = (len(pixels) - 1) // 4  # the lower quartile as an order statistic (squaring keeps the order)
    scores = np.sqrt(np.partition(squared, k, axis=0)[k])
    best = int(np.argmax(scores[:-2]))
    if scores[best] >= _MIN_CONTRAST:
        return options[best]  # type: ignore[return-value]
    return options[-2] if scores[-2] >= scores[-1] else options[-1]  # type: ignore[return-value]


def paste_digit(background: np.ndarray, alpha: np.ndarray, colour: Sequence[int], *, top: int, left: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Paste ink ``alpha`` of ``colour`` on ``background`` with its patch's top-left corner at ``(top, left)``.

    Args:
        background: ``(H, W, 3)`` uint8 RGB; not modified.
        alpha: ``(h, w)`` float32 in ``[0, 1]``; the patch must lie fully inside the image.
        colour: RGB 0..255.
        top, left: row and column of the patch's first pixel.

    Returns:
        ``(image, mask)``: the ``(H, W, 3)`` uint8 composite and the ``(H, W)`` bool ground truth
        ``alpha >= 0.5`` in image coordinates.

    Raises:
        ValueError: the patch does not fit inside the image.
    """
    height, width = background.shape[:2]
    h, w = alpha.shape
    if not (0 <= top and 0 <= left and top + h <= height and left + w <= width):
        raise ValueError(f"digit patch {w}x{h} at (left={left}, top={top}) does not fit a {width}x{height} image")
    image = background.copy()
    image[top:top + h, left:left + w] = _composite(background[top:top + h, left:left + w], alpha, colour)
    mask = np.zeros((height, width), dtype=bool)
    mask[top:top + h, left:left + w] = alpha >= np.float32(0.5)
    return image, mask


def mask_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """Tight box ``(x0, y0, x1, y1)`` of a bool ``(H, W)`` mask, ``x1, y1`` inclusive (last column and row).

    Raises:
        ValueError: the mask is empty.
    """
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        raise ValueError("empty mask has no box")
    return int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1])


@dataclass(frozen=True)
class DigitImage:
    """One generated image.

    Attributes:
        image: ``(H, W, 3)`` uint8 RGB.
        mask: ``(H, W)`` bool ink mask (``alpha >= 0.5``); all False for a background-only image.
        box: tight inclusive ``xyxy`` box of ``mask`` (None for a background-only image).
        colour: the digit's RGB colour (None for a background-only image).
    """

    image: np.ndarray
    mask: np.ndarray
    box: tuple[int, int, int, int] | None
    colour: tuple[int, int, int] | None


def render_image(digit: np.ndarray | None, photos: Sequence[np.ndarray], params: ImageParams, *, height: int,
                 width: int) -> DigitImage:
    """Render ``params``: background, clutter, then the digit (omitted when ``digit`` or ``params.digit`` is None).

    Raises:
        ValueError: a digit is given without digit params, or its mask comes out empty.
    """
    image = render_background(photos[params.background.photo], params.background, height=height, width=width)
    image = draw_clutter(image, params.clutter)
    if digit is None or params.digit is None:
        if digit is not None:
            raise ValueError("a digit was given but params has no digit placement")
        return DigitImage(image=image, mask=np.zeros((height, width), dtype=bool), box=None, colour=None)
    d = params.digit
    alpha = digit_alpha(digit, height=d.height, width=d.width)
    colour = choose_colour(image[d.top:d.top + d.height, d.left:d.left + d.width], alpha, d.colour_candidates)
    image, mask = paste_digit(image, alpha, colour, top=d.top, left=d.left)
    return DigitImage(image=image, mask=mask, box=mask_box(mask), colour=colour)


def generate_digit_image(digit: np.ndarray, photos: Sequence[np.ndarray], *, height: int, width: int,
                         rng: np.random.Generator) -> DigitImage:
    """Draw parameters from ``rng`` and render one digit image (see :func:`render_image`)."""
    params = sample_image_params(rng, photo_shapes=[p.shape[:2] for p in photos], height=height, width=width)
    return render_image(digit, photos, params, height=height, width=width)


def generate_background_image(photos: Sequence[np.ndarray], *, height: int, width: int,
                              rng: np.random.Generator) -> np.ndarray:
    """A background-only image (crop + clutter, no digit): ``(height, width, 3)`` uint8 RGB."""
    params = sample_image_params(rng, photo_shapes=[p.shape[:2] for p in photos], height=height, width=width,
                                 with_digit=False)
    return render_image(None, photos, params, height=height, width=width).image


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
    """``fork`` on Linux when this process runs a single thread (fast, and works from scripts without a
    ``__main__`` guard); ``spawn`` otherwise (forking a multi-threaded process can deadlock the child)."""
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


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputError("invalid JSON", path=path, line=e.lineno, value=e.msg) from None


def _returned_info(root: Path, dataset: dict, record: dict) -> dict:
    info = dict(dataset)
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
    """Whether ``dataset.json`` records image roots elsewhere than under ``root`` (the folder was moved)."""
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
    present, nothing is generated and the stored info is returned (if the folder was moved, only the metadata is
    rewritten to point at the new place). A finished build with another config raises. A folder left by an
    interrupted build (marked by ``.digits-building``) is cleaned and rebuilt; any other non-empty folder raises.

    Args:
        root: output folder.
        config: what to generate.
        progress: tqdm bars.
        workers: processes generating images (the files are the same for any number); None: one per available
            core (at most 8), or 1 for small configs.

    Returns:
        The ``metadata/dataset.json`` dict (dataset ``"digits"``, ``num_classes``, ``splits``, ``skipped_images``,
        ...) plus ``num_ood``, ``ood_root`` (absolute path, or None) and ``digits_info`` (path of ``digits.json``,
        which also lists the source digit of every image under ``source_digits``).

    Raises:
        InputError: ``root`` holds something else, or a digits dataset built with another config.
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
        record = _read_json(info_path)
        if record.get("config") != wanted or record.get("generator_version") != GENERATOR_VERSION:
            raise InputError(
                f"folder holds a digits dataset built with another config ({record.get('config')}, generator "
                f"version {record.get('generator_version')}); choose another --out or delete the folder",
                path=root, value=wanted)
        dataset_path = root / "metadata" / DATASET_INFO_FILE
        if dataset_path.is_file():
            dataset = _read_json(dataset_path)
            if _stale_metadata(root, dataset):
                logger.info("digits dataset at %s was moved; rewriting its metadata", root)
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
    "STREAMS", "DIGIT_SCALE",
]
