"""The analysis pool's processes die with the worker, even when the worker is killed outright."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bubble_worker.activities.analysis_pool import AnalysisPool

# A worker in miniature: a pool that has started its processes, then waits to be killed.
_PARENT = """
import os, sys, time
from bubble_worker.activities.analysis_pool import AnalysisPool
pool = AnalysisPool(2)
futures = [pool.submit(time.sleep, 0.5) for _ in range(4)]
for future in futures:
    future.result()
print("ready", flush=True)
time.sleep(600)
"""


def _children(pid: int) -> set[int]:
    children = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The parent pid is the 2nd field after the parenthesised command name.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            children.add(int(entry.name))
    return children


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_pool_processes_and_resource_tracker_die_when_the_worker_is_killed() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        assert parent.stdout.readline().strip() == "ready"
        children = _children(parent.pid)
        # Two analysis processes and the multiprocessing resource tracker.
        assert len(children) >= 3, children
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(pid) for pid in children):
            time.sleep(0.1)
        survivors = [pid for pid in children if _alive(pid)]
        for pid in survivors:  # leave nothing behind, then fail
            os.kill(pid, signal.SIGKILL)
        assert survivors == [], "processes outlived the killed worker"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def test_a_pool_still_runs_work_and_shuts_down() -> None:
    pool = AnalysisPool(1)
    try:
        assert pool.submit(pow, 2, 10).result(timeout=60) == 1024
    finally:
        pool.shutdown()
