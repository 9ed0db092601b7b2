"""A deploy with Worker Deployment Versioning, on a dev server: version A and version B poll the
same queues side by side, B's item workflow is NOT replay-compatible with A's (a timer before
anything else), and B becomes current while runs of A are under way.

Runs started on A finish on A, new runs go to B, no workflow task fails anywhere, and a batch
started on A carries on: its next run starts on B at its next tick.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from sqlalchemy import Engine
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import SetWorkerDeploymentCurrentVersionRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.worker import WorkerDeploymentConfig

from bubble.processing.v1 import run_pb2, workflows_pb2
from bubble_shared.temporal import names
from bubble_shared.testing.temporal_servers import start_dev_server
from bubble_worker.testing.fakes import FakeActivities, Harness, running_harness
from bubble_worker.testing.incompatible_item_workflow import ItemWorkflowOfVersionB
from bubble_worker.versioning import DeploymentSettings, make_current_if_none, while_registering

DEPLOYMENT = "bubble-worker-test"
MEMBERS = 8


def _version(build_id: str) -> WorkerDeploymentConfig:
    return WorkerDeploymentConfig(
        version=WorkerDeploymentVersion(DEPLOYMENT, build_id),
        use_worker_versioning=True,
        default_versioning_behavior=VersioningBehavior.PINNED,
    )


async def _make_current(client: Client, build_id: str) -> None:
    """What the operator does (``temporal worker deployment set-current-version``), once the
    version is seen polling every queue the current one polls (each registers on its own:
    until then the server refuses with FAILED_PRECONDITION)."""
    await while_registering(
        lambda: client.workflow_service.set_worker_deployment_current_version(
            SetWorkerDeploymentCurrentVersionRequest(
                namespace=client.namespace, deployment_name=DEPLOYMENT, build_id=build_id
            )
        ),
        timeout_seconds=30,
    )


async def _start_item(harness: Harness, item_id: str) -> WorkflowHandle[Any, Any]:
    return await harness.client.start_workflow(
        names.ITEM_WORKFLOW,
        workflows_pb2.ItemImageProcessingWorkflowInput(
            item_id=item_id, analysis_task_queue=harness.analysis_task_queue
        ),
        id=f"{names.item_workflow_id(item_id)}-{uuid.uuid4().hex[:6]}",
        task_queue=harness.task_queue,
        result_type=workflows_pb2.ItemImageProcessingWorkflowOutput,
    )


async def _history(handle: WorkflowHandle[Any, Any]) -> list[Any]:
    return [event async for event in handle.fetch_history_events()]


def _count(events: list[Any], event_type: int) -> int:
    return sum(1 for event in events if event.event_type == event_type)


async def _until(condition: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not {what} in {timeout:g}s"
        await asyncio.sleep(0.05)


async def test_runs_of_the_old_version_finish_on_it_and_new_runs_go_to_the_new_one(
    engine: Engine,
) -> None:
    gate = asyncio.Event()
    fakes = FakeActivities(analyze_gate=gate)
    suffix = uuid.uuid4().hex[:8]
    async with (
        await start_dev_server() as env,
        running_harness(env, fakes, engine, suffix=suffix, version=_version("a")) as on_a,
    ):
        # The deployment's first version makes itself current, as the worker process does.
        first = DeploymentSettings(deployment_name=DEPLOYMENT, build_id="a")
        assert await make_current_if_none(env.client, first)
        assert not await make_current_if_none(env.client, first)

        old_runs = [await _start_item(on_a, f"old-{n}") for n in range(2)]
        batch = await on_a.start_batch([f"member-{n}" for n in range(MEMBERS)], max_concurrency=1)
        await _until(lambda: len(fakes.analyze_calls) == 3, "held in their analysis on A")

        async with running_harness(
            env,
            fakes,
            engine,
            suffix=suffix,
            version=_version("b"),
            item_workflow=ItemWorkflowOfVersionB,
            with_analysis=False,
        ):
            await _make_current(env.client, "b")
            new_run = await _start_item(on_a, "new-0")
            # A's runs go on, now that B is current. The batch's members take a while each, so it
            # still has members to start at its next tick, where it moves to B.
            fakes.analyze_delay_seconds = 0.4
            gate.set()

            for handle in [*old_runs, new_run]:
                output = await handle.result()
                assert output.state == run_pb2.RUN_STATE_SUCCEEDED
            batch_output = await batch.result()

        for handle in old_runs:
            events = await _history(handle)
            assert _count(events, EventType.EVENT_TYPE_TIMER_STARTED) == 0  # A's code
            assert _count(events, EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED) == 0
        new_events = await _history(new_run)
        assert _count(new_events, EventType.EVENT_TYPE_TIMER_STARTED) == 1  # B's code
        assert _count(new_events, EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED) == 0

        assert batch_output.succeeded == MEMBERS
        # The batch's last run, after its continue-as-new, ran on B.
        described = await batch.describe()
        versioning = described.raw_description.workflow_execution_info.versioning_info
        assert on_a.batches.get(batch_output.batch_id).continued_as_new_count == 1  # type: ignore[union-attr]
        assert versioning.deployment_version.build_id == "b"
