"""Watches outlast the service: the clients reconnect when it restarts (on the same port) or ends
their stream, repeat nothing, and stop at their deadline or at an error that is not transient.

The service, the worker and a Temporal dev server run for real in this process; the sync client
and the Celery-compatible tasks block, so they run in threads.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from e2e.restarting import (  # noqa: F401 - database_url, system: the fixtures
    RestartableSystem,
    assert_one_stream,
    database_url,
    restart_while_watching,
    restartable_system,
    system,
    until,
)
from e2e.system import jpeg
from temporalio.testing import WorkflowEnvironment

from bubble_client import (
    AsyncProcessingClient,
    ProcessingClient,
    ProcessingServiceError,
    UnauthenticatedError,
    tasks,
)
from bubble_client import messages as m
from bubble_service.settings import ServiceSettings

DEADLINE_SECONDS = 5.0


async def _queued_item(system: RestartableSystem, seed: int = 1) -> str:
    """An item with a started run; no worker runs yet, so the run stays QUEUED."""
    async with AsyncProcessingClient(system.target) as client:
        item = await client.create_item(owner_id="u1", title="scarf", images=[jpeg(seed)])
        await client.start_item_processing(item.item_id)
        return item.item_id


async def test_the_sync_client_watch_goes_on_across_a_service_restart(
    system: RestartableSystem,
) -> None:
    item_id = await _queued_item(system)
    updates: list[m.WatchStatusResponse] = []

    def watch() -> None:
        with ProcessingClient(system.target) as client:
            updates.extend(client.watch_status(item_id=item_id, timeout=120))

    watching = asyncio.ensure_future(asyncio.to_thread(watch))
    await restart_while_watching(system, lambda: len(updates), watching)
    await asyncio.wait_for(watching, 120)

    final = assert_one_stream(updates)
    assert isinstance(final, m.ItemRunStatus)
    assert updates[0].item_run is not None
    assert updates[0].item_run.state == m.RunState.QUEUED
    assert final.state == m.RunState.SUCCEEDED
    assert final.run_id == updates[0].item_run.run_id


async def test_the_async_client_watch_of_a_batch_goes_on_across_a_service_restart(
    system: RestartableSystem,
) -> None:
    updates: list[m.WatchStatusResponse] = []
    async with AsyncProcessingClient(system.target) as client:
        items = [
            await client.create_item(owner_id="u2", title=f"vase {n}", images=[jpeg(10 + n)])
            for n in range(2)
        ]
        batch = await client.start_batch_processing([item.item_id for item in items])

        async def watch() -> None:
            async for update in client.watch_status(batch_id=batch.batch_id, timeout=120):
                updates.append(update)

        watching = asyncio.ensure_future(watch())
        await restart_while_watching(system, lambda: len(updates), watching)
        await asyncio.wait_for(watching, 120)

    final = assert_one_stream(updates)
    assert isinstance(final, m.BatchRunStatus)
    assert updates[0].batch_run is not None
    assert updates[0].batch_run.state == m.RunState.QUEUED
    assert final.state == m.RunState.SUCCEEDED
    assert final.progress is not None
    assert final.progress.succeeded == 2


async def test_streams_the_server_ends_at_their_maximum_duration_are_resumed(
    dev_server: WorkflowEnvironment, database_url: str, tmp_path: Path
) -> None:
    async with restartable_system(
        dev_server, database_url, tmp_path, watch_max_stream_seconds=1.0
    ) as system:
        item_id = await _queued_item(system)
        updates: list[m.WatchStatusResponse] = []
        async with AsyncProcessingClient(system.target) as client:

            async def watch() -> None:
                async for update in client.watch_status(item_id=item_id, timeout=120):
                    updates.append(update)

            watching = asyncio.ensure_future(watch())
            await until(lambda: len(updates) >= 1, "the first update", watching=watching)
            # Three streams end meanwhile, each resumed with the unchanged QUEUED snapshot.
            await asyncio.sleep(3.5)
            await until(lambda: system.watched() >= 1, "a resumed stream", watching=watching)
            assert len(updates) == 1
            system.worker.start()
            await asyncio.wait_for(watching, 120)

    final = assert_one_stream(updates)
    assert isinstance(final, m.ItemRunStatus)
    assert final.state == m.RunState.SUCCEEDED


class _RecordingClient(ProcessingClient):
    """The real client, keeping what its watches received (AsyncResult.get does not tell)."""

    def __init__(self, target: str) -> None:
        super().__init__(target)
        self.received: list[m.WatchStatusResponse] = []

    def watch_status(self, **target: Any) -> Iterator[m.WatchStatusResponse]:
        for update in super().watch_status(**target):
            self.received.append(update)
            yield update


async def test_a_deadline_that_passes_while_the_service_is_down_ends_the_watch(
    system: RestartableSystem,
) -> None:
    item_id = await _queued_item(system)
    updates: list[m.WatchStatusResponse] = []
    sync_client = _RecordingClient(system.target)

    async def watch() -> float:
        started = time.monotonic()
        async with AsyncProcessingClient(system.target) as client:

            async def follow() -> None:
                async for update in client.watch_status(item_id=item_id, timeout=DEADLINE_SECONDS):
                    updates.append(update)

            with pytest.raises(ProcessingServiceError) as raised:
                await follow()
        assert raised.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
        return time.monotonic() - started

    def get() -> float:
        started = time.monotonic()
        result = tasks.AsyncResult(f"item-processing/{item_id}", client=sync_client)
        with pytest.raises(TimeoutError):
            result.get(timeout=DEADLINE_SECONDS)
        return time.monotonic() - started

    try:
        watching = asyncio.ensure_future(watch())
        getting = asyncio.ensure_future(asyncio.to_thread(get))
        await until(lambda: len(updates) >= 1, "the async watch's first update", watching=watching)
        await until(
            lambda: len(sync_client.received) >= 1,
            "AsyncResult.get's first update",
            watching=getting,
        )
        await system.stop_service()  # and it stays down
        watched, got = await asyncio.wait_for(asyncio.gather(watching, getting), 30)
    finally:
        sync_client.close()

    assert [update.sequence for update in updates] == [1]
    assert [update.sequence for update in sync_client.received] == [1]
    for elapsed in (watched, got):
        assert DEADLINE_SECONDS - 0.1 <= elapsed < DEADLINE_SECONDS + 2


async def test_an_error_that_is_not_transient_after_a_reconnection_ends_the_watch(
    system: RestartableSystem,
) -> None:
    item_id = await _queued_item(system)
    updates: list[m.WatchStatusResponse] = []
    async with AsyncProcessingClient(system.target) as client:

        async def watch() -> None:
            async for update in client.watch_status(item_id=item_id, timeout=60):
                updates.append(update)

        watching = asyncio.ensure_future(watch())
        await until(lambda: len(updates) >= 1, "the first update", watching=watching)
        await system.stop_service()
        # Back with authentication on: the client's (absent) token is refused, which no
        # reconnection will change.
        tokens = ServiceSettings.from_env({"AUTH_TOKENS": "a-token-of-16-chars-or-more"})
        await system.start_service(auth_tokens=tokens.auth_tokens)
        restarted = time.monotonic()
        with pytest.raises(UnauthenticatedError):
            await asyncio.wait_for(watching, 30)
        assert time.monotonic() - restarted < 10
    assert len(updates) == 1
