"""The shared watch poller: one version poll per interval for every stream, one read per changed
target whatever the number of streams, the newest snapshot only for a slow stream; and 1,000
concurrent streams on one service process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import grpc
import pytest

from bubble.processing.v1 import run_pb2, service_pb2, service_pb2_grpc
from bubble_service.conftest import Harness
from bubble_service.status import StatusReader
from bubble_service.watching import WatchHub
from bubble_shared.store import NewBatch

F = TypeVar("F", bound=Callable[..., Any])
STREAMS = 1000


class Calls:
    """Counts the calls of the reader's methods the poller uses."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, reader: StatusReader) -> None:
        self.counts = {"versions": 0, "load_run": 0, "load_batch": 0}
        for name in self.counts:
            monkeypatch.setattr(reader, name, self._counting(name, getattr(reader, name)))

    def _counting(self, name: str, method: F) -> F:
        def counted(*args: Any, **kwargs: Any) -> Any:
            self.counts[name] += 1
            return method(*args, **kwargs)

        return counted  # type: ignore[return-value]

    def reset(self) -> None:
        self.counts = dict.fromkeys(self.counts, 0)

    @property
    def reads(self) -> int:
        return self.counts["load_run"] + self.counts["load_batch"]


def running(harness: Harness, run_id: str, item_id: str, **fields: Any) -> None:
    harness.step(
        run_id, run_pb2.RUN_STATE_RUNNING, run_pb2.PROCESSING_STAGE_ANALYZING, item_id=item_id,
        **fields,
    )


async def read_to_end(call: Any) -> list[service_pb2.WatchStatusResponse]:
    messages = []
    while (message := await call.read()) is not grpc.aio.EOF:
        messages.append(message)
    return messages


async def test_a_slow_stream_keeps_only_the_newest_snapshot(offline_harness: Harness) -> None:
    harness = offline_harness
    reader = harness.service.deps.statuses
    hub = WatchHub(reader, interval_seconds=0.1)
    running(harness, "r1", "i1")
    first = reader.load_run("r1")
    assert first is not None

    with hub.subscribe(first) as slow, hub.subscribe(first) as other:
        for attempt in range(2, 6):
            running(harness, "r1", "i1", attempt=attempt)
            assert await hub.poll() == 1
        newest = await slow.next(timeout=0)
        nothing = await slow.next(timeout=0)
        assert hub.watched == 1
    assert hub.watched == 0

    assert newest is not None
    assert newest.item_run is not None
    assert newest.item_run.attempt == 5
    assert nothing is None
    assert (await other.next(timeout=0)) == newest


async def test_many_subscriptions_of_one_run_cost_one_read_per_change(
    offline_harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness = offline_harness
    reader = harness.service.deps.statuses
    hub = WatchHub(reader, interval_seconds=0.1)
    running(harness, "r1", "i1")
    first = reader.load_run("r1")
    assert first is not None
    calls = Calls(monkeypatch, reader)

    with contextlib.ExitStack() as stack:
        subscriptions = [stack.enter_context(hub.subscribe(first)) for _ in range(500)]
        assert await hub.poll() == 0  # unchanged: versions only
        running(harness, "r1", "i1", attempt=2)
        assert await hub.poll() == 1
        taken = [await subscription.next(timeout=0) for subscription in subscriptions]

    assert calls.counts == {"versions": 2, "load_run": 1, "load_batch": 0}
    assert {s.item_run.attempt for s in taken if s is not None and s.item_run} == {2}
    assert len([s for s in taken if s is not None]) == 500


async def open_streams(
    harness: Harness, requests: list[service_pb2.WatchStatusRequest]
) -> tuple[list[Any], list[grpc.aio.Channel]]:
    """Opens one stream per request (on a few channels, as many clients would) and waits for
    every first snapshot."""
    channels = [grpc.aio.insecure_channel(harness.address) for _ in range(10)]
    stubs = [service_pb2_grpc.ItemProcessingServiceStub(channel) for channel in channels]
    calls = [stubs[n % len(stubs)].WatchStatus(request) for n, request in enumerate(requests)]
    firsts: list[Any] = await asyncio.gather(*(call.read() for call in calls))
    assert all(first.sequence == 1 and not first.terminal for first in firsts)
    return calls, channels


def assert_well_formed(streams: list[list[service_pb2.WatchStatusResponse]]) -> None:
    for messages in streams:
        assert [m.sequence for m in messages] == list(range(2, len(messages) + 2))
        assert messages[-1].terminal
        assert not any(m.terminal for m in messages[:-1])


async def test_a_thousand_streams_of_one_run(
    offline_harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness = offline_harness
    running(harness, "r1", "item-1")
    calls = Calls(monkeypatch, harness.service.deps.statuses)
    streams, channels = await open_streams(
        harness, [service_pb2.WatchStatusRequest(item_id="item-1")] * STREAMS
    )
    calls.reset()
    try:
        ends = asyncio.gather(*(read_to_end(stream) for stream in streams))
        for attempt in (2, 3):
            running(harness, "r1", "item-1", attempt=attempt)
            await asyncio.sleep(0.3)
        harness.step("r1", run_pb2.RUN_STATE_SUCCEEDED, run_pb2.PROCESSING_STAGE_DONE)
        rests = await asyncio.wait_for(ends, timeout=60)
    finally:
        for channel in channels:
            await channel.close()

    assert_well_formed(rests)
    assert all(rest[-1].item_run.state == run_pb2.RUN_STATE_SUCCEEDED for rest in rests)
    # Three changes: at most three reads for a thousand streams.
    assert calls.counts["load_run"] <= 3
    assert harness.service.deps.watches.watched == 0


async def test_a_thousand_streams_of_fifty_runs_and_batches(
    offline_harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness = offline_harness
    run_ids = [f"r{n}" for n in range(40)]
    batch_ids = [f"b{n}" for n in range(10)]
    for number, run_id in enumerate(run_ids):
        running(harness, run_id, f"item-{number}")
    for batch_id in batch_ids:
        harness.batches.create(NewBatch(batch_id, f"item-batch/{batch_id}", 2, item_ids=["x"]))
    targets = [service_pb2.WatchStatusRequest(item_id=f"item-{n}") for n in range(40)]
    targets += [service_pb2.WatchStatusRequest(batch_id=batch_id) for batch_id in batch_ids]
    calls = Calls(monkeypatch, harness.service.deps.statuses)
    streams, channels = await open_streams(harness, targets * (STREAMS // len(targets)))
    calls.reset()
    try:
        ends = asyncio.gather(*(read_to_end(stream) for stream in streams))
        for number, run_id in enumerate(run_ids):
            harness.step(
                run_id, run_pb2.RUN_STATE_SUCCEEDED, run_pb2.PROCESSING_STAGE_DONE,
                item_id=f"item-{number}",
            )
        for batch_id in batch_ids:
            error = run_pb2.ProcessingError(code="CANCELLED", message="the batch was cancelled")
            harness.batches.finish(
                batch_id, state=run_pb2.RUN_STATE_CANCELLED, time=datetime.now(UTC), error=error
            )
        rests = await asyncio.wait_for(ends, timeout=60)
    finally:
        for channel in channels:
            await channel.close()

    assert len(rests) == STREAMS
    assert_well_formed(rests)
    # One change per target: at most one read each (two if a poll fell between two writes).
    assert calls.reads <= 2 * len(targets)
    assert calls.counts["load_batch"] <= 2 * len(batch_ids)

