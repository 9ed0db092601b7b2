"""Reconciliation: runs and batches that Temporal closed without their rows saying so (terminated
from the CLI, timed out, completed by an older worker) are recorded as Temporal ended them; open
runs are left alone; Temporal unreachable changes nothing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from typing import TypeVar

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bubble.processing.v1 import run_pb2, service_pb2, workflows_pb2
from bubble_service.conftest import Harness, close_harness, open_harness
from bubble_service.settings import ServiceSettings
from bubble_service.testing.stand_ins import UnrecordedItemWorkflow
from bubble_shared.store import BatchWindows, JoinedRun
from bubble_shared.temporal import names

T = TypeVar("T")


@pytest.fixture()
def shrunk(settings: ServiceSettings) -> ServiceSettings:
    """Every open row counts as stale at once; sweeps run when the test says so."""
    return replace(settings, reconcile_after_seconds=0, reconcile_interval_seconds=3600)


@pytest.fixture()
async def reconciling(
    shrunk: ServiceSettings, dev_server: WorkflowEnvironment
) -> AsyncIterator[Harness]:
    harness = await open_harness(shrunk, dev_server.client)
    yield harness
    await close_harness(harness)


async def eventually(read: Callable[[], Awaitable[T]], done: Callable[[T], bool]) -> T:
    """Reads until ``done`` holds (at most 15 s)."""
    for _ in range(300):
        value = await read()
        if done(value):
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"still {value}")


async def item_status(harness: Harness, item_id: str = "item-1") -> run_pb2.ItemRunStatus:
    return (await harness.stub.GetStatus(service_pb2.GetStatusRequest(item_id=item_id))).item_run


async def batch_status(harness: Harness, batch_id: str) -> run_pb2.BatchRunStatus:
    request = service_pb2.GetStatusRequest(batch_id=batch_id)
    return (await harness.stub.GetStatus(request)).batch_run


async def sweep(harness: Harness) -> int:
    return await harness.service.deps.reconciler.sweep()


def is_running(status: run_pb2.ItemRunStatus | run_pb2.BatchRunStatus) -> bool:
    return status.state == run_pb2.RUN_STATE_RUNNING


async def test_a_terminated_run_is_recorded_failed_and_counted_for_its_batch(
    reconciling: Harness, dev_server: WorkflowEnvironment
) -> None:
    harness = reconciling
    harness.new_item()
    async with harness.worker(dev_server.client):
        started = await harness.stub.StartItemProcessing(
            service_pb2.StartItemProcessingRequest(item_id="item-1")
        )
        await eventually(lambda: item_status(harness), is_running)
        await harness.stub.StartBatchProcessing(
            service_pb2.StartBatchProcessingRequest(item_ids=["item-1"], batch_id="b1")
        )
        await eventually(lambda: batch_status(harness, "b1"), is_running)
        windows = BatchWindows(harness.batches.engine)
        joined = windows.record_starts("b1", joined=[JoinedRun("item-1", started.run_id)])
        assert (joined.open_runs, joined.open_members) == (0, 1)  # joined: it holds no slot
        await harness.service.deps.reconciler.drain()  # the checks the reads above asked for
        await dev_server.client.get_workflow_handle(started.workflow_id).terminate("operator")

        assert await sweep(harness) == 1

        status = await item_status(harness)
        window = windows.window("b1")
    assert (status.state, status.stage) == (run_pb2.RUN_STATE_FAILED, run_pb2.PROCESSING_STAGE_DONE)
    assert (status.error.code, status.error.message) == (
        "TERMINATED",
        "the run was terminated in Temporal before it recorded its outcome",
    )
    assert status.HasField("close_time")
    assert (window.open_runs, window.open_members) == (0, 0)  # what the batch's next tick reads
    counted = await batch_status(harness, "b1")
    assert (counted.progress.failed, list(counted.failed_item_ids)) == (1, ["item-1"])
    cancelled = await harness.stub.CancelProcessing(
        service_pb2.CancelProcessingRequest(item_id="item-1")
    )
    assert (cancelled.cancel_requested, cancelled.state) == (False, run_pb2.RUN_STATE_FAILED)
    # A new run may start once the old one is closed (FAILED items need no force).
    restarted = await harness.stub.StartItemProcessing(
        service_pb2.StartItemProcessingRequest(item_id="item-1")
    )
    assert (restarted.already_running, restarted.status.state) == (False, run_pb2.RUN_STATE_QUEUED)
    assert restarted.run_id != started.run_id


async def test_a_terminated_batch_is_recorded_failed(
    reconciling: Harness, dev_server: WorkflowEnvironment
) -> None:
    harness = reconciling
    async with harness.worker(dev_server.client):
        started = await harness.stub.StartBatchProcessing(
            service_pb2.StartBatchProcessingRequest(item_ids=["a", "b"], batch_id="b1")
        )
        await eventually(lambda: batch_status(harness, "b1"), is_running)
        await harness.service.deps.reconciler.drain()
        await dev_server.client.get_workflow_handle(started.workflow_id).terminate("operator")

        assert await sweep(harness) == 1
        assert await sweep(harness) == 0  # terminal now: never looked at again

    status = await batch_status(harness, "b1")
    assert status.state == run_pb2.RUN_STATE_FAILED
    assert (status.error.code, status.error.message) == (
        "TERMINATED",
        "the batch was terminated in Temporal before it recorded its outcome",
    )
    assert status.progress == run_pb2.BatchProgress(total=2, cancelled=2)
    assert status.HasField("close_time")


async def test_a_timed_out_run_is_recorded_timed_out(
    reconciling: Harness, dev_server: WorkflowEnvironment
) -> None:
    harness = reconciling
    harness.new_item()
    handle = await dev_server.client.start_workflow(
        names.ITEM_WORKFLOW,
        workflows_pb2.ItemImageProcessingWorkflowInput(item_id="item-1"),
        id=names.item_workflow_id("item-1"),
        task_queue=harness.settings.temporal.task_queue,
        execution_timeout=timedelta(seconds=1),
    )
    assert handle.result_run_id is not None
    harness.step(handle.result_run_id, run_pb2.RUN_STATE_QUEUED, run_pb2.PROCESSING_STAGE_QUEUED)
    await eventually(
        handle.describe, lambda described: described.status == WorkflowExecutionStatus.TIMED_OUT
    )

    assert await sweep(harness) == 1

    status = await item_status(harness)
    assert (status.state, status.error.code) == (run_pb2.RUN_STATE_TIMED_OUT, "TIMEOUT")


async def test_a_run_an_older_worker_completed_reads_its_output(
    reconciling: Harness, dev_server: WorkflowEnvironment
) -> None:
    harness = reconciling
    harness.new_item()
    async with Worker(
        dev_server.client,
        task_queue=harness.settings.temporal.task_queue,
        workflows=[UnrecordedItemWorkflow],
    ):
        started = await harness.stub.StartItemProcessing(
            service_pb2.StartItemProcessingRequest(item_id="item-1")
        )
        await dev_server.client.get_workflow_handle(started.workflow_id).result()
    recorded = harness.runs.get(started.run_id)
    assert recorded is not None
    assert recorded.state == run_pb2.RUN_STATE_QUEUED  # the run recorded nothing

    assert await sweep(harness) == 1

    status = await item_status(harness)
    assert status.state == run_pb2.RUN_STATE_SUCCEEDED
    assert status.result.title == "Suggested by an older worker"


async def test_open_runs_are_left_alone(reconciling: Harness) -> None:
    harness = reconciling
    harness.new_item()
    started = await harness.stub.StartItemProcessing(
        service_pb2.StartItemProcessingRequest(item_id="item-1")
    )
    await harness.stub.StartBatchProcessing(
        service_pb2.StartBatchProcessingRequest(item_ids=["a"], batch_id="b1")
    )
    before = harness.runs.versions([started.run_id])

    assert await sweep(harness) == 0

    assert harness.runs.versions([started.run_id]) == before
    assert (await item_status(harness)).state == run_pb2.RUN_STATE_QUEUED


async def test_a_sweep_without_temporal_changes_nothing(
    shrunk: ServiceSettings, caplog: pytest.LogCaptureFixture
) -> None:
    harness = await open_harness(
        replace(shrunk, temporal=replace(shrunk.temporal, address="127.0.0.1:1")), None
    )
    try:
        harness.step("r1", run_pb2.RUN_STATE_RUNNING, run_pb2.PROCESSING_STAGE_ANALYZING)
        caplog.set_level(logging.WARNING)

        assert await sweep(harness) == 0

        status = harness.runs.get("r1")
    finally:
        await close_harness(harness)
    assert status is not None
    assert status.state == run_pb2.RUN_STATE_RUNNING
    assert any("retrying next time" in record.getMessage() for record in caplog.records)


async def test_a_stale_status_read_has_its_run_checked_in_the_background(
    settings: ServiceSettings, dev_server: WorkflowEnvironment
) -> None:
    harness = await open_harness(
        replace(settings, reconcile_after_seconds=1, reconcile_interval_seconds=3600),
        dev_server.client,
    )
    try:
        harness.new_item()
        started = await harness.stub.StartItemProcessing(
            service_pb2.StartItemProcessingRequest(item_id="item-1")
        )
        await dev_server.client.get_workflow_handle(started.workflow_id).terminate("operator")
        fresh = await item_status(harness)
        await asyncio.sleep(1.2)

        checked = await eventually(
            lambda: item_status(harness), lambda s: s.state == run_pb2.RUN_STATE_FAILED
        )
    finally:
        await close_harness(harness)

    assert fresh.state == run_pb2.RUN_STATE_QUEUED  # fresh rows are not checked
    assert checked.error.code == "TERMINATED"
