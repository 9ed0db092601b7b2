"""The images of a new item: URIs checked against MEDIA_ROOT, inline bytes sniffed and stored,
uploads (UploadImage) looked up for the item's owner.

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
from bubble_shared.store import NewImage, StoredUpload

MAX_IMAGES = 20
MAX_FILENAME_LENGTH = 255
MAX_CONTENT_TYPE_LENGTH = 255
NOT_AN_IMAGE = "is not an image: expected JPEG, PNG, GIF, WebP, BMP or TIFF bytes"
EMPTY_IMAGE = "is empty (0 bytes)"

UploadLookup = Callable[[str], StoredUpload | None]
"""An upload of the item's owner by ID (expired or not), or None for none of theirs."""


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
    size_bytes: int = 0
    expired_upload: str = ""
    """The ID of the expired upload this image names (the caller refuses the request)."""


def plan_images(
    images: Sequence[item_pb2.ImageInput],
    *,
    media_root: Path,
    max_inline_bytes: int,
    violations: Violations,
    uploads: UploadLookup | None = None,
) -> list[PlannedImage]:
    """Checks every image (all of them, so every problem is reported) and writes nothing.

    ``uploads`` finds the owner's uploads; None when the caller may not act for the owner (the
    request is refused anyway, and must not tell which upload IDs exist)."""
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
        check_declared(violations, field, image.filename, image.content_type)
        source = image.WhichOneof("source")
        result: PlannedImage | None = None
        if source == "uri":
            result = _plan_uri(image, field, media_root, violations)
        elif source == "content":
            result = _plan_content(image, field, max_inline_bytes, violations)
        elif source == "upload_id":
            result = _plan_upload(image, field, uploads, violations)
        else:
            violations.add(
                f"{field}.source", "set one of uri, content or upload_id", "IMAGE_SOURCE_REQUIRED"
            )
        if result is not None and len(violations.found) == before:
            planned.append(result)
    return planned


def check_declared(violations: Violations, field: str, filename: str, content_type: str) -> None:
    """The file name and MIME type a client declares for an image (inline, URI or upload)."""
    violations.text(f"{field}.filename", filename, MAX_FILENAME_LENGTH)
    if content_type:
        violations.text(f"{field}.content_type", content_type, MAX_CONTENT_TYPE_LENGTH)
        if not content_type.lower().startswith("image/"):
            violations.add(
                f"{field}.content_type",
                f"{content_type[:64]!r} is not an image type (must start with 'image/')",
            )


def store_images(media_root: Path, planned: Sequence[PlannedImage]) -> list[NewImage]:
    """Writes the inline images under MEDIA_ROOT (blocking I/O: run it in a thread)."""
    stored: list[NewImage] = []
    for image in planned:
        if image.uri:
            stored.append(
                NewImage(
                    uri=image.uri,
                    filename=image.filename,
                    content_type=image.content_type,
                    size_bytes=image.size_bytes,
                )
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
    if not content:
        # As the worker answers for an empty file by URI.
        violations.add(f"{field}.content", EMPTY_IMAGE, "IMAGE_CORRUPT")
        return None
    found = sniff_image_format(content)
    if found is None:
        violations.add(f"{field}.content", NOT_AN_IMAGE, "IMAGE_UNSUPPORTED")
        return None
    return PlannedImage(
        filename=image.filename,
        content_type=image.content_type or found.content_type,
        content=content,
        extension=found.extension,
    )


def _plan_upload(
    image: item_pb2.ImageInput,
    field: str,
    uploads: UploadLookup | None,
    violations: Violations,
) -> PlannedImage | None:
    if not image.upload_id:
        violations.add(f"{field}.upload_id", "the upload ID is empty", "FIELD_REQUIRED")
        return None
    if uploads is None:
        return None
    upload = uploads(image.upload_id)
    if upload is None:
        shown = image.upload_id if len(image.upload_id) <= 64 else image.upload_id[:64] + "..."
        violations.add(
            f"{field}.upload_id",
            f"no upload of this owner has ID {shown!r} (give the upload_id UploadImage answered "
            "for this owner_id)",
            "UPLOAD_NOT_FOUND",
        )
        return None
    return PlannedImage(
        filename=image.filename or upload.filename,
        content_type=image.content_type or upload.content_type,
        uri=upload.uri,
        size_bytes=upload.size_bytes,
        expired_upload=upload.upload_id if upload.expired else "",
    )


def _guess_type(path: str) -> str:
    guessed, _ = mimetypes.guess_type(path)
    return guessed if guessed is not None and guessed.startswith("image/") else ""
