"""The readiness wait against a real Temporal dev server and real workers: it returns only once
every queue has a poller, and otherwise names the queues nobody polls."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio import activity, workflow
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from bubble_shared.settings import TemporalSettings
from bubble_shared.testing.temporal_servers import start_dev_server
from bubble_tools.readiness import NotPolledError, wait_until_polled, worker_task_queues


@workflow.defn(name="ReadinessProbe")
class Probe:
    @workflow.run
    async def run(self) -> None:
        return None


@activity.defn(name="readiness_probe")
async def probe() -> None:
    return None


def test_the_worker_queues_are_the_settings_queues() -> None:
    settings = TemporalSettings(task_queue="items-x", analysis_task_queue="analysis-x")

    assert worker_task_queues(settings) == ("items-x", "items-x-batches", "analysis-x")
    assert worker_task_queues(TemporalSettings()) == (
        "item-processing",
        "item-processing-batches",
        "image-analysis",
    )


async def test_waits_until_every_queue_is_polled() -> None:
    suffix = uuid.uuid4().hex[:8]
    items, analysis = f"items-{suffix}", f"analysis-{suffix}"
    async with await start_dev_server() as env:
        address = env.client.service_client.config.target_host

        async def wait(queues: tuple[str, ...], timeout: float) -> None:
            await asyncio.to_thread(
                wait_until_polled, address, "default", queues, timeout_seconds=timeout
            )

        with pytest.raises(NotPolledError, match=f"{items}, {analysis} within 1s"):
            await wait((items, analysis), 1)
        # Workflows only on one queue, activities only on the other, as the stack's worker.
        async with Worker(
            env.client,
            task_queue=items,
            workflows=[Probe],
            workflow_runner=UnsandboxedWorkflowRunner(),
        ):
            with pytest.raises(NotPolledError, match=f"queue {analysis} within"):
                await wait((items, analysis), 2)
            async with Worker(env.client, task_queue=analysis, activities=[probe]):
                await wait((items, analysis), 30)


def test_a_dead_process_ends_the_wait_at_once() -> None:
    def dead() -> None:
        raise RuntimeError("worker exited with code 1")

    # Nothing listens on port 1: only check_alive can end this before its timeout.
    with pytest.raises(RuntimeError, match="worker exited"):
        wait_until_polled("127.0.0.1:1", "default", ["q"], timeout_seconds=60, check_alive=dead)
