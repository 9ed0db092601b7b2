"""A process pool for image analysis that survives the death of one of its processes.

Decoding is CPU-bound and runs in processes so that analyses use every core and never hold the
worker's GIL. A process killed mid-image (the OOM killer, a crash in a codec) breaks a
``ProcessPoolExecutor`` for good; this pool swaps in a fresh executor as soon as one of its futures
reports that, so only the activity attempt that saw it fails (and is retried), not every later one.

The processes die with the worker however it dies: a worker killed with SIGKILL runs no cleanup,
and its analysis processes (about 100 MB each) and the multiprocessing resource tracker would
otherwise live on. Each process watches its parent and leaves as soon as it is gone; the tracker
then sees its last user go and exits too.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

PARENT_CHECK_SECONDS = 0.5


class AnalysisPool:
    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._lock = threading.Lock()
        self._executor = self._new_executor()

    def _new_executor(self) -> ProcessPoolExecutor:
        # "spawn": the worker process runs threads (Temporal, database pools), which fork would
        # copy mid-operation into the children.
        return ProcessPoolExecutor(
            max_workers=self.processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=exit_with_parent,
            initargs=(os.getpid(),),
        )

    def submit(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        with self._lock:
            executor = self._executor
            future = executor.submit(function, *args, **kwargs)
        future.add_done_callback(lambda done: self._replace_if_broken(executor, done))
        return future

    def _replace_if_broken(self, executor: ProcessPoolExecutor, done: Future[T]) -> None:
        if done.cancelled() or not isinstance(done.exception(), BrokenProcessPool):
            return
        with self._lock:
            if self._executor is executor:  # not already replaced by another failed future
                self._executor = self._new_executor()
        executor.shutdown(wait=False, cancel_futures=True)

    def shutdown(self) -> None:
        with self._lock:
            self._executor.shutdown(wait=True, cancel_futures=True)


def exit_with_parent(parent_pid: int) -> None:
    """Runs in each analysis process: ends it as soon as ``parent_pid`` is no longer its parent.

    Polling the parent id works for any death of the parent (unlike PR_SET_PDEATHSIG, which fires
    when the parent's spawning *thread* ends, and the pool spawns from whichever thread submits).
    """

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
