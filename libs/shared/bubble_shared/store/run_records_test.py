"""The item-run read model: steps only move a run forward, terminal is final, batches count once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bubble.processing.v1 import analysis_pb2, run_pb2
from bubble_shared.store.batches import BatchStore, NewBatch
from bubble_shared.store.conftest import FakeClock
from bubble_shared.store.run_records import RunRecords, RunStep

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)


def step(
    state: int, stage: int, *, run_id: str = "r1", item_id: str = "i1", **fields: object
) -> RunStep:
    return RunStep(
        item_id=item_id,
        workflow_id=f"item-processing/{item_id}",
        run_id=run_id,
        queue_time=T0,
        state=state,  # type: ignore[arg-type]
        stage=stage,  # type: ignore[arg-type]
        time=fields.pop("time", T0 + timedelta(seconds=1)),  # type: ignore[arg-type]
        **fields,  # type: ignore[arg-type]
    )


QUEUED = step(run_pb2.RUN_STATE_QUEUED, run_pb2.PROCESSING_STAGE_QUEUED)
ANALYZING = step(run_pb2.RUN_STATE_RUNNING, run_pb2.PROCESSING_STAGE_ANALYZING, attempt=1)
NOTIFYING = step(run_pb2.RUN_STATE_RUNNING, run_pb2.PROCESSING_STAGE_NOTIFYING)
SUCCEEDED = step(
    run_pb2.RUN_STATE_SUCCEEDED, run_pb2.PROCESSING_STAGE_DONE, time=T0 + timedelta(seconds=5)
)


def test_a_run_reads_as_its_latest_step(runs: RunRecords) -> None:
    runs.record(QUEUED)
    assert runs.get("r1").state == run_pb2.RUN_STATE_QUEUED  # type: ignore[union-attr]
    runs.record(ANALYZING)
    status = runs.get("r1")
    assert status is not None
    assert (status.state, status.stage, status.attempt) == (
        run_pb2.RUN_STATE_RUNNING,
        run_pb2.PROCESSING_STAGE_ANALYZING,
        1,
    )
    assert status.start_time.ToDatetime(tzinfo=UTC) == T0 + timedelta(seconds=1)
    assert status.queue_time.ToDatetime(tzinfo=UTC) == T0
    assert not status.HasField("close_time")


def test_an_older_step_arriving_late_changes_nothing(runs: RunRecords) -> None:
    runs.record(NOTIFYING)
    before = runs.versions(["r1"])
    runs.record(QUEUED)  # e.g. the service's "queued" after the run has moved on
    runs.record(ANALYZING)
    assert runs.get("r1").stage == run_pb2.PROCESSING_STAGE_NOTIFYING  # type: ignore[union-attr]
    assert runs.versions(["r1"]) == before


def test_a_retry_of_the_same_stage_counts_its_attempt(runs: RunRecords) -> None:
    runs.record(ANALYZING)
    runs.record(step(run_pb2.RUN_STATE_RUNNING, run_pb2.PROCESSING_STAGE_ANALYZING, attempt=3))
    assert runs.get("r1").attempt == 3  # type: ignore[union-attr]


def test_a_terminal_run_is_final(runs: RunRecords) -> None:
    runs.record(ANALYZING)
    runs.record(SUCCEEDED)
    version = runs.versions(["r1"])["r1"]
    failed = step(
        run_pb2.RUN_STATE_FAILED,
        run_pb2.PROCESSING_STAGE_DONE,
        error=run_pb2.ProcessingError(code="INTERNAL", message="late"),
    )
    runs.record(failed)
    runs.record(SUCCEEDED)  # a replayed last step
    status = runs.get("r1")
    assert status is not None
    assert status.state == run_pb2.RUN_STATE_SUCCEEDED
    assert status.stage == run_pb2.PROCESSING_STAGE_DONE
    assert status.close_time.ToDatetime(tzinfo=UTC) == T0 + timedelta(seconds=5)
    assert not status.HasField("error")
    assert runs.versions(["r1"])["r1"] == version


def test_failure_and_skip_are_kept(runs: RunRecords) -> None:
    error = run_pb2.ProcessingError(
        code="IMAGE_CORRUPT",
        message="truncated",
        image_id="img-1",
        stage=run_pb2.PROCESSING_STAGE_ANALYZING,
    )
    runs.record(step(run_pb2.RUN_STATE_FAILED, run_pb2.PROCESSING_STAGE_DONE, error=error))
    failed = runs.get("r1")
    assert failed is not None
    assert failed.error == error
    runs.record(
        step(
            run_pb2.RUN_STATE_SUCCEEDED,
            run_pb2.PROCESSING_STAGE_DONE,
            run_id="r2",
            skip_reason=run_pb2.SKIP_REASON_ALREADY_PROCESSED,
        )
    )
    assert runs.get("r2").skip_reason == run_pb2.SKIP_REASON_ALREADY_PROCESSED  # type: ignore[union-attr]


def test_the_result_is_shown_once_the_run_succeeded(runs: RunRecords) -> None:
    suggestions = analysis_pb2.ItemSuggestions(title="Red scarf")
    runs.record(
        step(run_pb2.RUN_STATE_RUNNING, run_pb2.PROCESSING_STAGE_NOTIFYING, result=suggestions)
    )
    assert not runs.get("r1").HasField("result")  # type: ignore[union-attr]
    runs.record(SUCCEEDED)
    assert runs.get("r1").result == suggestions  # type: ignore[union-attr]


def test_latest_of_item_and_request(runs: RunRecords, clock: FakeClock) -> None:
    assert runs.latest_of_item("i1") is None
    runs.record(SUCCEEDED)
    later = step(
        run_pb2.RUN_STATE_QUEUED, run_pb2.PROCESSING_STAGE_QUEUED, run_id="r2", request_id="q-2"
    )
    runs.record(RunStep(**{**later.__dict__, "queue_time": T0 + timedelta(hours=1)}))
    latest = runs.latest_of_item("i1")
    assert latest is not None
    assert latest.run_id == "r2"
    by_request = runs.started_by_request("i1", "q-2")
    assert by_request is not None
    assert by_request.run_id == "r2"
    assert runs.started_by_request("i1", "q-other") is None


def test_open_runs_unchanged_since(runs: RunRecords, clock: FakeClock) -> None:
    runs.record(ANALYZING)
    runs.record(step(run_pb2.RUN_STATE_SUCCEEDED, 6, run_id="r2"))
    clock.advance(120)
    runs.record(step(run_pb2.RUN_STATE_RUNNING, 2, run_id="r3", item_id="i3"))
    stale = runs.open_runs_unchanged_since(clock.now - timedelta(seconds=60), limit=10)
    assert stale == [("item-processing/i1", "r1")]


def test_a_batch_counts_each_member_once(runs: RunRecords, batches: BatchStore) -> None:
    batches.create(NewBatch("b1", "item-batch/b1", 5, item_ids=["i1", "i2", "i3"]))
    first = step(run_pb2.RUN_STATE_RUNNING, 2, batch_id="b1")
    runs.record(first)
    runs.record(first)  # retried
    status = batches.get("b1")
    assert status is not None
    assert (status.progress.pending, status.progress.running) == (2, 1)

    runs.record(SUCCEEDED)
    runs.record(SUCCEEDED)  # a replay: counted once
    skipped = step(
        run_pb2.RUN_STATE_SUCCEEDED,
        6,
        run_id="r2",
        item_id="i2",
        batch_id="b1",
        skip_reason=run_pb2.SKIP_REASON_ALREADY_PROCESSED,
    )
    runs.record(skipped)
    failed = step(
        run_pb2.RUN_STATE_FAILED,
        6,
        run_id="r3",
        item_id="i3",
        batch_id="b1",
        error=run_pb2.ProcessingError(code="IMAGE_CORRUPT", message="bad"),
    )
    runs.record(failed)
    progress = batches.get("b1").progress  # type: ignore[union-attr]
    assert (progress.total, progress.pending, progress.running) == (3, 0, 0)
    assert (progress.succeeded, progress.skipped, progress.failed) == (1, 1, 1)
    assert list(batches.get("b1").failed_item_ids) == ["i3"]  # type: ignore[union-attr]
