"""A real HTTP server on loopback standing in for an OpenAI-compatible vision model in tests.

It answers ``POST /v1/chat/completions`` with the queued replies in order, then with
``default`` (a valid answer), and records every request with the time it arrived: the kernel's
receive time of its bytes, as a server in a process of its own would see it. The handler's own
clock would add however long its thread waited for the GIL, which in a test is shared with the
worker sending the requests.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from bubble_shared.testing.http_servers import QuietHandler, serving

GOOD_ANSWER: dict[str, Any] = {
    "title": "Nike Air Max 90 sneakers",
    "category": "Shoes > Sneakers",
    "tags": ["sneakers", "nike", "running shoes"],
    "description": "Classic Nike Air Max 90 sneakers with a visible air unit.",
    "attributes": {"brand": "Nike", "model": "Air Max 90"},
}


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_seconds: float = 0.0


def completion(content: str) -> Reply:
    """A Chat Completions reply whose message holds ``content``."""
    body = {
        "id": "chatcmpl-stand-in",
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
    }
    return Reply(body=json.dumps(body).encode())


def answer(**fields: Any) -> Reply:
    """A reply holding GOOD_ANSWER with ``fields`` replaced."""
    return completion(json.dumps({**GOOD_ANSWER, **fields}))


def error(status: int, message: str = "", **headers: str) -> Reply:
    body = json.dumps({"error": {"message": message or f"HTTP {status}"}}).encode()
    return Reply(status=status, body=body, headers=headers)


_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
"""Linux's socket option for receive timestamps (Python does not name it)."""
_TIMESPEC = struct.Struct("qq")


def arrival_time(connection: socket.socket) -> float:
    """When the bytes waiting on ``connection`` arrived (seconds since the epoch, from the kernel
    when it says), blocking until some do; they stay unread."""
    _, ancillary, _, _ = connection.recvmsg(1, socket.CMSG_SPACE(_TIMESPEC.size), socket.MSG_PEEK)
    for level, kind, data in ancillary:
        if (level, kind) == (socket.SOL_SOCKET, _SO_TIMESTAMPNS):
            seconds: int
            nanoseconds: int
            seconds, nanoseconds = _TIMESPEC.unpack(data[: _TIMESPEC.size])
            return seconds + nanoseconds / 1e9
    return time.time()


@dataclass(frozen=True)
class ReceivedChat:
    arrived: float
    """When the request arrived, in seconds since the epoch (see :func:`arrival_time`)."""
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def user_text(self) -> str:
        [_, user] = self.body["messages"]
        return "".join(part.get("text", "") for part in user["content"])

    @property
    def image_urls(self) -> list[str]:
        [_, user] = self.body["messages"]
        return [part["image_url"]["url"] for part in user["content"] if "image_url" in part]


@dataclass
class VisionModelServer:
    url: str = ""
    """Base URL, ending in /v1."""
    replies: list[Reply] = field(default_factory=list)
    default: Reply = field(default_factory=answer)
    received: list[ReceivedChat] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def next_reply(self, request: ReceivedChat) -> Reply:
        with self._lock:
            self.received.append(request)
            return self.replies.pop(0) if self.replies else self.default


@contextmanager
def vision_model_server() -> Iterator[VisionModelServer]:
    server_state = VisionModelServer()

    class Handler(QuietHandler):
        arrived = 0.0

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)

        def handle_one_request(self) -> None:
            # Keep-alive: each request of the connection is waited for here.
            self.arrived = arrival_time(self.connection)
            super().handle_one_request()

        def do_POST(self) -> None:  # noqa: N802 - the name http.server dispatches to
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            arrived = self.arrived
            if self.path != "/v1/chat/completions":
                self._send(error(404, f"no route {self.path}"))
                return
            request = ReceivedChat(
                arrived, {k.lower(): v for k, v in self.headers.items()}, json.loads(body)
            )
            self._send(server_state.next_reply(request))

        def _send(self, reply: Reply) -> None:
            if reply.delay_seconds:
                time.sleep(reply.delay_seconds)
            try:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (a timeout test)

    with serving(Handler) as url:
        server_state.url = f"{url}/v1"
        yield server_state
