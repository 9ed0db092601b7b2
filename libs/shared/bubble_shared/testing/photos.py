"""Phone-size photos for tests of the upload path, made on the spot instead of stored."""

from __future__ import annotations

import io
import os

from PIL import Image

PHOTO_DIMENSIONS = (640, 480)


def padded_jpeg(size: int) -> bytes:
    """A real JPEG of ``PHOTO_DIMENSIONS`` and exactly ``size`` bytes: a noisy photo at quality
    100, padded with APP15 segments (which decoders skip), as cameras pad theirs with EXIF and
    maker notes."""
    width, height = PHOTO_DIMENSIONS
    noise = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    buffer = io.BytesIO()
    noise.save(buffer, "JPEG", quality=100)
    photo = buffer.getvalue()
    padding, missing = bytearray(), size - len(photo)
    while missing > 0:
        body = min(missing - 4, 65533)
        if body < 0:  # fewer than 4 bytes to go: grow the previous segment instead
            raise ValueError(f"cannot pad to exactly {size} bytes")
        padding += b"\xff\xef" + (body + 2).to_bytes(2, "big") + b"\x00" * body
        missing -= body + 4
    return photo[:2] + bytes(padding) + photo[2:]
