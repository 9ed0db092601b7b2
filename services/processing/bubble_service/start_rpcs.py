"""StartItemProcessing and StartBatchProcessing: starting runs in Temporal, visible at once.

A started run is written to the database before it is answered (an item run's QUEUED row, a
batch's row with its members or selector), so a status read never misses a run it was told of.
The run's own steps then move the row forward; an older step never overwrites a newer one, so the
service's QUEUED row arriving after the run's first step changes nothing.

Authorization (``access``): an item of another owner is NOT_FOUND, as a missing one. A batch may
process only the items of the owners its caller acts for (recorded on its row): a selector
naming another owner is PERMISSION_DENIED, one naming none selects only the caller's owners'
items, and listed IDs of other owners' items are counted failed as unknown IDs are.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta

from bubble.processing.v1 import item_pb2, run_pb2, service_pb2, workflows_pb2
from bubble_service.dependencies import Context, Dependencies
from bubble_service.errors import already_exists, failed_precondition
from bubble_service.idempotency import fingerprint
from bubble_service.principals import Principal
from bubble_service.validation import Violations
from bubble_shared.store import NewBatch, RunStep
from bubble_shared.store.selection import selector_problems
from bubble_shared.store.timestamps import utc_now
from bubble_shared.temporal import names

log = logging.getLogger(__name__)

_SERVICE = "/bubble.processing.v1.ItemProcessingService/"
START_ITEM = _SERVICE + "StartItemProcessing"
START_BATCH = _SERVICE + "StartBatchProcessing"
DEFAULT_BATCH_CONCURRENCY = 50
MAX_BATCH_CONCURRENCY = 500
# At most this many bad item IDs are listed in one error: enough to fix them, small to send.
_MAX_LISTED_VIOLATIONS = 20
# A StartBatchProcessing with a request_id but no batch_id gets a batch ID derived from the
# request_id, so two attempts of the same request cannot start two batches.
_REQUEST_BATCH_NAMESPACE = uuid.UUID("9d2b7f0e-61c4-4f6a-8d0b-3e2c9a7b5d14")


class StartRpcs:
    def __init__(self, deps: Dependencies) -> None:
        self._deps = deps

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
        # Before the replay: another owner's item is NOT_FOUND, even to a retry of a request
        # (another token's) that started it.
        item = await deps.access.item(deps.auth.principal(context), request.item_id)

        replay = await deps.idempotency.replay(
            START_ITEM, request_id, request, service_pb2.StartItemProcessingResponse
        )
        if replay is None:
            response = await self._start_item(request, item, request_id, delay)
            replay = await deps.idempotency.record(START_ITEM, request_id, request, response)
        # The IDs stay those first answered; the snapshot is current.
        snapshot = await deps.statuses.of_run(replay.run_id)
        if snapshot is not None and snapshot.item_run is not None:
            replay.status.CopyFrom(snapshot.item_run)
        return replay

    async def _start_item(
        self,
        request: service_pb2.StartItemProcessingRequest,
        item: item_pb2.Item,
        request_id: str,
        delay: timedelta,
    ) -> service_pb2.StartItemProcessingResponse:
        deps = self._deps
        workflow_id = names.item_workflow_id(item.item_id)
        response = service_pb2.StartItemProcessingResponse(workflow_id=workflow_id)
        if request_id:
            # An earlier attempt of this request started a run (its answer was lost): that run,
            # open or closed, is this request's answer too.
            earlier = await asyncio.to_thread(
                deps.run_records.started_by_request, item.item_id, request_id
            )
            if earlier is not None:
                response.run_id = earlier.run_id
                return response
        latest = await asyncio.to_thread(deps.run_records.latest_of_item, item.item_id)
        open_run = latest is not None and latest.state in _OPEN_STATES
        if not open_run and item.status == item_pb2.ITEM_STATUS_PROCESSED and not request.force:
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
        queue_time = utc_now()
        response.run_id, already_open = await deps.temporal.start_item(
            workflow_input, owner_id=item.owner_id
        )
        if already_open:
            # An open run wins (one per item); it may be a concurrent attempt of this request.
            response.already_running = not await self._started_by(
                workflow_id, response.run_id, item.item_id, request_id
            )
            return response
        step = RunStep(
            item_id=item.item_id,
            workflow_id=workflow_id,
            run_id=response.run_id,
            queue_time=queue_time,
            state=run_pb2.RUN_STATE_QUEUED,
            stage=run_pb2.PROCESSING_STAGE_QUEUED,
            time=queue_time,
            request_id=request_id,
            scheduled_start_time=queue_time + delay,
        )
        await asyncio.to_thread(deps.run_records.record, step)
        return response

    async def _started_by(
        self, workflow_id: str, run_id: str, item_id: str, request_id: str
    ) -> bool:
        """Whether this request_id started the run: its row says so, or (no row yet) its input.

        The row is looked for first: once it exists it carries the request_id it was started
        with (the service's first write and the run's own both set it), so the question asked
        next cannot race with a concurrent attempt writing it.
        """
        if not request_id:
            return False
        deps = self._deps
        if await deps.statuses.of_run(run_id) is not None:
            started = await asyncio.to_thread(
                deps.run_records.started_by_request, item_id, request_id
            )
            return started is not None and started.run_id == run_id
        workflow_input = await deps.temporal.item_input(workflow_id, run_id)
        return workflow_input is not None and workflow_input.request_id == request_id

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
        _check_members(request, violations, deps.settings.max_batch_items)
        violations.raise_if_any()
        principal = deps.auth.principal(context)
        if request.selector.owner_id:
            deps.access.require_owner(principal, request.selector.owner_id)

        # The same fields from a token acting for other owners are another request.
        scope = principal.scope_key
        replay = await deps.idempotency.replay(
            START_BATCH, request_id, request, service_pb2.StartBatchProcessingResponse, scope=scope
        )
        if replay is None:
            response = await self._start_batch(request, request_id, principal)
            replay = await deps.idempotency.record(
                START_BATCH, request_id, request, response, scope=scope
            )
        snapshot = await deps.statuses.of_batch(replay.batch_id)
        if snapshot is not None and snapshot.batch_run is not None:
            replay.status.CopyFrom(snapshot.batch_run)
        return replay

    async def _start_batch(
        self,
        request: service_pb2.StartBatchProcessingRequest,
        request_id: str,
        principal: Principal,
    ) -> service_pb2.StartBatchProcessingResponse:
        deps = self._deps
        # Known down: no row to write and remove again (a selector is counted when written).
        deps.temporal.gate.require_reachable()
        batch_id = request.batch_id or (
            str(uuid.uuid5(_REQUEST_BATCH_NAMESPACE, request_id))
            if request_id
            else str(uuid.uuid4())
        )
        workflow_id = names.batch_workflow_id(batch_id)
        max_concurrency = min(
            request.max_concurrency or DEFAULT_BATCH_CONCURRENCY, MAX_BATCH_CONCURRENCY
        )
        parameters = await asyncio.to_thread(fingerprint, request, principal.scope_key)
        status, created = await asyncio.to_thread(
            deps.batches.create,
            NewBatch(
                batch_id=batch_id,
                workflow_id=workflow_id,
                max_concurrency=max_concurrency,
                item_ids=list(dict.fromkeys(request.item_ids)),
                selector=request.selector if request.HasField("selector") else None,
                request_id=request_id,
                request_fingerprint=parameters,
                owner_ids=_batch_owners(request, principal),
            ),
        )
        if not created and not await self._same_request(batch_id, request_id, parameters):
            raise already_exists(
                f"a batch with batch_id {batch_id!r} already exists; batch IDs are never reused",
                "BATCH_ALREADY_EXISTS",
                batch_id=batch_id,
            )
        workflow_input = workflows_pb2.ItemBatchProcessingWorkflowInput(
            batch_id=batch_id,
            max_concurrency=max_concurrency,
            force=request.force,
            skip_notification=request.skip_notification,
            request_id=request_id,
            analysis_task_queue=deps.settings.temporal.analysis_task_queue,
            item_task_queue=deps.settings.temporal.task_queue,
        )
        try:
            run_id, _ = await deps.temporal.start_batch(
                workflow_input, owner_id=request.selector.owner_id
            )
        except Exception:
            if created:
                await self._forget(batch_id)
            raise
        first_run_id = await asyncio.to_thread(deps.batches.set_first_run, batch_id, run_id)
        return service_pb2.StartBatchProcessingResponse(
            batch_id=batch_id,
            workflow_id=workflow_id,
            run_id=first_run_id or run_id,
            accepted_item_count=status.progress.total,
        )

    async def _same_request(self, batch_id: str, request_id: str, parameters: str) -> bool:
        """Whether the existing batch was created by this very request (a retry whose first
        answer was lost): same request_id, same parameters."""
        if not request_id:
            return False
        created_by = await asyncio.to_thread(self._deps.batches.request_of, batch_id)
        return created_by == (request_id, parameters)

    async def _forget(self, batch_id: str) -> None:
        """Removes the row of a batch whose workflow could not be started, so a retry starts
        afresh; best effort (a row left behind only reads QUEUED until a retry starts it)."""
        try:
            await asyncio.to_thread(self._deps.batches.delete, batch_id)
        except Exception:  # the start's own failure is what the client must see
            log.warning("could not remove batch %s after its start failed", batch_id, exc_info=True)


_OPEN_STATES = frozenset({run_pb2.RUN_STATE_QUEUED, run_pb2.RUN_STATE_RUNNING})


def _batch_owners(
    request: service_pb2.StartBatchProcessingRequest, principal: Principal
) -> frozenset[str] | None:
    """Whose items the batch may process: the selector's owner, else the caller's owners (None:
    every owner). Reading the batch later needs a token allowed for all of them."""
    if request.selector.owner_id:
        return frozenset({request.selector.owner_id})
    return principal.owners


def _check_members(
    request: service_pb2.StartBatchProcessingRequest, violations: Violations, limit: int
) -> None:
    """Exactly one of item_ids (1..limit well-formed IDs) and selector (a valid one)."""
    has_selector = request.HasField("selector")
    if request.item_ids and has_selector:
        violations.add("selector", "set either item_ids or selector, not both")
    elif not request.item_ids and not has_selector:
        violations.add(
            "item_ids", "set item_ids (at least one item ID) or selector", "FIELD_REQUIRED"
        )
    elif has_selector:
        for field, problem in selector_problems(request.selector):
            violations.add(f"selector.{field}", problem)
    elif len(request.item_ids) > limit:
        violations.add(
            "item_ids",
            f"{len(request.item_ids)} item IDs given; at most {limit} are allowed per batch "
            "(use a selector, or start several batches)",
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
