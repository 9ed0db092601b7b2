"""The images of a new item: URIs checked against MEDIA_ROOT, inline bytes sniffed and stored.

Validation and storage are separate steps so that nothing is written for a request that turns out
to be invalid in a later image or field: ``plan_images`` only checks, ``store_images`` writes.
Uploaded files are content-addressed (``bubble_shared.media.store_upload``), so a file left behind
by a request that then failed is harmless: the same bytes map to the same file next time.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bubble.processing.v1 import item_pb2
from bubble_service.validation import Violations
from bubble_shared.media import MediaPathError, resolve_media_path, store_upload
from bubble_shared.store import NewImage

MAX_IMAGES = 20
MAX_FILENAME_LENGTH = 255
MAX_CONTENT_TYPE_LENGTH = 255


@dataclass(frozen=True)
class ImageFormat:
    content_type: str
    extension: str


JPEG = ImageFormat("image/jpeg", "jpg")
PNG = ImageFormat("image/png", "png")
GIF = ImageFormat("image/gif", "gif")
WEBP = ImageFormat("image/webp", "webp")
BMP = ImageFormat("image/bmp", "bmp")
TIFF = ImageFormat("image/tiff", "tiff")


def _dib_header_size(data: bytes) -> int:
    return int.from_bytes(data[14:18], "little") if len(data) >= 18 else 0


_DIB_HEADER_SIZES = frozenset({12, 40, 52, 56, 64, 108, 124})


_SIGNATURES: tuple[tuple[ImageFormat, Callable[[bytes], bool]], ...] = (
    (JPEG, lambda data: data.startswith(b"\xff\xd8\xff")),
    (PNG, lambda data: data.startswith(b"\x89PNG\r\n\x1a\n")),
    (GIF, lambda data: data.startswith((b"GIF87a", b"GIF89a"))),
    (WEBP, lambda data: len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP"),
    # "BM" alone is a common start of text: the DIB header size must be one of the known ones.
    (BMP, lambda data: data.startswith(b"BM") and _dib_header_size(data) in _DIB_HEADER_SIZES),
    (TIFF, lambda data: data.startswith((b"II*\x00", b"MM\x00*"))),
)


def sniff_image_format(content: bytes) -> ImageFormat | None:
    """The format the magic bytes announce, or None for anything that is not a known image.

    Only the signature is checked: whether the rest decodes is the analyser's job (it reports
    IMAGE_CORRUPT); this keeps obvious non-images (text, PDFs, executables) out of MEDIA_ROOT.
    """
    for image_format, matches in _SIGNATURES:
        if matches(content):
            return image_format
    return None


@dataclass(frozen=True)
class PlannedImage:
    """A validated image: either a URI under MEDIA_ROOT or bytes still to be stored."""

    filename: str
    content_type: str
    uri: str = ""
    content: bytes = b""
    extension: str = ""


def plan_images(
    images: Sequence[item_pb2.ImageInput],
    *,
    media_root: Path,
    max_inline_bytes: int,
    violations: Violations,
) -> list[PlannedImage]:
    """Checks every image (all of them, so every problem is reported) and writes nothing."""
    if not images:
        violations.add("images", "at least one image is required", "FIELD_REQUIRED")
    elif len(images) > MAX_IMAGES:
        violations.add(
            "images",
            f"{len(images)} images given; at most {MAX_IMAGES} are allowed",
            "TOO_MANY_IMAGES",
        )
        return []
    planned: list[PlannedImage] = []
    for index, image in enumerate(images):
        field = f"images[{index}]"
        before = len(violations.found)
        violations.text(f"{field}.filename", image.filename, MAX_FILENAME_LENGTH)
        if image.content_type:
            violations.text(f"{field}.content_type", image.content_type, MAX_CONTENT_TYPE_LENGTH)
            if not image.content_type.lower().startswith("image/"):
                violations.add(
                    f"{field}.content_type",
                    f"{image.content_type[:64]!r} is not an image type (must start with 'image/')",
                )
        source = image.WhichOneof("source")
        result: PlannedImage | None = None
        if source == "uri":
            result = _plan_uri(image, field, media_root, violations)
        elif source == "content":
            result = _plan_content(image, field, max_inline_bytes, violations)
        else:
            violations.add(f"{field}.source", "set either uri or content", "IMAGE_SOURCE_REQUIRED")
        if result is not None and len(violations.found) == before:
            planned.append(result)
    return planned


def store_images(media_root: Path, planned: Sequence[PlannedImage]) -> list[NewImage]:
    """Writes the inline images under MEDIA_ROOT (blocking I/O: run it in a thread)."""
    stored: list[NewImage] = []
    for image in planned:
        if image.uri:
            stored.append(
                NewImage(uri=image.uri, filename=image.filename, content_type=image.content_type)
            )
            continue
        uri = store_upload(media_root, image.content, extension=image.extension)
        stored.append(
            NewImage(
                uri=uri,
                filename=image.filename,
                content_type=image.content_type,
                size_bytes=len(image.content),
            )
        )
    return stored


def _plan_uri(
    image: item_pb2.ImageInput, field: str, media_root: Path, violations: Violations
) -> PlannedImage | None:
    try:
        resolved = resolve_media_path(media_root, image.uri)
    except MediaPathError as error:
        violations.add(f"{field}.uri", str(error), "INVALID_IMAGE_URI")
        return None
    # Stored relative to the media root, so the worker resolves it the same way wherever the
    # media root is mounted.
    relative = resolved.relative_to(media_root.resolve()).as_posix()
    content_type = image.content_type or _guess_type(relative)
    return PlannedImage(filename=image.filename, content_type=content_type, uri=relative)


def _plan_content(
    image: item_pb2.ImageInput, field: str, max_inline_bytes: int, violations: Violations
) -> PlannedImage | None:
    content = image.content
    if len(content) > max_inline_bytes:
        violations.add(
            f"{field}.content",
            f"is {len(content)} bytes; at most {max_inline_bytes} bytes are allowed inline "
            "(store large images under MEDIA_ROOT and pass their uri)",
            "IMAGE_TOO_LARGE",
        )
        return None
    found = sniff_image_format(content)
    if found is None:
        violations.add(
            f"{field}.content",
            "is not an image: expected JPEG, PNG, GIF, WebP, BMP or TIFF bytes"
            if content
            else "is empty",
            "IMAGE_UNSUPPORTED",
        )
        return None
    return PlannedImage(
        filename=image.filename,
        content_type=image.content_type or found.content_type,
        content=content,
        extension=found.extension,
    )


def _guess_type(path: str) -> str:
    guessed, _ = mimetypes.guess_type(path)
    return guessed if guessed is not None and guessed.startswith("image/") else ""
