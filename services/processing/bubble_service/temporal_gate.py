"""Temporal calls that fail fast: at once while the health probe knows Temporal is down, and
within ``CALL_SECONDS`` when it does not know yet.

The SDK retries a call that cannot reach Temporal for up to ten seconds (its client's default
retry policy), whatever the call's ``rpc_timeout``, which bounds one attempt only: a StartItem
during an outage answered UNAVAILABLE after 5.6 to 10 s, past a client's usual 5 s deadline. So
the health monitor tells the gate what its probe found, and every call of ``Runs`` goes through
the gate: refused at once (UNAVAILABLE, TEMPORAL_UNAVAILABLE) while the last probe failed, and
otherwise given ``CALL_SECONDS`` in all, retries included, before it is answered UNAVAILABLE.

Once Temporal is back, calls are refused until the next probe passes (at most
HEALTH_CHECK_INTERVAL_SECONDS): the health service says NOT_SERVING for that long too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from bubble_service.errors import temporal_unavailable

T = TypeVar("T")

CALL_SECONDS = 3.0
"""The most one Temporal call may take, retries included: a start or cancel then answers well
within a 5 s client deadline. A healthy Temporal answers in milliseconds."""
RPC_TIMEOUT = timedelta(seconds=CALL_SECONDS)
"""The deadline of each attempt (``rpc_timeout``), so a hung server cannot hold one longer."""


class TemporalGate:
    def __init__(self, *, call_seconds: float = CALL_SECONDS) -> None:
        self._call_seconds = call_seconds
        self._reachable: bool | None = None  # None: not probed yet

    @property
    def known_down(self) -> bool:
        return self._reachable is False

    def set_reachable(self, reachable: bool) -> None:
        """What the latest health probe found."""
        self._reachable = reachable

    def require_reachable(self) -> None:
        """UNAVAILABLE (TEMPORAL_UNAVAILABLE) at once while Temporal is known to be down."""
        if self._reachable is False:
            raise temporal_unavailable()

    async def call(self, make: Callable[[], Awaitable[T]]) -> T:
        """``make()``'s result; UNAVAILABLE at once while Temporal is known to be down, or when
        the call takes longer than the bound."""
        self.require_reachable()
        try:
            return await asyncio.wait_for(make(), timeout=self._call_seconds)
        except TimeoutError:
            raise temporal_unavailable() from None
