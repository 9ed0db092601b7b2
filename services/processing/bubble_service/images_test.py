"""Image inputs: format sniffing by magic bytes, and validation before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from bubble.processing.v1 import item_pb2
from bubble_service.images import (
    BMP,
    GIF,
    JPEG,
    PNG,
    TIFF,
    WEBP,
    plan_images,
    sniff_image_format,
    store_images,
)
from bubble_service.validation import Violations

BMP_HEADER = b"BM" + b"\x00" * 12 + (40).to_bytes(4, "little") + b"\x00" * 20


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", JPEG),
        (b"\x89PNG\r\n\x1a\n\x00\x00", PNG),
        (b"GIF89a\x01\x00", GIF),
        (b"GIF87a\x01\x00", GIF),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", WEBP),
        (BMP_HEADER, BMP),
        (b"II*\x00\x08\x00", TIFF),
        (b"MM\x00*\x00\x08", TIFF),
        (b"", None),
        (b"%PDF-1.7", None),
        (b"<svg xmlns=", None),
        (b"BMW drivers love their cars, and this text is long enough", None),
        (b"RIFF\x10\x00\x00\x00WAVEfmt ", None),
    ],
)
def test_sniffing(content: bytes, expected: object) -> None:
    assert sniff_image_format(content) == expected


def test_plan_keeps_uris_relative_and_sniffs_uploads(tmp_path: Path) -> None:
    violations = Violations()

    planned = plan_images(
        [
            item_pb2.ImageInput(uri="items/./a.jpg"),
            item_pb2.ImageInput(uri=f"file://{tmp_path}/items/b.webp"),
            item_pb2.ImageInput(content=b"GIF89a\x01\x00", filename="c.gif"),
            item_pb2.ImageInput(content=b"GIF89a\x01\x00", content_type="image/x-custom"),
        ],
        media_root=tmp_path,
        max_inline_bytes=100,
        violations=violations,
    )

    assert violations.found == []
    assert [(p.uri, p.content_type) for p in planned[:2]] == [
        ("items/a.jpg", "image/jpeg"),
        ("items/b.webp", "image/webp"),
    ]
    assert (planned[2].content_type, planned[2].extension) == ("image/gif", "gif")
    assert planned[3].content_type == "image/x-custom"
    assert not any(tmp_path.iterdir())

    stored = store_images(tmp_path, planned)

    assert stored[2].uri == stored[3].uri  # content-addressed: the same bytes, one file
    assert (tmp_path / stored[2].uri).read_bytes() == b"GIF89a\x01\x00"
    assert stored[2].size_bytes == 8


def test_a_symlink_out_of_the_media_root_is_refused(tmp_path: Path) -> None:
    media_root = tmp_path / "media"
    media_root.mkdir()
    (media_root / "escape").symlink_to(tmp_path)
    violations = Violations()

    plan_images(
        [item_pb2.ImageInput(uri="escape/secret.jpg")],
        media_root=media_root,
        max_inline_bytes=100,
        violations=violations,
    )

    assert [(v.field, v.reason) for v in violations.found] == [
        ("images[0].uri", "INVALID_IMAGE_URI")
    ]


def test_empty_inline_content_is_corrupt_as_the_worker_says_of_an_empty_file(
    tmp_path: Path,
) -> None:
    violations = Violations()

    plan_images(
        [item_pb2.ImageInput(content=b"")],
        media_root=tmp_path,
        max_inline_bytes=100,
        violations=violations,
    )

    assert [(v.field, v.description, v.reason) for v in violations.found] == [
        ("images[0].content", "is empty (0 bytes)", "IMAGE_CORRUPT")
    ]
