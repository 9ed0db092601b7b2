"""Worker settings: defaults, every variable read, every bad value reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from bubble_shared.settings import SettingsError
from bubble_worker.settings import BATCH_SLOTS, Queues, WorkerSettings


def test_defaults_run_everything_locally() -> None:
    settings = WorkerSettings.from_env({})

    assert settings.temporal.address == "localhost:7233"
    assert settings.temporal.namespace == "default"
    assert settings.temporal.task_queue == "item-processing"
    assert settings.temporal.analysis_task_queue == "image-analysis"
    assert settings.temporal.batch_task_queue == "item-processing-batches"
    renamed = WorkerSettings.from_env({"TEMPORAL_TASK_QUEUE": "items-1"})
    assert renamed.temporal.batch_task_queue == "items-1-batches"
    assert settings.store.database_url == "sqlite:///.local/bubble.db"
    assert settings.store.media_root == Path(".local/media").absolute()
    assert settings.queues is Queues.ALL
    assert settings.notify_webhook_url is None


def test_reads_every_variable() -> None:
    settings = WorkerSettings.from_env(
        {
            "TEMPORAL_ADDRESS": "temporal.internal:7233",
            "TEMPORAL_NAMESPACE": "bubble",
            "TEMPORAL_TASK_QUEUE": "items",
            "ANALYSIS_TASK_QUEUE": "images",
            "TEMPORAL_BATCH_TASK_QUEUE": "batches",
            "TEMPORAL_MAX_CONCURRENT_ACTIVITIES": "20",
            "TEMPORAL_MAX_CONCURRENT_WORKFLOWS": "40",
            "WORKER_QUEUES": "analysis",
            "ANALYSIS_PROCESSES": "3",
            "ANALYSIS_MAX_CONCURRENT_ACTIVITIES": "5",
            "ANALYZER": "pillow",
            "DATABASE_URL": "postgresql://bubble@db/bubble",
            "MEDIA_ROOT": "/srv/media",
            "METRICS_PORT": "0",
            "NOTIFY_WEBHOOK_URL": "https://hooks.example.com/bubble",
            "NOTIFY_WEBHOOK_SECRET": "s3cret",
            "NOTIFY_WEBHOOK_TIMEOUT_SECONDS": "2.5",
            "WORKER_SHUTDOWN_GRACE_SECONDS": "5",
            "TEMPORAL_MAX_CONCURRENT_LOCAL_ACTIVITIES": "7",
            "RETRY_BUDGET_SECONDS": "7200",
            "RETRY_MAX_INTERVAL_SECONDS": "2",
        }
    )

    assert settings.temporal.address == "temporal.internal:7233"
    assert settings.temporal.namespace == "bubble"
    temporal = settings.temporal
    assert (temporal.task_queue, temporal.analysis_task_queue, temporal.batch_task_queue) == (
        "items",
        "images",
        "batches",
    )
    assert (settings.max_concurrent_activities, settings.max_concurrent_workflows) == (20, 40)
    assert settings.queues is Queues.ANALYSIS
    assert not settings.queues.runs_workflows
    assert (settings.analysis_processes, settings.max_concurrent_analyses) == (3, 5)
    assert settings.analyzer == "pillow"
    assert settings.store.database_url == "postgresql://bubble@db/bubble"
    assert settings.store.media_root == Path("/srv/media")
    assert settings.metrics_port == 0
    assert settings.notify_webhook_url == "https://hooks.example.com/bubble"
    assert settings.notify_webhook_secret == "s3cret"
    assert settings.notify_webhook_timeout_seconds == 2.5
    assert settings.shutdown_grace_seconds == 5
    assert settings.max_concurrent_local_activities == 7
    assert (settings.retry_budget_seconds, settings.retry_max_interval_seconds) == (7200, 2)


def test_the_database_pool_is_sized_to_the_slots_of_the_queues_polled() -> None:
    slots = {
        "TEMPORAL_MAX_CONCURRENT_ACTIVITIES": "6",
        "TEMPORAL_MAX_CONCURRENT_LOCAL_ACTIVITIES": "4",
        "ANALYSIS_MAX_CONCURRENT_ACTIVITIES": "3",
    }

    def threads(queues: str) -> int:
        return WorkerSettings.from_env({**slots, "WORKER_QUEUES": queues}).database_threads

    # The workflows' queues: activities + local activities, and the batch queue's own slots.
    workflows = 6 + 4 + BATCH_SLOTS
    assert (threads("all"), threads("workflows"), threads("analysis")) == (
        workflows + 3,
        workflows,
        3,
    )


def test_the_retry_budget_cannot_be_shorter_than_an_analysis() -> None:
    with pytest.raises(SettingsError, match="RETRY_BUDGET_SECONDS=5 is outside"):
        WorkerSettings.from_env({"RETRY_BUDGET_SECONDS": "5"})


def test_every_bad_value_is_reported_together() -> None:
    with pytest.raises(SettingsError) as raised:
        WorkerSettings.from_env(
            {
                "TEMPORAL_ADDRESS": "no-port",
                "TEMPORAL_MAX_CONCURRENT_ACTIVITIES": "lots",
                "TEMPORAL_MAX_CONCURRENT_WORKFLOWS": "0",
                "WORKER_QUEUES": "everything",
                "DATABASE_URL": "mysql://db/bubble",
                "NOTIFY_WEBHOOK_URL": "ftp://hooks",
                "WORKER_SHUTDOWN_GRACE_SECONDS": "-1",
            }
        )

    problems = "\n".join(raised.value.problems)
    assert len(raised.value.problems) == 7
    for expected in (
        "TEMPORAL_ADDRESS='no-port' is not host:port",
        "TEMPORAL_MAX_CONCURRENT_ACTIVITIES='lots' is not a whole number",
        "TEMPORAL_MAX_CONCURRENT_WORKFLOWS=0 is outside 2..10000",
        "WORKER_QUEUES='everything' must be one of all, workflows, analysis",
        "DATABASE_URL='mysql://db/bubble' is not a SQLite or PostgreSQL URL",
        "NOTIFY_WEBHOOK_URL='ftp://hooks' must be a URL starting with http or https://",
        "WORKER_SHUTDOWN_GRACE_SECONDS=-1 is outside 0..3600 seconds",
    ):
        assert expected in problems
