"""A TCP proxy in front of a real server that can play an outage: PostgreSQL "going away".

During an outage the proxy stops listening (new connections are refused) and resets every
connection it was carrying, as a crashed or restarted database server would. It runs its own
event loop in a thread, so a test that blocks (waiting for processes, querying the database)
never stalls the traffic of the processes behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
_COPY_CHUNK = 64 * 1024


@dataclass
class ProxyStats:
    accepted: int = 0
    reset: int = 0
    outages: int = 0


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to ``upstream``; ``start_outage``/``end_outage`` cut it."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()
        self._in_outage = False
        self.port = 0
        self.stats = ProxyStats()

    def __enter__(self) -> TcpProxy:
        self._thread.start()
        self._call(self._listen())
        return self

    def __exit__(self, *_: object) -> None:
        self._call(self._shut())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def start_outage(self) -> None:
        """From now on: connections refused, and every open one reset."""
        self._call(self._begin_outage())

    def end_outage(self) -> None:
        """Listening again on the same port."""
        self._call(self._listen())

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=30)

    async def _listen(self) -> None:
        self._in_outage = False
        # reuse_address (asyncio's default on Linux) lets the port be bound again at once.
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _begin_outage(self) -> None:
        self._in_outage = True
        self.stats.outages += 1
        await self._shut()

    async def _shut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._connections):
            _reset(writer)
            self.stats.reset += 1
        self._connections.clear()

    async def _handle(
        self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter
    ) -> None:
        self.stats.accepted += 1
        try:
            upstream_reader, upstream = await asyncio.open_connection(*self._upstream)
        except OSError:
            _reset(client)
            return
        if self._in_outage:  # the outage began while this connection was being set up
            _reset(client)
            _reset(upstream)
            return
        pair = (client, upstream)
        self._connections.update(pair)
        try:
            await asyncio.gather(_pipe(client_reader, upstream), _pipe(upstream_reader, client))
        finally:
            for writer in pair:
                self._connections.discard(writer)
                writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while chunk := await reader.read(_COPY_CHUNK):
            writer.write(chunk)
            await writer.drain()
    with contextlib.suppress(ConnectionError, OSError, RuntimeError):
        if not writer.is_closing():
            writer.write_eof()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Closes the connection with a TCP reset, as a crashed server's kernel would."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
