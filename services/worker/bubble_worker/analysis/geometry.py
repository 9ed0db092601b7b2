"""Fitting sizes into boxes, shared by decoding, measuring and thumbnails so they agree."""

from __future__ import annotations


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
