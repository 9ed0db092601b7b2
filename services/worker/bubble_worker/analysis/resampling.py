"""Scaling pictures down: OpenCV's SIMD resampling where it applies, Pillow's elsewhere.

The analyser is compute-bound and resampling was its largest cost after decoding: Pillow's
bicubic took 9.7 ms to bring a phone photo's 1008 px decode to the 768 px thumbnail, OpenCV's
0.8 ms for a picture as close to a Lanczos reference (``quality_test.py``). OpenCV's cubic
kernel does not widen when shrinking, so it is used only for factors below 2 (a JPEG's scaled
decode leaves no more), where that does not alias visibly; larger factors (PNG, WebP and GIF,
decoded whole) take OpenCV's area average, a proper anti-aliasing filter.

The analyser carries its copies as :data:`Pixels` from decoding to encoding: every trip
between Pillow and NumPy copies the whole picture.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image

from bubble_worker.analysis.geometry import DOWNSCALE
from bubble_worker.analysis.opencv import cv2

Pixels = npt.NDArray[np.uint8]
"""A picture as NumPy holds it: rows x columns x channels, 3 (RGB) or 4 (RGBA)."""

_PLAIN_MODES: Final = frozenset({"L", "RGB", "RGBA"})
"""Modes whose samples are bytes, one per band: NumPy holds them as they are."""

_OPENCV_MODES: Final = frozenset({"RGB", "L"})
"""Modes scaled by OpenCV. RGBA stays with Pillow, which resamples it premultiplied (so
transparent pixels' hidden colours never bleed into the visible edge)."""


def downscale(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``image`` scaled to ``size``, which must be no larger than it on either side."""
    if image.size == size:
        return image
    if image.mode in _OPENCV_MODES:
        return Image.fromarray(downscaled_pixels(image, size))
    _check_shrinks(image.size, size)
    return image.resize(size, DOWNSCALE, reducing_gap=2.0)


def downscaled_pixels(image: Image.Image, size: tuple[int, int]) -> Pixels:
    """``image`` ("RGB" or "L") scaled by OpenCV to ``size`` (no larger), as :data:`Pixels`:
    what :func:`downscale` computes, without copying the result back into Pillow."""
    if image.mode not in _OPENCV_MODES:
        raise ValueError(f"downscaled_pixels takes 'RGB' or 'L' images, not {image.mode!r}")
    if image.size == size:
        return pixels_of(image)
    _check_shrinks(image.size, size)
    width, height = size
    across, down = image.width // width, image.height // height
    if max(across, down) >= 4:  # a whole-file decode: Pillow's integer box reduction is cheaper
        image = image.reduce((max(1, across // 2), max(1, down // 2)))
    return _opencv_resize(pixels_of(image), size)


def shrink(pixels: Pixels, size: tuple[int, int]) -> Pixels:
    """``pixels`` scaled to ``size`` (width, height; no larger), as :func:`downscale` scales
    the same picture in Pillow: RGB by OpenCV, RGBA by Pillow, premultiplied."""
    height, width = pixels.shape[:2]
    if (width, height) == size:
        return pixels
    _check_shrinks((width, height), size)
    if pixels.shape[2] == 4:
        return pixels_of(Image.fromarray(pixels).resize(size, DOWNSCALE, reducing_gap=2.0))
    return _opencv_resize(pixels, size)


def pixels_of(image: Image.Image) -> Pixels:
    """``np.asarray(image)`` for an "L", "RGB" or "RGBA" image, in one copy instead of two:
    NumPy's conversion goes through ``tobytes``, which copies the pixels out in 64 kB pieces
    and then joins the pieces into another copy (0.9 ms of a phone photo's analysis). The
    raw encoder behind ``tobytes`` is Pillow's internal interface, so a change to it fails
    the tests rather than going unnoticed."""
    if image.mode not in _PLAIN_MODES:
        raise ValueError(f"pixels_of takes 'L', 'RGB' or 'RGBA' images, not {image.mode!r}")
    image.load()
    channels = len(image.mode)
    shape = (image.height, image.width) if channels == 1 else (image.height, image.width, channels)
    if not image.width or not image.height:
        return np.zeros(shape, np.uint8)
    encoder = Image._getencoder(image.mode, "raw", image.mode)
    try:
        encoder.setimage(image.im, (0, 0, *image.size))
        # Room for every row: the raw encoder then writes the whole picture in one call.
        _, status, data = encoder.encode(image.width * image.height * channels)
    finally:
        encoder.cleanup()
    if status != 1:  # 1: done; anything else is a failure of the encoder
        raise RuntimeError(f"Pillow's raw encoder stopped with status {status} on {image.size}")
    return np.frombuffer(data, np.uint8).reshape(shape)


def area_average(pixels: Pixels, size: tuple[int, int]) -> Pixels:
    """``pixels`` (RGB) scaled to ``size`` by averaging the pixels each new one covers: what
    Pillow's BOX filter computes, in a tenth of its time."""
    return np.asarray(cv2.resize(pixels, size, interpolation=cv2.INTER_AREA), np.uint8)


def _check_shrinks(current: tuple[int, int], size: tuple[int, int]) -> None:
    if size[0] > current[0] or size[1] > current[1]:
        raise ValueError(f"downscale only shrinks: {current} to {size}")


def _opencv_resize(pixels: Pixels, size: tuple[int, int]) -> Pixels:
    width, height = size
    across, down = pixels.shape[1] // width, pixels.shape[0] // height
    # Per side: a strip (10000 x 1) shrinks along one side only, and must be averaged there.
    filter_ = cv2.INTER_AREA if max(across, down) >= 2 else cv2.INTER_CUBIC
    return np.asarray(cv2.resize(pixels, size, interpolation=filter_), np.uint8)
