"""WebP thumbnails of the upright image, stored once per distinct file under MEDIA_ROOT."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Final

from PIL import Image

from bubble.processing.v1 import analysis_pb2
from bubble_worker.analysis.geometry import fit_within

THUMBNAIL_SIZES: Final = (256, 768)
"""Longer side of each thumbnail, smallest first: list tiles and the item page on high-density
screens. The decoder never produces more pixels than the largest of them."""

THUMBNAIL_DIR: Final = "thumbnails"
CONTENT_TYPE: Final = "image/webp"

WEBP_QUALITY: Final = 80
"""libwebp's quality, a common web default: about 6 kB at 256 px and 30 kB at 768 px for a
photo-like image, with no artefacts visible at those sizes."""

_FILE_MODE: Final = 0o644
"""Thumbnails are served by other processes (web server, CDN origin); mkstemp creates 0600."""


def thumbnail_uri(sha256: str, size: int) -> str:
    """Where the ``size`` thumbnail of the file with this SHA-256 lives, relative to MEDIA_ROOT.

    Keyed by content, so every copy of a file shares its thumbnails and a re-analysis finds
    them already there. The name carries no analyser version: a change to how thumbnails look
    must change this scheme too, or files rendered by older versions would be kept.
    """
    return f"{THUMBNAIL_DIR}/{sha256[:2]}/{sha256}-{size}.webp"


def write_thumbnails(
    image: Image.Image, *, sha256: str, media_root: Path
) -> list[analysis_pb2.Thumbnail]:
    """Renders (or reuses) one thumbnail per :data:`THUMBNAIL_SIZES`, never upscaled.

    ``image`` is the upright working copy ("RGB" or "RGBA"; WebP keeps the alpha channel).
    Files are written to a temporary name and renamed into place, so a reader, a crash or a
    concurrent worker rendering the same file never sees a partial thumbnail.
    """
    thumbnails = []
    for size in THUMBNAIL_SIZES:
        uri = thumbnail_uri(sha256, size)
        width, height = fit_within(image.size, size)
        path = media_root.joinpath(*uri.split("/"))
        if not path.is_file():
            _write_atomically(path, _encode(image, (width, height)))
        thumbnails.append(
            analysis_pb2.Thumbnail(uri=uri, width=width, height=height, content_type=CONTENT_TYPE)
        )
    return thumbnails


def _encode(image: Image.Image, size: tuple[int, int]) -> bytes:
    if image.size != size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="WEBP", quality=WEBP_QUALITY)
    return buffer.getvalue()


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            # Without fsync a crash could leave an empty file under the final name, which
            # would then be reused forever because existing thumbnails are skipped.
            os.fsync(file.fileno())
            os.fchmod(file.fileno(), _FILE_MODE)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
