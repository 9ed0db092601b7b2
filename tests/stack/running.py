"""The dev stack as a person starts it (``python -m bubble_tools.dev_stack``) on free ports, its
output, and the processes it started."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

READY_TIMEOUT_SECONDS = 120
PORT_NAMES = (
    "temporal",
    "ui",
    "grpc",
    "codec",
    "worker-metrics",
    "service-metrics",
    "dashboard",
)


def children(pid: int) -> list[int]:
    pgrep = ["pgrep", "-P", str(pid)]
    found = subprocess.run(pgrep, capture_output=True, text=True, check=False).stdout
    return [int(child) for child in found.split()]


class StackProcess:
    def __init__(self, process: subprocess.Popen[str], ports: dict[str, int]) -> None:
        self.process = process
        self.ports = ports
        self.output: list[str] = []

    @property
    def grpc(self) -> str:
        return f"127.0.0.1:{self.ports['grpc']}"

    @property
    def text(self) -> str:
        return "".join(self.output)

    def wait_until_ready(self) -> None:
        assert self.process.stdout is not None
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        for line in self.process.stdout:
            self.output.append(line)
            if line.strip() == "ready":
                return
            assert time.monotonic() < deadline, self.text
        raise AssertionError("the stack exited before it was ready:\n" + self.text)

    def wait_for_line(self, text: str) -> None:
        """Reads the output until a line holds ``text``."""
        assert self.process.stdout is not None
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        for line in self.process.stdout:
            self.output.append(line)
            if text in line:
                return
            assert time.monotonic() < deadline, self.text
        raise AssertionError(f"the stack exited before it printed {text!r}:\n" + self.text)

    def read_to_the_end(self) -> int:
        """Every line until the stack exits by itself; its exit code."""
        assert self.process.stdout is not None
        self.output.extend(self.process.stdout)
        return self.process.wait(timeout=READY_TIMEOUT_SECONDS)


@contextmanager
def started_stack(
    state_dir: Path,
    ports: Mapping[str, int],
    *options: str,
    env: Mapping[str, str] | None = None,
) -> Iterator[StackProcess]:
    """The stack's process, killed on exit if it still runs (its children die with it)."""
    command = [sys.executable, "-m", "bubble_tools.dev_stack", "--state-dir", str(state_dir)]
    for name, port in ports.items():
        command += [f"--{name}-port", str(port)]
    process = subprocess.Popen(
        [*command, *options],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield StackProcess(process, dict(ports))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
