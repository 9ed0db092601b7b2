"""The worker's settings, read once from the environment and validated before anything starts."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

from bubble_shared.settings import EnvReader, StoreSettings, TemporalSettings
from bubble_shared.tracing import TracingSettings
from bubble_worker.versioning import DeploymentSettings
from bubble_worker.vision.settings import VisionModelSettings

BATCH_SLOTS = 8
"""Workflow tasks and page reads of batches at once, on the batch queue: each is short, and a
batch has one at a time."""


class Queues(Enum):
    """Which task queues this process polls: all, or one so each can scale on its own."""

    ALL = "all"
    WORKFLOWS = "workflows"
    ANALYSIS = "analysis"
    VISION_MODEL = "vision-model"
    """Only the vision model's queue (polled by ALL too, when a model is configured)."""

    @property
    def runs_workflows(self) -> bool:
        return self in (Queues.ALL, Queues.WORKFLOWS)

    @property
    def runs_analysis(self) -> bool:
        return self in (Queues.ALL, Queues.ANALYSIS)

    @property
    def runs_vision_model(self) -> bool:
        return self in (Queues.ALL, Queues.VISION_MODEL)


@dataclass(frozen=True)
class WorkerSettings:
    temporal: TemporalSettings
    store: StoreSettings
    queues: Queues = Queues.ALL
    max_concurrent_activities: int = 20
    max_concurrent_local_activities: int = 20
    max_concurrent_workflows: int = 100
    analysis_processes: int = 2
    max_concurrent_analyses: int = 4
    analyzer: str = ""
    metrics_port: int = 9464
    notify_webhook_url: str | None = None
    notify_webhook_secret: str | None = None
    notify_webhook_timeout_seconds: float = 10.0
    shutdown_grace_seconds: float = 30.0
    retry_budget_seconds: float = 3600.0
    retry_max_interval_seconds: float = 60.0
    tracing: TracingSettings = field(default_factory=TracingSettings)
    deployment: DeploymentSettings = field(default_factory=DeploymentSettings)
    """The version the workflow workers poll as (WORKER_DEPLOYMENT_NAME, WORKER_BUILD_ID)."""
    vision_model: VisionModelSettings | None = None
    """The model asked for suggestions; None: the image facts are the suggestions. Set it on
    the analysis workers (they tell the runs to ask it) and the vision-model workers alike."""

    @property
    def database_threads(self) -> int:
        """Threads that may use the database at once: the slots of every queue polled here (the
        connection pool is sized to them, so no slot waits for a connection)."""
        threads = 0
        if self.queues.runs_workflows:
            threads += self.max_concurrent_activities + self.max_concurrent_local_activities
            threads += BATCH_SLOTS
        if self.queues.runs_analysis:
            threads += self.max_concurrent_analyses
        if self.queues.runs_vision_model and self.vision_model is not None:
            threads += self.vision_model.max_concurrent_requests
        return threads

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WorkerSettings:
        """Raises SettingsError naming every variable with a bad value."""
        env = EnvReader(environ)
        queues_name = env.text("WORKER_QUEUES", cls.queues.value)
        try:
            queues = Queues(queues_name)
        except ValueError:
            env.problems.append(
                f"WORKER_QUEUES={queues_name!r} must be one of {', '.join(q.value for q in Queues)}"
            )
            queues = cls.queues
        processes = env.integer(
            "ANALYSIS_PROCESSES", os.cpu_count() or cls.analysis_processes, minimum=1, maximum=256
        )
        settings = cls(
            temporal=TemporalSettings.read(env),
            store=StoreSettings.read(env),
            queues=queues,
            max_concurrent_activities=env.integer(
                "TEMPORAL_MAX_CONCURRENT_ACTIVITIES",
                cls.max_concurrent_activities,
                minimum=1,
                maximum=10_000,
            ),
            max_concurrent_local_activities=env.integer(
                "TEMPORAL_MAX_CONCURRENT_LOCAL_ACTIVITIES",
                cls.max_concurrent_local_activities,
                minimum=1,
                maximum=10_000,
            ),
            max_concurrent_workflows=env.integer(
                "TEMPORAL_MAX_CONCURRENT_WORKFLOWS",
                cls.max_concurrent_workflows,
                minimum=2,
                maximum=10_000,
            ),
            analysis_processes=processes,
            # Twice the processes: one activity hashes and waits on the database while another's
            # images are being decoded.
            max_concurrent_analyses=env.integer(
                "ANALYSIS_MAX_CONCURRENT_ACTIVITIES", 2 * processes, minimum=1, maximum=10_000
            ),
            analyzer=env.text("ANALYZER", cls.analyzer),
            metrics_port=env.integer("METRICS_PORT", cls.metrics_port, minimum=0, maximum=65535),
            notify_webhook_url=env.url("NOTIFY_WEBHOOK_URL", schemes=("http", "https")),
            notify_webhook_secret=env.optional_text("NOTIFY_WEBHOOK_SECRET"),
            notify_webhook_timeout_seconds=env.seconds(
                "NOTIFY_WEBHOOK_TIMEOUT_SECONDS",
                cls.notify_webhook_timeout_seconds,
                minimum=0.1,
                maximum=300,
            ),
            shutdown_grace_seconds=env.seconds(
                "WORKER_SHUTDOWN_GRACE_SECONDS",
                cls.shutdown_grace_seconds,
                minimum=0,
                maximum=3600,
            ),
            retry_budget_seconds=env.seconds(
                "RETRY_BUDGET_SECONDS", cls.retry_budget_seconds, minimum=60, maximum=30 * 86400
            ),
            retry_max_interval_seconds=env.seconds(
                "RETRY_MAX_INTERVAL_SECONDS",
                cls.retry_max_interval_seconds,
                minimum=0.1,
                maximum=3600,
            ),
            vision_model=VisionModelSettings.read(env),
            deployment=DeploymentSettings.read(env),
            tracing=TracingSettings.read(env, default_service_name="bubble-worker"),
        )
        if queues is Queues.VISION_MODEL and settings.vision_model is None:
            env.problems.append(
                "WORKER_QUEUES=vision-model needs VISION_MODEL_URL and VISION_MODEL: a worker for"
                " the vision model's queue has no model to ask"
            )
        env.raise_if_invalid()
        return settings
