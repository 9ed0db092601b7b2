"""Dominant colours of an image and their human names."""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image

from bubble.processing.v1 import analysis_pb2
from bubble_worker.analysis.clustering import quantize
from bubble_worker.analysis.geometry import fit_within
from bubble_worker.analysis.measures import OPAQUE_ALPHA_MIN
from bubble_worker.analysis.resampling import Pixels, area_average, pixels_of

MAX_SWATCHES: Final = 5
"""Clusters per image; analysis.proto allows at most 5."""

MIN_SWATCH_FRACTION: Final = 0.02
"""Clusters covering less than 2% of the picture are specks (logos, highlights, noise): naming
them would put colours into tags that a buyer cannot see in the listing."""

SAMPLE_EDGE: Final = 128
"""Colours are clustered on a copy this big (about 12k pixels): plenty for 5 clusters, and
quantisation cost grows with the pixel count."""

JUST_NOTICEABLE: Final = 3.0
"""CIELAB distance below which two colours look the same (about 2.3 is the classic just
noticeable difference)."""

_KMEANS: Final = 4
"""Pillow's ``kmeans`` argument: k-means passes after the median cut move each cluster's colour
to the mean of its pixels, until at most 3 pixels change cluster."""

PALETTE: Final[tuple[tuple[str, tuple[int, int, int]], ...]] = (
    ("black", (0, 0, 0)),
    ("gray", (128, 128, 128)),
    ("silver", (192, 192, 192)),
    ("white", (255, 255, 255)),
    ("red", (211, 47, 47)),
    ("burgundy", (128, 0, 32)),
    ("pink", (244, 143, 177)),
    ("orange", (245, 124, 0)),
    ("yellow", (253, 216, 53)),
    ("beige", (220, 205, 170)),
    ("brown", (121, 85, 72)),
    ("olive", (128, 128, 0)),
    ("green", (56, 142, 60)),
    ("teal", (0, 137, 123)),
    ("light blue", (144, 202, 249)),
    ("blue", (30, 136, 229)),
    ("blue", (25, 55, 215)),
    ("navy", (26, 35, 126)),
    ("purple", (123, 31, 162)),
)
"""Named colours as (name, anchor) pairs: typical product colours rather than pure primaries,
because photos are rarely saturated. Blue has two anchors because CIELAB distances bend in
the blues: with one, saturated royal blues land nearer to purple."""

COLOR_NAMES: Final = tuple(dict.fromkeys(name for name, _ in PALETTE))
"""Every name :func:`color_name` can return."""


def dominant_colors(pixels: Pixels) -> list[analysis_pb2.ColorSwatch]:
    """The most common colours of an RGB or RGBA picture, most dominant first.

    Transparent pixels are not part of the picture and are left out, so fractions are shares of
    the visible pixels. Ties are broken by hex value to keep the result deterministic.
    """
    sample = _sample(pixels)
    if not len(sample):
        return []
    clusters = _merge_indistinguishable(
        sorted(
            (
                (cluster.pixel_count, _hex(cluster.rgb))
                for cluster in quantize(sample, MAX_SWATCHES, _KMEANS)
            ),
            key=lambda cluster: (-cluster[0], cluster[1]),
        )
    )
    total = len(sample)
    return [
        analysis_pb2.ColorSwatch(hex=hex_value, name=color_name(hex_value), fraction=count / total)
        for count, hex_value in clusters
        if count / total >= MIN_SWATCH_FRACTION
    ][:MAX_SWATCHES]


def _sample(pixels: Pixels) -> npt.NDArray[np.uint8]:
    """The visible pixels of a :data:`SAMPLE_EDGE` copy, as rows of red, green and blue."""
    height, width, channels = pixels.shape
    sample_size = fit_within((width, height), SAMPLE_EDGE)
    if channels == 3:
        return area_average(pixels, sample_size).reshape(-1, 3)
    # Transparent pictures stay with Pillow's BOX filter, which averages premultiplied.
    sample = pixels_of(Image.fromarray(pixels).resize(sample_size, Image.Resampling.BOX))
    return sample[sample[..., 3] >= OPAQUE_ALPHA_MIN][:, :3]


def _merge_indistinguishable(clusters: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Folds each cluster into a larger one a person could not tell it from (CIELAB distance
    below :data:`JUST_NOTICEABLE`): the quantiser splits one flat colour in two when, say, the
    anti-aliased edge of a cut-out differs by one level, and "blue, blue" helps nobody."""
    merged: list[tuple[int, str]] = []
    for count, hex_value in clusters:  # largest first
        for position, (kept_count, kept_hex) in enumerate(merged):
            if color_distance(hex_value, kept_hex) < JUST_NOTICEABLE:
                merged[position] = (kept_count + count, kept_hex)
                break
        else:
            merged.append((count, hex_value))
    return sorted(merged, key=lambda cluster: (-cluster[0], cluster[1]))


def color_name(hex_value: str) -> str:
    """Name of the :data:`PALETTE` anchor nearest to ``hex_value`` ("#rrggbb").

    Distances are measured in CIELAB, where equal distances look about equally different, so
    "nearest" matches what a person would say (in RGB, dark blue is closer to black than to navy).
    """
    target = _lab(_rgb(hex_value))
    return min(_PALETTE_LAB, key=lambda anchor: math.dist(target, anchor[1]))[0]


def color_distance(first: str, second: str) -> float:
    """How different two "#rrggbb" colours look: their distance in CIELAB."""
    return math.dist(_lab(_rgb(first)), _lab(_rgb(second)))


def _hex(rgb: tuple[int, int, int]) -> str:
    red, green, blue = rgb
    return f"#{red:02x}{green:02x}{blue:02x}"


def _rgb(hex_value: str) -> tuple[int, int, int]:
    return int(hex_value[1:3], 16), int(hex_value[3:5], 16), int(hex_value[5:7], 16)


def _lab(rgb: tuple[int, int, int]) -> tuple[float, float, float]:
    """sRGB (D65) to CIELAB."""
    red, green, blue = (_linear(channel / 255) for channel in rgb)
    x = (0.4124 * red + 0.3576 * green + 0.1805 * blue) / 0.95047
    y = 0.2126 * red + 0.7152 * green + 0.0722 * blue
    z = (0.0193 * red + 0.1192 * green + 0.9505 * blue) / 1.08883
    fx, fy, fz = (_lab_f(value) for value in (x, y, z))
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)


def _linear(channel: float) -> float:
    return channel / 12.92 if channel <= 0.04045 else ((channel + 0.055) / 1.055) ** 2.4


def _lab_f(value: float) -> float:
    return value ** (1 / 3) if value > (6 / 29) ** 3 else value / (3 * (6 / 29) ** 2) + 4 / 29


_PALETTE_LAB: Final = tuple((name, _lab(rgb)) for name, rgb in PALETTE)
