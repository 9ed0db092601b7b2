"""Idempotent requests (AIP-155): a request_id replays the first answer instead of redoing work.

The record is (method, request_id) -> (fingerprint of the parameters, serialized first answer),
kept at least 24 hours (``bubble_shared.store.RequestStore``). A repeat with the same parameters
gets the stored answer; the same request_id with other parameters is ALREADY_EXISTS, because
silently ignoring the new parameters would hide a client bug.

Where a request means more than its fields say, ``scope`` is part of its parameters: a batch
started by a token restricted to some owners selects only their items, so the same fields from
another token are another request and never get that token's answer.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import TypeVar

from google.protobuf.message import Message

from bubble_service.errors import already_exists
from bubble_shared.store import RequestStore, StoredResponse

M = TypeVar("M", bound=Message)


def fingerprint(request: Message, scope: str = "") -> str:
    """A digest of the request's parameters: everything but request_id, and ``scope``.

    Deterministic serialization of the same message gives the same bytes, so equal parameters
    give equal fingerprints (a field left unset and a field set to its default are the same).
    An empty ``scope`` leaves the digest what it was before scopes existed.
    """
    parameters = type(request)()
    parameters.CopyFrom(request)
    parameters.ClearField("request_id")
    digest = hashlib.sha256(type(request).DESCRIPTOR.full_name.encode() + b"\0")
    digest.update(parameters.SerializeToString(deterministic=True))
    if scope:
        digest.update(b"\0scope\0" + scope.encode())
    return digest.hexdigest()


class Idempotency:
    """Looks up and records first answers; database calls run in threads."""

    def __init__(self, requests: RequestStore) -> None:
        self._requests = requests

    async def replay(
        self,
        method: str,
        request_id: str,
        request: Message,
        response_type: type[M],
        *,
        scope: str = "",
    ) -> M | None:
        """The first answer to this request_id, None when there is none (or no request_id).

        Raises ALREADY_EXISTS when the request_id was used with other parameters.
        """
        if not request_id:
            return None
        stored = await asyncio.to_thread(self._requests.get, method, request_id)
        if stored is None:
            return None
        # Off the event loop: a request can carry megabytes of inline images to hash.
        request_fingerprint = await asyncio.to_thread(fingerprint, request, scope)
        return _checked(stored, request_fingerprint, request_id, response_type)

    async def record(
        self, method: str, request_id: str, request: Message, response: M, *, scope: str = ""
    ) -> M:
        """Stores ``response`` as the first answer; returns the answer that was stored first
        (another attempt's, when one raced this one and won)."""
        if not request_id:
            return response
        request_fingerprint = await asyncio.to_thread(fingerprint, request, scope)
        stored, _ = await asyncio.to_thread(
            self._requests.remember,
            method,
            request_id,
            fingerprint=request_fingerprint,
            response=response.SerializeToString(deterministic=True),
        )
        return _checked(stored, request_fingerprint, request_id, type(response))


def _checked(
    stored: StoredResponse, request_fingerprint: str, request_id: str, response_type: type[M]
) -> M:
    if stored.fingerprint != request_fingerprint:
        raise already_exists(
            f"request_id {request_id} was already used with different parameters; use a new "
            "request_id for a different request",
            "REQUEST_ID_REUSED",
            request_id=request_id,
        )
    return response_type.FromString(stored.response)
