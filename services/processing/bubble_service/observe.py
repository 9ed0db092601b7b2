"""The outermost interceptor: one log line and metrics per RPC, and errors turned into statuses.

Handlers raise ``ServiceError`` (or let a dependency's exception escape); here it becomes the gRPC
status with its rich details. An unexpected exception is logged with its traceback and answered
with a bare INTERNAL, so nothing about the server's internals reaches the client. A client that
goes away (or a server that cancels a stream at shutdown) cancels the handler: that is logged as
CANCELLED at INFO, never as an error.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias, cast

import grpc
from grpc_status import rpc_status  # type: ignore[import-untyped]

from bubble_service.dependencies import Context
from bubble_service.errors import INTERNAL, ServiceError, expected_failure
from bubble_service.metrics import RpcMetrics

log = logging.getLogger("bubble_service.rpc")

Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
Unary = Callable[[Any, Context], Awaitable[Any]]
# Streaming handlers are async generators, or coroutines that call context.write.
Streaming = Callable[[Any, Context], AsyncIterator[Any] | Awaitable[None]]
# Probes call these every few seconds: their lines go to DEBUG so they do not drown the rest.
_QUIET_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


class ObservingInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, metrics: RpcMetrics) -> None:
        self._metrics = metrics

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(method, cast(Unary, handler.unary_unary)),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._streaming(method, cast(Streaming, handler.unary_stream)),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary is not None:  # UploadImage: observed as a unary call
            return grpc.stream_unary_rpc_method_handler(
                self._unary(method, cast(Unary, handler.stream_unary)),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler  # both ways streaming: reflection only, which handles its own errors

    def _unary(self, method: str, behavior: Unary) -> Unary:
        async def observed(request: Any, context: Context) -> Any:
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                return await behavior(request, context)
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED
                raise
            except grpc.aio.AbortError:
                code = _aborted_code(context)
                raise
            except Exception as error:  # every failure is answered with a status
                failure = _failure(method, error)
                code = failure.code
                await _abort(context, failure)
            finally:
                self._finish(method, code, started, context)

        return observed

    def _streaming(self, method: str, behavior: Streaming) -> Streaming:
        async def observed(request: Any, context: Context) -> AsyncIterator[Any]:
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                responses = behavior(request, context)
                if inspect.isawaitable(responses):
                    await responses  # a handler that writes with context.write (health Watch)
                else:
                    async for response in responses:
                        yield response
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED
                raise
            except grpc.aio.AbortError:
                code = _aborted_code(context)
                raise
            except Exception as error:
                failure = _failure(method, error)
                code = failure.code
                await _abort(context, failure)
            finally:
                self._finish(method, code, started, context)

        return observed

    def _finish(
        self,
        method: str,
        code: grpc.StatusCode,
        started: float,
        context: Context,
    ) -> None:
        seconds = time.perf_counter() - started
        self._metrics.observe(method, code.name, seconds)
        level = logging.INFO
        if method.startswith(_QUIET_PREFIXES):
            level = logging.DEBUG
        elif code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
            level = logging.ERROR
        elif code == grpc.StatusCode.UNAVAILABLE:
            level = logging.WARNING
        log.log(
            level,
            "%s %s",
            method,
            code.name,
            extra={
                "rpc": method,
                "code": code.name,
                "duration_ms": round(seconds * 1000, 1),
                "peer": context.peer(),
            },
        )


def _failure(method: str, error: Exception) -> ServiceError:
    failure = expected_failure(error)
    if failure is None:
        log.error("unexpected error in %s", method, exc_info=error, extra={"rpc": method})
        return INTERNAL
    return failure


async def _abort(context: Context, failure: ServiceError) -> None:
    await context.abort_with_status(rpc_status.to_status(failure.to_status()))


def _aborted_code(context: Context) -> grpc.StatusCode:
    code = context.code()
    return code if isinstance(code, grpc.StatusCode) else grpc.StatusCode.UNKNOWN
