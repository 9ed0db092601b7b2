"""Garbage request bytes over a real channel: INVALID_ARGUMENT with a sentence, never UNKNOWN with
a Python class name; and the RPCs still work afterwards. Unary, server-streaming and (on a server
of its own, with a handler answering errors as UploadImage does) client-streaming RPCs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.protobuf import wrappers_pb2
from grpc_status import rpc_status  # type: ignore[import-untyped]

from bubble.processing.v1 import service_pb2
from bubble_service.conftest import TOKEN_ALL, Harness, rich_error
from bubble_service.errors import ServiceError
from bubble_service.request_decoding import RequestDecodingInterceptor

SERVICE = "/bubble.processing.v1.ItemProcessingService"
# Field 1, wire type 2 (length-delimited), declaring 100 bytes that never come: no parser takes it.
GARBAGE = b"\x0a\x64not a protobuf message"


def _identity(raw: bytes) -> bytes:
    return raw


async def _call(
    channel: grpc.aio.Channel,
    method: str,
    *,
    streaming: bool,
    metadata: tuple[tuple[str, str], ...],
) -> None:
    if streaming:
        call = channel.unary_stream(
            f"{SERVICE}/{method}", request_serializer=_identity, response_deserializer=_identity
        )(GARBAGE, metadata=metadata, timeout=10)
        async for _ in call:
            pass
    else:
        await channel.unary_unary(
            f"{SERVICE}/{method}", request_serializer=_identity, response_deserializer=_identity
        )(GARBAGE, metadata=metadata, timeout=10)


async def _send_garbage(
    channel: grpc.aio.Channel, method: str, *, streaming: bool, token: str | None = None
) -> grpc.aio.AioRpcError:
    """Sends GARBAGE as the request of ``method``, as a client with a serialization bug would."""
    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _call(channel, method, streaming=streaming, metadata=metadata)
    return raised.value


@pytest.mark.parametrize(
    ("method", "streaming"), [("CreateItem", False), ("GetStatus", False), ("WatchStatus", True)]
)
async def test_undecodable_bytes_are_an_invalid_argument_a_person_can_read(
    harness: Harness, method: str, streaming: bool
) -> None:
    error = rich_error(await _send_garbage(harness.channel, method, streaming=streaming))

    assert error.code == grpc.StatusCode.INVALID_ARGUMENT, error.message
    assert (error.reason, error.domain, error.metadata) == (
        "MALFORMED_REQUEST",
        "bubble.processing.v1",
        {"rpc": method},
    )
    assert f"not a valid protobuf {method} request" in error.message
    for leak in ("<class", "DecodeError", "google.protobuf", "Unexpected", "Traceback"):
        assert leak not in error.message
    assert harness.items() == 0
    # The server is fine: the next, well-formed call answers.
    listed = await harness.stub.ListItems(service_pb2.ListItemsRequest(), timeout=10)
    assert list(listed.items) == []


async def test_authentication_is_still_checked_first(secured_harness: Harness) -> None:
    channel = secured_harness.channel

    anonymous = await _send_garbage(channel, "CreateItem", streaming=False)
    signed = await _send_garbage(channel, "WatchStatus", streaming=True, token=TOKEN_ALL)

    assert anonymous.code() == grpc.StatusCode.UNAUTHENTICATED
    assert signed.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_client_streaming_handler_meets_it_as_it_reads_the_message() -> None:
    received: list[str] = []

    async def upload(requests: AsyncIterator[Any], context: Any) -> bytes:
        try:
            async for request in requests:
                received.append(request.value)
        except ServiceError as error:
            await context.abort_with_status(rpc_status.to_status(error.to_status()))
        return b""

    server = grpc.aio.server(interceptors=[RequestDecodingInterceptor()])
    handler = grpc.stream_unary_rpc_method_handler(
        upload,
        request_deserializer=wrappers_pb2.StringValue.FromString,
        response_serializer=_identity,
    )
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler("test.Uploads", {"Upload": handler})]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            upload_call = channel.stream_unary(
                "/test.Uploads/Upload",
                request_serializer=_identity,
                response_deserializer=_identity,
            )
            first = wrappers_pb2.StringValue(value="metadata").SerializeToString()
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await upload_call(iter([first, GARBAGE]), timeout=10)
    finally:
        await server.stop(None)

    error = rich_error(raised.value)
    assert (error.code, error.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "MALFORMED_REQUEST")
    assert "not a valid protobuf Upload request" in error.message
    assert received == ["metadata"]
