from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from bubble_worker.analysis.colors import MAX_SWATCHES, color_name, dominant_colors
from bubble_worker.analysis.synthetic import photo_like


@pytest.mark.parametrize(
    ("rgb", "name"),
    [
        ((255, 0, 0), "red"),
        ((180, 20, 30), "red"),
        ((0, 0, 255), "blue"),
        ((30, 60, 200), "blue"),
        ((30, 136, 229), "blue"),
        ((135, 206, 250), "light blue"),
        ((0, 0, 128), "navy"),
        ((128, 0, 128), "purple"),
        ((20, 30, 90), "navy"),
        ((220, 200, 160), "beige"),
        ((139, 69, 19), "brown"),
        ((255, 165, 0), "orange"),
        ((250, 250, 250), "white"),
        ((10, 10, 10), "black"),
        ((120, 120, 125), "gray"),
        ((34, 139, 34), "green"),
        ((255, 192, 203), "pink"),
    ],
)
def test_color_names(rgb: tuple[int, int, int], name: str) -> None:
    assert color_name("#{:02x}{:02x}{:02x}".format(*rgb)) == name


def test_two_colour_image() -> None:
    image = Image.new("RGB", (200, 100), (200, 30, 30))
    image.paste((250, 250, 250), (150, 0, 200, 100))

    swatches = dominant_colors(np.asarray(image))

    assert [(s.hex, s.name) for s in swatches] == [("#c81e1e", "red"), ("#fafafa", "white")]
    assert [s.fraction for s in swatches] == pytest.approx([0.75, 0.25], abs=0.01)


def test_photo_gives_at_most_five_swatches_summing_to_about_one() -> None:
    swatches = dominant_colors(np.asarray(photo_like((640, 480), seed=11)))

    assert 3 <= len(swatches) <= MAX_SWATCHES
    assert 0.9 <= sum(s.fraction for s in swatches) <= 1.0
    fractions = [s.fraction for s in swatches]
    assert fractions == sorted(fractions, reverse=True)
    assert all(
        s.hex.startswith("#") and len(s.hex) == 7 and s.hex == s.hex.lower() for s in swatches
    )


def test_transparent_pixels_are_ignored() -> None:
    image = Image.new("RGBA", (100, 100), (0, 0, 0, 0))  # invisible black background
    image.paste((30, 60, 200, 255), (25, 25, 75, 75))

    swatches = dominant_colors(np.asarray(image))

    assert [s.name for s in swatches] == ["blue"]
    assert swatches[0].fraction == pytest.approx(1.0)


def test_fully_transparent_image_has_no_colours() -> None:
    assert dominant_colors(np.asarray(Image.new("RGBA", (10, 10), (255, 0, 0, 0)))) == []


def test_deterministic() -> None:
    photo = np.asarray(photo_like((320, 240), seed=12))

    assert dominant_colors(photo) == dominant_colors(photo.copy())


def test_shades_a_person_cannot_tell_apart_are_one_swatch() -> None:
    """A cut-out scaled with its alpha leaves an edge one level off its fill: one colour."""
    image = Image.new("RGB", (100, 100), (20, 60, 210))
    image.paste((20, 59, 209), (0, 0, 100, 10))
    image.paste((250, 250, 250), (0, 80, 100, 100))

    swatches = dominant_colors(np.asarray(image))

    assert [(s.hex, s.name) for s in swatches] == [("#143cd2", "blue"), ("#fafafa", "white")]
    assert [s.fraction for s in swatches] == pytest.approx([0.8, 0.2], abs=0.01)
