"""UploadImage through a real server (SQLite and PostgreSQL): a 20 MB photo uploaded in chunks and
used by CreateItem, and every refused stream answered with the right code, a sentence stating the
limit, and nothing kept (no row, no file, no partial file)."""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import AsyncIterator, Awaitable, Iterable, Iterator
from dataclasses import replace

import grpc
import pytest
from PIL import Image
from sqlalchemy import update

from bubble.processing.v1 import item_pb2, service_pb2, service_pb2_grpc, upload_pb2
from bubble_service.conftest import (
    TOKEN_A,
    TOKEN_AB,
    Harness,
    RichError,
    close_harness,
    expect_error,
    open_harness,
    rich_error,
)
from bubble_service.principals import parse_auth_tokens
from bubble_service.settings import ServiceSettings
from bubble_shared.store.models import Upload
from bubble_shared.testing.photos import padded_jpeg

MIB = 1024 * 1024
Request = upload_pb2.UploadImageRequest
Metadata = upload_pb2.UploadImageMetadata


def messages(content: bytes, *, owner_id: str = "owner-1", **metadata: object) -> list[Request]:
    fields: dict[str, object] = {
        "owner_id": owner_id,
        "filename": "photo.jpg",
        "size_bytes": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
    }
    fields.update(metadata)
    chunks = [content[start : start + MIB] for start in range(0, len(content), MIB)]
    return [Request(metadata=Metadata(**fields))] + [Request(chunk=c) for c in chunks]  # type: ignore[arg-type]


class Lazy:
    """A stream of the metadata and then zero chunks up to ``total`` bytes, generated on demand,
    counting how many the client took (so a test can tell the server stopped it early)."""

    def __init__(self, metadata: Metadata, total: int, chunk: int = MIB) -> None:
        self.metadata, self.total, self.chunk = metadata, total, chunk
        self.sent = 0

    def __iter__(self) -> Iterator[Request]:
        yield Request(metadata=self.metadata)
        zeros = b"\xff\xd8\xff\xe0" + bytes(self.chunk - 4)
        while self.sent < self.total:
            self.sent += self.chunk
            yield Request(chunk=zeros)
            zeros = bytes(self.chunk)


class Uploader:
    """UploadImage over a blocking channel, in a thread: grpc.aio clients may report INTERNAL
    instead of the server's status when the server ends a stream early (grpc/grpc#36066)."""

    def __init__(self, harness: Harness) -> None:
        self._address = harness.address

    async def __call__(
        self, requests: Iterable[Request], metadata: tuple[tuple[str, str], ...] = ()
    ) -> upload_pb2.UploadImageResponse:
        return await asyncio.to_thread(self._upload, requests, metadata)

    def _upload(
        self, requests: Iterable[Request], metadata: tuple[tuple[str, str], ...]
    ) -> upload_pb2.UploadImageResponse:
        with grpc.insecure_channel(self._address) as channel:
            stub = service_pb2_grpc.ItemProcessingServiceStub(channel)
            try:
                response: upload_pb2.UploadImageResponse = stub.UploadImage(
                    iter(requests), metadata=metadata, timeout=60
                )
            except grpc.RpcError as error:
                raise UploadError(error) from None
            return response


class UploadError(Exception):
    def __init__(self, error: grpc.RpcError) -> None:
        super().__init__(str(error))
        self.error = error


async def refused(upload: Awaitable[object]) -> RichError:
    with pytest.raises(UploadError) as raised:
        await upload
    return rich_error(raised.value.error)  # type: ignore[arg-type]


def nothing_kept(harness: Harness) -> bool:
    return harness.count(Upload) == 0 and harness.media_files() == []


@pytest.fixture()
def harness(offline_harness: Harness) -> Harness:
    """Uploads and items do not touch Temporal."""
    return offline_harness


async def test_a_20_mb_photo_is_uploaded_in_chunks_and_used_by_create_item(
    harness: Harness,
) -> None:
    photo = padded_jpeg(20_000_000)
    with Image.open(io.BytesIO(photo)) as opened:
        opened.load()  # a real, decodable JPEG

    uploaded = await Uploader(harness)(messages(photo))
    created = await harness.stub.CreateItem(
        service_pb2.CreateItemRequest(
            owner_id="owner-1",
            title="Big photo",
            images=[item_pb2.ImageInput(upload_id=uploaded.upload_id)],
        )
    )

    assert (uploaded.size_bytes, uploaded.sha256, uploaded.content_type) == (
        len(photo),
        hashlib.sha256(photo).hexdigest(),
        "image/jpeg",
    )
    image = created.item.images[0]
    assert (image.size_bytes, image.filename, image.content_type) == (
        len(photo),
        "photo.jpg",
        "image/jpeg",
    )
    assert image.uri == f"uploads/{uploaded.sha256[:2]}/{uploaded.sha256}.jpg"
    stored = harness.settings.store.media_root / image.uri
    assert stored.read_bytes() == photo
    assert harness.media_files() == [stored]  # no partial file left over


async def test_the_same_upload_serves_a_retried_create_item(harness: Harness) -> None:
    content = padded_jpeg(3 * MIB + 5)
    uploaded = await Uploader(harness)(messages(content, content_type="image/x"))
    request = service_pb2.CreateItemRequest(
        owner_id="owner-1", images=[item_pb2.ImageInput(upload_id=uploaded.upload_id)]
    )

    first = await harness.stub.CreateItem(request)
    second = await harness.stub.CreateItem(request)

    assert first.item.images[0].uri == second.item.images[0].uri
    assert first.item.images[0].content_type == "image/x"


async def test_a_200_mb_upload_is_refused_before_its_bytes_with_the_limit_stated(
    harness: Harness,
) -> None:
    stream = Lazy(Metadata(owner_id="owner-1", size_bytes=200 * MIB, sha256="0" * 64), 200 * MIB)

    error = await refused(Uploader(harness)(stream))

    assert error.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error.reason == "UPLOAD_TOO_LARGE"
    assert error.message == (
        "the upload is 209715200 bytes; at most 20971520 bytes (20 MiB) are accepted"
    )
    assert stream.sent <= 40 * MIB  # what flow control let through, not 200 MB
    assert nothing_kept(harness)


async def test_more_bytes_than_declared_are_refused_as_soon_as_they_exceed_it(
    harness: Harness,
) -> None:
    stream = Lazy(Metadata(owner_id="owner-1", size_bytes=MIB + 1, sha256="0" * 64), 200 * MIB)

    error = await refused(Uploader(harness)(stream))

    assert (error.code, error.reason, error.fields) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "UPLOAD_SIZE_MISMATCH",
        ["chunk"],
    )
    assert "more than the 1048577 bytes" in error.message
    assert stream.sent <= 40 * MIB
    assert nothing_kept(harness)


async def test_a_lowered_cap_is_the_one_stated(settings: ServiceSettings) -> None:
    harness = await open_harness(replace(settings, max_upload_bytes=2 * MIB), None)
    try:
        error = await refused(Uploader(harness)(messages(padded_jpeg(2 * MIB + 1))))
    finally:
        await close_harness(harness)

    assert error.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error.message.endswith("at most 2097152 bytes (2 MiB) are accepted")


def _corrupted(content: bytes) -> list[Request]:
    requests = messages(content)
    requests[-1] = Request(chunk=requests[-1].chunk[:-1] + b"!")
    return requests


JPEG = padded_jpeg(MIB + 100)
REFUSED: dict[str, tuple[list[Request], str, list[str]]] = {
    "checksum mismatch": (_corrupted(JPEG), "CHECKSUM_MISMATCH", ["metadata.sha256"]),
    "fewer bytes than declared": (messages(JPEG)[:-1], "UPLOAD_SIZE_MISMATCH", ["chunk"]),
    "not an image": (messages(b"%PDF-1.7\n" + bytes(2 * MIB)), "IMAGE_UNSUPPORTED", ["chunk"]),
    "a short non-image": (messages(b"hello"), "IMAGE_UNSUPPORTED", ["chunk"]),
    "empty": (messages(b""), "IMAGE_CORRUPT", ["metadata.size_bytes"]),
    "no metadata": (messages(JPEG)[1:], "UPLOAD_METADATA_REQUIRED", ["metadata"]),
    "no message at all": ([], "UPLOAD_METADATA_REQUIRED", ["metadata"]),
    "metadata twice": (
        messages(JPEG)[:2] + messages(JPEG)[:1],
        "INVALID_FIELD",
        ["metadata"],
    ),
    "a chunk over 1 MiB": (
        [messages(JPEG)[0], Request(chunk=JPEG)],
        "CHUNK_TOO_LARGE",
        ["chunk"],
    ),
    "bad metadata": (
        messages(JPEG, owner_id="", sha256="xyz", content_type="text/plain"),
        "FIELD_REQUIRED",
        ["metadata.owner_id", "metadata.content_type", "metadata.sha256"],
    ),
}


@pytest.mark.parametrize("case", REFUSED.values(), ids=REFUSED.keys())
async def test_a_refused_upload_is_invalid_argument_and_keeps_nothing(
    harness: Harness, case: tuple[list[Request], str, list[str]]
) -> None:
    requests, reason, fields = case

    error = await refused(Uploader(harness)(requests))

    assert (error.code, error.reason, error.fields) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        reason,
        fields,
    )
    assert nothing_kept(harness)


async def test_an_empty_upload_says_so(harness: Harness) -> None:
    error = await refused(Uploader(harness)(messages(b"")))

    assert error.message == "metadata.size_bytes: the image is empty (0 bytes)"


async def test_unknown_and_expired_upload_ids_are_refused_by_create_item(harness: Harness) -> None:
    uploaded = await Uploader(harness)(messages(JPEG))

    def create(upload_id: str, owner_id: str = "owner-1") -> object:
        return harness.stub.CreateItem(
            service_pb2.CreateItemRequest(
                owner_id=owner_id, images=[item_pb2.ImageInput(upload_id=upload_id)]
            )
        )

    unknown = await expect_error(create("0" * 32))
    others = await expect_error(create(uploaded.upload_id, owner_id="owner-2"))
    with harness.engine.begin() as connection:
        connection.execute(update(Upload).values(expire_time=Upload.create_time))
    expired = await expect_error(create(uploaded.upload_id))

    assert (unknown.code, unknown.reason, unknown.fields) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "UPLOAD_NOT_FOUND",
        ["images[0].upload_id"],
    )
    assert "no upload of this owner has ID '00000000" in unknown.message
    # Another owner's upload is answered as one that does not exist.
    assert (others.reason, others.message) == (
        "UPLOAD_NOT_FOUND",
        unknown.message.replace("0" * 32, uploaded.upload_id),
    )
    assert (expired.code, expired.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "UPLOAD_EXPIRED",
    )
    assert "upload the image again" in expired.message
    assert harness.items() == 0


@pytest.fixture()
async def secured(settings: ServiceSettings) -> AsyncIterator[Harness]:
    tokens, problems = parse_auth_tokens(f"{TOKEN_A}=owner-a,{TOKEN_AB}=owner-a|owner-b")
    assert not problems
    running = await open_harness(replace(settings, auth_tokens=tokens), None)
    yield running
    await close_harness(running)


async def test_uploads_belong_to_owners_the_token_may_act_for(secured: Harness) -> None:
    def bearer(token: str) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {token}"),)

    upload = Uploader(secured)
    anonymous = await refused(upload(messages(JPEG, owner_id="owner-a")))
    not_allowed = await refused(
        upload(messages(JPEG, owner_id="owner-b"), metadata=bearer(TOKEN_A))
    )
    uploaded = await upload(messages(JPEG, owner_id="owner-a"), metadata=bearer(TOKEN_A))
    # A token for both owners still cannot put owner-a's upload on owner-b's item.
    moved = await expect_error(
        secured.stub.CreateItem(
            service_pb2.CreateItemRequest(
                owner_id="owner-b", images=[item_pb2.ImageInput(upload_id=uploaded.upload_id)]
            ),
            metadata=bearer(TOKEN_AB),
        )
    )
    # A token that may not act for owner-b learns nothing about the upload IDs it names.
    probing = await expect_error(
        secured.stub.CreateItem(
            service_pb2.CreateItemRequest(
                owner_id="owner-b", images=[item_pb2.ImageInput(upload_id="0" * 32)]
            ),
            metadata=bearer(TOKEN_A),
        )
    )

    assert anonymous.code == grpc.StatusCode.UNAUTHENTICATED
    assert (not_allowed.code, not_allowed.reason) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "OWNER_NOT_ALLOWED",
    )
    assert moved.reason == "UPLOAD_NOT_FOUND"
    assert (probing.code, probing.reason) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "OWNER_NOT_ALLOWED",
    )
    assert secured.count(Upload) == 1
