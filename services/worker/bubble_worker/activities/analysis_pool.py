"""A process pool for image analysis that survives the death of one of its processes.

Decoding is CPU-bound and runs in processes so that analyses use every core and never hold the
worker's GIL. A process killed mid-image (the OOM killer, a crash in a codec) breaks a
``ProcessPoolExecutor`` for good; this pool swaps in a fresh executor as soon as one of its futures
reports that, so only the activity attempt that saw it fails (and is retried), not every later one.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class AnalysisPool:
    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._lock = threading.Lock()
        self._executor = self._new_executor()

    def _new_executor(self) -> ProcessPoolExecutor:
        # "spawn": the worker process runs threads (Temporal, database pools), which fork would
        # copy mid-operation into the children.
        return ProcessPoolExecutor(
            max_workers=self.processes, mp_context=multiprocessing.get_context("spawn")
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
