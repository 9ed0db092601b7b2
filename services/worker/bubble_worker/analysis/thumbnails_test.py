from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from bubble_worker.analysis.synthetic import photo_like
from bubble_worker.analysis.thumbnails import WEBP_METHOD, WEBP_QUALITY, write_thumbnails

SHA = "ab" + "0" * 62


def test_two_webp_sizes_under_a_content_addressed_path(tmp_path: Path) -> None:
    thumbnails = write_thumbnails(
        [np.asarray(photo_like((768, 512), seed=1))], sha256=SHA, media_root=tmp_path
    )

    assert [(t.uri, t.width, t.height, t.content_type) for t in thumbnails] == [
        (f"thumbnails/ab/{SHA}-256.webp", 256, 171, "image/webp"),
        (f"thumbnails/ab/{SHA}-768.webp", 768, 512, "image/webp"),
    ]
    for thumbnail in thumbnails:
        with Image.open(tmp_path / thumbnail.uri) as written:
            assert (written.format, written.size) == ("WEBP", (thumbnail.width, thumbnail.height))


def test_small_images_are_never_upscaled(tmp_path: Path) -> None:
    thumbnails = write_thumbnails(
        [np.asarray(photo_like((300, 120), seed=2))], sha256=SHA, media_root=tmp_path
    )

    assert [(t.width, t.height) for t in thumbnails] == [(256, 102), (300, 120)]
    with Image.open(tmp_path / thumbnails[1].uri) as written:
        assert written.size == (300, 120)


def test_alpha_is_kept(tmp_path: Path) -> None:
    image = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    image.paste((255, 0, 0, 255), (25, 25, 75, 75))

    thumbnails = write_thumbnails([np.asarray(image)], sha256=SHA, media_root=tmp_path)

    with Image.open(tmp_path / thumbnails[0].uri) as written:
        assert written.mode == "RGBA"
        assert written.getchannel("A").getpixel((0, 0)) == 0


def test_idempotent_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    image = np.asarray(photo_like((400, 300), seed=3))
    first = write_thumbnails([image], sha256=SHA, media_root=tmp_path)
    files = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    stamps = [(p.stat().st_ino, p.stat().st_mtime_ns) for p in files]

    second = write_thumbnails([image], sha256=SHA, media_root=tmp_path)

    assert second == first
    assert sorted(p for p in tmp_path.rglob("*") if p.is_file()) == files
    assert [(p.stat().st_ino, p.stat().st_mtime_ns) for p in files] == stamps
    assert [p.name for p in files] == [f"{SHA}-256.webp", f"{SHA}-768.webp"]
    assert all(p.stat().st_mode & 0o777 == 0o644 for p in files)


def test_each_size_is_scaled_from_the_smallest_copy_that_is_large_enough(tmp_path: Path) -> None:
    """Copies of one picture at several sizes: the 256 px thumbnail comes from the 512 px copy
    (told apart here by its colour), the 768 px one from the largest."""
    largest = np.asarray(Image.new("RGB", (1024, 768), (0, 0, 255)))
    middle = np.asarray(Image.new("RGB", (512, 384), (255, 0, 0)))
    too_small = np.asarray(Image.new("RGB", (200, 150), (0, 255, 0)))

    thumbnails = write_thumbnails([largest, middle, too_small], sha256=SHA, media_root=tmp_path)

    colours = []
    for thumbnail in thumbnails:
        with Image.open(tmp_path / thumbnail.uri) as written:
            colours.append(written.convert("RGB").getpixel((10, 10)))
    assert [(t.width, t.height) for t in thumbnails] == [(256, 192), (768, 576)]
    assert [_dominant_channel(colour) for colour in colours] == ["red", "blue"]


def _dominant_channel(pixel: object) -> str:
    assert isinstance(pixel, tuple)
    return ("red", "green", "blue")[max(range(3), key=lambda channel: pixel[channel])]


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_the_pictures_are_pillows_encoding_at_the_same_settings(
    mode: str, tmp_path: Path
) -> None:
    """libwebp through imagecodecs, as Pillow would have written it (today: the same bytes)."""
    picture = photo_like((768, 512), seed=4).convert(mode)
    if mode == "RGBA":
        picture.putalpha(Image.linear_gradient("L").resize(picture.size))

    thumbnails = write_thumbnails([np.asarray(picture)], sha256=SHA, media_root=tmp_path)

    pillows = io.BytesIO()
    picture.save(pillows, format="WEBP", quality=WEBP_QUALITY, method=WEBP_METHOD)
    with Image.open(tmp_path / thumbnails[1].uri) as ours, Image.open(pillows) as theirs:
        assert (ours.mode, ours.size) == (theirs.mode, theirs.size) == (mode, picture.size)
        assert psnr(np.asarray(ours), np.asarray(theirs)) >= 50


def psnr(first: npt.NDArray[np.uint8], second: npt.NDArray[np.uint8]) -> float:
    mse = float(np.mean((first.astype(np.float64) - second) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255 * 255 / mse)
