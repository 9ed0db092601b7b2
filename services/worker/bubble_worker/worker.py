"""Assembles the Temporal workers of one process from its settings and dependencies.

Each worker has an executor of its own, sized to its slots (activities plus local activities on
the workflows' queue, analyses on the analysis queue), so a burst on one queue never takes threads
the other needs; the database pool is sized to all of them (``WorkerSettings.database_threads``).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.worker import Worker

from bubble_shared.store import (
    AnalysisCache,
    BatchStore,
    BatchWindows,
    ItemStore,
    NotificationStore,
    RunRecords,
    RunWrites,
    VisionAnswerCache,
)
from bubble_worker import versioning
from bubble_worker.activities.analysis_pool import AnalysisPool
from bubble_worker.activities.analyze import AnalyzeItemImages
from bubble_worker.activities.batch_window import BatchWindowActivities
from bubble_worker.activities.error_boundary import ErrorBoundary
from bubble_worker.activities.item_writes import ItemWrites
from bubble_worker.activities.notify import Notifications
from bubble_worker.activities.read_model import ReadModelWrites
from bubble_worker.activities.vision_suggest import VisionSuggestions
from bubble_worker.activities.webhook import WebhookConfig, WebhookSender
from bubble_worker.settings import BATCH_SLOTS, WorkerSettings
from bubble_worker.vision.client import ChatCompletions
from bubble_worker.workflows import policies
from bubble_worker.workflows.batch import ItemBatchProcessingWorkflow
from bubble_worker.workflows.item import ItemImageProcessingWorkflow
from bubble_worker.workflows.runner import WORKFLOW_RUNNER, write_workflow_bytecode


@dataclass
class WorkerResources:
    """What the workers share and what must be closed after they stop."""

    executors: list[ThreadPoolExecutor]
    analysis_pool: AnalysisPool | None = None
    webhook: WebhookSender | None = None
    vision_model: ChatCompletions | None = None

    def close(self) -> None:
        for executor in self.executors:
            executor.shutdown(wait=True)
        if self.analysis_pool is not None:
            self.analysis_pool.shutdown()
        if self.webhook is not None:
            self.webhook.close()
        if self.vision_model is not None:
            self.vision_model.close()


def build_workers(
    client: Client, settings: WorkerSettings, engine: Engine
) -> tuple[list[Worker], WorkerResources]:
    """The workers for the queues in ``settings``, unstarted, and the resources they use.

    The activities reach the database through the stores built here on ``engine``.
    """
    policies.configure(
        policies.RetryBudget(
            budget=timedelta(seconds=settings.retry_budget_seconds),
            max_interval=timedelta(seconds=settings.retry_max_interval_seconds),
        )
    )
    resources = WorkerResources(executors=[])
    interceptors = [ErrorBoundary()]
    run_writes = RunWrites(engine)
    grace = timedelta(seconds=settings.shutdown_grace_seconds)
    workers: list[Worker] = []
    # The workflow workers poll as one version of the deployment (versioning.py); None: unversioned.
    version = versioning.deployment_config(settings.deployment)
    if settings.queues.runs_workflows:
        write_workflow_bytecode()
        if settings.notify_webhook_url:
            resources.webhook = WebhookSender(
                WebhookConfig(
                    url=settings.notify_webhook_url,
                    secret=settings.notify_webhook_secret,
                    timeout_seconds=settings.notify_webhook_timeout_seconds,
                )
            )
        writes = ItemWrites(run_writes=run_writes)
        runs = RunRecords(engine)
        read_model = ReadModelWrites(runs=runs, batches=BatchStore(engine))
        batch_windows = BatchWindowActivities(
            client=client, windows=BatchWindows(engine), task_queue=settings.temporal.task_queue
        )
        notifications = Notifications(
            items=ItemStore(engine),
            notifications=NotificationStore(engine),
            runs=runs,
            webhook=resources.webhook,
        )
        threads = settings.max_concurrent_activities + settings.max_concurrent_local_activities
        executor = ThreadPoolExecutor(threads, thread_name_prefix="activity")
        resources.executors.append(executor)
        workers.append(
            Worker(
                client,
                task_queue=settings.temporal.task_queue,
                workflows=[ItemImageProcessingWorkflow],
                workflow_runner=WORKFLOW_RUNNER,
                activities=[
                    writes.update_item_with_suggestions,
                    writes.mark_item_processing_failed,
                    notifications.send_processing_notification,
                    *read_model.activities(),
                ],
                activity_executor=executor,
                interceptors=interceptors,
                max_concurrent_activities=settings.max_concurrent_activities,
                max_concurrent_local_activities=settings.max_concurrent_local_activities,
                max_concurrent_workflow_tasks=settings.max_concurrent_workflows,
                graceful_shutdown_timeout=grace,
                deployment_config=version,
            )
        )
        # Batches on their own queue, slots and threads: a tick never waits behind the tasks of
        # the runs it refills for. Their ticks start runs through this client.
        batch_executor = ThreadPoolExecutor(BATCH_SLOTS, thread_name_prefix="batch")
        resources.executors.append(batch_executor)
        workers.append(
            Worker(
                client,
                task_queue=settings.temporal.batch_task_queue,
                workflows=[ItemBatchProcessingWorkflow],
                workflow_runner=WORKFLOW_RUNNER,
                activities=[*read_model.activities(), *batch_windows.activities()],
                activity_executor=batch_executor,
                interceptors=interceptors,
                max_concurrent_activities=BATCH_SLOTS,
                max_concurrent_local_activities=BATCH_SLOTS,
                max_concurrent_workflow_tasks=BATCH_SLOTS,
                graceful_shutdown_timeout=grace,
                deployment_config=version,
            )
        )
    if settings.queues.runs_analysis:
        resources.analysis_pool = AnalysisPool(settings.analysis_processes)
        analyze = AnalyzeItemImages(
            run_writes=run_writes,
            cache=AnalysisCache(engine),
            media_root=settings.store.media_root,
            pool=resources.analysis_pool,
            default_analyzer=settings.analyzer,
            vision_model=settings.vision_model,
        )
        executor = ThreadPoolExecutor(
            settings.max_concurrent_analyses, thread_name_prefix="analysis"
        )
        resources.executors.append(executor)
        workers.append(
            Worker(
                client,
                task_queue=settings.temporal.analysis_task_queue,
                activities=[analyze.analyze_item_images],
                activity_executor=executor,
                interceptors=interceptors,
                max_concurrent_activities=settings.max_concurrent_analyses,
                graceful_shutdown_timeout=grace,
            )
        )
    if settings.queues.runs_vision_model and settings.vision_model is not None:
        workers.append(_vision_model_worker(client, settings, engine, resources))
    return workers, resources


def _vision_model_worker(
    client: Client, settings: WorkerSettings, engine: Engine, resources: WorkerResources
) -> Worker:
    """The worker of the vision model's queue. Temporal's matching service hands its tasks out at
    most VISION_MODEL_MAX_REQUESTS_PER_SECOND for all such workers together: the model's rate
    limit holds however many workers poll, and items wait in the queue rather than being
    refused by the model. Temporal's limit is a token bucket (an idle queue hands out a few
    tasks at once, measured: 3 at 2/s); the client's pacer spaces this worker's requests
    evenly, a little under the rate, so one worker never exceeds it in any second."""
    vision = settings.vision_model
    assert vision is not None
    resources.vision_model = ChatCompletions(vision)
    suggestions = VisionSuggestions(
        items=ItemStore(engine),
        answers=VisionAnswerCache(engine),
        media_root=settings.store.media_root,
        settings=vision,
        model=resources.vision_model,
    )
    executor = ThreadPoolExecutor(vision.max_concurrent_requests, thread_name_prefix="vision")
    resources.executors.append(executor)
    return Worker(
        client,
        task_queue=vision.task_queue,
        activities=[suggestions.suggest_with_vision_model],
        activity_executor=executor,
        interceptors=[ErrorBoundary()],
        max_concurrent_activities=vision.max_concurrent_requests,
        max_task_queue_activities_per_second=vision.max_requests_per_second,
        graceful_shutdown_timeout=timedelta(seconds=settings.shutdown_grace_seconds),
    )
