"""Optional bearer-token authentication (AUTH_TOKENS): ``authorization: Bearer <token>``.

The interceptor turns away every call of the service without a valid token; a handler then asks
``Authenticator.principal`` whom the call acts for (the token's owners, ``principals``). Health
checks and reflection stay open: load balancers and grpcurl must reach them without credentials,
and they reveal nothing about items. Tokens are compared in constant time.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any, NoReturn, TypeAlias

import grpc

from bubble_service.errors import ServiceError, unauthenticated
from bubble_service.principals import EVERY_OWNER, Principal

Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
# A string: the stubs make ServicerContext generic, the runtime class is not subscriptable.
Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"
"""The context every handler gets (request and response types do not matter to handlers)."""
Metadata: TypeAlias = Iterable[tuple[str, str | bytes]]

OPEN_PREFIXES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)
_SCHEME = "bearer "


class Authenticator:
    """Maps a call's bearer token to its principal; without tokens every call acts for every
    owner (authentication is off)."""

    def __init__(self, tokens: Mapping[str, Principal]) -> None:
        self._tokens = [(token.encode(), principal) for token, principal in tokens.items()]

    @property
    def enabled(self) -> bool:
        return bool(self._tokens)

    def principal(self, context: Context) -> Principal:
        """Whom the call acts for; UNAUTHENTICATED without a valid token (the interceptor has
        normally turned such a call away already)."""
        return self.authenticate(context.invocation_metadata() or ())

    def authenticate(self, metadata: Metadata) -> Principal:
        if not self._tokens:
            return EVERY_OWNER
        values = [value for key, value in metadata if key == "authorization"]
        if not values:
            raise unauthenticated(
                "this server requires authentication: send 'authorization: Bearer <token>'",
                "MISSING_CREDENTIALS",
            )
        value = values[0] if isinstance(values[0], str) else values[0].decode("latin-1")
        if not value.lower().startswith(_SCHEME):
            raise unauthenticated(
                "the authorization header must be 'Bearer <token>'", "INVALID_CREDENTIALS"
            )
        matched = self.match(value[len(_SCHEME) :].strip())
        if matched is None:
            raise unauthenticated("the bearer token is not valid", "INVALID_CREDENTIALS")
        return matched

    def match(self, token: str) -> Principal | None:
        """The principal of ``token``; None when it is no configured token."""
        given = token.encode()
        # Compare with every token (no early exit), so timing reveals nothing about which matched.
        matched: Principal | None = None
        for known, principal in self._tokens:
            if hmac.compare_digest(given, known):
                matched = principal
        return matched


class BearerTokenInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, authenticator: Authenticator) -> None:
        self._authenticator = authenticator

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        method = handler_call_details.method
        handler = await continuation(handler_call_details)
        if handler is None or method.startswith(OPEN_PREFIXES):
            return handler
        try:
            self._authenticator.authenticate(handler_call_details.invocation_metadata or ())
        except ServiceError as error:
            return _rejecting(handler, error)
        return handler


def _rejecting(handler: Handler, error: ServiceError) -> Handler:
    """A handler of the same shape as ``handler`` that fails with ``error``."""

    async def reject(request: Any, context: Context) -> NoReturn:
        raise error

    def reject_stream(request: Any, context: Context) -> AsyncIterator[Any]:
        return _Raising(error)

    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(
            reject_stream,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    if handler.stream_unary is not None:  # UploadImage: refused before a chunk is read
        return grpc.stream_unary_rpc_method_handler(
            reject,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    return grpc.unary_unary_rpc_method_handler(
        reject,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


class _Raising:
    """A response stream whose first step raises ``error`` (a stream handler that rejects)."""

    def __init__(self, error: Exception) -> None:
        self._error = error

    def __aiter__(self) -> _Raising:
        return self

    async def __anext__(self) -> Any:
        raise self._error
