"""Real processes for fault tests: started in sessions of their own, killed only by their PID.

Each process is the leader of a new session, so whatever it starts (the worker's analysis pool,
multiprocessing's resource tracker) keeps that session id even after the leader is killed and
its children are re-parented. That is how a test finds the orphans of a killed worker: the live
processes of its session, plus its descendants seen before the fault that are still alive.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# Runs first in each child, then becomes the command (same PID): the child gets SIGTERM if the
# test process dies without stopping it (PR_SET_PDEATHSIG, which exec keeps and fork clears, so
# it does not reach what the child starts itself: a killed worker's orphans stay visible).
_DIE_WITH_PARENT = (
    "import ctypes, os, signal, sys; "
    "ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)


@dataclass(frozen=True)
class ProcessInfo:
    """A live process as /proc shows it; ``start_ticks`` tells a reused PID apart."""

    pid: int
    ppid: int
    session: int
    start_ticks: int
    cmdline: str

    def describe(self) -> str:
        return f"pid {self.pid} (parent {self.ppid}, session {self.session}): {self.cmdline}"


def process_info(pid: int) -> ProcessInfo | None:
    """The process from /proc, or None when it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            # The command name may hold spaces and parentheses; it ends at the last ")".
            fields = stat.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/cmdline", "rb") as raw:
            cmdline = raw.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except (OSError, IndexError):
        return None
    if fields[0] in ("Z", "X"):
        return None
    # After the name: state ppid pgrp session ... starttime (field 22 of stat, 1-based).
    return ProcessInfo(
        pid=pid,
        ppid=int(fields[1]),
        session=int(fields[3]),
        start_ticks=int(fields[19]),
        cmdline=cmdline,
    )


def all_processes() -> list[ProcessInfo]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (info := process_info(int(entry))) is not None:
            found.append(info)
    return found


def descendants(pid: int) -> list[ProcessInfo]:
    """The live processes whose parent chain leads to ``pid``."""
    by_parent: dict[int, list[ProcessInfo]] = {}
    for info in all_processes():
        by_parent.setdefault(info.ppid, []).append(info)
    found: list[ProcessInfo] = []
    pending = [pid]
    while pending:
        for child in by_parent.get(pending.pop(), []):
            found.append(child)
            pending.append(child.pid)
    return found


def still_alive(snapshot: Sequence[ProcessInfo]) -> list[ProcessInfo]:
    """The processes of ``snapshot`` that still run (same PID and start time)."""
    alive = []
    for before in snapshot:
        now = process_info(before.pid)
        if now is not None and now.start_ticks == before.start_ticks:
            alive.append(now)
    return alive


def wait_for_port(port: int, timeout: float, *, what: str, process: Process) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        process.check_running()
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} did not listen on port {port} within {timeout:g}s")


@dataclass
class Process:
    """One started process, with its output in ``log``."""

    name: str
    command: Sequence[str]
    env: Mapping[str, str]
    log: Path
    popen: subprocess.Popen[bytes] = field(init=False)
    before_fault: list[ProcessInfo] = field(default_factory=list)
    ended_by: str = ""
    """How the test ended it ("SIGKILL", "SIGTERM"); empty while it runs or if it died alone."""

    def __post_init__(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as output:
            self.popen = subprocess.Popen(
                [sys.executable, "-S", "-c", _DIE_WITH_PARENT, *self.command],
                env=dict(self.env),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def check_running(self) -> None:
        if not self.running():
            raise AssertionError(
                f"{self.name} exited with code {self.popen.returncode}:\n{self.log_tail()}"
            )

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def wait_for_log(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log_text():
            self.check_running()
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.name} did not log {text!r} within {timeout:g}s:\n{self.log_tail()}"
                )
            time.sleep(0.2)

    def remember_descendants(self) -> list[ProcessInfo]:
        """Notes what the process has started, to look for those processes after a fault."""
        self.before_fault = descendants(self.pid)
        return self.before_fault

    def kill_hard(self) -> None:
        """SIGKILL to this process alone (its children are left to fend for themselves)."""
        self.ended_by = "SIGKILL"
        os.kill(self.pid, signal.SIGKILL)
        self.popen.wait(timeout=30)

    def stop(self, timeout: float) -> int | None:
        """SIGTERM, then its exit code; None when it did not exit in ``timeout`` (then killed)."""
        if self.running():
            self.ended_by = "SIGTERM"
            self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            return None

    def leftovers(self) -> list[ProcessInfo]:
        """Live processes this one started: its session's members and its earlier descendants.

        Call after the process itself has exited (and been reaped).
        """
        found = {info.pid: info for info in still_alive(self.before_fault)}
        for info in all_processes():
            if info.session == self.pid and info.pid != self.pid:
                found[info.pid] = info
        return sorted(found.values(), key=lambda info: info.pid)

    def reap_all(self) -> None:
        """Teardown: this process and everything it left behind, killed by PID."""
        if self.running():
            self.popen.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=30)
        for info in self.leftovers():
            with contextlib.suppress(ProcessLookupError):
                os.kill(info.pid, signal.SIGKILL)
