"""The local activities of the stand-in workflows: the read-model writes a worker makes.

Run on the test's worker next to ``stand_ins``; each is one call of the store, off the event loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from datetime import UTC
from typing import Any

from temporalio import activity

from bubble.processing.v1 import activities_pb2, analysis_pb2
from bubble_service.testing.stand_ins import RECORD_ITEM_RUN
from bubble_shared.store import BatchStore, BatchWindows, RunRecords, RunStep
from bubble_shared.temporal import names


class StandInActivities:
    def __init__(self, runs: RunRecords, batches: BatchStore) -> None:
        self._runs = runs
        self._batches = batches
        self._windows = BatchWindows(batches.engine)

    def activities(self) -> list[Callable[..., Any]]:
        return [self.record_item_run, self.advance_batch, self.finish_batch]

    @activity.defn(name=RECORD_ITEM_RUN)
    async def record_item_run(
        self, request: activities_pb2.RecordItemRunInput, result: analysis_pb2.ItemSuggestions
    ) -> activities_pb2.RecordItemRunOutput:
        step = dataclasses.replace(
            RunStep.of(request), result=result if result.ByteSize() else None
        )
        await asyncio.to_thread(self._runs.record, step)
        return activities_pb2.RecordItemRunOutput()

    @activity.defn(name=names.ADVANCE_BATCH)
    async def advance_batch(
        self, request: activities_pb2.AdvanceBatchInput
    ) -> activities_pb2.AdvanceBatchOutput:
        """Marks the batch RUNNING; starts nothing (the test starts what it needs)."""
        plan = await asyncio.to_thread(
            self._windows.plan,
            request.batch_id,
            next_position=request.next_position,
            max_concurrency=0,
            run_id=request.run_id,
            continued_as_new_count=request.continued_as_new_count,
            time=request.time.ToDatetime(tzinfo=UTC),
        )
        return activities_pb2.AdvanceBatchOutput(next_position=plan.next_position)

    @activity.defn(name=names.FINISH_BATCH)
    async def finish_batch(
        self, request: activities_pb2.FinishBatchInput
    ) -> activities_pb2.FinishBatchOutput:
        done = await asyncio.to_thread(
            self._batches.finish,
            request.batch_id,
            state=request.state,
            time=request.time.ToDatetime(tzinfo=UTC),
            error=request.error if request.HasField("error") else None,
        )
        return activities_pb2.FinishBatchOutput(
            finished=done.finished,
            progress=done.status.progress,
            failed_item_ids=done.status.failed_item_ids,
        )
