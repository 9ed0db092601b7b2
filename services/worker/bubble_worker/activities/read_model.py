"""The read-model writes of the workflows: run steps and a batch's end. Run as local activities.

Each is one short transaction in the store, idempotent (a retry or a replay writes once) and
monotonic, so it is cheap and safe to run inside the workflow task. Times come from the workflow
(``workflow.now()``, deterministic on replay) in the request.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from typing import Any

from temporalio import activity

from bubble.processing.v1 import activities_pb2, run_pb2
from bubble_shared.store import BatchStore, RunRecords, RunStep
from bubble_shared.temporal import names


class ReadModelWrites:
    def __init__(self, *, runs: RunRecords, batches: BatchStore) -> None:
        self._runs = runs
        self._batches = batches

    def activities(self) -> list[Callable[..., Any]]:
        """Every activity of this class, to register on the workflows' worker."""
        return [self.record_item_run, self.finish_batch]

    @activity.defn(name=names.RECORD_ITEM_RUN)
    def record_item_run(
        self, request: activities_pb2.RecordItemRunInput
    ) -> activities_pb2.RecordItemRunOutput:
        self._runs.record(RunStep.of(request))
        return activities_pb2.RecordItemRunOutput()

    @activity.defn(name=names.FINISH_BATCH)
    def finish_batch(
        self, request: activities_pb2.FinishBatchInput
    ) -> activities_pb2.FinishBatchOutput:
        done = self._batches.finish(
            request.batch_id,
            state=request.state,
            time=request.time.ToDatetime(tzinfo=UTC),
            error=request.error if request.HasField("error") else None,
        )
        activity.logger.info(
            "batch %s: %s (finished: %s)",
            request.batch_id,
            run_pb2.RunState.Name(request.state),
            done.finished,
        )
        return activities_pb2.FinishBatchOutput(
            finished=done.finished,
            progress=done.status.progress,
            failed_item_ids=done.status.failed_item_ids,
        )
