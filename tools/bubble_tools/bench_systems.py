"""The three systems ``tools:bench-throughput`` puts the same items through, each measured alike.

- ``AnalyserAlone``: every image of every item straight into a process pool of the analyser;
  nothing else. Its items/s is the compute limit of this machine.
- ``CeleryBaseline``: one Celery task per item (``bench_celery_app``), a prefork worker with as
  many processes as the pool, Redis as broker and result backend.
- ``Ours``: the whole stack of the dev stack, end to end: a batch over gRPC, the Temporal dev
  server, the worker (its workflows, activities and analysis processes), the database.

A phase is one system processing a set of items; each phase reports its wall time and the CPU
each role of that system used (from /proc), so CPU per item can be split into analysis and the
rest (orchestration).
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import grpc
from sqlalchemy import Engine, delete, func, select

from bubble.processing.v1 import item_pb2, run_pb2, service_pb2, service_pb2_grpc
from bubble_shared.store.convert import status_name
from bubble_shared.store.models import AnalysisCacheEntry, Item, Notification
from bubble_tools import bench_probes as probes
from bubble_tools.bench_celery_app import app as celery_app
from bubble_tools.bench_celery_app import process_item
from bubble_tools.dev_stack import Stack, die_with_parent
from bubble_worker.activities.analysis_pool import exit_with_parent
from bubble_worker.analysis import analyze_image_file
from bubble_worker.analysis.registry import DEFAULT_ANALYZER

ANALYSIS = "analysis processes"
"""The role that does the analyser's work in every system (Celery's prefork children do both)."""

CpuReadings = Mapping[str, Callable[[], float]]


@dataclass(frozen=True)
class Phase:
    system: str
    items: int
    processed: int
    seconds: float
    cpu: Mapping[str, float]
    """CPU seconds by role during the phase."""

    @property
    def items_per_second(self) -> float:
        return self.items / self.seconds

    def cpu_per_item(self, *, without: Sequence[str] = ()) -> float:
        return sum(cpu for role, cpu in self.cpu.items() if role not in without) / self.items


@dataclass(frozen=True)
class Done:
    processed: int
    """Items whose result was written (the analyser alone: whose every image was analysed)."""
    finished: datetime | None = None
    """When the last item's notification was written; None: when the work returned."""


def timed(system: str, roles: CpuReadings, work: Callable[[], Done], items: int) -> Phase:
    """Runs ``work`` and measures it: from its start to the last owner's notification (both
    systems write one as their last step; that point does not depend on how a client learns of
    it), CPU from its start until it returned."""
    before = {role: read() for role, read in roles.items()}
    started_at, started = datetime.now(UTC), time.perf_counter()
    done = work()
    seconds = time.perf_counter() - started
    cpu = {role: read() - before[role] for role, read in roles.items()}
    if done.finished is not None:
        seconds = (done.finished - started_at).total_seconds()
    return Phase(system, items, done.processed, seconds, cpu)


class AnalyserAlone:
    name = "analyser alone"

    def __init__(self, *, processes: int, media_root: Path, scratch: Path) -> None:
        self._media_root = media_root
        self._thumbnails = scratch
        self._pool = ProcessPoolExecutor(
            processes,
            mp_context=multiprocessing.get_context("spawn"),
            # A pool does not die with its parent by itself (an interrupted benchmark).
            initializer=exit_with_parent,
            initargs=(os.getpid(),),
        )

    def roles(self) -> CpuReadings:
        def pool_cpu() -> float:
            pids = [child.pid for child in _pool_processes() if child.pid is not None]
            return sum((probes.cpu_seconds(pid) for pid in pids), 0.0)

        return {ANALYSIS: pool_cpu}

    def process(self, items: Sequence[Sequence[str]]) -> Done:
        """Analyses every image of ``items`` (URIs)."""
        futures = [
            [
                self._pool.submit(
                    analyze_image_file,
                    DEFAULT_ANALYZER,
                    f"image-{index}",
                    str(self._media_root / uri),
                    str(self._thumbnails),
                )
                for index, uri in enumerate(item)
            ]
            for item in items
        ]
        wait([future for item in futures for future in item])
        return Done(sum(all(future.exception() is None for future in item) for item in futures))

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)


def _pool_processes() -> list[multiprocessing.process.BaseProcess]:
    # The benchmark's only multiprocessing children are the analyser's pool (the stack and
    # Celery run as subprocesses).
    return multiprocessing.active_children()


class CeleryBaseline:
    name = "Celery + Redis"

    def __init__(
        self, *, env: Mapping[str, str], engine: Engine, concurrency: int, log: Path
    ) -> None:
        self._engine = engine
        self._log = log.open("ab")
        self._process = subprocess.Popen(
            [
                *(sys.executable, "-m", "celery"),
                *("-A", "bubble_tools.bench_celery_app", "worker"),
                *("--pool", "prefork", "--concurrency", str(concurrency)),
                *("--loglevel", "WARNING", "--without-gossip", "--without-mingle"),
            ],
            env=dict(env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            # No Celery worker outlives a benchmark that was interrupted.
            preexec_fn=die_with_parent,  # noqa: PLW1509
        )
        self._redis = _redis_server_pid()
        self._wait_until_ready()
        celery_app.control.purge()

    def _wait_until_ready(self, timeout_seconds: float = 120) -> None:
        deadline = time.monotonic() + timeout_seconds
        while not celery_app.control.ping(timeout=1.0):
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Celery worker did not start: see {self._log.name}")

    def roles(self) -> CpuReadings:
        pid = self._process.pid
        roles: dict[str, Callable[[], float]] = {
            "celery main process": lambda: probes.cpu_seconds(pid),
            ANALYSIS: lambda: probes.tree_cpu_seconds(pid) - probes.cpu_seconds(pid),
        }
        redis = self._redis
        if redis is not None:
            roles["redis"] = lambda: probes.cpu_seconds(redis)
        return roles

    def process(self, item_ids: Sequence[str]) -> Done:
        results = [process_item.delay(item_id) for item_id in item_ids]
        for result in results:
            result.get(timeout=600)
        return outcome(self._engine, item_ids)

    def close(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=60)
        self._log.close()


def _redis_server_pid() -> int | None:
    """The local redis-server's process, to count the broker's CPU (None: not on this machine)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "redis-server":
                    return int(entry.name)
            except OSError:
                continue
    return None


class Ours:
    name = "ours (batch)"

    def __init__(self, *, stack: Stack, engine: Engine, window: int) -> None:
        self._stack = stack
        self._engine = engine
        self._window = window
        self._channel = grpc.insecure_channel(f"127.0.0.1:{stack.ports.grpc}")
        self._stub = service_pb2_grpc.ItemProcessingServiceStub(self._channel)

    def roles(self) -> CpuReadings:
        pids = {name: process.pid for name, process in self._stack.processes}
        worker = pids["worker"]
        roles: dict[str, Callable[[], float]] = {
            "temporal server": lambda: probes.cpu_seconds(pids["temporal"]),
            "worker main process": lambda: probes.cpu_seconds(worker),
            ANALYSIS: lambda: probes.tree_cpu_seconds(worker) - probes.cpu_seconds(worker),
            "gRPC service": lambda: probes.cpu_seconds(pids["service"]),
        }
        return roles

    def process(self, item_ids: Sequence[str]) -> Done:
        """One batch of ``item_ids``, then its end (the batch's last tick) waited for."""
        started = self._stub.StartBatchProcessing(
            service_pb2.StartBatchProcessingRequest(
                item_ids=list(item_ids), max_concurrency=self._window
            )
        )
        done = until_notified(self._engine, item_ids)
        self._until_ended(service_pb2.GetStatusRequest(batch_id=started.batch_id))
        return done

    def process_one(self, item_id: str) -> Done:
        """One StartItemProcessing."""
        self._stub.StartItemProcessing(service_pb2.StartItemProcessingRequest(item_id=item_id))
        done = until_notified(self._engine, [item_id], every_seconds=0.01)
        self._until_ended(service_pb2.GetStatusRequest(item_id=item_id))
        return done

    def _until_ended(self, request: service_pb2.GetStatusRequest) -> None:
        while True:
            status = self._stub.GetStatus(request)
            run = status.batch_run if status.HasField("batch_run") else status.item_run
            if run.state not in (run_pb2.RUN_STATE_QUEUED, run_pb2.RUN_STATE_RUNNING):
                return
            time.sleep(0.05)

    def close(self) -> None:
        self._channel.close()


def outcome(engine: Engine, item_ids: Sequence[str]) -> Done:
    """How many of ``item_ids`` are PROCESSED, and when the last of their notifications was
    written (None until every item has one)."""
    ids = list(item_ids)
    processed = status_name(item_pb2.ITEM_STATUS_PROCESSED)
    with engine.connect() as connection:
        count = connection.scalar(
            select(func.count())
            .select_from(Item)
            .where(Item.item_id.in_(ids), Item.status == processed)
        )
        notified, last = connection.execute(
            select(
                func.count(func.distinct(Notification.item_id)),
                func.max(Notification.create_time),
            ).where(Notification.item_id.in_(ids))
        ).one()
    return Done(int(count or 0), last if notified == len(ids) else None)


def until_notified(engine: Engine, item_ids: Sequence[str], *, every_seconds: float = 0.05) -> Done:
    """Waits until every item of ``item_ids`` has its owner's notification."""
    while True:
        done = outcome(engine, item_ids)
        if done.finished is not None:
            return done
        time.sleep(every_seconds)


def forget_analyses(engine: Engine) -> None:
    """Empties the analysis cache: every phase analyses its images for real."""
    with engine.begin() as connection:
        connection.execute(delete(AnalysisCacheEntry))
