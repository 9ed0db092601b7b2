"""UploadImage: one image in chunks, stored for CreateItem to use by ``ImageInput.upload_id``.

A gRPC message holds at most GRPC_MAX_MESSAGE_BYTES (4 MiB), less than a phone photo; a
client-streaming upload takes up to MAX_UPLOAD_BYTES in chunks of at most 1 MiB. The stream is
refused as soon as it breaks a rule (a declared size over the cap before any byte, more bytes than
declared, a non-image start), is checked against the declared size and sha256 when it ends, and
leaves nothing behind when refused: ``upload_files`` removes the partial file, and the row is
written only for a complete, verified upload.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from bubble.processing.v1 import upload_pb2
from bubble_service.dependencies import Context, Dependencies
from bubble_service.errors import FieldViolation, ServiceError, invalid_argument
from bubble_service.images import EMPTY_IMAGE, NOT_AN_IMAGE, check_declared, sniff_image_format
from bubble_service.upload_files import HEAD_BYTES, IncomingFile, upload_uri
from bubble_service.validation import Violations
from bubble_shared.store.models import OWNER_ID_LENGTH

log = logging.getLogger("bubble_service.rpc")

MIB = 1024 * 1024
MAX_CHUNK_BYTES = MIB
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
# Expired uploads answer UPLOAD_EXPIRED this long before they are forgotten (then: unknown).
KEEP_EXPIRED = timedelta(days=1)
PURGE_INTERVAL_SECONDS = 3600.0
UPLOAD_ACCEPTED = ("bubble-upload", "accepted")  # the go-ahead header (service.proto)


class UploadRpcs:
    def __init__(self, deps: Dependencies) -> None:
        self._deps = deps
        self._last_purge = -math.inf

    async def UploadImage(  # noqa: N802 - gRPC method names
        self, requests: AsyncIterator[upload_pb2.UploadImageRequest], context: Context
    ) -> upload_pb2.UploadImageResponse:
        deps = self._deps
        messages = aiter(requests)
        first = await anext(messages, None)
        if first is None or first.WhichOneof("data") != "metadata":
            raise _invalid(
                "metadata",
                "the first message must carry the metadata (owner_id, size_bytes, sha256)",
                "UPLOAD_METADATA_REQUIRED",
            )
        metadata = first.metadata
        _check_metadata(metadata, deps.settings.max_upload_bytes)
        deps.access.require_owner(deps.auth.principal(context), metadata.owner_id)
        # The go-ahead: a client that waits for this header before sending chunks hears a
        # refusal of the metadata before it has sent a byte (and grpc.aio clients, which may
        # report INTERNAL when a write races the server's early status, get the real one).
        # A refusal has no headers of its own, so the header is what tells the two apart.
        await context.send_initial_metadata((UPLOAD_ACCEPTED,))
        await self._purge_now_and_then()
        incoming = IncomingFile(deps.settings.store.media_root)
        try:
            await asyncio.to_thread(incoming.open)
            async for message in messages:
                chunk = _chunk(message)
                if incoming.size + len(chunk) > metadata.size_bytes:
                    raise _invalid(
                        "chunk",
                        f"the stream carries more than the {metadata.size_bytes} bytes "
                        "metadata.size_bytes declared",
                        "UPLOAD_SIZE_MISMATCH",
                    )
                had = len(incoming.head)
                await asyncio.to_thread(incoming.write, chunk)
                if had < HEAD_BYTES <= len(incoming.head):
                    _sniff(incoming.head)  # a non-image is refused at once, not after 20 MB
            return await self._finish(metadata, incoming)
        finally:
            incoming.discard()  # nothing of a refused or cancelled upload stays behind

    async def _finish(
        self, metadata: upload_pb2.UploadImageMetadata, incoming: IncomingFile
    ) -> upload_pb2.UploadImageResponse:
        if incoming.size != metadata.size_bytes:
            raise _invalid(
                "chunk",
                f"the stream ended after {incoming.size} bytes; metadata.size_bytes declared "
                f"{metadata.size_bytes}",
                "UPLOAD_SIZE_MISMATCH",
            )
        found = _sniff(incoming.head)
        if incoming.sha256 != metadata.sha256.lower():
            raise _invalid(
                "metadata.sha256",
                f"the received bytes have SHA-256 {incoming.sha256}, not the declared "
                f"{metadata.sha256.lower()}: the file changed or was damaged on the way",
                "CHECKSUM_MISMATCH",
            )
        uploads = self._deps.uploads
        upload = await asyncio.to_thread(
            uploads.add,
            owner_id=metadata.owner_id,
            uri=upload_uri(incoming.sha256, found.extension),
            filename=metadata.filename,
            content_type=metadata.content_type or found.content_type,
            size_bytes=incoming.size,
            sha256=incoming.sha256,
        )
        try:
            await asyncio.to_thread(incoming.keep, upload.uri)
        except BaseException:
            await asyncio.to_thread(uploads.delete, upload.upload_id)
            raise
        expire_time = Timestamp()
        expire_time.FromDatetime(upload.expire_time)
        return upload_pb2.UploadImageResponse(
            upload_id=upload.upload_id,
            size_bytes=upload.size_bytes,
            sha256=upload.sha256,
            content_type=upload.content_type,
            expire_time=expire_time,
        )

    async def _purge_now_and_then(self) -> None:
        """Forgets long-expired uploads, at most once an hour (a failure waits for the next)."""
        now = time.monotonic()
        if now - self._last_purge < PURGE_INTERVAL_SECONDS:
            return
        self._last_purge = now
        try:
            purged = await asyncio.to_thread(
                self._deps.uploads.purge_expired, older_than=KEEP_EXPIRED
            )
        except Exception:
            log.warning("purging expired uploads failed", exc_info=True)
            return
        if purged:
            log.info("purged %d expired uploads", purged)


def _check_metadata(metadata: upload_pb2.UploadImageMetadata, max_bytes: int) -> None:
    violations = Violations()
    if not metadata.owner_id:
        violations.add("metadata.owner_id", "the owner ID is required", "FIELD_REQUIRED")
    violations.text("metadata.owner_id", metadata.owner_id, OWNER_ID_LENGTH)
    check_declared(violations, "metadata", metadata.filename, metadata.content_type)
    if not _SHA256.fullmatch(metadata.sha256):
        violations.add(
            "metadata.sha256",
            "must be the file's SHA-256 as 64 hexadecimal digits",
            "INVALID_SHA256",
        )
    if metadata.size_bytes < 0:
        violations.add("metadata.size_bytes", f"must not be negative, got {metadata.size_bytes}")
    elif metadata.size_bytes == 0:
        violations.add("metadata.size_bytes", f"the image {EMPTY_IMAGE}", "IMAGE_CORRUPT")
    violations.raise_if_any()
    if metadata.size_bytes > max_bytes:
        raise ServiceError(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"the upload is {metadata.size_bytes} bytes; at most {max_bytes} bytes"
            f"{_in_units(max_bytes)} are accepted",
            "UPLOAD_TOO_LARGE",
            {"size_bytes": str(metadata.size_bytes), "max_bytes": str(max_bytes)},
        )


def _chunk(message: upload_pb2.UploadImageRequest) -> bytes:
    if message.WhichOneof("data") != "chunk":
        raise _invalid(
            "metadata", "only the first message may carry metadata; send chunks after it"
        )
    if len(message.chunk) > MAX_CHUNK_BYTES:
        raise _invalid(
            "chunk",
            f"is {len(message.chunk)} bytes; a chunk may be at most {MAX_CHUNK_BYTES} bytes "
            "(1 MiB)",
            "CHUNK_TOO_LARGE",
        )
    return message.chunk


def _sniff(head: bytes) -> Any:
    found = sniff_image_format(head)
    if found is None:
        raise _invalid("chunk", f"the upload {NOT_AN_IMAGE}", "IMAGE_UNSUPPORTED")
    return found


def _invalid(field: str, description: str, reason: str = "INVALID_FIELD") -> ServiceError:
    return invalid_argument([FieldViolation(field, description, reason)])


def _in_units(size: int) -> str:
    """The size in MiB or KiB, " (20 MiB)", when round: a person reads it without counting."""
    for unit, name in ((MIB, "MiB"), (1024, "KiB")):
        if size % unit == 0:
            return f" ({size // unit} {name})"
    return ""
