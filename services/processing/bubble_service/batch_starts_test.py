"""StartBatchProcessing through a real server on a real dev server with no worker: the batch's
row (members or selector, counters) is written before the workflow starts, the workflow input
carries no IDs, retries with a request_id find the batch, and bad requests start nothing."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from sqlalchemy import Engine, bindparam, text
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from bubble.processing.v1 import item_pb2, run_pb2, service_pb2, workflows_pb2
from bubble_service.conftest import (
    Harness,
    close_harness,
    expect_error,
    open_harness,
    workflow_runs,
)
from bubble_service.settings import ServiceSettings
from bubble_shared.store import create_engine
from bubble_shared.store.models import Batch
from bubble_shared.store.timestamps import UtcDateTime


async def test_start_batch_deduplicates_and_resolves_the_concurrency(
    harness: Harness, dev_server: WorkflowEnvironment
) -> None:
    response = await harness.stub.StartBatchProcessing(
        service_pb2.StartBatchProcessingRequest(item_ids=["a", "b", "a", "c"], batch_id="batch-1")
    )

    assert (response.batch_id, response.workflow_id) == ("batch-1", "item-batch/batch-1")
    assert response.accepted_item_count == 3
    status = response.status
    assert (status.state, status.run_id) == (run_pb2.RUN_STATE_QUEUED, response.run_id)
    assert status.max_concurrency == 50
    assert (status.progress.total, status.progress.pending) == (3, 3)
    assert status.selection_complete
    handle = dev_server.client.get_workflow_handle(response.workflow_id)
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    history = await handle.fetch_history()
    [started] = await dev_server.client.data_converter.decode(
        list(history.events[0].workflow_execution_started_event_attributes.input.payloads),
        [workflows_pb2.ItemBatchProcessingWorkflowInput],
    )
    assert (started.batch_id, started.max_concurrency, list(started.item_ids)) == (
        "batch-1",
        50,
        [],  # the members live in the database
    )
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


async def test_batch_starts_with_a_request_id_are_idempotent(
    harness: Harness, dev_server: WorkflowEnvironment
) -> None:
    request = service_pb2.StartBatchProcessingRequest(
        item_ids=["a", "b"], request_id=str(uuid.uuid4())
    )

    first = await harness.stub.StartBatchProcessing(request)
    with harness.engine.begin() as connection:  # as if the first answer had been lost
        connection.exec_driver_sql("DELETE FROM request_records")
    lost = await harness.stub.StartBatchProcessing(request)
    again = await harness.stub.StartBatchProcessing(request)

    assert (lost.batch_id, lost.run_id, lost.accepted_item_count) == (
        first.batch_id,
        first.run_id,
        2,
    )
    assert (again.batch_id, again.run_id) == (first.batch_id, first.run_id)
    assert await workflow_runs(dev_server.client, first.workflow_id) == 1
    assert harness.count(Batch) == 1
    changed = service_pb2.StartBatchProcessingRequest()
    changed.CopyFrom(request)
    changed.force = True
    error = await expect_error(harness.stub.StartBatchProcessing(changed))
    assert (error.code, error.reason) == (grpc.StatusCode.ALREADY_EXISTS, "REQUEST_ID_REUSED")
    with harness.engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM request_records")
    other = await expect_error(harness.stub.StartBatchProcessing(changed))
    assert (other.code, other.reason) == (grpc.StatusCode.ALREADY_EXISTS, "BATCH_ALREADY_EXISTS")


async def test_a_selector_batch_counts_what_it_selects(harness: Harness) -> None:
    for number, owner in enumerate(["alice", "bob", "alice"]):
        harness.store.create_item(
            item_id=f"i{number}", owner_id=owner, title="", description="", images=[]
        )

    response = await harness.stub.StartBatchProcessing(
        service_pb2.StartBatchProcessingRequest(selector=item_pb2.ItemSelector(owner_id="alice"))
    )
    nothing = await harness.stub.StartBatchProcessing(
        service_pb2.StartBatchProcessingRequest(selector=item_pb2.ItemSelector(owner_id="carol"))
    )

    assert response.accepted_item_count == 2
    assert (response.status.progress.total, response.status.progress.pending) == (2, 2)
    assert not response.status.selection_complete  # read page by page once it runs
    # A selector that matches nothing is accepted; the workflow ends the batch with total 0.
    assert nothing.accepted_item_count == 0
    assert nothing.status.state == run_pb2.RUN_STATE_QUEUED
    assert nothing.run_id


async def test_a_million_item_selector_is_accepted_at_once(harness: Harness) -> None:
    # Seeding a million rows may take longer than the service's statement timeout.
    seeding = create_engine(harness.settings.store.database_url, time_limits=False)
    try:
        _insert_items(seeding, 1_000_000)
    finally:
        seeding.dispose()

    started = time.perf_counter()
    response = await harness.stub.StartBatchProcessing(
        service_pb2.StartBatchProcessingRequest(selector=item_pb2.ItemSelector())
    )
    elapsed = time.perf_counter() - started

    assert response.accepted_item_count == 1_000_000
    assert elapsed < 1.0, f"StartBatchProcessing took {elapsed:.2f} s"


def _insert_items(engine: Engine, count: int) -> None:
    """``count`` items in one statement (generated by the database, not sent row by row)."""
    if engine.dialect.name == "postgresql":
        numbers = "SELECT x FROM generate_series(0, :last) AS x"
        item_id = "'bulk-' || lpad(x::text, 7, '0')"
    else:
        numbers = "WITH RECURSIVE n(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM n WHERE x < :last) "
        numbers += "SELECT x FROM n"
        item_id = "printf('bulk-%07d', x)"
    statement = text(
        "INSERT INTO items (item_id, owner_id, title, description, status, create_time, "
        f"update_time, version) SELECT {item_id}, 'bulk', '', '', 'PENDING', :created, "
        f":created, 1 FROM ({numbers}) AS numbers"
    ).bindparams(bindparam("created", type_=UtcDateTime()))
    with engine.begin() as connection:
        connection.execute(
            statement, {"last": count - 1, "created": datetime.now(UTC) - timedelta(days=1)}
        )


@pytest.mark.parametrize(
    ("request_", "field", "reason"),
    [
        (service_pb2.StartBatchProcessingRequest(), "item_ids", "FIELD_REQUIRED"),
        (
            service_pb2.StartBatchProcessingRequest(
                item_ids=["a"], selector=item_pb2.ItemSelector()
            ),
            "selector",
            "INVALID_FIELD",
        ),
        (
            service_pb2.StartBatchProcessingRequest(
                selector=item_pb2.ItemSelector(
                    statuses=[item_pb2.ITEM_STATUS_FAILED, item_pb2.ITEM_STATUS_UNSPECIFIED]
                )
            ),
            "selector.statuses[1]",
            "INVALID_FIELD",
        ),
        (
            service_pb2.StartBatchProcessingRequest(
                selector=item_pb2.ItemSelector(analyzed_before_version="1.3")
            ),
            "selector.analyzed_before_version",
            "INVALID_FIELD",
        ),
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
        batches = harness.count(Batch)
    finally:
        await close_harness(harness)

    assert (error.code, error.reason, error.fields[0]) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        reason,
        field,
    )
    assert batches == 0
    assert [w async for w in dev_server.client.list_workflows()] == []


async def test_the_selector_problems_are_listed_together(harness: Harness) -> None:
    selector = item_pb2.ItemSelector(
        statuses=[item_pb2.ITEM_STATUS_UNSPECIFIED], analyzed_before_version="latest"
    )
    selector.created_after.FromDatetime(datetime(2026, 2, 1))
    selector.created_before.FromDatetime(datetime(2026, 1, 1))

    error = await expect_error(
        harness.stub.StartBatchProcessing(
            service_pb2.StartBatchProcessingRequest(selector=selector)
        )
    )

    assert error.fields == [
        "selector.statuses[0]",
        "selector.analyzed_before_version",
        "selector.created_after",
    ]


async def test_a_batch_that_cannot_start_leaves_no_row(offline_harness: Harness) -> None:
    error = await expect_error(
        offline_harness.stub.StartBatchProcessing(
            service_pb2.StartBatchProcessingRequest(item_ids=["a"], batch_id="b1")
        )
    )

    assert (error.code, error.reason) == (grpc.StatusCode.UNAVAILABLE, "TEMPORAL_UNAVAILABLE")
    assert offline_harness.count(Batch) == 0
