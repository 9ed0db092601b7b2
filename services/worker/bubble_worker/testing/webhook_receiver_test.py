"""The webhook stand-in records what a real endpoint would act on, and nothing else."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

import httpx

from bubble_worker.testing.webhook_receiver import WebhookReceiver, webhook_receiver


def _wait_for(receiver: WebhookReceiver, *, cut_off: int) -> None:
    deadline = time.monotonic() + 5
    while len(receiver.cut_off) < cut_off and time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_post_cut_off_before_its_body_ended_is_kept_apart() -> None:
    with webhook_receiver() as receiver:
        address = urlsplit(receiver.url)
        assert address.hostname is not None
        assert address.port is not None
        with socket.create_connection((address.hostname, address.port)) as sender:
            sender.sendall(
                b"POST /hooks/bubble HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
                b"Idempotency-Key: k\r\n\r\n" + b'{"item_id": '
            )
            sender.shutdown(socket.SHUT_WR)  # the sender dies mid-body
            assert sender.recv(1024) == b""  # no answer
        _wait_for(receiver, cut_off=1)

        assert receiver.received == []
        assert [request.body for request in receiver.cut_off] == [b'{"item_id": ']


def test_a_complete_post_is_recorded_and_answered() -> None:
    with webhook_receiver() as receiver:
        receiver.statuses.append(503)
        answer = httpx.post(
            receiver.url, content=b'{"item_id": "i"}', headers={"Idempotency-Key": "k"}
        )

        assert answer.status_code == 503
        assert [request.body for request in receiver.received] == [b'{"item_id": "i"}']
        assert receiver.received[0].headers["idempotency-key"] == "k"
        assert receiver.cut_off == []
