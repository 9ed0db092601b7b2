"""Opaque page tokens for keyset pagination over (create_time, item_id), newest first.

A token carries the position after the last item of a page and a fingerprint of the filters and
view it was issued for, so reusing it with other filters is refused instead of silently returning
a page of a different list. A checksum catches tokens that were truncated or edited. The token is
not a security boundary (it grants nothing the request's own filters do not), so it is not signed
with a secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bubble_shared.store.errors import InvalidPageTokenError
from bubble_shared.store.timestamps import require_aware

_VERSION = 1
_CHECKSUM_BYTES = 8
_CHECKSUM_SALT = b"bubble-items-page-token"


@dataclass(frozen=True)
class PageCursor:
    """The last item of the previous page: the next page starts strictly after it."""

    create_time: datetime
    item_id: str


def filters_fingerprint(*, owner_id: str, statuses: Sequence[int], view: int) -> str:
    """A short digest of the list's filters; the order and repetition of statuses do not matter."""
    canonical = json.dumps([owner_id, sorted(set(statuses)), view], separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def encode_page_token(cursor: PageCursor, fingerprint: str) -> str:
    """A URL-safe token (base64url without padding) for the page after ``cursor``."""
    body = json.dumps(
        {
            "v": _VERSION,
            "f": fingerprint,
            "t": require_aware(cursor.create_time, "create_time").isoformat(),
            "i": cursor.item_id,
        },
        separators=(",", ":"),
    ).encode()
    return base64.urlsafe_b64encode(_checksum(body) + body).rstrip(b"=").decode("ascii")


def decode_page_token(token: str, fingerprint: str) -> PageCursor:
    """The cursor of ``token``; InvalidPageTokenError when it is damaged or for other filters."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise InvalidPageTokenError("the page token is malformed") from None
    checksum, body = raw[:_CHECKSUM_BYTES], raw[_CHECKSUM_BYTES:]
    if not body or checksum != _checksum(body):
        raise InvalidPageTokenError("the page token is malformed or was modified")
    try:
        fields = json.loads(body)
        version, token_fingerprint = fields["v"], fields["f"]
        create_time = datetime.fromisoformat(fields["t"])
        item_id = fields["i"]
    except (ValueError, KeyError, TypeError):
        raise InvalidPageTokenError("the page token is malformed") from None
    if version != _VERSION or not isinstance(item_id, str) or create_time.tzinfo is None:
        raise InvalidPageTokenError("the page token is malformed")
    if token_fingerprint != fingerprint:
        raise InvalidPageTokenError(
            "the page token was issued for different filters or view; "
            "repeat the request that returned it with the same owner_id, statuses and view"
        )
    return PageCursor(create_time=require_aware(create_time, "create_time"), item_id=item_id)


def _checksum(body: bytes) -> bytes:
    return hashlib.sha256(_CHECKSUM_SALT + body).digest()[:_CHECKSUM_BYTES]
