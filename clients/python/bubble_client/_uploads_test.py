"""Which images a CreateItem sends inline and which it uploads first, and the upload's messages."""

from __future__ import annotations

import hashlib
from pathlib import Path

from bubble_client import messages as m
from bubble_client._uploads import CHUNK_BYTES, MIB, PendingUpload, pending_upload, plan


def test_small_images_go_inline_and_large_ones_are_uploaded(tmp_path: Path) -> None:
    small, large = tmp_path / "small.jpg", tmp_path / "large.jpg"
    small.write_bytes(b"s" * 1000)
    large.write_bytes(b"l" * (MIB + 1))

    planned = plan([small, large, b"b" * MIB, "items/a.jpg", m.ImageInput(upload_id="u")])

    assert planned[0] == m.ImageInput(content=b"s" * 1000, filename="small.jpg")
    assert isinstance(planned[1], PendingUpload)
    assert (planned[1].size, planned[1].filename) == (MIB + 1, "large.jpg")
    assert planned[1].sha256 == hashlib.sha256(large.read_bytes()).hexdigest()
    assert planned[2] == m.ImageInput(content=b"b" * MIB)
    assert planned[3:] == [m.ImageInput(uri="items/a.jpg"), m.ImageInput(upload_id="u")]


def test_inline_images_stay_within_one_message_together() -> None:
    planned = plan([b"x" * MIB] * 5)

    assert [isinstance(image, PendingUpload) for image in planned] == [
        False,
        False,
        False,
        True,
        True,
    ]


def test_an_upload_sends_its_metadata_then_chunks_of_at_most_1_mib(tmp_path: Path) -> None:
    photo = tmp_path / "photo.jpg"
    content = bytes(range(256)) * (10 * 1024 + 1)
    photo.write_bytes(content)

    requests = list(pending_upload(photo, content_type="image/jpeg").requests("u1"))

    assert requests[0].metadata == m.UploadImageMetadata(
        owner_id="u1",
        filename="photo.jpg",
        content_type="image/jpeg",
        size_bytes=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
    )
    chunks = [request.chunk for request in requests[1:]]
    assert all(chunk is not None and len(chunk) <= CHUNK_BYTES for chunk in chunks)
    assert b"".join(chunk or b"" for chunk in chunks) == content
