"""Requests whose bytes are not the protobuf message they should be answer INVALID_ARGUMENT.

grpc.aio deserializes a request before any handler or interceptor sees it, and answers a
deserializer's exception itself: UNKNOWN with "Unexpected <class '...DecodeError'>", a code that
says nothing and a message that names our Python classes. This interceptor, the innermost, gives
the handlers a deserializer that never raises: it returns ``Undecodable`` instead, and the
handler raises the ServiceError the observing interceptor turns into the status (logged and
counted like any other answer). A client-streaming handler (UploadImage) meets it as it reads the
message, and answers it as it answers its own errors.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeAlias, cast

import grpc

from bubble_service.dependencies import Context
from bubble_service.errors import undecodable_request

log = logging.getLogger("bubble_service.rpc")

Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
Deserializer = Callable[[bytes], Any]
Unary = Callable[[Any, Context], Awaitable[Any]]
ClientStreaming = Callable[[AsyncIterator[Any], Context], Awaitable[Any]]
# Streaming handlers are async generators, or coroutines that call context.write.
Streaming = Callable[[Any, Context], AsyncIterator[Any] | Awaitable[None]]


@dataclass(frozen=True)
class Undecodable:
    """What the guarded deserializer returns for bytes that are not the request message."""

    size: int


class RequestDecodingInterceptor(grpc.aio.ServerInterceptor):
    """Keep it last in the server's interceptors: the handlers around it then get the guarded
    deserializer and see the rejection as an ordinary ServiceError."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_deserializer is None:
            return handler
        method = handler_call_details.method
        deserializer = _guarded(handler.request_deserializer)
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                _unary(method, cast(Unary, handler.unary_unary)),
                request_deserializer=deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                _streaming(method, cast(Streaming, handler.unary_stream)),
                request_deserializer=deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                _client_streaming(method, cast(ClientStreaming, handler.stream_unary)),
                request_deserializer=deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler  # both ways streaming: reflection only, left as it is


def _guarded(deserializer: Deserializer) -> Deserializer:
    def deserialize(raw: bytes) -> Any:
        try:
            return deserializer(raw)
        except Exception as error:  # DecodeError, or whatever a custom deserializer raises
            log.debug("undecodable request of %d bytes: %r", len(raw), error)
            return Undecodable(len(raw))

    return deserialize


def _rpc_name(method: str) -> str:
    """``CreateItem`` of ``/bubble.processing.v1.ItemProcessingService/CreateItem``."""
    return method.rsplit("/", 1)[-1] or method


def _unary(method: str, behavior: Unary) -> Unary:
    async def checked(request: Any, context: Context) -> Any:
        if isinstance(request, Undecodable):
            raise undecodable_request(_rpc_name(method), request.size)
        return await behavior(request, context)

    return checked


def _streaming(method: str, behavior: Streaming) -> Callable[[Any, Context], AsyncIterator[Any]]:
    async def checked(request: Any, context: Context) -> AsyncIterator[Any]:
        if isinstance(request, Undecodable):
            raise undecodable_request(_rpc_name(method), request.size)
        responses = behavior(request, context)
        if isinstance(responses, AsyncIterator):
            async for response in responses:
                yield response
        else:
            await responses  # a handler that writes with context.write (health Watch)

    return checked


def _client_streaming(method: str, behavior: ClientStreaming) -> ClientStreaming:
    async def checked(requests: AsyncIterator[Any], context: Context) -> Any:
        return await behavior(_checked_requests(method, requests), context)

    return checked


async def _checked_requests(method: str, requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for request in requests:
        if isinstance(request, Undecodable):
            raise undecodable_request(_rpc_name(method), request.size)
        yield request
