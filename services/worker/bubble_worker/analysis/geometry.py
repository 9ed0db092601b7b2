"""Fitting sizes into boxes, shared by decoding, measuring and thumbnails so they agree."""

from __future__ import annotations

from typing import Final

from PIL import Image

DOWNSCALE: Final = Image.Resampling.BICUBIC
"""Pillow's filter for the pictures :func:`~bubble_worker.analysis.resampling.downscale` leaves
to Pillow (transparent ones). Each step shrinks by at most 2x (JPEG decoding and
``reducing_gap`` do the large factors), where bicubic is as clean as Lanczos to the eye (46-50
dB apart on photos) at half its cost, and keeps more detail than bilinear (40-43 dB), which
matters for the sharpness measure."""


def fit_within(size: tuple[int, int], long_edge: int) -> tuple[int, int]:
    """``size`` scaled down (never up) so that its longer side is at most ``long_edge``.

    Aspect ratio is kept to the nearest pixel and no side drops below 1, so a 10000x1 strip
    still yields a usable image.
    """
    width, height = size
    longest = max(width, height)
    if longest <= long_edge:
        return size
    scale = long_edge / longest
    return max(1, round(width * scale)), max(1, round(height * scale))
