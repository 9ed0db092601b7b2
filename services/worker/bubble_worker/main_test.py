"""The worker process stops every queue at once: one grace period, not one per queue."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

# The sandbox re-imports this module to check the workflow below: what it does not use passes.
with workflow.unsafe.imports_passed_through():
    from bubble_shared.testing.fixtures import dev_server  # noqa: F401
    from bubble_worker.main import run_until

GRACE = timedelta(seconds=3)
_running_on: set[str] = set()


@activity.defn
async def busy() -> None:
    """Runs past any grace period; ends when the worker cancels it."""
    _running_on.add(activity.info().task_queue)
    await asyncio.sleep(3600)


@workflow.defn
class TwoQueues:
    @workflow.run
    async def run(self, queues: list[str]) -> None:
        await asyncio.gather(
            *(
                workflow.execute_activity(
                    busy, task_queue=queue, start_to_close_timeout=timedelta(hours=1)
                )
                for queue in queues
            ),
            return_exceptions=True,
        )


async def test_both_queues_get_one_shared_grace_period(dev_server: WorkflowEnvironment) -> None:
    queues = [f"workflows-{uuid.uuid4().hex[:6]}", f"analysis-{uuid.uuid4().hex[:6]}"]
    workers = [
        Worker(
            dev_server.client,
            task_queue=queues[0],
            workflows=[TwoQueues],
            activities=[busy],
            graceful_shutdown_timeout=GRACE,
        ),
        Worker(
            dev_server.client,
            task_queue=queues[1],
            activities=[busy],
            graceful_shutdown_timeout=GRACE,
        ),
    ]
    stop = asyncio.Event()
    running = asyncio.create_task(run_until(workers, stop))
    await dev_server.client.start_workflow(
        TwoQueues.run, queues, id=f"two-{uuid.uuid4().hex[:6]}", task_queue=queues[0]
    )
    # Wait until an activity runs on each queue.
    while not _running_on >= set(queues):
        await asyncio.sleep(0.1)

    started = time.monotonic()
    stop.set()
    await asyncio.wait_for(running, timeout=30)
    elapsed = time.monotonic() - started

    # One after the other took two grace periods (6 s); together they take one.
    assert GRACE.total_seconds() <= elapsed < 1.6 * GRACE.total_seconds()
