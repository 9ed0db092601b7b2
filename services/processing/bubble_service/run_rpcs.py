"""GetStatus, WatchStatus and CancelProcessing: observing and cancelling runs.

Statuses come from the database only (``status``); WatchStatus streams share one poller
(``watching``); only a cancellation of an open run calls Temporal. A run the caller may not see
(another owner's item, a batch of owners it does not all act for) is NOT_FOUND, exactly as one
that does not exist (``access``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from bubble.processing.v1 import service_pb2
from bubble_service.dependencies import Context, Dependencies
from bubble_service.errors import unavailable
from bubble_service.status import Snapshot
from bubble_service.validation import Violations

MAX_CANCEL_REASON_LENGTH = 500


class RunRpcs:
    def __init__(self, deps: Dependencies) -> None:
        self._deps = deps

    async def GetStatus(  # noqa: N802 - gRPC method names
        self, request: service_pb2.GetStatusRequest, context: Context
    ) -> service_pb2.GetStatusResponse:
        statuses = self._deps.statuses
        field = request.WhichOneof("target")
        target = statuses.resolve(field, getattr(request, field or "item_id"))
        await self._deps.access.require_target(self._deps.auth.principal(context), target)
        snapshot = await statuses.snapshot(target)
        # A row that stopped changing may belong to a run Temporal has closed: have it checked,
        # in the background (the answer never waits for Temporal).
        self._deps.reconciler.check_soon(snapshot)
        return service_pb2.GetStatusResponse(
            item_run=snapshot.item_run, batch_run=snapshot.batch_run
        )

    async def WatchStatus(  # noqa: N802
        self, request: service_pb2.WatchStatusRequest, context: Context
    ) -> AsyncIterator[service_pb2.WatchStatusResponse]:
        deps = self._deps
        field = request.WhichOneof("target")
        target = deps.statuses.resolve(field, getattr(request, field or "item_id"))
        await deps.access.require_target(deps.auth.principal(context), target)
        # An item watch follows the run current when the stream opened, not later runs; a batch
        # keeps its ID across continue-as-new.
        last = await deps.statuses.snapshot(target)
        sequence = 1
        yield _message(sequence, last)
        if last.terminal:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + deps.settings.watch_max_stream_seconds
        with deps.watches.subscribe(last) as subscription:
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise unavailable(
                        "the stream reached its maximum duration; reconnect with the same target",
                        "STREAM_EXPIRED",
                    )
                snapshot = await subscription.next(timeout=remaining)
                if subscription.closed:
                    raise unavailable(
                        "the server is shutting down; reconnect with the same target",
                        "SHUTTING_DOWN",
                    )
                if snapshot is None or snapshot.same_status(last):
                    continue
                sequence += 1
                last = snapshot
                yield _message(sequence, snapshot)
                if snapshot.terminal:
                    return

    async def CancelProcessing(  # noqa: N802
        self, request: service_pb2.CancelProcessingRequest, context: Context
    ) -> service_pb2.CancelProcessingResponse:
        deps = self._deps
        violations = Violations()
        violations.text("reason", request.reason, MAX_CANCEL_REASON_LENGTH)
        violations.raise_if_any()
        field = request.WhichOneof("target")
        target = deps.statuses.resolve(field, getattr(request, field or "item_id"))
        await deps.access.require_target(deps.auth.principal(context), target)
        snapshot = await deps.statuses.snapshot(target)
        requested = False
        if not snapshot.terminal:
            # An item: that very run. A batch: its workflow ID, whichever execution is current.
            run_id = snapshot.run_id if snapshot.item_run is not None else None
            reason = request.reason or "cancelled through CancelProcessing"
            requested = await deps.temporal.cancel(snapshot.workflow_id, run_id, reason)
            if not requested:
                deps.reconciler.check_soon(snapshot)  # closed in Temporal, open in the database
            # The state after the request (usually still open: cancellation is asynchronous).
            if run_id is not None:
                snapshot = await deps.statuses.of_run(run_id) or snapshot
            else:
                snapshot = await deps.statuses.find(target) or snapshot
        return service_pb2.CancelProcessingResponse(
            workflow_id=snapshot.workflow_id,
            run_id=snapshot.run_id,
            cancel_requested=requested,
            state=snapshot.state,
        )


def _message(sequence: int, snapshot: Snapshot) -> service_pb2.WatchStatusResponse:
    return service_pb2.WatchStatusResponse(
        sequence=sequence,
        item_run=snapshot.item_run,
        batch_run=snapshot.batch_run,
        terminal=snapshot.terminal,
    )
