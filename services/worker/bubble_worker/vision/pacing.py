"""Even spacing of this process's requests to the model.

Temporal's task-queue rate limit caps the requests of all workers together on average, but as a
token bucket it lets an idle queue burst (measured on the dev server: three tasks at once at two
per second). Model servers count per second, so each worker also spaces its own requests at
least ``1 / rate`` apart, plus 10 %: the time a request takes to reach the server varies (a new
connection, a busy machine: 24 ms measured on loopback with both cores busy), and that jitter
must not squeeze one request too many into a second.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

MARGIN = 1.1


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
        self._lock = threading.Lock()
        self._next = 0.0

    def wait_turn(self) -> None:
        """Returns when this request may start: at least one interval after the previous one."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self._interval
        if start > now:
            self._sleep(start - now)
