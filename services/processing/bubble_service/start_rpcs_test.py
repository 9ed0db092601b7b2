"""StartItemProcessing through a real server on a real dev server with no worker: runs stay as
the service wrote them (QUEUED), which is enough to check starts, idempotency, validation and
that the database shows the run from the first answer on."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.testing import WorkflowEnvironment

from bubble.processing.v1 import analysis_pb2, run_pb2, service_pb2, workflows_pb2
from bubble_service.conftest import Harness, expect_error, workflow_runs
from bubble_shared.temporal import names


def processed_item(harness: Harness, item_id: str = "done-1") -> str:
    """An item an earlier run has processed (and recorded as SUCCEEDED)."""
    harness.new_item(item_id)
    workflow_id, started = names.item_workflow_id(item_id), datetime.now(UTC)
    harness.run_writes.claim_item(
        item_id=item_id,
        workflow_id=workflow_id,
        run_id="earlier-run",
        run_start_time=started,
        force=False,
    )
    harness.run_writes.apply_suggestions(
        item_id=item_id,
        workflow_id=workflow_id,
        run_id="earlier-run",
        run_start_time=started,
        analysis=analysis_pb2.ItemAnalysis(item_id=item_id),
        suggestions=analysis_pb2.ItemSuggestions(title="Scarf"),
    )
    harness.step(
        "earlier-run",
        run_pb2.RUN_STATE_SUCCEEDED,
        run_pb2.PROCESSING_STAGE_DONE,
        item_id=item_id,
        queue_time=started,
    )
    return item_id


async def test_start_returns_the_queued_run(harness: Harness) -> None:
    item_id = harness.new_item()

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
    item_id = harness.new_item()
    request = service_pb2.StartItemProcessingRequest(item_id=item_id)
    first = await harness.stub.StartItemProcessing(request)

    second = await harness.stub.StartItemProcessing(
        service_pb2.StartItemProcessingRequest(item_id=item_id, force=True)
    )

    assert second.already_running
    assert second.run_id == first.run_id
    assert second.status == first.status
    assert await workflow_runs(dev_server.client, first.workflow_id) == 1


async def test_the_start_delay_is_in_the_workflow_input_and_the_row(
    harness: Harness, dev_server: WorkflowEnvironment
) -> None:
    item_id = harness.new_item()

    response = await harness.stub.StartItemProcessing(
        service_pb2.StartItemProcessingRequest(item_id=item_id, start_delay=Duration(seconds=3600))
    )

    status = response.status
    scheduled = status.scheduled_start_time.ToDatetime() - status.queue_time.ToDatetime()
    assert scheduled == timedelta(hours=1)
    assert status.state == run_pb2.RUN_STATE_QUEUED
    history = await dev_server.client.get_workflow_handle(response.workflow_id).fetch_history()
    [started] = await dev_server.client.data_converter.decode(
        list(history.events[0].workflow_execution_started_event_attributes.input.payloads),
        [workflows_pb2.ItemImageProcessingWorkflowInput],
    )
    assert started.start_delay.ToTimedelta() == timedelta(hours=1)


async def test_starts_with_a_request_id_are_idempotent(
    harness: Harness, dev_server: WorkflowEnvironment
) -> None:
    item_id = harness.new_item()
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


async def test_a_lost_answer_returns_the_run_the_request_started_even_once_closed(
    harness: Harness, dev_server: WorkflowEnvironment
) -> None:
    item_id = harness.new_item()
    request = service_pb2.StartItemProcessingRequest(item_id=item_id, request_id=str(uuid.uuid4()))
    first = await harness.stub.StartItemProcessing(request)
    await dev_server.client.get_workflow_handle(first.workflow_id).terminate("done elsewhere")
    harness.step(first.run_id, run_pb2.RUN_STATE_FAILED, run_pb2.PROCESSING_STAGE_DONE)
    with harness.engine.begin() as connection:  # as if the first answer had been lost
        connection.exec_driver_sql("DELETE FROM request_records")

    retried = await harness.stub.StartItemProcessing(request)

    assert (retried.run_id, retried.already_running) == (first.run_id, False)
    assert retried.status.state == run_pb2.RUN_STATE_FAILED
    assert await workflow_runs(dev_server.client, first.workflow_id) == 1


async def test_a_run_without_a_row_yet_is_told_apart_by_its_input(
    harness: Harness, dev_server: WorkflowEnvironment
) -> None:
    """A run someone else started (a batch's run before its first step) has no row yet: who
    started it is read from its input in Temporal."""
    item_id = harness.new_item()
    request_id = str(uuid.uuid4())
    handle = await dev_server.client.start_workflow(
        names.ITEM_WORKFLOW,
        workflows_pb2.ItemImageProcessingWorkflowInput(item_id=item_id, request_id=request_id),
        id=names.item_workflow_id(item_id),
        task_queue=harness.settings.temporal.task_queue,
    )

    other = await harness.stub.StartItemProcessing(
        service_pb2.StartItemProcessingRequest(item_id=item_id)
    )
    same = await harness.stub.StartItemProcessing(
        service_pb2.StartItemProcessingRequest(item_id=item_id, request_id=request_id)
    )

    assert (other.run_id, other.already_running) == (handle.result_run_id, True)
    assert (same.run_id, same.already_running) == (handle.result_run_id, False)
    assert not other.HasField("status")  # no row: the run has not recorded a step yet


async def test_a_processed_item_needs_force(harness: Harness) -> None:
    item_id = processed_item(harness)

    error = await expect_error(
        harness.stub.StartItemProcessing(service_pb2.StartItemProcessingRequest(item_id=item_id))
    )

    assert (error.code, error.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "ITEM_ALREADY_PROCESSED",
    )
    forced = await harness.stub.StartItemProcessing(
        service_pb2.StartItemProcessingRequest(item_id=item_id, force=True)
    )
    assert not forced.already_running
    assert forced.run_id != "earlier-run"
    assert forced.status.state == run_pb2.RUN_STATE_QUEUED


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
    harness.new_item()
    request, reason = case

    error = await expect_error(harness.stub.StartItemProcessing(request))

    assert (error.code, error.reason) == (grpc.StatusCode.INVALID_ARGUMENT, reason)
    assert await workflow_runs(dev_server.client, "item-processing/item-1") == 0
    assert harness.request_records() == 0
    assert harness.runs.latest_of_item("item-1") is None


async def test_an_unknown_item_is_not_found(harness: Harness) -> None:
    error = await expect_error(
        harness.stub.StartItemProcessing(service_pb2.StartItemProcessingRequest(item_id="ghost"))
    )

    assert (error.code, error.reason, error.metadata) == (
        grpc.StatusCode.NOT_FOUND,
        "ITEM_NOT_FOUND",
        {"item_id": "ghost"},
    )


async def test_concurrent_starts_with_one_request_id_agree(
    harness: Harness, dev_server: WorkflowEnvironment
) -> None:
    item_id = harness.new_item()
    request = service_pb2.StartItemProcessingRequest(item_id=item_id, request_id=str(uuid.uuid4()))

    answers = await asyncio.gather(*(harness.stub.StartItemProcessing(request) for _ in range(5)))

    assert len({(a.workflow_id, a.run_id, a.already_running) for a in answers}) == 1
    assert not answers[0].already_running
    assert await workflow_runs(dev_server.client, answers[0].workflow_id) == 1
    assert harness.request_records() == 1
