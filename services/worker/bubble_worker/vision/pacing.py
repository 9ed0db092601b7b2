"""Even spacing of this process's requests to the model, measured where the model sees them.

Temporal's task-queue rate limit caps the requests of all workers together on average, but as a
token bucket it lets an idle queue burst (measured on the dev server: three tasks at once at two
per second). Model servers count per second, so each worker also spaces its own requests at
least ``1 / rate`` apart, plus 10 % for the way to the server (a real network's latency varies).

The interval runs from when the previous request was sent, not from when it was allowed to go:
between the two, a busy worker (both cores analysing) can keep the sending thread waiting for
the CPU or the GIL for a fifth of a second, and a request that leaves late lands right before the
next one. So a turn is held until its request is on the wire, and the next turn waits for that.
A request that cannot be sent (the server does not accept the connection) holds the others back
until its own connect or write timeout; they would not get through either.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

MARGIN = 1.1

Sent = Callable[[], None]
"""Tells the pacer that the request of the current turn is on the wire."""


class Pacer:
    def __init__(
        self,
        per_second: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._interval = MARGIN / per_second
        self._clock = clock
        self._sleep = sleep
        self._turn = threading.Lock()
        """Held from a request's turn until it is sent: one request on its way at a time."""
        self._next = 0.0

    @contextmanager
    def turn(self) -> Iterator[Sent]:
        """Waits until this request may go (one interval after the previous one was sent) and
        holds the turn until the request calls the ``Sent`` it is given, or the block ends
        (the request failed before it was sent): the next turn comes one interval after that.
        """
        self._turn.acquire()
        released = False

        def sent() -> None:
            nonlocal released
            if not released:
                released = True
                self._next = self._clock() + self._interval
                self._turn.release()

        try:
            wait = self._next - self._clock()
            if wait > 0:
                self._sleep(wait)
            yield sent
        finally:
            sent()
