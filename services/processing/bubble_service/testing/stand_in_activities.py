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
from bubble_shared.store import BatchStore, RunRecords, RunStep
from bubble_shared.temporal import names


class StandInActivities:
    def __init__(self, runs: RunRecords, batches: BatchStore) -> None:
        self._runs = runs
        self._batches = batches

    def activities(self) -> list[Callable[..., Any]]:
        return [self.record_item_run, self.read_batch_page, self.finish_batch]

    @activity.defn(name=RECORD_ITEM_RUN)
    async def record_item_run(
        self, request: activities_pb2.RecordItemRunInput, result: analysis_pb2.ItemSuggestions
    ) -> activities_pb2.RecordItemRunOutput:
        step = dataclasses.replace(
            RunStep.of(request), result=result if result.ByteSize() else None
        )
        batch_ids = await asyncio.to_thread(self._runs.record, step)
        return activities_pb2.RecordItemRunOutput(notify_batch_ids=batch_ids)

    @activity.defn(name=names.READ_BATCH_PAGE)
    async def read_batch_page(
        self, request: activities_pb2.ReadBatchPageInput
    ) -> activities_pb2.ReadBatchPageOutput:
        page = await asyncio.to_thread(
            self._batches.read_page,
            request.batch_id,
            from_position=request.from_position,
            limit=request.limit,
            run_id=request.run_id,
            continued_as_new_count=request.continued_as_new_count,
            time=request.time.ToDatetime(tzinfo=UTC),
        )
        return activities_pb2.ReadBatchPageOutput(item_ids=page.item_ids, exhausted=page.exhausted)

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
