"""The observing interceptor: a bug becomes a bare INTERNAL (logged, never sent), and every RPC is
counted and logged with its code."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from bubble_service.conftest import rich_error
from bubble_service.errors import not_found
from bubble_service.metrics import RpcMetrics
from bubble_service.observe import ObservingInterceptor


async def _bug(request: bytes, context: Any) -> bytes:
    raise KeyError("secret internal detail")


async def _missing(request: bytes, context: Any) -> bytes:
    raise not_found("no such thing", "THING_NOT_FOUND", thing="x")


async def _missing_after_reading(requests: AsyncIterator[bytes], context: Any) -> bytes:
    async for _ in requests:
        pass
    raise not_found("no such thing", "THING_NOT_FOUND", thing="x")


async def call(channel: grpc.aio.Channel, method: str) -> Any:
    """Calls a method of the bare test service with raw (unserialized) bytes."""
    multicallable: Any = channel.unary_unary(method)
    return await multicallable(b"")


async def _until_finished(caplog: pytest.LogCaptureFixture) -> None:
    """Yields until the server logged the RPC's line: the client may see the status first."""
    while not any(hasattr(record, "duration_ms") for record in caplog.records):
        await asyncio.sleep(0.01)


@pytest.fixture()
async def server() -> AsyncIterator[tuple[grpc.aio.Channel, RpcMetrics]]:
    metrics = RpcMetrics()
    server = grpc.aio.server(interceptors=[ObservingInterceptor(metrics)])
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
        "Bug": grpc.unary_unary_rpc_method_handler(_bug),
        "Missing": grpc.unary_unary_rpc_method_handler(_missing),
        "Upload": grpc.stream_unary_rpc_method_handler(_missing_after_reading),
    }
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("test.T", handlers)])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield channel, metrics
    await server.stop(0)


async def test_a_bug_is_internal_without_details_and_logged(
    server: tuple[grpc.aio.Channel, RpcMetrics], caplog: pytest.LogCaptureFixture
) -> None:
    channel, metrics = server

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call(channel, "/test.T/Bug")

    error = rich_error(raised.value)
    await _until_finished(caplog)
    assert (error.code, error.reason) == (grpc.StatusCode.INTERNAL, "INTERNAL")
    assert "secret" not in error.message
    assert "KeyError" not in (raised.value.debug_error_string() or "")
    logged = [r for r in caplog.records if r.levelno == logging.ERROR and r.exc_info]
    assert logged
    assert "secret internal detail" in str(logged[0].exc_info[1])  # type: ignore[index]
    assert metrics.requests.labels(method="/test.T/Bug", code="INTERNAL")._value.get() == 1


async def test_a_service_error_keeps_its_code_and_details(
    server: tuple[grpc.aio.Channel, RpcMetrics], caplog: pytest.LogCaptureFixture
) -> None:
    channel, _ = server
    caplog.set_level(logging.INFO)

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call(channel, "/test.T/Missing")

    error = rich_error(raised.value)
    assert (error.code, error.reason, error.metadata) == (
        grpc.StatusCode.NOT_FOUND,
        "THING_NOT_FOUND",
        {"thing": "x"},
    )
    await _until_finished(caplog)
    [line] = [r for r in caplog.records if hasattr(r, "duration_ms")]
    assert (line.rpc, line.code) == ("/test.T/Missing", "NOT_FOUND")  # type: ignore[attr-defined]
    assert line.duration_ms >= 0
    assert line.peer  # type: ignore[attr-defined]


async def test_a_client_streaming_call_is_answered_counted_and_logged(
    server: tuple[grpc.aio.Channel, RpcMetrics], caplog: pytest.LogCaptureFixture
) -> None:
    channel, metrics = server
    caplog.set_level(logging.INFO)
    upload: Any = channel.stream_unary("/test.T/Upload")

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await upload(iter([b"chunk", b"chunk"]))

    assert rich_error(raised.value).reason == "THING_NOT_FOUND"
    await _until_finished(caplog)
    [line] = [r for r in caplog.records if hasattr(r, "duration_ms")]
    assert (line.rpc, line.code) == ("/test.T/Upload", "NOT_FOUND")  # type: ignore[attr-defined]
    assert metrics.requests.labels(method="/test.T/Upload", code="NOT_FOUND")._value.get() == 1
