"""Which images of a CreateItem go inline and which by UploadImage first, for both clients.

A gRPC message holds at most 4 MiB (the server's default), so a request with a phone photo inline
fails before the service sees it. Images (files or bytes) up to ``INLINE_MAX_BYTES`` go inline
while the request's inline images stay within ``INLINE_TOTAL_BYTES``; the others are uploaded
first, in ``CHUNK_BYTES`` chunks, and the request names them by ``upload_id``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bubble_client import messages as m
from bubble_client._requests import ImageSource, image_input

MIB = 1024 * 1024
INLINE_MAX_BYTES = MIB
INLINE_TOTAL_BYTES = 3 * MIB
CHUNK_BYTES = MIB  # the most the service accepts in one chunk
UPLOAD_ACCEPTED = ("bubble-upload", "accepted")  # the service's go-ahead header


@dataclass(frozen=True)
class PendingUpload:
    """An image to send by UploadImage: a file (read as it is sent) or bytes."""

    source: Path | bytes
    size: int
    sha256: str
    filename: str = ""
    content_type: str = ""

    def requests(self, owner_id: str) -> Iterator[m.UploadImageRequest]:
        """The metadata, then the chunks, read lazily: a large file is never held whole."""
        yield m.UploadImageRequest(
            metadata=m.UploadImageMetadata(
                owner_id=owner_id,
                filename=self.filename,
                content_type=self.content_type,
                size_bytes=self.size,
                sha256=self.sha256,
            )
        )
        if isinstance(self.source, bytes):
            for start in range(0, len(self.source), CHUNK_BYTES):
                yield m.UploadImageRequest(chunk=self.source[start : start + CHUNK_BYTES])
            return
        with self.source.open("rb") as file:
            while chunk := file.read(CHUNK_BYTES):
                yield m.UploadImageRequest(chunk=chunk)

    def image_input(self, upload: m.UploadImageResponse) -> m.ImageInput:
        return m.ImageInput(upload_id=upload.upload_id, filename=self.filename)


def pending_upload(
    source: Path | bytes, *, filename: str | None = None, content_type: str = ""
) -> PendingUpload:
    """Sizes and hashes ``source`` (reading a file once, in chunks; blocking)."""
    if isinstance(source, bytes):
        digest, size = hashlib.sha256(source).hexdigest(), len(source)
    else:
        hasher, size = hashlib.sha256(), 0
        with source.open("rb") as file:
            while chunk := file.read(CHUNK_BYTES):
                hasher.update(chunk)
                size += len(chunk)
        digest = hasher.hexdigest()
    name = filename if filename is not None else ("" if isinstance(source, bytes) else source.name)
    return PendingUpload(source, size, digest, name, content_type)


def plan(images: Sequence[ImageSource]) -> list[m.ImageInput | PendingUpload]:
    """Each image as it goes: inline, or to upload first (blocking: reads and hashes files)."""
    planned: list[m.ImageInput | PendingUpload] = []
    inline_total = 0
    for image in images:
        if isinstance(image, Path | bytes):
            size = len(image) if isinstance(image, bytes) else image.stat().st_size
            if size <= INLINE_MAX_BYTES and inline_total + size <= INLINE_TOTAL_BYTES:
                inline_total += size
                planned.append(image_input(image))
            else:
                planned.append(pending_upload(image))
        else:
            planned.append(image_input(image))
    return planned
