"""A real HTTP server on loopback standing in for an owner's webhook endpoint in tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from bubble_shared.testing.http_servers import QuietHandler, serving


@dataclass(frozen=True)
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    """Records every complete POST; answers with the queued statuses in order, then with 204.

    A POST whose sender died before its whole body arrived (a worker killed mid-request) is
    kept apart in ``cut_off`` and not answered: a real endpoint cannot act on half a body.
    """

    url: str = ""
    statuses: list[int] = field(default_factory=list)
    received: list[ReceivedRequest] = field(default_factory=list)
    cut_off: list[ReceivedRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def next_status(self, request: ReceivedRequest) -> int:
        with self._lock:
            self.received.append(request)
            return self.statuses.pop(0) if self.statuses else 204

    def keep_cut_off(self, request: ReceivedRequest) -> None:
        with self._lock:
            self.cut_off.append(request)


@contextmanager
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()

    class Handler(QuietHandler):
        def do_POST(self) -> None:  # noqa: N802 - the name http.server dispatches to
            expected = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(expected)
            request = ReceivedRequest(
                self.path, {k.lower(): v for k, v in self.headers.items()}, body
            )
            if len(body) < expected:
                receiver.keep_cut_off(request)
                self.close_connection = True
                return
            self.send_response(receiver.next_status(request))
            self.send_header("Content-Length", "0")
            self.end_headers()

    with serving(Handler) as url:
        receiver.url = f"{url}/hooks/bubble"
        yield receiver
