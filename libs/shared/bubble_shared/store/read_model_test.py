"""What the service reads from the read model: statuses with their version and last change,
version polls of many rows at once, and sweep pages that walk through every stale row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bubble.processing.v1 import run_pb2
from bubble_shared.store.batches import BatchStore, NewBatch
from bubble_shared.store.conftest import FakeClock
from bubble_shared.store.keyset import VERSIONS_CHUNK
from bubble_shared.store.run_records import RunRecords, RunStep

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def running(run_id: str, item_id: str = "i1") -> RunStep:
    return RunStep(
        item_id=item_id,
        workflow_id=f"item-processing/{item_id}",
        run_id=run_id,
        queue_time=T0,
        state=run_pb2.RUN_STATE_RUNNING,
        stage=run_pb2.PROCESSING_STAGE_ANALYZING,
        time=T0,
    )


def test_a_read_carries_the_version_and_the_last_change(runs: RunRecords, clock: FakeClock) -> None:
    assert runs.read("r1") is None
    runs.record(running("r1"))
    first = runs.read("r1")
    assert first is not None
    clock.advance(5)
    runs.record(RunStep(**{**running("r1").__dict__, "attempt": 2}))

    later = runs.read_latest_of_item("i1")
    assert later is not None
    assert later.version > first.version
    assert later.update_time - first.update_time == timedelta(seconds=5)
    assert later.status == runs.get("r1")
    assert runs.versions(["r1"]) == {"r1": later.version}


def test_versions_of_more_rows_than_one_in_list_holds(
    runs: RunRecords, batches: BatchStore
) -> None:
    count = VERSIONS_CHUNK * 2 + 7
    for number in range(count):
        runs.record(running(f"r{number}", item_id=f"i{number}"))
        batches.create(NewBatch(f"b{number}", f"item-batch/b{number}", 1, item_ids=["x"]))

    wanted = [f"r{number}" for number in range(count)] + ["unknown"]
    assert len(runs.versions(wanted)) == count
    batch_versions = batches.versions([f"b{number}" for number in range(count)] + ["nope"])
    assert len(batch_versions) == count


def test_sweep_pages_continue_after_the_last_row_seen(
    runs: RunRecords, batches: BatchStore, clock: FakeClock
) -> None:
    for number in range(5):
        runs.record(running(f"r{number}", item_id=f"i{number}"))
        batches.create(NewBatch(f"b{number}", f"item-batch/b{number}", 1, item_ids=["x"]))
        clock.advance()
    moment = clock.advance(60)

    first = runs.open_runs_unchanged_since(moment, 2)
    second = runs.open_runs_unchanged_since(moment, 2, after_run_id=first[-1][1])
    third = runs.open_runs_unchanged_since(moment, 2, after_run_id=second[-1][1])
    assert [run_id for _, run_id in first + second + third] == [f"r{n}" for n in range(5)]
    assert runs.open_runs_unchanged_since(moment, 2, after_run_id="r4") == []

    pages = [batches.open_batches_unchanged_since(moment, 3)]
    pages.append(batches.open_batches_unchanged_since(moment, 3, after_batch_id=pages[0][-1]))
    assert pages == [["b0", "b1", "b2"], ["b3", "b4"]]


def test_the_first_run_is_recorded_once(batches: BatchStore) -> None:
    assert batches.set_first_run("missing", "run-1") == ""
    batches.create(NewBatch("b1", "item-batch/b1", 1, item_ids=["x"]))
    assert batches.set_first_run("b1", "") == ""
    assert batches.set_first_run("b1", "run-1") == "run-1"
    assert batches.set_first_run("b1", "run-2") == "run-1"
    stored = batches.read("b1")
    assert stored is not None
    assert stored.status.run_id == "run-1"
    assert stored.status == batches.get("b1")
