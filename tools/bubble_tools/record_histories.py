"""Records workflow histories for the replay test (tests/replay), one file per scenario.

    ./pants run tools:record-histories

Run it after an intentional change to a workflow and commit the files: the replay test replays
every stored history against the current workflow code, so a change that would break the open
workflows recorded by an older version fails CI instead of production. Keep the old files too
while runs of the old version may still be open; new scenarios get new files.

The scenarios run on the time-skipping server with stand-in activities: a history records the
workflow's decisions and the activities' results, and replay needs nothing more.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from google.protobuf.duration_pb2 import Duration
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from bubble.processing.v1 import activities_pb2, workflows_pb2
from bubble_shared.store import create_engine, upgrade
from bubble_shared.temporal import names
from bubble_shared.testing.temporal_servers import start_time_skipping_server
from bubble_tools.exiting import run_then_exit
from bubble_tools.repo import find_repo_root
from bubble_worker.testing.fakes import (
    FakeActivities,
    Harness,
    image_rejected,
    running_harness,
    serving_vision_model,
)
from bubble_worker.workflows.item import ItemImageProcessingWorkflow

HISTORIES_DIR = Path("tests/replay/histories")

Recorded = list[tuple[str, WorkflowHandle]]  # type: ignore[type-arg]
Scenario = Callable[[Harness], Awaitable[Recorded]]


async def _item(
    harness: Harness, item_id: str, **fields: object
) -> WorkflowHandle[ItemImageProcessingWorkflow, workflows_pb2.ItemImageProcessingWorkflowOutput]:
    request = workflows_pb2.ItemImageProcessingWorkflowInput(
        item_id=item_id,
        analysis_task_queue=harness.analysis_task_queue,
        **fields,  # type: ignore[arg-type]
    )
    return await harness.client.start_workflow(
        ItemImageProcessingWorkflow.run,
        request,
        id=names.item_workflow_id(item_id),
        task_queue=harness.task_queue,
    )


async def item_succeeds(harness: Harness) -> Recorded:
    handle = await _item(harness, f"ok-{uuid.uuid4().hex[:6]}")
    await handle.result()
    # Runs before the leaner-runs patch: item_succeeds.json.
    return [("item_succeeds_leaner_runs", handle)]


async def item_asks_the_vision_model(harness: Harness) -> Recorded:
    async with serving_vision_model(harness):
        handle = await _item(harness, f"model-{uuid.uuid4().hex[:6]}")
        await handle.result()
    # Runs before the leaner-runs patch: item_asks_the_vision_model.json.
    return [("item_asks_the_vision_model_leaner_runs", handle)]


async def item_fails_on_a_bad_image(harness: Harness) -> Recorded:
    def corrupt(_: activities_pb2.AnalyzeItemImagesInput, __: int) -> None:
        raise image_rejected()

    harness.fakes.analyze = corrupt
    handle = await _item(harness, f"bad-{uuid.uuid4().hex[:6]}")
    with contextlib.suppress(WorkflowFailureError):  # ending Failed is the point
        await handle.result()
    # Runs before the failed-runs-end-failed patch completed: item_fails_on_a_bad_image.json;
    # before the leaner-runs patch: item_fails_on_a_bad_image_ends_failed.json.
    return [("item_fails_on_a_bad_image_leaner_runs", handle)]


async def item_cancelled_while_queued(harness: Harness) -> Recorded:
    handle = await _item(
        harness, f"cancel-{uuid.uuid4().hex[:6]}", start_delay=Duration(seconds=3600)
    )
    await handle.query(ItemImageProcessingWorkflow.get_progress)
    await handle.cancel()
    with contextlib.suppress(WorkflowFailureError):  # ending cancelled is the point
        await handle.result()
    return [("item_cancelled_while_queued", handle)]


async def batch_continues_as_new(harness: Harness) -> Recorded:
    prefix = uuid.uuid4().hex[:6]
    item_ids = [f"{prefix}-{index}" for index in range(5)]
    harness.fakes.analyze_delay_seconds = 1.0

    def reject_last(request: activities_pb2.AnalyzeItemImagesInput, _: int) -> None:
        if request.item_id == item_ids[-1]:
            raise image_rejected()

    harness.fakes.analyze = reject_last
    # A history of one tick per execution, so that this small batch continues as new mid-way.
    handle = await harness.start_batch(item_ids, max_concurrency=2, events_per_run=3)
    await handle.result()
    first_run = harness.client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id)
    return [("batch_first_run_continues_as_new", first_run), ("batch_last_run", handle)]


async def batch_joins_an_open_item_run(harness: Harness) -> Recorded:
    prefix = uuid.uuid4().hex[:6]
    item_ids = [f"{prefix}-{index}" for index in range(2)]
    open_run = await _item(harness, item_ids[0], start_delay=Duration(seconds=3600))
    while harness.runs.latest_of_item(item_ids[0]) is None:
        await asyncio.sleep(0.05)
    batch = await harness.start_batch(item_ids, max_concurrency=1)
    status = harness.batches.get(names.batch_id_from_workflow_id(batch.id) or "")
    while status is None or status.progress.succeeded < 1:
        await asyncio.sleep(0.05)
        status = harness.batches.get(names.batch_id_from_workflow_id(batch.id) or "")
    await open_run.cancel()
    await batch.result()
    return [("batch_joins_an_open_item_run", batch)]


async def batch_cancelled(harness: Harness) -> Recorded:
    prefix = uuid.uuid4().hex[:6]
    harness.fakes.analyze_delay_seconds = 3600
    item_ids = [f"{prefix}-{index}" for index in range(3)]
    batch = await harness.start_batch(item_ids, max_concurrency=2)
    while len(harness.fakes.analyze_calls) < 2:
        await asyncio.sleep(0.05)
    await batch.cancel()
    with contextlib.suppress(WorkflowFailureError):  # ending cancelled is the point
        await batch.result()
    return [("batch_cancelled", batch)]


SCENARIOS: list[Scenario] = [
    item_succeeds,
    item_asks_the_vision_model,
    item_fails_on_a_bad_image,
    item_cancelled_while_queued,
    batch_continues_as_new,
    batch_joins_an_open_item_run,
    batch_cancelled,
]


async def record(env: WorkflowEnvironment, out_dir: Path) -> list[Path]:
    written: list[Path] = []
    with tempfile.TemporaryDirectory() as scratch:
        # The read-model activities are real: they need a database (a throwaway SQLite file).
        url = f"sqlite:///{Path(scratch) / 'read-model.db'}"
        upgrade(url)
        engine = create_engine(url)
        try:
            for scenario in SCENARIOS:
                async with running_harness(env, FakeActivities(), engine) as harness:
                    for name, handle in await scenario(harness):
                        history = await handle.fetch_history()
                        path = out_dir / f"{name}.json"
                        path.write_text(history.to_json() + "\n")
                        written.append(path)
        finally:
            engine.dispose()
    return written


async def _main() -> None:
    out_dir = find_repo_root() / HISTORIES_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    async with await start_time_skipping_server() as env:
        for path in await record(env, out_dir):
            print(f"recorded {path.relative_to(find_repo_root())}")


def main() -> None:
    run_then_exit("record-histories", lambda: asyncio.run(_main()))


if __name__ == "__main__":
    main()
