"""Checks that an image's path names a file worth opening, from its metadata alone.

Shared by the decoder and the analysis activity, so that a folder, an empty file or an oversized
file is reported the same way wherever it is noticed, before anything is read or hashed.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Final

from bubble_worker.analysis.errors import (
    IMAGE_CORRUPT,
    IMAGE_NOT_FOUND,
    IMAGE_TOO_LARGE,
    ImageRejectedError,
)

MAX_FILE_BYTES: Final = 100 * 1024 * 1024
"""Largest file accepted: uploads are capped well below this upstream; this backstop keeps a
mis-stored multi-gigabyte file from holding a worker for minutes while it is read and hashed."""


def checked_file_size(path: Path, image_id: str) -> int:
    """The size of the regular file at ``path``, or an ImageRejectedError saying what it is.

    Only a missing path is the image's fault; any other OSError (EIO, a stale mount) says
    nothing about the image and propagates, so the attempt is retried as an infrastructure
    failure.
    """
    try:
        status = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise _reject(image_id, IMAGE_NOT_FOUND, "does not exist") from None
    if stat.S_ISDIR(status.st_mode):
        raise _reject(image_id, IMAGE_NOT_FOUND, "is a folder, not an image file")
    if not stat.S_ISREG(status.st_mode):
        # Devices and pipes could block or never end; no upload is stored as one.
        raise _reject(image_id, IMAGE_NOT_FOUND, "is not a regular file, not an image file")
    size = status.st_size
    if size == 0:
        raise _reject(image_id, IMAGE_CORRUPT, "is empty (0 bytes)")
    if size > MAX_FILE_BYTES:
        raise _reject(
            image_id,
            IMAGE_TOO_LARGE,
            f"is {size:,} bytes, more than the {MAX_FILE_BYTES:,} bytes allowed",
        )
    return size


def _reject(image_id: str, code: str, reason: str) -> ImageRejectedError:
    return ImageRejectedError(code=code, image_id=image_id, reason=reason)
