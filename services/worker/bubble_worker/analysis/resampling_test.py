"""OpenCV's resampling where it applies, Pillow's where it does not, as clean as Lanczos."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image, ImageChops, ImageStat

from bubble_worker.analysis.resampling import (
    area_average,
    downscale,
    downscaled_pixels,
    pixels_of,
    shrink,
)
from bubble_worker.analysis.synthetic import photo_like


def psnr(first: Image.Image, second: Image.Image) -> float:
    difference = ImageChops.difference(first.convert("RGB"), second.convert("RGB"))
    mse = sum(rms * rms for rms in ImageStat.Stat(difference).rms) / 3
    return math.inf if mse == 0 else 10 * math.log10(255 * 255 / mse)


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ((1008, 756), (768, 576)),  # a phone JPEG's scaled decode to the large thumbnail
        ((768, 576), (512, 384)),  # the thumbnail to the analysis copy
        ((512, 384), (256, 192)),  # exactly half: the small thumbnail
        ((2048, 1536), (768, 576)),  # a PNG decoded whole
        ((4032, 3024), (768, 576)),  # a 12 MP WebP decoded whole
    ],
)
def test_as_clean_as_lanczos(source: tuple[int, int], target: tuple[int, int]) -> None:
    photo = photo_like(source, seed=31, noise=4)

    scaled = downscale(photo, target)

    assert (scaled.mode, scaled.size) == ("RGB", target)
    # Bicubic and Lanczos are 46-50 dB apart on photos; aliasing would show as a few dB less.
    assert psnr(scaled, photo.resize(target, Image.Resampling.LANCZOS)) >= 40


@pytest.mark.parametrize(("source", "target"), [((10000, 1), (768, 1)), ((6000, 3), (768, 1))])
def test_a_strip_is_averaged_along_the_side_that_shrinks(
    source: tuple[int, int], target: tuple[int, int]
) -> None:
    """Columns alternating black and white average to grey; sampling them would alias into
    stripes of black and white."""
    columns = Image.new("L", (source[0], 1))
    columns.putdata([255 * (x % 2) for x in range(source[0])])
    strip = columns.resize(source, Image.Resampling.NEAREST).convert("RGB")

    scaled = downscale(strip, target)

    assert scaled.size == target
    darkest, lightest = ImageStat.Stat(scaled.convert("L")).extrema[0]
    assert 100 <= darkest <= lightest <= 155


def test_greyscale_stays_greyscale() -> None:
    grey = photo_like((300, 200), seed=32).convert("L")

    scaled = downscale(grey, (150, 100))

    assert (scaled.mode, scaled.size) == ("L", (150, 100))


def test_transparent_pixels_hidden_colour_never_bleeds_into_the_visible_edge() -> None:
    """Transparent pictures stay with Pillow, which resamples them premultiplied: the red
    under the invisible half must not tint the white half's edge pink."""
    image = Image.new("RGBA", (200, 100), (255, 0, 0, 0))
    image.paste((255, 255, 255, 255), (101, 0, 200, 100))  # an edge between new pixels

    scaled = downscale(image, (150, 75))

    shown = scaled.getchannel("A").point(lambda alpha: 255 if alpha > 0 else 0, "1")
    assert shown.getbbox() is not None
    assert ImageStat.Stat(scaled.convert("RGB"), shown).extrema == [(255, 255)] * 3


def test_same_size_is_the_same_picture_and_larger_is_refused() -> None:
    photo = photo_like((64, 48), seed=33)

    assert downscale(photo, (64, 48)) is photo
    with pytest.raises(ValueError, match="only shrinks"):
        downscale(photo, (65, 48))


def test_area_average_is_pillows_box_filter() -> None:
    photo = photo_like((512, 384), seed=34)

    ours = Image.fromarray(area_average(np.asarray(photo), (128, 96)))
    boxes = photo.resize((128, 96), Image.Resampling.BOX)

    assert max(high for _, high in ImageStat.Stat(ImageChops.difference(ours, boxes)).extrema) <= 1


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
@pytest.mark.parametrize("size", [(1, 1), (333, 1), (257, 190)])
def test_pixels_of_is_numpys_conversion(mode: str, size: tuple[int, int]) -> None:
    image = photo_like(size, seed=35).convert(mode)

    pixels = pixels_of(image)

    assert pixels.dtype == np.uint8
    assert np.array_equal(pixels, np.asarray(image))


def test_pixels_of_refuses_modes_whose_samples_are_not_bytes() -> None:
    with pytest.raises(ValueError, match="'I;16'"):
        pixels_of(Image.new("I;16", (4, 4)))


@pytest.mark.parametrize(("mode", "target"), [("RGB", (200, 150)), ("RGBA", (200, 150))])
def test_shrinking_pixels_is_downscaling_the_image(mode: str, target: tuple[int, int]) -> None:
    image = photo_like((301, 226), seed=36).convert(mode)
    if mode == "RGBA":
        image.putalpha(Image.linear_gradient("L").resize(image.size))

    assert np.array_equal(shrink(np.asarray(image), target), np.asarray(downscale(image, target)))


def test_downscaled_pixels_are_the_downscaled_image() -> None:
    photo = photo_like((1008, 756), seed=37)

    assert np.array_equal(
        downscaled_pixels(photo, (768, 576)), np.asarray(downscale(photo, (768, 576)))
    )
    assert np.array_equal(downscaled_pixels(photo, photo.size), np.asarray(photo))
