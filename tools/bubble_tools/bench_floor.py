"""The Temporal floor system of ``tools:bench-throughput``: one floor workflow per item.

``FloorSystem`` runs ``python -m bubble_tools.bench_floor`` beside the stack's Temporal server:
one process with the floor's workers (``bench_floor_workflow``) that also starts the runs, at
most --window at a time, as our batch does. Like our batch, it learns of a finished run without
asking the server (the notification activity tells it, as ours writes a row). The process takes
``run N WINDOW`` lines on stdin and answers each with a line of JSON when the N runs are done.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from bubble.processing.v1 import activities_pb2, workflows_pb2
from bubble_shared.temporal.converter import DATA_CONVERTER
from bubble_shared.temporal.runtime import shared_runtime
from bubble_tools import bench_floor_workflow as floor
from bubble_tools import bench_probes as probes
from bubble_tools.dev_stack import Stack, die_with_parent

TASK_QUEUE = "bench-floor"
ANALYSIS_TASK_QUEUE = "bench-floor-analysis"


class FloorSystem:
    name = "Temporal floor"

    def __init__(self, *, stack: Stack, window: int, log: Path) -> None:
        self._stack = stack
        self._window = window
        self._log = log.open("ab")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bubble_tools.bench_floor"],
            env={**stack.environment(), "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            # No floor process outlives a benchmark that was interrupted.
            preexec_fn=die_with_parent,  # noqa: PLW1509
        )

    def roles(self) -> Mapping[str, Callable[[], float]]:
        temporal = self._stack.pid_of("temporal")
        pid = self._process.pid
        return {
            "temporal server": lambda: probes.cpu_seconds(temporal),
            "floor worker": lambda: probes.cpu_seconds(pid),
        }

    def process(self, items: int) -> int:
        """Puts ``items`` floor runs through; how many finished."""
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None
        assert stdout is not None
        stdin.write(f"run {items} {self._window}\n")
        stdin.flush()
        answer = stdout.readline()
        if not answer:
            raise RuntimeError(f"the floor process stopped: see {self._log.name}")
        return int(json.loads(answer)["finished"])

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._process.wait(timeout=60)
        self._log.close()


@activity.defn(name=floor.FLOOR_ANALYZE)
def analyze(
    request: activities_pb2.AnalyzeItemImagesInput,
) -> activities_pb2.AnalyzeItemImagesOutput:
    """Synchronous like our analysis activity, so it runs on the worker's thread pool."""
    return activities_pb2.AnalyzeItemImagesOutput(cache_hits=len(request.images))


@activity.defn(name=floor.FLOOR_WRITE)
def write(
    request: activities_pb2.UpdateItemWithSuggestionsInput,
) -> activities_pb2.UpdateItemWithSuggestionsOutput:
    return activities_pb2.UpdateItemWithSuggestionsOutput()


class FloorRuns:
    """Runs in flight: the notification activity frees a place for the next start."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.free = asyncio.Semaphore(0)
        self.finished = 0

    @activity.defn(name=floor.FLOOR_NOTIFY)
    def notify(
        self, request: activities_pb2.SendProcessingNotificationInput
    ) -> activities_pb2.SendProcessingNotificationOutput:
        self._loop.call_soon_threadsafe(self._finish_one)
        return activities_pb2.SendProcessingNotificationOutput(notification_id=request.item_id)

    def _finish_one(self) -> None:
        self.finished += 1
        self.free.release()

    async def run(self, client: Client, items: int, window: int) -> list[str]:
        """Starts ``items`` runs, at most ``window`` at a time; their workflow ids, once all
        have told their owner."""
        self.finished = 0
        self.free = asyncio.Semaphore(window)
        prefix = uuid.uuid4().hex[:8]
        ids = [f"floor-{prefix}-{number}" for number in range(items)]
        for workflow_id in ids:
            await self.free.acquire()
            await client.start_workflow(
                floor.FLOOR_WORKFLOW,
                workflows_pb2.ItemImageProcessingWorkflowInput(
                    item_id=workflow_id, analysis_task_queue=ANALYSIS_TASK_QUEUE
                ),
                id=workflow_id,
                task_queue=TASK_QUEUE,
            )
        while self.finished < items:
            await self.free.acquire()
        return ids


def floor_workers(client: Client, runs: FloorRuns, executor: ThreadPoolExecutor) -> list[Worker]:
    """The floor's two workers, as ours are split: runs and writes, and the analysis queue."""
    return [
        Worker(
            client,
            task_queue=TASK_QUEUE,
            workflows=[floor.FloorItemWorkflow],
            activities=[write, runs.notify],
            activity_executor=executor,
        ),
        Worker(
            client, task_queue=ANALYSIS_TASK_QUEUE, activities=[analyze], activity_executor=executor
        ),
    ]


async def _serve(address: str, namespace: str, commands: IO[str]) -> None:
    # The sandbox imports the workflow's module for every run: its bytecode is written once,
    # as our worker does for its workflows.
    compileall.compile_file(floor.__file__, quiet=2)
    client = await Client.connect(
        address, namespace=namespace, data_converter=DATA_CONVERTER, runtime=shared_runtime()
    )
    runs = FloorRuns()
    with ThreadPoolExecutor(max_workers=64) as executor:
        workflows, analyses = floor_workers(client, runs, executor)
        async with workflows, analyses:
            while line := await asyncio.to_thread(commands.readline):
                _, items, window = line.split()
                await runs.run(client, int(items), int(window))
                print(json.dumps({"finished": runs.finished}), flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--address", default=os.environ.get("TEMPORAL_ADDRESS", "127.0.0.1:7233"))
    parser.add_argument("--namespace", default=os.environ.get("TEMPORAL_NAMESPACE", "default"))
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.address, args.namespace, sys.stdin))
    sys.stdout.flush()
    os._exit(0)  # temporalio can abort at interpreter exit (sdk-python #300)


if __name__ == "__main__":
    main()
