"""WatchStatus (and GetStatus) of runs a worker executes: stand-in workflows (not the real
worker) that record their steps in the database as the worker's do, and end when the test says
so. The stream contract: the first snapshot at once, one per change, the terminal one last, then
OK; UNAVAILABLE at shutdown and after the maximum duration."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import grpc
import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bubble.processing.v1 import analysis_pb2, run_pb2, service_pb2, workflows_pb2
from bubble_service.conftest import Harness, close_harness, open_harness, rich_error
from bubble_service.settings import ServiceSettings
from bubble_service.testing.stand_ins import FINISH_SIGNAL
from bubble_shared.store import NewImage

SUCCEEDED = workflows_pb2.ItemImageProcessingWorkflowOutput(
    item_id="item-1",
    state=run_pb2.RUN_STATE_SUCCEEDED,
    suggestions=analysis_pb2.ItemSuggestions(title="Navy scarf", tags=["scarf"]),
)
FAILED = workflows_pb2.ItemImageProcessingWorkflowOutput(
    item_id="item-1",
    state=run_pb2.RUN_STATE_FAILED,
    error=run_pb2.ProcessingError(
        code="IMAGE_CORRUPT", message="front.jpg is truncated", image_id="img-1"
    ),
)


@pytest.fixture()
async def worker(harness: Harness, dev_server: WorkflowEnvironment) -> AsyncIterator[Worker]:
    async with harness.worker(dev_server.client) as running:
        yield running


async def start(harness: Harness) -> service_pb2.StartItemProcessingResponse:
    harness.store.create_item(
        item_id="item-1", owner_id="o", title="", description="", images=[NewImage(uri="a.jpg")]
    )
    return await harness.stub.StartItemProcessing(
        service_pb2.StartItemProcessingRequest(item_id="item-1")
    )


async def read_to_end(call: Any) -> list[service_pb2.WatchStatusResponse]:
    messages = []
    while (message := await call.read()) is not grpc.aio.EOF:
        messages.append(message)
    return messages


async def next_batch(watch: Any) -> run_pb2.BatchRunStatus:
    message = await watch.read()
    assert isinstance(message, service_pb2.WatchStatusResponse), "the watch ended"
    return message.batch_run


async def until_running(harness: Harness) -> run_pb2.ItemRunStatus:
    """Watches until the worker has picked the run up (the watch is the event to wait for)."""
    async for message in harness.stub.WatchStatus(service_pb2.WatchStatusRequest(item_id="item-1")):
        if message.item_run.state == run_pb2.RUN_STATE_RUNNING:
            return message.item_run
    raise AssertionError("the watch ended before the run was RUNNING")


@pytest.mark.usefixtures("worker")
@pytest.mark.parametrize("output", [SUCCEEDED, FAILED], ids=["succeeded", "failed"])
async def test_watch_follows_the_run_to_its_end(
    harness: Harness,
    dev_server: WorkflowEnvironment,
    output: workflows_pb2.ItemImageProcessingWorkflowOutput,
) -> None:
    started = await start(harness)
    running = await until_running(harness)
    assert (running.stage, running.attempt) == (run_pb2.PROCESSING_STAGE_ANALYZING, 0)
    assert running.HasField("start_time")

    watch = harness.stub.WatchStatus(service_pb2.WatchStatusRequest(item_id="item-1"))
    first = await watch.read()
    assert isinstance(first, service_pb2.WatchStatusResponse)
    assert (first.sequence, first.terminal) == (1, False)
    assert first.item_run == running
    handle = dev_server.client.get_workflow_handle(started.workflow_id)
    await handle.signal(FINISH_SIGNAL, output)
    rest = await read_to_end(watch)

    last = rest[-1]
    assert [message.sequence for message in rest] == list(range(2, len(rest) + 2))
    assert last.terminal
    assert not any(message.terminal for message in rest[:-1])
    assert await watch.code() == grpc.StatusCode.OK
    status = last.item_run
    assert (status.run_id, status.stage) == (started.run_id, run_pb2.PROCESSING_STAGE_DONE)
    assert status.HasField("close_time")
    if output.state == run_pb2.RUN_STATE_SUCCEEDED:
        assert status.state == run_pb2.RUN_STATE_SUCCEEDED
        assert status.result == output.suggestions
        assert not status.HasField("error")
    else:
        assert status.state == run_pb2.RUN_STATE_FAILED
        assert status.error == output.error
        assert not status.HasField("result")
    # A terminal run: GetStatus agrees, and a new watch holds exactly that one message.
    got = await harness.stub.GetStatus(service_pb2.GetStatusRequest(item_id="item-1"))
    assert got.item_run == status
    again = [
        m async for m in harness.stub.WatchStatus(service_pb2.WatchStatusRequest(item_id="item-1"))
    ]
    assert [(m.sequence, m.terminal, m.item_run) for m in again] == [(1, True, status)]


@pytest.mark.usefixtures("worker")
async def test_a_cancelled_run_ends_cancelled(harness: Harness) -> None:
    started = await start(harness)
    await until_running(harness)

    cancel = await harness.stub.CancelProcessing(
        service_pb2.CancelProcessingRequest(item_id="item-1")
    )
    assert (cancel.cancel_requested, cancel.run_id) == (True, started.run_id)
    messages = [
        m async for m in harness.stub.WatchStatus(service_pb2.WatchStatusRequest(item_id="item-1"))
    ]

    final = messages[-1].item_run
    assert final.state == run_pb2.RUN_STATE_CANCELLED
    assert final.error.code == "CANCELLED"
    after = await harness.stub.CancelProcessing(
        service_pb2.CancelProcessingRequest(item_id="item-1")
    )
    assert (after.cancel_requested, after.state) == (False, run_pb2.RUN_STATE_CANCELLED)


@pytest.mark.usefixtures("worker")
async def test_a_queued_run_reports_its_delay(harness: Harness) -> None:
    harness.store.create_item(
        item_id="item-1", owner_id="o", title="", description="", images=[NewImage(uri="a.jpg")]
    )
    request = service_pb2.StartItemProcessingRequest(item_id="item-1")
    request.start_delay.FromSeconds(3600)
    await harness.stub.StartItemProcessing(request)

    async for message in harness.stub.WatchStatus(service_pb2.WatchStatusRequest(item_id="item-1")):
        status = message.item_run
        break
    assert (status.state, status.stage) == (
        run_pb2.RUN_STATE_QUEUED,
        run_pb2.PROCESSING_STAGE_QUEUED,
    )
    delay = status.scheduled_start_time.ToSeconds() - status.queue_time.ToSeconds()
    assert 3599 <= delay <= 3601


@pytest.mark.usefixtures("worker")
async def test_a_batch_is_watched_from_its_counters_to_its_end(
    harness: Harness, dev_server: WorkflowEnvironment
) -> None:
    started = await harness.stub.StartBatchProcessing(
        service_pb2.StartBatchProcessingRequest(item_ids=["a", "b", "c"], max_concurrency=2)
    )
    watch = harness.stub.WatchStatus(service_pb2.WatchStatusRequest(batch_id=started.batch_id))
    while (await next_batch(watch)).state != run_pb2.RUN_STATE_RUNNING:
        pass
    for item_id in ("a", "b"):  # as the batch's runs would
        harness.step(
            f"run-{item_id}",
            run_pb2.RUN_STATE_RUNNING,
            run_pb2.PROCESSING_STAGE_ANALYZING,
            item_id=item_id,
            batch_id=started.batch_id,
        )
    while (running := await next_batch(watch)).progress.running < 2:
        pass
    assert (running.progress.total, running.progress.running, running.progress.pending) == (3, 2, 1)
    watch.cancel()

    outcomes: list[tuple[str, run_pb2.RunState.ValueType, dict[str, Any]]] = [
        ("a", run_pb2.RUN_STATE_SUCCEEDED, {}),
        ("b", run_pb2.RUN_STATE_FAILED, {"error": run_pb2.ProcessingError(code="IMAGE_CORRUPT")}),
        ("c", run_pb2.RUN_STATE_SUCCEEDED, {"skip_reason": run_pb2.SKIP_REASON_ALREADY_PROCESSED}),
    ]
    for item_id, state, fields in outcomes:
        harness.step(
            f"run-{item_id}",
            state,
            run_pb2.PROCESSING_STAGE_DONE,
            item_id=item_id,
            batch_id=started.batch_id,
            **fields,
        )
    await dev_server.client.get_workflow_handle(started.workflow_id).signal(FINISH_SIGNAL)
    messages = [
        m
        async for m in harness.stub.WatchStatus(
            service_pb2.WatchStatusRequest(workflow_id=started.workflow_id)
        )
    ]

    final = messages[-1].batch_run
    assert messages[-1].terminal
    assert [m.sequence for m in messages] == list(range(1, len(messages) + 1))
    assert final.state == run_pb2.RUN_STATE_SUCCEEDED
    assert final.progress == run_pb2.BatchProgress(total=3, succeeded=1, failed=1, skipped=1)
    assert list(final.failed_item_ids) == ["b"]
    assert final.max_concurrency == 2
    assert final.HasField("close_time")


async def test_a_client_that_goes_away_ends_its_watch_quietly(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    await start(harness)  # no worker: the run stays QUEUED, the watch would go on
    caplog.set_level(logging.INFO)
    watch = harness.stub.WatchStatus(service_pb2.WatchStatusRequest(item_id="item-1"))
    await watch.read()

    watch.cancel()
    await _until_logged(caplog, "WatchStatus CANCELLED")

    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_shutdown_ends_watches_with_unavailable(harness: Harness) -> None:
    await start(harness)
    watch = harness.stub.WatchStatus(service_pb2.WatchStatusRequest(item_id="item-1"))
    await watch.read()

    await harness.service.stop(grace_seconds=5)

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await watch.read()
    error = rich_error(raised.value)
    assert (error.code, error.reason) == (grpc.StatusCode.UNAVAILABLE, "SHUTTING_DOWN")


async def _until_logged(caplog: pytest.LogCaptureFixture, text: str) -> None:
    """Yields to the event loop until the server has logged ``text`` (the handler's last act)."""
    while not any(text in record.getMessage() for record in caplog.records):
        await asyncio.sleep(0.01)


async def test_a_watch_ends_with_unavailable_after_its_maximum_duration(
    settings: ServiceSettings, dev_server: WorkflowEnvironment
) -> None:
    harness = await open_harness(replace(settings, watch_max_stream_seconds=1), dev_server.client)
    try:
        await start(harness)
        watch = harness.stub.WatchStatus(service_pb2.WatchStatusRequest(item_id="item-1"))
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await read_to_end(watch)
    finally:
        await close_harness(harness)

    error = rich_error(raised.value)
    assert (error.code, error.reason) == (grpc.StatusCode.UNAVAILABLE, "STREAM_EXPIRED")
