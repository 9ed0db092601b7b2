"""Exposure and focus measures of the working image: brightness, contrast and sharpness."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
from PIL import Image, ImageStat

from bubble_worker.analysis.opencv import cv2
from bubble_worker.analysis.resampling import pixels_of

OPAQUE_ALPHA_MIN: Final = 128
"""Pixels at least this opaque count as part of the picture; fainter ones are background.
Half-way keeps anti-aliased edges with the object they belong to."""

_BACKDROP: Final = (255, 255, 255)
"""What transparent areas are flattened onto for greyscale: listings show images on white."""


@dataclass(frozen=True)
class Measures:
    """The per-image numbers that quality warnings are based on (see analysis.proto)."""

    brightness: float
    """Mean ITU-R 601 luma / 255, in [0, 1]."""
    contrast: float
    """Standard deviation of the luma / 255 (RMS contrast), in [0, 0.5]."""
    sharpness: float
    """Variance of the Laplacian of :func:`greyscale`, >= 0."""


def greyscale(image: Image.Image) -> Image.Image:
    """``image`` as ITU-R 601 luma ("L"), transparent areas flattened onto white."""
    if image.mode == "RGBA":
        backdrop = Image.new("RGBA", image.size, (*_BACKDROP, 255))
        image = Image.alpha_composite(backdrop, image)
    return image.convert("L")


def opaque_mask(image: Image.Image) -> Image.Image | None:
    """A mask ("1") of the pixels that are part of the picture; None for images without alpha."""
    if image.mode != "RGBA":
        return None
    return image.getchannel("A").point(lambda alpha: 255 if alpha >= OPAQUE_ALPHA_MIN else 0, "1")


def measure(image: Image.Image, grey: Image.Image | None = None) -> Measures:
    """Measures an "RGB" or "RGBA" image; ``grey`` is its :func:`greyscale`, when the caller
    has it already.

    Brightness and contrast ignore transparent pixels (like the dominant colours do), so a
    product cut out on a transparent background is judged by the product, not by whatever
    colour the invisible pixels happen to have. A fully transparent image is measured as it
    would be shown, on white.
    """
    grey = greyscale(image) if grey is None else grey
    luma = grey if image.mode == "RGB" else image.convert("L")  # the same for RGB
    mask = opaque_mask(image)
    if mask is not None and mask.getbbox() is None:
        luma, mask = grey, None
    stats = ImageStat.Stat(luma, mask)
    return Measures(
        brightness=stats.mean[0] / 255,
        contrast=stats.stddev[0] / 255,
        sharpness=laplacian_variance(grey),
    )


def laplacian_variance(grey: Image.Image) -> float:
    """Variance of the 4-neighbour Laplacian of an "L" image: how much fine detail it has.

    Blur removes exactly the high frequencies the Laplacian responds to, so the variance drops
    sharply for out-of-focus or shaken photos. Computed in float32 by OpenCV (a twentieth of
    what the same sums cost in Pillow's ImageMath, and equal to 1e-6); border pixels, which
    lack neighbours, are left out.
    """
    width, height = grey.size
    if width < 3 or height < 3:
        return 0.0
    values = pixels_of(grey).astype(np.float32)
    laplacian = cv2.Laplacian(values, cv2.CV_32F, ksize=1)[1:-1, 1:-1]
    _, deviation = cv2.meanStdDev(laplacian)
    return float(deviation[0, 0]) ** 2
