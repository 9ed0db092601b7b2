"""The worker process: ``python -m bubble_worker.main`` (or the ``worker`` PEX).

Reads and validates its settings, migrates nothing (see ``bubble_shared.store.migrate``), connects
to Temporal, and polls the configured task queues until SIGTERM or SIGINT. On a signal it stops
polling, gives running activities WORKER_SHUTDOWN_GRACE_SECONDS to finish, and exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from contextlib import AsyncExitStack

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from bubble_shared.log_format import configure_logging_from_env
from bubble_shared.settings import SettingsError
from bubble_shared.store import ItemStore, create_engine
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
    workers, resources = build_workers(client, settings, ItemStore(engine))
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
    try:
        configure_logging_from_env()
        settings = WorkerSettings.from_env()
    except SettingsError as err:
        print(f"bubble-worker: {err}", file=sys.stderr)
        sys.stdout.flush()
        os._exit(2)

    async def run_until_signal() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await run(settings, stop)

    exit_code = 0
    try:
        asyncio.run(run_until_signal())
    except Exception:
        log.exception("worker failed")
        exit_code = 1
    # temporalio can abort during interpreter shutdown (sdk-python#300); everything is closed.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)


if __name__ == "__main__":
    main()
