"""How a status is read: targets resolved without I/O, statuses read from the database only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from sqlalchemy import Engine

from bubble.processing.v1 import run_pb2
from bubble_service.errors import ServiceError
from bubble_service.status import StatusReader, Target
from bubble_shared.store import (
    BatchStore,
    ItemStore,
    NewBatch,
    NewImage,
    RunRecords,
    RunStep,
    create_engine,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture()
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture()
def reader(engine: Engine) -> StatusReader:
    return StatusReader(ItemStore(engine), RunRecords(engine), BatchStore(engine))


def record(engine: Engine, run_id: str, state: int, stage: int, *, seconds: int = 0) -> None:
    RunRecords(engine).record(
        RunStep(
            item_id="i1",
            workflow_id="item-processing/i1",
            run_id=run_id,
            queue_time=T0 + timedelta(seconds=seconds),
            state=state,  # type: ignore[arg-type]
            stage=stage,  # type: ignore[arg-type]
            time=T0 + timedelta(seconds=seconds),
        )
    )


def expect_not_found(call: object) -> ServiceError:
    assert isinstance(call, ServiceError)
    assert call.code == grpc.StatusCode.NOT_FOUND
    return call


@pytest.mark.parametrize(
    ("field", "value", "kind", "workflow_id"),
    [
        ("item_id", "i1", "item", "item-processing/i1"),
        ("workflow_id", "item-processing/i1", "item", "item-processing/i1"),
        ("batch_id", "b1", "batch", "item-batch/b1"),
        ("workflow_id", "item-batch/b1", "batch", "item-batch/b1"),
    ],
)
def test_targets_resolve_without_reading(
    field: str, value: str, kind: str, workflow_id: str
) -> None:
    reader = StatusReader(None, None, None)  # type: ignore[arg-type]  # resolving reads nothing

    target = reader.resolve(field, value)

    assert (target.kind, target.workflow_id) == (kind, workflow_id)
    assert target.id == value.rsplit("/", 1)[-1]


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        (None, "", "FIELD_REQUIRED"),
        ("item_id", "", "FIELD_REQUIRED"),
        ("batch_id", "a b", "INVALID_ID"),
        ("workflow_id", "", "FIELD_REQUIRED"),
        ("workflow_id", "w" * 1001, "INVALID_ID"),
        ("workflow_id", "someone-elses/workflow", "WORKFLOW_NOT_FOUND"),
    ],
)
def test_bad_targets(field: str | None, value: str, reason: str) -> None:
    reader = StatusReader(None, None, None)  # type: ignore[arg-type]

    with pytest.raises(ServiceError) as raised:
        reader.resolve(field, value)

    assert raised.value.reason == reason


async def test_an_item_reads_as_its_latest_run(reader: StatusReader, engine: Engine) -> None:
    record(engine, "r1", run_pb2.RUN_STATE_SUCCEEDED, run_pb2.PROCESSING_STAGE_DONE)
    record(engine, "r2", run_pb2.RUN_STATE_RUNNING, run_pb2.PROCESSING_STAGE_ANALYZING, seconds=60)

    by_item = await reader.snapshot(reader.resolve("item_id", "i1"))
    by_workflow = await reader.snapshot(reader.resolve("workflow_id", "item-processing/i1"))
    pinned = await reader.of_run("r1")

    assert by_item.item_run is not None
    assert (by_item.run_id, by_item.state) == ("r2", run_pb2.RUN_STATE_RUNNING)
    assert not by_item.terminal
    assert by_item.same_status(by_workflow)
    assert pinned is not None
    assert pinned.terminal
    assert by_item.version >= 1
    assert by_item.update_time is not None


async def test_no_run_is_not_found_with_the_reason(reader: StatusReader, engine: Engine) -> None:
    ItemStore(engine).create_item(
        item_id="i1", owner_id="o", title="", description="", images=[NewImage(uri="a.jpg")]
    )

    never_run = await reader.no_run(reader.resolve("item_id", "i1"))
    by_workflow = await reader.no_run(reader.resolve("workflow_id", "item-processing/i1"))
    batch = await reader.no_run(reader.resolve("batch_id", "b1"))
    with pytest.raises(ServiceError) as ghost:
        await reader.snapshot(reader.resolve("item_id", "ghost"))

    assert (never_run.reason, never_run.message) == (
        "RUN_NOT_FOUND",
        "item 'i1' has never been processed: it has no run",
    )
    assert (by_workflow.reason, by_workflow.metadata) == (
        "RUN_NOT_FOUND",
        {"workflow_id": "item-processing/i1"},
    )
    assert (batch.reason, batch.message) == ("BATCH_NOT_FOUND", "no run found for batch_id 'b1'")
    assert (ghost.value.reason, ghost.value.metadata) == ("ITEM_NOT_FOUND", {"item_id": "ghost"})


async def test_a_batch_reads_its_row(reader: StatusReader, engine: Engine) -> None:
    BatchStore(engine).create(NewBatch("b1", "item-batch/b1", 7, item_ids=["a", "b"]))

    snapshot = await reader.snapshot(Target("batch", "b1", "item-batch/b1", "batch_id 'b1'"))

    assert snapshot.batch_run is not None
    assert snapshot.state == run_pb2.RUN_STATE_QUEUED
    assert snapshot.batch_run.max_concurrency == 7
    assert snapshot.batch_run.progress == run_pb2.BatchProgress(total=2, pending=2)
    assert snapshot.workflow_id == "item-batch/b1"
