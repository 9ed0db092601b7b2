"""Thumbnails for the browser, served safely.

A thumbnail is asked for by item and image, never by path: the file is the one the analysis
recorded for that image, resolved with ``resolve_media_path`` (only files under MEDIA_ROOT, no
symlink out), at most MAX_THUMBNAIL_BYTES, and sent only if its bytes are a JPEG, PNG, WebP or
GIF, with that content type, whatever the file is called or the analysis claimed.
"""

from __future__ import annotations

from pathlib import Path

from bubble.processing.v1 import analysis_pb2, item_pb2
from bubble_shared.media import MediaPathError, resolve_media_path

MAX_THUMBNAIL_BYTES = 4 * 1024 * 1024
LIST_WIDTH = 128
"""The width the item list shows; the smallest thumbnail at least this wide is sent."""


def image_thumbnails(item: item_pb2.Item, image_id: str) -> list[analysis_pb2.Thumbnail]:
    """The thumbnails recorded for the item's image (the cover's are in its suggestions)."""
    if image_id == item.suggestions.primary_image_id and item.suggestions.primary_thumbnails:
        return list(item.suggestions.primary_thumbnails)
    for image in item.images:
        if image.image_id == image_id:
            return list(image.analysis.thumbnails)
    return []


def pick(thumbnails: list[analysis_pb2.Thumbnail], width: int) -> analysis_pb2.Thumbnail | None:
    """The smallest thumbnail at least ``width`` wide, else the widest there is."""
    if not thumbnails:
        return None
    wide_enough = [thumbnail for thumbnail in thumbnails if thumbnail.width >= width]
    if wide_enough:
        return min(wide_enough, key=lambda thumbnail: thumbnail.width)
    return max(thumbnails, key=lambda thumbnail: thumbnail.width)


def read_thumbnail(media_root: Path, uri: str) -> tuple[bytes, str] | None:
    """The file's bytes and their image content type; None when the URI leaves the media root,
    the file is missing or too large, or its bytes are no image a browser should get."""
    try:
        path = resolve_media_path(media_root, uri)
        with path.open("rb") as file:
            content = file.read(MAX_THUMBNAIL_BYTES + 1)
    except (MediaPathError, OSError):
        return None
    content_type = sniff_image_type(content)
    if content_type is None or len(content) > MAX_THUMBNAIL_BYTES:
        return None
    return content, content_type


def sniff_image_type(content: bytes) -> str | None:
    """The content type the bytes themselves show, among the ones served."""
    if content.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    if content[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    return None
