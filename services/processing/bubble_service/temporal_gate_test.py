"""The gate: a call is refused without being made while Temporal is known down, and a call that
hangs is answered UNAVAILABLE once its time is up."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest

from bubble_service.errors import ServiceError
from bubble_service.temporal_gate import TemporalGate


async def test_a_known_outage_refuses_without_calling() -> None:
    gate = TemporalGate()
    gate.set_reachable(False)
    made: list[bool] = []

    async def call() -> str:
        made.append(True)
        return "answer"

    with pytest.raises(ServiceError) as raised:
        await gate.call(call)

    assert (raised.value.code, raised.value.reason) == (
        grpc.StatusCode.UNAVAILABLE,
        "TEMPORAL_UNAVAILABLE",
    )
    assert made == []
    gate.set_reachable(True)
    assert await gate.call(call) == "answer"


async def test_a_hanging_call_is_unavailable_after_its_bound() -> None:
    gate = TemporalGate(call_seconds=0.2)
    started = time.perf_counter()

    with pytest.raises(ServiceError) as raised:
        await gate.call(lambda: asyncio.sleep(60))

    assert raised.value.reason == "TEMPORAL_UNAVAILABLE"
    assert time.perf_counter() - started < 2
