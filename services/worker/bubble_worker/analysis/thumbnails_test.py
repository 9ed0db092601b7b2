from __future__ import annotations

from pathlib import Path

from PIL import Image

from bubble_worker.analysis.synthetic import photo_like
from bubble_worker.analysis.thumbnails import write_thumbnails

SHA = "ab" + "0" * 62


def test_two_webp_sizes_under_a_content_addressed_path(tmp_path: Path) -> None:
    thumbnails = write_thumbnails([photo_like((768, 512), seed=1)], sha256=SHA, media_root=tmp_path)

    assert [(t.uri, t.width, t.height, t.content_type) for t in thumbnails] == [
        (f"thumbnails/ab/{SHA}-256.webp", 256, 171, "image/webp"),
        (f"thumbnails/ab/{SHA}-768.webp", 768, 512, "image/webp"),
    ]
    for thumbnail in thumbnails:
        with Image.open(tmp_path / thumbnail.uri) as written:
            assert (written.format, written.size) == ("WEBP", (thumbnail.width, thumbnail.height))


def test_small_images_are_never_upscaled(tmp_path: Path) -> None:
    thumbnails = write_thumbnails([photo_like((300, 120), seed=2)], sha256=SHA, media_root=tmp_path)

    assert [(t.width, t.height) for t in thumbnails] == [(256, 102), (300, 120)]
    with Image.open(tmp_path / thumbnails[1].uri) as written:
        assert written.size == (300, 120)


def test_alpha_is_kept(tmp_path: Path) -> None:
    image = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    image.paste((255, 0, 0, 255), (25, 25, 75, 75))

    thumbnails = write_thumbnails([image], sha256=SHA, media_root=tmp_path)

    with Image.open(tmp_path / thumbnails[0].uri) as written:
        assert written.mode == "RGBA"
        assert written.getchannel("A").getpixel((0, 0)) == 0


def test_idempotent_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    image = photo_like((400, 300), seed=3)
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
    largest = Image.new("RGB", (1024, 768), (0, 0, 255))
    middle = Image.new("RGB", (512, 384), (255, 0, 0))
    too_small = Image.new("RGB", (200, 150), (0, 255, 0))

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
