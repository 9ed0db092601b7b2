"""Starting, reading and cancelling runs through a real server on a real dev server with no worker:
runs stay QUEUED (no worker picks them up), which is enough to check starts, idempotency,
validation, status reads and cancellation requests."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from bubble.processing.v1 import analysis_pb2, run_pb2, service_pb2
from bubble_service.conftest import Harness, close_harness, expect_error, open_harness
from bubble_service.settings import ServiceSettings
from bubble_shared.store import NewImage
from bubble_shared.temporal import names


def new_item(harness: Harness, item_id: str = "item-1") -> str:
    harness.store.create_item(
        item_id=item_id,
        owner_id="owner-1",
        title="",
        description="",
        images=[NewImage(uri="items/a.jpg")],
    )
    return item_id


def processed_item(harness: Harness, item_id: str = "done-1") -> str:
    new_item(harness, item_id)
    workflow_id, started = names.item_workflow_id(item_id), datetime.now(UTC)
    run = {"item_id": item_id, "workflow_id": workflow_id, "run_id": "earlier-run"}
    harness.run_writes.claim_item(**run, run_start_time=started, force=False)
    harness.run_writes.apply_suggestions(
        **run,
        run_start_time=started,
        analysis=analysis_pb2.ItemAnalysis(item_id=item_id),
        suggestions=analysis_pb2.ItemSuggestions(title="Scarf"),
    )
    return item_id


async def workflow_runs(client: Client, workflow_id: str) -> int:
    return len([w async for w in client.list_workflows(f"WorkflowId = '{workflow_id}'")])


async def test_start_returns_the_queued_run(harness: Harness) -> None:
    item_id = new_item(harness)

    response = await harness.stub.StartItemProcessing(
        service_pb2.StartItemProcessingRequest(item_id=item_id)
    )

    assert response.workflow_id == f"item-processing/{item_id}"
    assert response.run_id
    assert not response.already_running
    status = response.status
    assert (status.item_id, status.workflow_id, status.run_id) == (
        item_id,
        response.workflow_id,
        response.run_id,
    )
    assert (status.state, status.stage) == (
        run_pb2.RUN_STATE_QUEUED,
        run_pb2.PROCESSING_STAGE_QUEUED,
    )
    assert status.scheduled_start_time == status.queue_time
    assert not status.HasField("start_time")
    by_item = await harness.stub.GetStatus(service_pb2.GetStatusRequest(item_id=item_id))
    by_workflow = await harness.stub.GetStatus(
        service_pb2.GetStatusRequest(workflow_id=response.workflow_id)
    )
    assert by_item.item_run == status == by_workflow.item_run


async def test_a_second_start_returns_the_open_run(
    harness: Harness, dev_server: WorkflowEnvironment
) -> None:
    item_id = new_item(harness)
    request = service_pb2.StartItemProcessingRequest(item_id=item_id)
    first = await harness.stub.StartItemProcessing(request)

    second = await harness.stub.StartItemProcessing(
        service_pb2.StartItemProcessingRequest(item_id=item_id, force=True)
    )

    assert second.already_running
    assert second.run_id == first.run_id
    assert await workflow_runs(dev_server.client, first.workflow_id) == 1


async def test_the_start_delay_is_in_the_workflow_input(harness: Harness) -> None:
    item_id = new_item(harness)

    response = await harness.stub.StartItemProcessing(
        service_pb2.StartItemProcessingRequest(item_id=item_id, start_delay=Duration(seconds=3600))
    )

    status = response.status
    scheduled = status.scheduled_start_time.ToDatetime() - status.queue_time.ToDatetime()
    assert scheduled == timedelta(hours=1)
    assert status.state == run_pb2.RUN_STATE_QUEUED


async def test_starts_with_a_request_id_are_idempotent(
    harness: Harness, dev_server: WorkflowEnvironment
) -> None:
    item_id = new_item(harness)
    request = service_pb2.StartItemProcessingRequest(item_id=item_id, request_id=str(uuid.uuid4()))

    first = await harness.stub.StartItemProcessing(request)
    again = await harness.stub.StartItemProcessing(request)

    assert (again.workflow_id, again.run_id, again.already_running) == (
        first.workflow_id,
        first.run_id,
        False,
    )
    assert await workflow_runs(dev_server.client, first.workflow_id) == 1
    changed = service_pb2.StartItemProcessingRequest()
    changed.CopyFrom(request)
    changed.skip_notification = True
    error = await expect_error(harness.stub.StartItemProcessing(changed))
    assert (error.code, error.reason) == (grpc.StatusCode.ALREADY_EXISTS, "REQUEST_ID_REUSED")
    assert error.metadata == {"request_id": request.request_id}


async def test_a_processed_item_needs_force(harness: Harness) -> None:
    item_id = processed_item(harness)

    error = await expect_error(
        harness.stub.StartItemProcessing(service_pb2.StartItemProcessingRequest(item_id=item_id))
    )

    assert (error.code, error.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "ITEM_ALREADY_PROCESSED",
    )
    assert await harness.service.client.count_workflows() is not None
    forced = await harness.stub.StartItemProcessing(
        service_pb2.StartItemProcessingRequest(item_id=item_id, force=True)
    )
    assert not forced.already_running


HOSTILE_STARTS = {
    "no item": (service_pb2.StartItemProcessingRequest(), "FIELD_REQUIRED"),
    "bad item id": (service_pb2.StartItemProcessingRequest(item_id="../x"), "INVALID_ID"),
    "bad request id": (
        service_pb2.StartItemProcessingRequest(item_id="item-1", request_id="123"),
        "INVALID_REQUEST_ID",
    ),
    "negative delay": (
        service_pb2.StartItemProcessingRequest(item_id="item-1", start_delay=Duration(seconds=-1)),
        "INVALID_FIELD",
    ),
    "31 days": (
        service_pb2.StartItemProcessingRequest(
            item_id="item-1", start_delay=Duration(seconds=31 * 86400)
        ),
        "INVALID_FIELD",
    ),
    "malformed duration": (
        service_pb2.StartItemProcessingRequest(
            item_id="item-1", start_delay=Duration(seconds=1, nanos=-5)
        ),
        "INVALID_FIELD",
    ),
}


@pytest.mark.parametrize("case", HOSTILE_STARTS.values(), ids=HOSTILE_STARTS.keys())
async def test_invalid_starts_start_nothing(
    harness: Harness,
    dev_server: WorkflowEnvironment,
    case: tuple[service_pb2.StartItemProcessingRequest, str],
) -> None:
    new_item(harness)
    request, reason = case

    error = await expect_error(harness.stub.StartItemProcessing(request))

    assert (error.code, error.reason) == (grpc.StatusCode.INVALID_ARGUMENT, reason)
    assert await workflow_runs(dev_server.client, "item-processing/item-1") == 0
    assert harness.request_records() == 0


async def test_an_unknown_item_is_not_found(harness: Harness) -> None:
    error = await expect_error(
        harness.stub.StartItemProcessing(service_pb2.StartItemProcessingRequest(item_id="ghost"))
    )

    assert (error.code, error.reason, error.metadata) == (
        grpc.StatusCode.NOT_FOUND,
        "ITEM_NOT_FOUND",
        {"item_id": "ghost"},
    )


@pytest.mark.parametrize(
    ("request_", "code", "reason"),
    [
        (service_pb2.GetStatusRequest(), grpc.StatusCode.INVALID_ARGUMENT, "FIELD_REQUIRED"),
        (
            service_pb2.GetStatusRequest(item_id=""),
            grpc.StatusCode.INVALID_ARGUMENT,
            "FIELD_REQUIRED",
        ),
        (
            service_pb2.GetStatusRequest(batch_id="a b"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ID",
        ),
        (
            service_pb2.GetStatusRequest(item_id="ghost"),
            grpc.StatusCode.NOT_FOUND,
            "ITEM_NOT_FOUND",
        ),
        (
            service_pb2.GetStatusRequest(item_id="item-1"),
            grpc.StatusCode.NOT_FOUND,
            "RUN_NOT_FOUND",
        ),
        (
            service_pb2.GetStatusRequest(batch_id="nope"),
            grpc.StatusCode.NOT_FOUND,
            "BATCH_NOT_FOUND",
        ),
        (
            service_pb2.GetStatusRequest(workflow_id="someone-elses/workflow"),
            grpc.StatusCode.NOT_FOUND,
            "WORKFLOW_NOT_FOUND",
        ),
        (
            service_pb2.GetStatusRequest(workflow_id="w" * 1001),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ID",
        ),
    ],
)
async def test_status_of_nothing(
    harness: Harness,
    request_: service_pb2.GetStatusRequest,
    code: grpc.StatusCode,
    reason: str,
) -> None:
    new_item(harness)

    error = await expect_error(harness.stub.GetStatus(request_))

    assert (error.code, error.reason) == (code, reason)
    cancel = service_pb2.CancelProcessingRequest()
    target = request_.WhichOneof("target")
    if target is not None:
        setattr(cancel, target, getattr(request_, target))
    cancelled = await expect_error(harness.stub.CancelProcessing(cancel))
    assert (cancelled.code, cancelled.reason) == (code, reason)


async def test_cancel_requests_cancellation_of_the_open_run(harness: Harness) -> None:
    item_id = new_item(harness)
    started = await harness.stub.StartItemProcessing(
        service_pb2.StartItemProcessingRequest(item_id=item_id)
    )

    cancelled = await harness.stub.CancelProcessing(
        service_pb2.CancelProcessingRequest(item_id=item_id, reason="changed my mind")
    )
    again = await harness.stub.CancelProcessing(
        service_pb2.CancelProcessingRequest(workflow_id=started.workflow_id)
    )

    assert (cancelled.workflow_id, cancelled.run_id) == (started.workflow_id, started.run_id)
    assert cancelled.cancel_requested
    assert again.cancel_requested
    assert cancelled.state == run_pb2.RUN_STATE_QUEUED
    too_long = await expect_error(
        harness.stub.CancelProcessing(
            service_pb2.CancelProcessingRequest(item_id=item_id, reason="r" * 501)
        )
    )
    assert (too_long.code, too_long.fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["reason"])


async def test_a_terminated_run_reads_failed_and_cannot_be_cancelled(
    harness: Harness, dev_server: WorkflowEnvironment
) -> None:
    item_id = new_item(harness)
    started = await harness.stub.StartItemProcessing(
        service_pb2.StartItemProcessingRequest(item_id=item_id)
    )
    await dev_server.client.get_workflow_handle(started.workflow_id).terminate("operator")

    status = (await harness.stub.GetStatus(service_pb2.GetStatusRequest(item_id=item_id))).item_run
    cancelled = await harness.stub.CancelProcessing(
        service_pb2.CancelProcessingRequest(item_id=item_id)
    )

    assert (status.state, status.stage) == (run_pb2.RUN_STATE_FAILED, run_pb2.PROCESSING_STAGE_DONE)
    assert status.error.code == "INTERNAL"
    assert status.HasField("close_time")
    assert not cancelled.cancel_requested
    assert cancelled.state == run_pb2.RUN_STATE_FAILED
    # A new run may start once the old one is closed (FAILED items need no force).
    restarted = await harness.stub.StartItemProcessing(
        service_pb2.StartItemProcessingRequest(item_id=item_id)
    )
    assert restarted.run_id != started.run_id
    assert not restarted.already_running


# Batches -------------------------------------------------------------------------------------


async def test_start_batch_deduplicates_and_resolves_the_concurrency(
    harness: Harness, dev_server: WorkflowEnvironment
) -> None:
    response = await harness.stub.StartBatchProcessing(
        service_pb2.StartBatchProcessingRequest(item_ids=["a", "b", "a", "c"], batch_id="batch-1")
    )

    assert (response.batch_id, response.workflow_id) == ("batch-1", "item-batch/batch-1")
    assert response.accepted_item_count == 3
    status = response.status
    assert status.state == run_pb2.RUN_STATE_QUEUED
    assert status.max_concurrency == 50
    assert (status.progress.total, status.progress.pending) == (3, 3)
    handle = dev_server.client.get_workflow_handle(response.workflow_id)
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    by_batch = await harness.stub.GetStatus(service_pb2.GetStatusRequest(batch_id="batch-1"))
    assert by_batch.batch_run == status

    capped = await harness.stub.StartBatchProcessing(
        service_pb2.StartBatchProcessingRequest(item_ids=["a"], max_concurrency=100_000)
    )
    assert capped.status.max_concurrency == 500
    assert uuid.UUID(capped.batch_id)


async def test_batch_ids_are_never_reused(harness: Harness) -> None:
    request = service_pb2.StartBatchProcessingRequest(item_ids=["a"], batch_id="once")
    await harness.stub.StartBatchProcessing(request)

    error = await expect_error(harness.stub.StartBatchProcessing(request))

    assert (error.code, error.reason, error.metadata) == (
        grpc.StatusCode.ALREADY_EXISTS,
        "BATCH_ALREADY_EXISTS",
        {"batch_id": "once"},
    )


async def test_batch_starts_with_a_request_id_are_idempotent(harness: Harness) -> None:
    request = service_pb2.StartBatchProcessingRequest(
        item_ids=["a", "b"], request_id=str(uuid.uuid4())
    )

    first = await harness.stub.StartBatchProcessing(request)
    with harness.engine.begin() as connection:  # as if the first answer had been lost
        connection.exec_driver_sql("DELETE FROM request_records")
    lost = await harness.stub.StartBatchProcessing(request)
    again = await harness.stub.StartBatchProcessing(request)

    assert (lost.batch_id, lost.run_id) == (first.batch_id, first.run_id)
    assert (again.batch_id, again.run_id) == (first.batch_id, first.run_id)
    changed = service_pb2.StartBatchProcessingRequest()
    changed.CopyFrom(request)
    changed.force = True
    error = await expect_error(harness.stub.StartBatchProcessing(changed))
    assert (error.code, error.reason) == (grpc.StatusCode.ALREADY_EXISTS, "REQUEST_ID_REUSED")


@pytest.mark.parametrize(
    ("request_", "field", "reason"),
    [
        (service_pb2.StartBatchProcessingRequest(), "item_ids", "FIELD_REQUIRED"),
        (
            service_pb2.StartBatchProcessingRequest(item_ids=["a", ""]),
            "item_ids[1]",
            "FIELD_REQUIRED",
        ),
        (
            service_pb2.StartBatchProcessingRequest(item_ids=["a", "b/c"]),
            "item_ids[1]",
            "INVALID_ID",
        ),
        (
            service_pb2.StartBatchProcessingRequest(item_ids=list("abcd")),
            "item_ids",
            "BATCH_TOO_LARGE",
        ),
        (
            service_pb2.StartBatchProcessingRequest(item_ids=["a"], max_concurrency=-1),
            "max_concurrency",
            "INVALID_FIELD",
        ),
        (
            service_pb2.StartBatchProcessingRequest(item_ids=["a"], batch_id="x" * 129),
            "batch_id",
            "INVALID_ID",
        ),
        (
            service_pb2.StartBatchProcessingRequest(item_ids=["a"], request_id="nope"),
            "request_id",
            "INVALID_REQUEST_ID",
        ),
    ],
)
async def test_invalid_batches_start_nothing(
    settings: ServiceSettings,
    dev_server: WorkflowEnvironment,
    request_: service_pb2.StartBatchProcessingRequest,
    field: str,
    reason: str,
) -> None:
    harness = await open_harness(replace(settings, max_batch_items=3), dev_server.client)
    try:
        error = await expect_error(harness.stub.StartBatchProcessing(request_))
    finally:
        await close_harness(harness)

    assert (error.code, error.reason, error.fields[0]) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        reason,
        field,
    )
    assert await dev_server.client.count_workflows() is not None
    assert [w async for w in dev_server.client.list_workflows()] == []


async def test_cancel_a_batch(harness: Harness) -> None:
    await harness.stub.StartBatchProcessing(
        service_pb2.StartBatchProcessingRequest(item_ids=["a"], batch_id="b1")
    )

    cancelled = await harness.stub.CancelProcessing(
        service_pb2.CancelProcessingRequest(batch_id="b1")
    )

    assert cancelled.cancel_requested
    assert cancelled.workflow_id == "item-batch/b1"
    assert cancelled.state == run_pb2.RUN_STATE_QUEUED


async def test_item_status_falls_back_to_the_database_when_temporal_forgot_the_run(
    harness: Harness,
) -> None:
    item_id = processed_item(harness)

    status = (await harness.stub.GetStatus(service_pb2.GetStatusRequest(item_id=item_id))).item_run

    assert status.state == run_pb2.RUN_STATE_SUCCEEDED
    assert status.result.title == "Scarf"
    assert status.workflow_id == names.item_workflow_id(item_id)


async def test_concurrent_starts_with_one_request_id_agree(
    harness: Harness, dev_server: WorkflowEnvironment
) -> None:
    item_id = new_item(harness)
    request = service_pb2.StartItemProcessingRequest(item_id=item_id, request_id=str(uuid.uuid4()))

    answers = await asyncio.gather(*(harness.stub.StartItemProcessing(request) for _ in range(5)))

    assert len({(a.workflow_id, a.run_id, a.already_running) for a in answers}) == 1
    assert not answers[0].already_running
    assert await workflow_runs(dev_server.client, answers[0].workflow_id) == 1
    assert harness.request_records() == 1
