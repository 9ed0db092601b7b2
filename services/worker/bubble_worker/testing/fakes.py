"""Stand-in activities for workflow tests and history recording on the time-skipping server.

The workflow tests check orchestration (order, retries, timeouts, failure and cancellation paths,
batch windows); the real activities are tested on their own and end to end with a real database.
Each stand-in registers under the real activity's name and records what it was called with.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy.exc
from sqlalchemy import Engine
from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker, WorkerDeploymentConfig

from bubble.processing.v1 import activities_pb2, analysis_pb2, run_pb2, workflows_pb2
from bubble_shared.store import BatchStore, BatchWindows, NewBatch, RunRecords
from bubble_shared.temporal import names
from bubble_worker.activities.batch_window import BatchWindowActivities
from bubble_worker.activities.error_boundary import ErrorBoundary
from bubble_worker.activities.errors import processing_failure
from bubble_worker.activities.read_model import ReadModelWrites
from bubble_worker.workflows.batch import ItemBatchProcessingWorkflow
from bubble_worker.workflows.item import ItemImageProcessingWorkflow
from bubble_worker.workflows.runner import WORKFLOW_RUNNER

AnalyzeBehaviour = Callable[
    [activities_pb2.AnalyzeItemImagesInput, int], activities_pb2.AnalyzeItemImagesOutput | None
]


def suggestions_for(item_id: str) -> analysis_pb2.ItemSuggestions:
    return analysis_pb2.ItemSuggestions(
        title=f"Suggested {item_id}", primary_image_id=f"{item_id}-0"
    )


@dataclass
class FakeActivities:
    """Records calls; ``analyze`` decides per call what the analysis does (default: succeed)."""

    analyze: AnalyzeBehaviour | None = None
    analyze_delay_seconds: float = 0.0
    analyze_gate: asyncio.Event | None = None
    """Analyses wait until it is set (a run held in its analysis for as long as a test needs)."""
    update_failures: int = 0
    """The suggestions write raises a database outage on this many attempts first."""
    update_gate: threading.Event | None = None
    """The suggestions write waits until it is set (a write under way for as long as a test
    needs)."""
    notify_fails: bool = False
    notify_delay_seconds: float = 0.0
    analyze_calls: list[activities_pb2.AnalyzeItemImagesInput] = field(default_factory=list)
    updates: list[activities_pb2.UpdateItemWithSuggestionsInput] = field(default_factory=list)
    failures: list[activities_pb2.MarkItemProcessingFailedInput] = field(default_factory=list)
    notifications: list[activities_pb2.SendProcessingNotificationInput] = field(
        default_factory=list
    )
    analyzing_now: int = 0
    most_analyzing_at_once: int = 0

    @activity.defn(name=names.ANALYZE_ITEM_IMAGES)
    async def analyze_item_images(
        self, request: activities_pb2.AnalyzeItemImagesInput
    ) -> activities_pb2.AnalyzeItemImagesOutput:
        self.analyze_calls.append(request)
        self.analyzing_now += 1
        self.most_analyzing_at_once = max(self.most_analyzing_at_once, self.analyzing_now)
        try:
            attempt = activity.info().attempt
            result = self.analyze(request, attempt) if self.analyze else None
            if self.analyze_delay_seconds:
                await _heartbeating_sleep(self.analyze_delay_seconds)
            if self.analyze_gate is not None:
                while not self.analyze_gate.is_set():
                    activity.heartbeat()
                    await asyncio.sleep(0.05)
            return result or activities_pb2.AnalyzeItemImagesOutput(
                analysis=analysis_pb2.ItemAnalysis(item_id=request.item_id),
                suggestions=suggestions_for(request.item_id),
            )
        finally:
            self.analyzing_now -= 1

    @activity.defn(name=names.UPDATE_ITEM_WITH_SUGGESTIONS)
    async def update_item_with_suggestions(
        self, request: activities_pb2.UpdateItemWithSuggestionsInput
    ) -> activities_pb2.UpdateItemWithSuggestionsOutput:
        self.updates.append(request)
        if activity.info().attempt <= self.update_failures:
            raise database_outage()
        while self.update_gate is not None and not self.update_gate.is_set():
            await asyncio.sleep(0.01)
        return activities_pb2.UpdateItemWithSuggestionsOutput(
            applied=True, outcome=activities_pb2.ITEM_WRITE_OUTCOME_APPLIED
        )

    @activity.defn(name=names.MARK_ITEM_PROCESSING_FAILED)
    async def mark_item_processing_failed(
        self, request: activities_pb2.MarkItemProcessingFailedInput
    ) -> activities_pb2.MarkItemProcessingFailedOutput:
        self.failures.append(request)
        # As the store does: a cancelled run that never reached its claim (in the analysis)
        # leaves the item alone.
        if request.cancelled and not any(c.run_id == request.run_id for c in self.analyze_calls):
            return activities_pb2.MarkItemProcessingFailedOutput(
                outcome=activities_pb2.ITEM_WRITE_OUTCOME_SKIPPED_NOT_CLAIMED
            )
        # ... and a cancelled run whose result it holds keeps that result.
        if request.cancelled and any(u.run_id == request.run_id for u in self.updates):
            return activities_pb2.MarkItemProcessingFailedOutput(
                outcome=activities_pb2.ITEM_WRITE_OUTCOME_SKIPPED_OUTCOME_WRITTEN
            )
        return activities_pb2.MarkItemProcessingFailedOutput(
            applied=True, outcome=activities_pb2.ITEM_WRITE_OUTCOME_APPLIED
        )

    @activity.defn(name=names.SEND_PROCESSING_NOTIFICATION)
    async def send_processing_notification(
        self, request: activities_pb2.SendProcessingNotificationInput
    ) -> activities_pb2.SendProcessingNotificationOutput:
        self.notifications.append(request)
        if self.notify_delay_seconds:
            await asyncio.sleep(self.notify_delay_seconds)
        if self.notify_fails:
            raise processing_failure("WEBHOOK_REJECTED", "receiver said no")
        return activities_pb2.SendProcessingNotificationOutput(
            notification_id=f"n-{request.item_id}-{request.kind}", created=True
        )


async def _heartbeating_sleep(seconds: float) -> None:
    """Waits as a real analysis does: heartbeating, so a cancellation reaches it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        activity.heartbeat()
        await asyncio.sleep(min(0.2, deadline - loop.time()))


def database_outage() -> Exception:
    """What SQLAlchemy raises while PostgreSQL refuses connections (statement and all)."""
    return sqlalchemy.exc.OperationalError(
        "UPDATE items SET analysis=%(analysis)s WHERE items.item_id = %(item_id)s",
        {"analysis": b"\x00" * 64, "item_id": "item-1"},
        OSError("connection failed: Connection refused"),
    )


def image_rejected(code: str = "IMAGE_CORRUPT") -> Exception:
    return processing_failure(
        code,
        "image img-1: the file is truncated",
        image_id="img-1",
        stage=run_pb2.PROCESSING_STAGE_ANALYZING,
    )


@dataclass
class Harness:
    env: WorkflowEnvironment
    fakes: FakeActivities
    task_queue: str
    analysis_task_queue: str
    batch_task_queue: str
    runs: RunRecords
    batches: BatchStore

    @property
    def client(self) -> Client:
        return self.env.client

    async def start_batch(
        self, item_ids: list[str], **fields: Any
    ) -> WorkflowHandle[Any, workflows_pb2.ItemBatchProcessingWorkflowOutput]:
        """Creates the batch in the read model (as the service does), then starts its workflow."""
        batch_id = f"batch-{uuid.uuid4().hex[:8]}"
        workflow_id = names.batch_workflow_id(batch_id)
        concurrency = int(fields.get("max_concurrency", 0)) or 50
        self.batches.create(
            NewBatch(batch_id, workflow_id, concurrency, item_ids=list(dict.fromkeys(item_ids)))
        )
        return await self.client.start_workflow(
            names.BATCH_WORKFLOW,
            workflows_pb2.ItemBatchProcessingWorkflowInput(
                batch_id=batch_id,
                analysis_task_queue=self.analysis_task_queue,
                item_task_queue=self.task_queue,
                **fields,
            ),
            id=workflow_id,
            task_queue=self.batch_task_queue,
            result_type=workflows_pb2.ItemBatchProcessingWorkflowOutput,
        )


@asynccontextmanager
async def running_harness(
    env: WorkflowEnvironment,
    fakes: FakeActivities,
    engine: Engine,
    *,
    suffix: str = "",
    version: WorkerDeploymentConfig | None = None,
    item_workflow: type = ItemImageProcessingWorkflow,
    with_analysis: bool = True,
) -> AsyncIterator[Harness]:
    """Workflows and stand-in activities on their real three-queue layout, on fresh queues (or
    those of ``suffix``, to poll beside another harness); the read-model activities are the
    real ones, on ``engine`` (a migrated database). ``version``: the workflow workers poll as
    that version of a deployment, running ``item_workflow`` as the item workflow."""
    suffix = suffix or uuid.uuid4().hex[:8]
    runs, batches = RunRecords(engine), BatchStore(engine)
    harness = Harness(
        env, fakes, f"items-{suffix}", f"analysis-{suffix}", f"batches-{suffix}", runs, batches
    )
    read_model = ReadModelWrites(runs=runs, batches=batches)
    windows = BatchWindowActivities(
        client=env.client, windows=BatchWindows(engine), task_queue=harness.task_queue
    )
    async with contextlib.AsyncExitStack() as workers:
        await workers.enter_async_context(
            Worker(
                env.client,
                task_queue=harness.batch_task_queue,
                workflows=[ItemBatchProcessingWorkflow],
                workflow_runner=WORKFLOW_RUNNER,
                activities=[*read_model.activities(), *windows.activities()],
                activity_executor=_THREADS,
                interceptors=[ErrorBoundary()],
                deployment_config=version,
            )
        )
        await workers.enter_async_context(
            Worker(
                env.client,
                task_queue=harness.task_queue,
                workflows=[item_workflow],
                workflow_runner=WORKFLOW_RUNNER,
                activities=[
                    fakes.update_item_with_suggestions,
                    fakes.mark_item_processing_failed,
                    fakes.send_processing_notification,
                    *read_model.activities(),
                ],
                activity_executor=_THREADS,
                interceptors=[ErrorBoundary()],
                deployment_config=version,
            )
        )
        if with_analysis:
            await workers.enter_async_context(
                Worker(
                    env.client,
                    task_queue=harness.analysis_task_queue,
                    activities=[fakes.analyze_item_images],
                    interceptors=[ErrorBoundary()],
                )
            )
        yield harness


# The read-model activities are synchronous (database transactions): they run on threads.
_THREADS = ThreadPoolExecutor(8, thread_name_prefix="read-model")


VisionBehaviour = Callable[[int], activities_pb2.SuggestWithVisionModelOutput]


@dataclass
class FakeVisionModel:
    """Stands in for suggest_with_vision_model: ``behaviour`` decides per attempt (default: the
    model's answer, MODEL_SUGGESTIONS)."""

    behaviour: VisionBehaviour | None = None
    calls: list[activities_pb2.SuggestWithVisionModelInput] = field(default_factory=list)
    attempt_times: list[datetime] = field(default_factory=list)

    @activity.defn(name=names.SUGGEST_WITH_VISION_MODEL)
    async def suggest_with_vision_model(
        self, request: activities_pb2.SuggestWithVisionModelInput
    ) -> activities_pb2.SuggestWithVisionModelOutput:
        self.calls.append(request)
        self.attempt_times.append(activity.info().current_attempt_scheduled_time)
        if self.behaviour is not None:
            return self.behaviour(activity.info().attempt)
        return activities_pb2.SuggestWithVisionModelOutput(suggestions=MODEL_SUGGESTIONS)


MODEL_SUGGESTIONS = analysis_pb2.ItemSuggestions(
    title="Nike Air Max 90",
    category="Shoes > Sneakers",
    sources=analysis_pb2.SuggestionSources(
        title=analysis_pb2.SUGGESTION_SOURCE_VISION_MODEL, model="llava"
    ),
)


@asynccontextmanager
async def serving_vision_model(harness: Harness) -> AsyncIterator[FakeVisionModel]:
    """A fake model on a queue of its own, which the (fake) analysis names from now on."""
    fake = FakeVisionModel()
    queue = f"vision-{uuid.uuid4().hex[:8]}"

    def analysed(
        request: activities_pb2.AnalyzeItemImagesInput, _: int
    ) -> activities_pb2.AnalyzeItemImagesOutput:
        return activities_pb2.AnalyzeItemImagesOutput(
            analysis=analysis_pb2.ItemAnalysis(item_id=request.item_id),
            suggestions=suggestions_for(request.item_id),
            vision_model="llava",
            vision_model_task_queue=queue,
        )

    harness.fakes.analyze = analysed
    async with Worker(
        harness.client,
        task_queue=queue,
        activities=[fake.suggest_with_vision_model],
        interceptors=[ErrorBoundary()],
    ):
        yield fake
