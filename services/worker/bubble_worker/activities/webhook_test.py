"""WebhookSender against a real HTTP receiver on loopback."""

from __future__ import annotations

import pytest

from bubble_shared.testing.ports import free_port
from bubble_worker.activities.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookConfig,
    WebhookRejectedError,
    WebhookSender,
    WebhookTransientError,
    sign,
)
from bubble_worker.testing.webhook_receiver import webhook_receiver


def test_delivers_a_signed_body_the_receiver_can_verify() -> None:
    with webhook_receiver() as receiver:
        WebhookSender(WebhookConfig(url=receiver.url, secret="s3cret")).deliver("n-1", b'{"a":1}')

    [request] = receiver.received
    assert request.body == b'{"a":1}'
    assert request.headers["idempotency-key"] == "n-1"
    assert request.headers["content-type"] == "application/json"
    timestamp = request.headers[TIMESTAMP_HEADER.lower()]
    assert request.headers[SIGNATURE_HEADER.lower()] == sign("s3cret", timestamp, b'{"a":1}')
    assert sign("other", timestamp, b'{"a":1}') != sign("s3cret", timestamp, b'{"a":1}')


def test_without_a_secret_nothing_is_signed() -> None:
    with webhook_receiver() as receiver:
        WebhookSender(WebhookConfig(url=receiver.url)).deliver("n-1", b"{}")

    assert SIGNATURE_HEADER.lower() not in receiver.received[0].headers


@pytest.mark.parametrize("status", [500, 503, 429, 408])
def test_server_errors_and_throttling_are_transient(status: int) -> None:
    with webhook_receiver() as receiver:
        receiver.statuses.append(status)
        with pytest.raises(WebhookTransientError, match=str(status)):
            WebhookSender(WebhookConfig(url=receiver.url)).deliver("n-1", b"{}")


@pytest.mark.parametrize("status", [400, 401, 404, 410])
def test_client_errors_are_final(status: int) -> None:
    with webhook_receiver() as receiver:
        receiver.statuses.append(status)
        with pytest.raises(WebhookRejectedError, match=str(status)):
            WebhookSender(WebhookConfig(url=receiver.url)).deliver("n-1", b"{}")


def test_an_unreachable_receiver_is_transient() -> None:
    port = free_port()  # nothing listens there
    sender = WebhookSender(WebhookConfig(url=f"http://127.0.0.1:{port}/", timeout_seconds=2))

    with pytest.raises(WebhookTransientError, match="unreachable"):
        sender.deliver("n-1", b"{}")
