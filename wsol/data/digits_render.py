"""Rendering of one digits image: parameter sampling (all the randomness) and pure, deterministic drawing.

Each image is

1. a background: a random crop of one photograph (side 20-100 % of its short side, random horizontal flip), resized
   with ``cv2.INTER_AREA`` and given a random, lowered contrast (x0.15-0.45 around its mean) and a brightness
   shift (:func:`render_background`), so that the photograph's texture does not drown the digit;
2. one to three pieces of clutter (filled ellipses, rotated rectangles, soft blobs; often brighter than the digit)
   kept away from the digit (:func:`draw_clutter`), so that "the brightest blob" does not solve localization;
3. one digit: its 8x8 grid upscaled (bicubic) so that the grid spans 30-70 % of the image side, with the ink as
   alpha, ``alpha = value / 16`` clipped to ``[0, 1]``, at a random position fully inside the image, in a colour
   chosen among random candidates for the largest contrast with what lies beneath (:func:`choose_colour`,
   :func:`paste_digit`).

Randomness is drawn apart from its application: the ``sample_*`` functions draw an :class:`ImageParams` from a
``numpy.random.Generator`` (always in the same order: background, digit, clutter), and the ``render_*`` functions
turn parameters into pixels without any randomness. The ``generate_*`` functions do both.

Ground truth (stated once here):

- mask: the pixels where ``alpha >= 0.5``; never empty (checked);
- box: the tight box of the mask, ``xyxy`` with **inclusive** ``x1, y1`` (the last ink column and row), as
  wsolevaluation reads boxes (its IoU adds 1). How it is written to disk is :mod:`wsol.data.digits`' business.

Which digit, which photographs and which generator each image gets, and how the images are written, is decided in
:mod:`wsol.data.digits`.
"""
from __future__ import annotations

import colorsys
from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

#: Version of the image generator; part of the cache key in ``digits.json`` (bump when the images change).
#: Version 2: background contrast 0.15-0.45 (was 0.3-0.8) and digit grid 30-70 % of the side (was 25-70 %).
GENERATOR_VERSION = 2
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


__all__ = [
    "BackgroundParams", "ClutterShape", "DigitParams", "ImageParams", "DigitImage", "sample_background_params",
    "sample_digit_params", "sample_clutter_params", "sample_image_params", "render_background", "draw_clutter",
    "digit_alpha", "choose_colour", "paste_digit", "mask_box", "render_image", "generate_digit_image",
    "generate_background_image", "GENERATOR_VERSION", "BACKGROUND_CONTRAST", "DIGIT_SCALE",
]
