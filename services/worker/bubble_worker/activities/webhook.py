"""Delivering a notification to the owner's webhook, signed so the receiver can trust it.

The receiver verifies ``X-Bubble-Signature: sha256=<hex>``, an HMAC-SHA256 with the shared secret
over ``<X-Bubble-Timestamp>.<body>``; the timestamp inside the signature lets it refuse replays
of old deliveries. ``Idempotency-Key`` is the notification id: a delivery retried after a lost
response carries the same key, so the receiver can drop the duplicate.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass

import httpx

SIGNATURE_HEADER = "X-Bubble-Signature"
TIMESTAMP_HEADER = "X-Bubble-Timestamp"


class WebhookTransientError(Exception):
    """Worth retrying: the receiver was unreachable, too slow, rate-limiting or failing (5xx)."""


class WebhookRejectedError(Exception):
    """Not worth retrying: the receiver answered with a client error (4xx other than 408/429)."""


@dataclass(frozen=True)
class WebhookConfig:
    url: str
    secret: str | None = None
    timeout_seconds: float = 10.0


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


class WebhookSender:
    def __init__(self, config: WebhookConfig, client: httpx.Client | None = None) -> None:
        self._config = config
        self._client = client or httpx.Client(timeout=config.timeout_seconds)

    def deliver(self, notification_id: str, body: bytes) -> None:
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": notification_id,
            TIMESTAMP_HEADER: timestamp,
        }
        if self._config.secret:
            headers[SIGNATURE_HEADER] = sign(self._config.secret, timestamp, body)
        try:
            response = self._client.post(self._config.url, content=body, headers=headers)
        except httpx.HTTPError as err:
            raise WebhookTransientError(f"webhook unreachable: {err}") from err
        if response.status_code in (408, 429) or response.status_code >= 500:
            raise WebhookTransientError(f"webhook answered HTTP {response.status_code}")
        if response.status_code >= 400:
            raise WebhookRejectedError(
                f"webhook refused the notification: HTTP {response.status_code}"
            )

    def close(self) -> None:
        self._client.close()
