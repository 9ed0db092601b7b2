"""Optional bearer-token authentication (AUTH_TOKENS): ``authorization: Bearer <token>``.

Health checks and reflection stay open: load balancers and grpcurl must reach them without
credentials, and they reveal nothing about items. Tokens are compared in constant time.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, NoReturn, TypeAlias

import grpc

from bubble_service.dependencies import Context
from bubble_service.errors import unauthenticated

Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"

OPEN_PREFIXES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)
_SCHEME = "bearer "


class BearerTokenInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, tokens: Iterable[str]) -> None:
        self._tokens = [token.encode() for token in tokens]

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        method = handler_call_details.method
        handler = await continuation(handler_call_details)
        if handler is None or method.startswith(OPEN_PREFIXES):
            return handler
        metadata = handler_call_details.invocation_metadata
        problem = self._problem(metadata or ())
        if problem is None:
            return handler
        reason, message = problem

        async def reject(request: Any, context: Context) -> NoReturn:
            raise unauthenticated(message, reason)

        def reject_stream(request: Any, context: Context) -> AsyncIterator[Any]:
            return _Raising(unauthenticated(message, reason))

        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                reject_stream,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return grpc.unary_unary_rpc_method_handler(
            reject,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _problem(self, metadata: Iterable[tuple[str, str | bytes]]) -> tuple[str, str] | None:
        values = [value for key, value in metadata if key == "authorization"]
        if not values:
            return (
                "MISSING_CREDENTIALS",
                "this server requires authentication: send 'authorization: Bearer <token>'",
            )
        value = values[0] if isinstance(values[0], str) else values[0].decode("latin-1")
        if not value.lower().startswith(_SCHEME):
            return ("INVALID_CREDENTIALS", "the authorization header must be 'Bearer <token>'")
        given = value[len(_SCHEME) :].strip().encode()
        # Compare with every token (no early exit), so timing reveals nothing about which matched.
        matched = False
        for token in self._tokens:
            matched |= hmac.compare_digest(given, token)
        if not matched:
            return ("INVALID_CREDENTIALS", "the bearer token is not valid")
        return None


class _Raising:
    """A response stream whose first step raises ``error`` (a stream handler that rejects)."""

    def __init__(self, error: Exception) -> None:
        self._error = error

    def __aiter__(self) -> _Raising:
        return self

    async def __anext__(self) -> Any:
        raise self._error
