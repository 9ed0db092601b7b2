"""How both clients resume a broken WatchStatus stream: one policy, shared by sync and async.

The service ends watch streams with UNAVAILABLE when it stops and after
WATCH_MAX_STREAM_SECONDS, and refuses connections while it restarts; none of that ends the run.
So once a stream has delivered its first snapshot, an UNAVAILABLE opens a new stream (after a
jittered, capped exponential backoff) until the run ends or the caller's timeout runs out. The
server sends the current snapshot first on every stream: one equal to the last the caller got is
dropped, and ``sequence`` goes on counting, so the caller sees one unbroken stream.

A stream that never delivered anything is not retried: that is a wrong target or a service that
is down, which the caller should hear about at once, as with every other call.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import grpc

from bubble_client import messages as m
from bubble_client.errors import ProcessingServiceError, error_from_status

log = logging.getLogger("bubble_client")

CHANNEL_OPTIONS: list[tuple[str, int]] = [("grpc.max_reconnect_backoff_ms", 5_000)]
"""For the channels the clients create. Resumed streams wait for the channel to connect
(wait_for_ready), and gRPC's own connection backoff grows to 120 s by default: a watch would
then notice a restarted service up to two minutes late."""


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter: the wait before retry ``n`` (0-based) is uniform in
    [0, min(maximum, initial * 2**n)], so watchers cut off together do not return together."""

    initial: float = 0.25
    maximum: float = 5.0

    def delay(self, retry: int, uniform: Callable[[float, float], float] = random.uniform) -> float:
        return uniform(0.0, min(self.maximum, self.initial * 2.0 ** min(retry, 32)))


DEFAULT_BACKOFF = Backoff()


class ResumableWatch:
    """The state of one ``watch_status`` call across the streams it opens: the caller's
    deadline, the last status it got, its sequence numbers and the failures since a message."""

    def __init__(
        self,
        target: dict[str, str],
        timeout: float | None,
        *,
        backoff: Backoff = DEFAULT_BACKOFF,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.request = m.WatchStatusRequest(**target)
        self._target = ", ".join(f"{name} {value}" for name, value in target.items())
        self._timeout = timeout
        self._deadline = None if timeout is None else clock() + timeout
        self._backoff = backoff
        self._clock = clock
        self._last: m.ItemRunStatus | m.BatchRunStatus | None = None
        self._sequence = 0
        self._failures = 0
        self._interruption: ProcessingServiceError | None = None

    @property
    def wait_for_ready(self) -> bool | None:
        """A resumed stream waits for the service to come back (within the deadline) instead of
        failing while the channel reconnects; the first one fails fast like any call."""
        return True if self._last is not None else None

    def time_left(self) -> float | None:
        """Seconds until the caller's deadline (None: no deadline); raises DEADLINE_EXCEEDED,
        the client's timeout error, once it has passed."""
        if self._deadline is None:
            return None
        left = self._deadline - self._clock()
        if left > 0:
            return left
        message = f"the watch of {self._target} did not end within {self._timeout:g}s"
        if self._interruption is not None:
            message += f" (the stream broke with {self._interruption})"
        raise error_from_status(grpc.StatusCode.DEADLINE_EXCEEDED, message, None) from None

    def accept(self, response: m.WatchStatusResponse) -> m.WatchStatusResponse | None:
        """``response`` renumbered to follow the caller's last one, or None when it repeats the
        status the caller already has (a new stream's first snapshot)."""
        self._failures = 0
        self._interruption = None
        status = response.item_run or response.batch_run
        if status is not None and status == self._last:
            return None
        self._last = status
        self._sequence += 1
        response.sequence = self._sequence
        return response

    def retry_delay(self, error: ProcessingServiceError) -> float:
        """Seconds to wait before opening the next stream; raises ``error`` when the watch must
        not resume (not UNAVAILABLE, or no stream has delivered anything yet)."""
        if error.code != grpc.StatusCode.UNAVAILABLE or self._last is None:
            raise error from None
        self._interruption = error
        delay = self._backoff.delay(self._failures)
        self._failures += 1
        left = self.time_left()
        log.info("watch of %s interrupted (%s); reconnecting in %.1fs", self._target, error, delay)
        return delay if left is None else min(delay, left)
