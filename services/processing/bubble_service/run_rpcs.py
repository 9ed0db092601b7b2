"""StartItemProcessing, StartBatchProcessing, GetStatus, WatchStatus and CancelProcessing: runs."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

from bubble.processing.v1 import item_pb2, service_pb2, workflows_pb2
from bubble_service.dependencies import Context, Dependencies
from bubble_service.errors import already_exists, failed_precondition, unavailable
from bubble_service.run_status import Execution, item_run_status_from_item
from bubble_service.status import Snapshot, Target
from bubble_service.validation import Violations
from bubble_shared.temporal import names

_SERVICE = "/bubble.processing.v1.ItemProcessingService/"
START_ITEM = _SERVICE + "StartItemProcessing"
START_BATCH = _SERVICE + "StartBatchProcessing"
DEFAULT_BATCH_CONCURRENCY = 50
MAX_BATCH_CONCURRENCY = 500
MAX_CANCEL_REASON_LENGTH = 500
# Batches coalesce their snapshots to at most one per second (service.proto).
BATCH_WATCH_INTERVAL_SECONDS = 1.0
# At most this many bad item IDs are listed in one error: enough to fix them, small to send.
_MAX_LISTED_VIOLATIONS = 20
# A StartBatchProcessing with a request_id but no batch_id gets a batch ID derived from the
# request_id, so two attempts of the same request cannot start two batches.
_REQUEST_BATCH_NAMESPACE = uuid.UUID("9d2b7f0e-61c4-4f6a-8d0b-3e2c9a7b5d14")


class RunRpcs:
    def __init__(self, deps: Dependencies) -> None:
        self._deps = deps

    # Starting runs ---------------------------------------------------------------------------

    async def StartItemProcessing(  # noqa: N802 - gRPC method names
        self, request: service_pb2.StartItemProcessingRequest, context: Context
    ) -> service_pb2.StartItemProcessingResponse:
        deps = self._deps
        violations = Violations()
        violations.required_id("item_id", request.item_id, what="item ID")
        request_id = violations.request_id(request.request_id)
        delay = violations.start_delay(
            "start_delay", request.start_delay if request.HasField("start_delay") else None
        )
        violations.raise_if_any()

        replay = await deps.idempotency.replay(
            START_ITEM, request_id, request, service_pb2.StartItemProcessingResponse
        )
        if replay is not None:
            return await self._with_item_snapshot(replay)
        item = await deps.statuses.item(request.item_id)
        target = Target("item", names.item_workflow_id(item.item_id), "", item)
        latest = await deps.statuses.execution(target)
        response = service_pb2.StartItemProcessingResponse(workflow_id=target.workflow_id)
        started_by_this_request = latest is not None and await self._started_by(latest, request_id)
        if latest is not None and (latest.is_open or started_by_this_request):
            # An open run is returned, not joined with new options; a run this very request
            # started (an earlier attempt whose answer was lost) is returned as started.
            response.run_id = latest.run_id
            response.already_running = not started_by_this_request
        else:
            if item.status == item_pb2.ITEM_STATUS_PROCESSED and not request.force:
                raise failed_precondition(
                    f"item {item.item_id!r} is already PROCESSED; set force to process it again",
                    "ITEM_ALREADY_PROCESSED",
                    item_id=item.item_id,
                )
            workflow_input = workflows_pb2.ItemImageProcessingWorkflowInput(
                item_id=item.item_id,
                request_id=request_id,
                force=request.force,
                skip_notification=request.skip_notification,
                analysis_task_queue=deps.settings.temporal.analysis_task_queue,
            )
            if delay:
                workflow_input.start_delay.FromTimedelta(delay)
            response.run_id, joined = await deps.runs.start_item(workflow_input)
            if joined:
                # Another start won the race; it may be a concurrent attempt of this request.
                winner = await deps.runs.describe(target.workflow_id, response.run_id)
                joined = winner is None or not await self._started_by(winner, request_id)
            response.already_running = joined
        response = await deps.idempotency.record(START_ITEM, request_id, request, response)
        return await self._with_item_snapshot(response, item)

    async def _started_by(self, execution: Execution, request_id: str) -> bool:
        if not request_id:
            return False
        started = await self._deps.runs.read_input(
            execution, workflows_pb2.ItemImageProcessingWorkflowInput
        )
        return started is not None and started.request_id == request_id

    async def _with_item_snapshot(
        self,
        response: service_pb2.StartItemProcessingResponse,
        item: item_pb2.Item | None = None,
    ) -> service_pb2.StartItemProcessingResponse:
        """The response with the run's current status (the IDs stay those first answered)."""
        statuses = self._deps.statuses
        execution = await self._deps.runs.describe(response.workflow_id, response.run_id)
        if execution is not None:
            response.status.CopyFrom(await statuses.item_status(execution, item))
        return response

    async def StartBatchProcessing(  # noqa: N802
        self, request: service_pb2.StartBatchProcessingRequest, context: Context
    ) -> service_pb2.StartBatchProcessingResponse:
        deps = self._deps
        violations = Violations()
        request_id = violations.request_id(request.request_id)
        violations.optional_id("batch_id", request.batch_id, what="batch ID")
        if request.max_concurrency < 0:
            violations.add(
                "max_concurrency", f"must not be negative, got {request.max_concurrency}"
            )
        limit = deps.settings.max_batch_items
        if not request.item_ids:
            violations.add("item_ids", "at least one item ID is required", "FIELD_REQUIRED")
        elif len(request.item_ids) > limit:
            violations.add(
                "item_ids",
                f"{len(request.item_ids)} item IDs given; at most {limit} are allowed per batch "
                "(start several batches)",
                "BATCH_TOO_LARGE",
            )
        else:
            listed = 0
            for index, item_id in enumerate(request.item_ids):
                before = len(violations.found)
                violations.required_id(f"item_ids[{index}]", item_id, what="item ID")
                listed += len(violations.found) - before
                if listed >= _MAX_LISTED_VIOLATIONS:
                    break
        violations.raise_if_any()

        replay = await deps.idempotency.replay(
            START_BATCH, request_id, request, service_pb2.StartBatchProcessingResponse
        )
        if replay is not None:
            return await self._with_batch_snapshot(replay)
        batch_id = request.batch_id or (
            str(uuid.uuid5(_REQUEST_BATCH_NAMESPACE, request_id))
            if request_id
            else str(uuid.uuid4())
        )
        item_ids = list(dict.fromkeys(request.item_ids))
        workflow_input = workflows_pb2.ItemBatchProcessingWorkflowInput(
            batch_id=batch_id,
            item_ids=item_ids,
            max_concurrency=min(
                request.max_concurrency or DEFAULT_BATCH_CONCURRENCY, MAX_BATCH_CONCURRENCY
            ),
            items_per_run=0,
            force=request.force,
            skip_notification=request.skip_notification,
            request_id=request_id,
            analysis_task_queue=deps.settings.temporal.analysis_task_queue,
        )
        workflow_id = names.batch_workflow_id(batch_id)
        run_id = await deps.runs.start_batch(workflow_input)
        if run_id is None:
            run_id = await self._existing_batch_of(workflow_id, batch_id, request_id)
        response = service_pb2.StartBatchProcessingResponse(
            batch_id=batch_id,
            workflow_id=workflow_id,
            run_id=run_id,
            accepted_item_count=len(item_ids),
        )
        response = await deps.idempotency.record(START_BATCH, request_id, request, response)
        return await self._with_batch_snapshot(response)

    async def _existing_batch_of(self, workflow_id: str, batch_id: str, request_id: str) -> str:
        """The first run ID of the existing batch when this very request started it (an earlier
        attempt whose answer was lost), else ALREADY_EXISTS."""
        if request_id:
            execution = await self._deps.runs.describe(workflow_id)
            if execution is not None:
                started = await self._deps.runs.read_input(
                    execution, workflows_pb2.ItemBatchProcessingWorkflowInput
                )
                if started is not None and started.request_id == request_id:
                    return execution.first_run_id
        raise already_exists(
            f"a batch with batch_id {batch_id!r} already exists; batch IDs are never reused",
            "BATCH_ALREADY_EXISTS",
            batch_id=batch_id,
        )

    async def _with_batch_snapshot(
        self, response: service_pb2.StartBatchProcessingResponse
    ) -> service_pb2.StartBatchProcessingResponse:
        execution = await self._deps.runs.describe(response.workflow_id)
        if execution is not None:
            response.status.CopyFrom(await self._deps.statuses.batch_status(execution))
        return response

    # Observing runs --------------------------------------------------------------------------

    async def GetStatus(  # noqa: N802
        self, request: service_pb2.GetStatusRequest, context: Context
    ) -> service_pb2.GetStatusResponse:
        field = request.WhichOneof("target")
        target = await self._deps.statuses.resolve(field, getattr(request, field or "item_id"))
        snapshot = await self._deps.statuses.snapshot(target)
        return service_pb2.GetStatusResponse(
            item_run=snapshot.item_run, batch_run=snapshot.batch_run
        )

    async def WatchStatus(  # noqa: N802
        self, request: service_pb2.WatchStatusRequest, context: Context
    ) -> AsyncIterator[service_pb2.WatchStatusResponse]:
        deps = self._deps
        statuses = deps.statuses
        field = request.WhichOneof("target")
        target = await statuses.resolve(field, getattr(request, field or "item_id"))
        execution = await statuses.execution(target)
        if execution is None:
            # No run in Temporal: the item's recorded outcome, if any, is one terminal snapshot.
            fallback = target.item and item_run_status_from_item(target.item)
            if not fallback:
                raise statuses.no_run(target)
            yield service_pb2.WatchStatusResponse(sequence=1, item_run=fallback, terminal=True)
            return
        # An item watch follows the run current when the stream opened, not later runs; a batch
        # keeps its workflow ID across continue-as-new, so it follows the chain.
        pinned_run = execution.run_id if target.kind == "item" else None
        interval = deps.settings.watch_poll_interval_seconds
        if target.kind == "batch":
            interval = max(interval, BATCH_WATCH_INTERVAL_SECONDS)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + deps.settings.watch_max_stream_seconds
        sequence = 0
        last: Snapshot | None = None
        snapshot = await statuses.snapshot_of(target, execution)
        while True:
            if snapshot != last:
                sequence += 1
                last = snapshot
                yield service_pb2.WatchStatusResponse(
                    sequence=sequence,
                    item_run=snapshot.item_run,
                    batch_run=snapshot.batch_run,
                    terminal=snapshot.terminal,
                )
            if snapshot.terminal:
                return
            if loop.time() >= deadline:
                raise unavailable(
                    "the stream reached its maximum duration; reconnect with the same target",
                    "STREAM_EXPIRED",
                )
            if await _stopping_within(deps.stopping, interval):
                raise unavailable(
                    "the server is shutting down; reconnect with the same target",
                    "SHUTTING_DOWN",
                )
            snapshot = await statuses.snapshot(target, pinned_run)

    # Cancelling runs -------------------------------------------------------------------------

    async def CancelProcessing(  # noqa: N802
        self, request: service_pb2.CancelProcessingRequest, context: Context
    ) -> service_pb2.CancelProcessingResponse:
        statuses = self._deps.statuses
        violations = Violations()
        violations.text("reason", request.reason, MAX_CANCEL_REASON_LENGTH)
        violations.raise_if_any()
        field = request.WhichOneof("target")
        target = await statuses.resolve(field, getattr(request, field or "item_id"))
        execution = await statuses.execution(target)
        if execution is None:
            fallback = target.item and item_run_status_from_item(target.item)
            if not fallback:
                raise statuses.no_run(target)
            return service_pb2.CancelProcessingResponse(
                workflow_id=fallback.workflow_id,
                run_id=fallback.run_id,
                cancel_requested=False,
                state=fallback.state,
            )
        requested = False
        if execution.is_open:
            run_id = execution.run_id if target.kind == "item" else None
            reason = request.reason or "cancelled through CancelProcessing"
            requested = await self._deps.runs.cancel(execution.workflow_id, run_id, reason)
            # The state after the request (usually still open: cancellation is asynchronous).
            execution = await self._deps.runs.describe(execution.workflow_id, run_id) or execution
        snapshot = await statuses.snapshot_of(target, execution)
        return service_pb2.CancelProcessingResponse(
            workflow_id=execution.workflow_id,
            run_id=execution.run_id,
            cancel_requested=requested,
            state=snapshot.state,
        )


async def _stopping_within(stopping: asyncio.Event, seconds: float) -> bool:
    """Waits up to ``seconds``; True as soon as the server begins to stop."""
    try:
        await asyncio.wait_for(stopping.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True
