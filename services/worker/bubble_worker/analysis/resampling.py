"""Scaling pictures down: OpenCV's SIMD resampling where it applies, Pillow's elsewhere.

The analyser is compute-bound and resampling was its largest cost after decoding: Pillow's
bicubic took 9.7 ms to bring a phone photo's 1008 px decode to the 768 px thumbnail, OpenCV's
0.8 ms for a picture as close to a Lanczos reference (``quality_test.py``). OpenCV's cubic
kernel does not widen when shrinking, so it is used only for factors below 2 (a JPEG's scaled
decode leaves no more), where that does not alias visibly; larger factors (PNG, WebP and GIF,
decoded whole) take OpenCV's area average, a proper anti-aliasing filter.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image

from bubble_worker.analysis.geometry import DOWNSCALE
from bubble_worker.analysis.opencv import cv2

_OPENCV_MODES: Final = frozenset({"RGB", "L"})
"""Modes scaled by OpenCV. RGBA stays with Pillow, which resamples it premultiplied (so
transparent pixels' hidden colours never bleed into the visible edge)."""


def downscale(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``image`` scaled to ``size``, which must be no larger than it on either side."""
    if image.size == size:
        return image
    width, height = size
    if width > image.width or height > image.height:
        raise ValueError(f"downscale only shrinks: {image.size} to {size}")
    if image.mode not in _OPENCV_MODES:
        return image.resize(size, DOWNSCALE, reducing_gap=2.0)
    across, down = image.width // width, image.height // height
    if max(across, down) >= 4:  # a whole-file decode: Pillow's integer box reduction is cheaper
        image = image.reduce((max(1, across // 2), max(1, down // 2)))
        across, down = image.width // width, image.height // height
    # Per side: a strip (10000 x 1) shrinks along one side only, and must be averaged there.
    filter_ = cv2.INTER_AREA if max(across, down) >= 2 else cv2.INTER_CUBIC
    return Image.fromarray(cv2.resize(np.asarray(image), size, interpolation=filter_))


def area_average(image: Image.Image, size: tuple[int, int]) -> npt.NDArray[np.uint8]:
    """The pixels of ``image`` ("RGB") scaled to ``size`` by averaging the pixels each new one
    covers: what Pillow's BOX filter computes, in a tenth of its time."""
    return np.asarray(cv2.resize(np.asarray(image), size, interpolation=cv2.INTER_AREA), np.uint8)
