"""The worker process: ``python -m bubble_worker.main`` (or the ``worker`` PEX).

Reads and validates its settings, migrates nothing (see ``bubble_shared.store.migrate``), connects
to Temporal, and polls the configured task queues until SIGTERM or SIGINT. On a signal it stops
polling, gives running activities WORKER_SHUTDOWN_GRACE_SECONDS to finish, and exits 0.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from bubble_shared.process import run_process
from bubble_shared.store import create_engine
from bubble_shared.temporal.client import connect
from bubble_worker.settings import WorkerSettings
from bubble_worker.worker import build_workers

log = logging.getLogger("bubble_worker")


def _runtime(metrics_port: int) -> Runtime | None:
    """A Temporal runtime exporting its metrics for Prometheus, or None when metrics are off."""
    if metrics_port == 0:
        return None
    return Runtime(
        telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"0.0.0.0:{metrics_port}"))
    )


async def run(settings: WorkerSettings, stop: asyncio.Event) -> None:
    """Runs the workers until ``stop`` is set, then shuts them down gracefully."""
    client = await connect(settings.temporal, runtime=_runtime(settings.metrics_port))
    engine = create_engine(
        settings.store.database_url,
        max_connections=max(settings.max_concurrent_activities, settings.max_concurrent_analyses),
    )
    workers, resources = build_workers(client, settings, engine)
    try:
        async with AsyncExitStack() as stack:
            for worker in workers:
                await stack.enter_async_context(worker)
            log.info(
                "worker polling %s",
                ", ".join(worker.task_queue for worker in workers),
                extra={"peer": settings.temporal.address},
            )
            await stop.wait()
            log.info(
                "stopping: waiting up to %ss for running activities",
                settings.shutdown_grace_seconds,
            )
    finally:
        resources.close()
        engine.dispose()
    log.info("worker stopped")


def main() -> None:
    run_process("bubble-worker", WorkerSettings.from_env, run)


if __name__ == "__main__":
    main()
