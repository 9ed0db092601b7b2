"""The worker process: ``python -m bubble_worker.main`` (or the ``worker`` PEX).

Reads and validates its settings, migrates nothing (see ``bubble_shared.store.migrate``), connects
to Temporal, and polls the configured task queues until SIGTERM or SIGINT. On a signal it stops
polling, gives running activities WORKER_SHUTDOWN_GRACE_SECONDS to finish, and exits 0.
"""

from __future__ import annotations

import asyncio
import logging

from temporalio.runtime import Runtime
from temporalio.worker import Worker

from bubble_shared.process import run_process
from bubble_shared.store import create_engine
from bubble_shared.temporal.client import connect
from bubble_shared.temporal.runtime import new_runtime, shared_runtime
from bubble_shared.tracing import start_tracing, temporal_interceptors
from bubble_worker import versioning
from bubble_worker.settings import WorkerSettings
from bubble_worker.worker import build_workers

log = logging.getLogger("bubble_worker")


def _runtime(metrics_port: int) -> Runtime:
    """A Temporal runtime exporting its metrics for Prometheus (unless they are off)."""
    if metrics_port == 0:
        return shared_runtime()
    return new_runtime(metrics_bind_address=f"0.0.0.0:{metrics_port}")


async def run(settings: WorkerSettings, stop: asyncio.Event) -> None:
    """Runs the workers until ``stop`` is set, then shuts them down gracefully."""
    tracer_provider = start_tracing(settings.tracing)
    client = await connect(
        settings.temporal,
        runtime=_runtime(settings.metrics_port),
        interceptors=temporal_interceptors(settings.tracing),
    )
    engine = create_engine(settings.store.database_url, max_connections=settings.database_threads)
    workers, resources = build_workers(client, settings, engine)
    first_version = None
    if settings.deployment.enabled and settings.queues.runs_workflows:
        # Once its pollers are seen: a deployment's first version makes itself current.
        first_version = asyncio.create_task(
            versioning.make_current_if_none(client, settings.deployment)
        )
    try:
        await run_until(workers, stop, peer=settings.temporal.address)
        log.info("worker stopped")
    finally:
        if first_version is not None and not first_version.done():
            first_version.cancel()
        resources.close()
        engine.dispose()
        if tracer_provider is not None:
            tracer_provider.force_flush()  # the last spans, before the process exits


async def run_until(workers: list[Worker], stop: asyncio.Event, *, peer: str = "") -> None:
    """Polls with every worker until ``stop`` is set, then shuts them all down at once, so every
    queue's running activities get the same grace period (not one queue's after the other's).

    A worker that fails on its own stops the others and its error is raised (exit 1).
    """
    running = [asyncio.create_task(worker.run()) for worker in workers]
    queues = ", ".join(worker.task_queue for worker in workers)
    log.info("worker polling %s", queues, extra={"peer": peer})
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait([stopped, *running], return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if stop.is_set():
        log.info("stopping %s: running activities get their grace period", queues)
    await asyncio.gather(
        *(
            worker.shutdown()
            for worker, task in zip(workers, running, strict=True)
            if not task.done()
        )
    )
    await asyncio.gather(*running)


def main() -> None:
    run_process("bubble-worker", WorkerSettings.from_env, run)


if __name__ == "__main__":
    main()
