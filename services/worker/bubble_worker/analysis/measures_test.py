from __future__ import annotations

import pytest
from PIL import Image, ImageFilter

from bubble_worker.analysis.measures import laplacian_variance, measure
from bubble_worker.analysis.suggestions import (
    BLURRY_MAX_SHARPNESS,
    TOO_BRIGHT_MIN_BRIGHTNESS,
    TOO_DARK_MAX_BRIGHTNESS,
)
from bubble_worker.analysis.synthetic import checkerboard, photo_like


def test_checkerboard_is_sharp_and_its_blur_is_not() -> None:
    board = checkerboard((512, 384), square=16)
    blurred = board.filter(ImageFilter.GaussianBlur(8))

    assert measure(board).sharpness > 100 * BLURRY_MAX_SHARPNESS
    assert measure(blurred).sharpness < BLURRY_MAX_SHARPNESS


def test_photo_sharpness_drops_below_threshold_when_blurred() -> None:
    photo = photo_like((512, 384), seed=5)

    assert measure(photo).sharpness > BLURRY_MAX_SHARPNESS
    assert measure(photo.filter(ImageFilter.GaussianBlur(1.5))).sharpness < BLURRY_MAX_SHARPNESS


def test_laplacian_variance_matches_a_direct_computation() -> None:
    grey = photo_like((40, 30), seed=9).convert("L")
    width, height = grey.size
    data = grey.tobytes()

    def pixel(x: int, y: int) -> float:
        return float(data[y * width + x])

    values = [
        pixel(x - 1, y) + pixel(x + 1, y) + pixel(x, y - 1) + pixel(x, y + 1) - 4 * pixel(x, y)
        for y in range(1, height - 1)
        for x in range(1, width - 1)
    ]
    mean = sum(values) / len(values)
    expected = sum((value - mean) ** 2 for value in values) / len(values)

    assert laplacian_variance(grey) == pytest.approx(expected, rel=1e-4)


def test_flat_and_tiny_images_have_no_sharpness() -> None:
    assert laplacian_variance(Image.new("L", (64, 64), 90)) == 0.0
    assert laplacian_variance(Image.new("L", (2, 50), 90)) == 0.0


def test_brightness_and_contrast() -> None:
    black = measure(Image.new("RGB", (64, 64), (0, 0, 0)))
    white = measure(Image.new("RGB", (64, 64), (255, 255, 255)))
    half = Image.new("RGB", (64, 64), (0, 0, 0))
    half.paste((255, 255, 255), (0, 0, 32, 64))

    assert (black.brightness, black.contrast) == (0.0, 0.0)
    assert (white.brightness, white.contrast) == (1.0, 0.0)
    assert measure(half).brightness == pytest.approx(0.5)
    assert measure(half).contrast == pytest.approx(0.5)


def test_dark_and_bright_photos_cross_the_warning_thresholds() -> None:
    photo = photo_like((256, 192), seed=4)
    dark = Image.eval(photo, lambda value: value // 6)
    bright = Image.eval(photo, lambda value: 224 + value // 8)

    assert measure(dark).brightness < TOO_DARK_MAX_BRIGHTNESS
    assert measure(bright).brightness > TOO_BRIGHT_MIN_BRIGHTNESS


def test_transparent_pixels_do_not_count_for_exposure() -> None:
    image = Image.new("RGBA", (64, 64), (0, 0, 0, 0))  # invisible black
    image.paste((200, 200, 200, 255), (16, 16, 48, 48))

    measured = measure(image)

    assert measured.brightness == pytest.approx(200 / 255, abs=0.01)
    assert measured.contrast == pytest.approx(0.0, abs=0.01)


def test_fully_transparent_image_is_measured_on_white() -> None:
    assert measure(Image.new("RGBA", (8, 8), (0, 0, 0, 0))).brightness == 1.0
