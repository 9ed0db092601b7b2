"""The stand-in model dates a request by when its bytes arrived, not when its thread got to it."""

from __future__ import annotations

import socket
import time

from bubble_worker.testing.vision_model_server import _SO_TIMESTAMPNS, arrival_time


def test_arrival_time_is_when_the_bytes_came_not_when_they_are_read() -> None:
    with (
        socket.create_server(("127.0.0.1", 0)) as server,
        socket.create_connection(server.getsockname()) as client,
    ):
        connection, _ = server.accept()
        with connection:
            connection.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
            client.sendall(b"POST /v1/chat/completions HTTP/1.1\r\n\r\n")
            sent = time.time()
            time.sleep(0.3)  # the handler's thread is busy elsewhere

            arrived = arrival_time(connection)

            assert abs(arrived - sent) < 0.05
            # Nothing was consumed: the request is still there for the handler to read.
            assert connection.recv(4) == b"POST"
