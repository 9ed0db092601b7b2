"""The batch's window, as local activities: start the next members' runs, cancel the open ones.

A batch starts its item runs through the Temporal client, not as child workflows: a child's
start, completion and any signal are events in the parent's history, and each one arriving while
the batch continues as new refuses the continue-as-new and replays the whole history. Started this
way, a batch's history holds only its own ticks; what its runs did is read from the database,
where they record it (``bubble_shared.store.batch_window``).

Each run is started under the item's own workflow ID, so an item someone else is processing is
never processed twice at once: the start is refused with the open run's ID, and the member joins
that run. Both activities are idempotent: a retry skips the members that already follow a run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC
from typing import Any, TypeVar

from temporalio import activity
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from bubble.processing.v1 import activities_pb2, workflows_pb2
from bubble_shared.store import BatchWindows, JoinedRun, StartedRun, Window
from bubble_shared.store.timestamps import utc_now
from bubble_shared.temporal import names, search_attributes

STARTS_AT_ONCE = 32
"""Start (or cancel) requests in flight at once: enough to fill a window of hundreds in well under
a second, few enough not to flood the frontend."""
CANCEL_RECHECK_SECONDS = 0.5
FILL_POLL_SECONDS = 0.1
"""How often a filling ``advance_batch`` counts the batch's open runs (one indexed count)."""

T = TypeVar("T")


class BatchWindowActivities:
    def __init__(self, *, client: Client, windows: BatchWindows, task_queue: str) -> None:
        self._client = client
        self._windows = windows
        self._task_queue = task_queue

    def activities(self) -> list[Callable[..., Any]]:
        """Every activity of this class, to register on the batches' worker."""
        return [self.advance_batch, self.cancel_batch_runs]

    @activity.defn(name=names.ADVANCE_BATCH)
    async def advance_batch(
        self, request: activities_pb2.AdvanceBatchInput
    ) -> activities_pb2.AdvanceBatchOutput:
        """Fills the window, pass after pass, for ``keep_filling_for``: between passes it polls
        the count of open runs, so a slot is refilled within ``FILL_POLL_SECONDS`` of its run's
        end, and the batch's history gets one marker per call, not one per refill."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + request.keep_filling_for.ToTimedelta().total_seconds()
        # First any outcome missed while a run was being joined, so its slot counts as free.
        await self._window(request.batch_id)
        done = activities_pb2.AdvanceBatchOutput(next_position=request.next_position)
        while True:
            # A cancellation (the batch's) may stop the wait below, never a pass halfway: the
            # runs a pass starts are recorded, so the cancelled batch finds and cancels them.
            filling = asyncio.ensure_future(self._fill_once(request, done))
            try:
                window, all_read = await asyncio.shield(filling)
            except asyncio.CancelledError:
                await filling
                raise
            if (all_read and window.open_runs == 0) or loop.time() >= deadline:
                break  # done, or only joined runs left (the workflow waits for them on a timer)
            if not all_read and window.open_runs < request.max_concurrency:
                continue  # free slots and members left: another pass at once
            await self._until_a_run_ends(request.batch_id, window.open_runs, deadline)
        done.open_runs = window.open_runs
        done.open_members = window.open_members
        done.all_started = all_read
        done.progress.CopyFrom(window.progress)
        return done

    async def _fill_once(
        self, request: activities_pb2.AdvanceBatchInput, done: activities_pb2.AdvanceBatchOutput
    ) -> tuple[Window, bool]:
        """One pass: starts members into the free slots; the window after it, and whether every
        member has been read. Adds what it did to ``done``."""
        plan = await asyncio.to_thread(
            self._windows.plan,
            request.batch_id,
            next_position=done.next_position,
            max_concurrency=request.max_concurrency,
            max_starts=request.max_starts,
            run_id=request.run_id,
            continued_as_new_count=request.continued_as_new_count,
            time=request.time.ToDatetime(tzinfo=UTC),
        )
        starts = await _bounded(
            [self._start(request, item_id, owner_id) for item_id, owner_id in plan.members.items()]
        )
        started = [run for run in starts if isinstance(run, StartedRun)]
        joined = [run for run in starts if isinstance(run, JoinedRun)]
        # What did start is recorded even when other starts failed, so that the retry (this
        # activity is retried as a whole) finds those members following their runs.
        window = await asyncio.to_thread(
            self._windows.record_starts, request.batch_id, started=started, joined=joined
        )
        for failure in starts:
            if isinstance(failure, BaseException):
                raise failure
        done.next_position = plan.next_position
        done.started += len(started)
        done.joined += len(joined)
        return window, plan.all_read

    async def _until_a_run_ends(self, batch_id: str, open_runs: int, deadline: float) -> None:
        """Waits until fewer runs are open than ``open_runs``, or until ``deadline``."""
        loop = asyncio.get_running_loop()
        while loop.time() < deadline:
            await asyncio.sleep(min(FILL_POLL_SECONDS, max(0.0, deadline - loop.time())))
            if await asyncio.to_thread(self._windows.open_run_count, batch_id) < open_runs:
                return

    async def _start(
        self, request: activities_pb2.AdvanceBatchInput, item_id: str, owner_id: str
    ) -> StartedRun | JoinedRun | None:
        """Starts the member's run; the open run to join when the item has one; None when the
        start was refused without saying which run is open (the member is tried again later)."""
        run_input = workflows_pb2.ItemImageProcessingWorkflowInput()
        run_input.CopyFrom(request.run_template)
        run_input.item_id = item_id
        run_input.batch_id = request.batch_id
        workflow_id = names.item_workflow_id(item_id)
        queue_time = utc_now()
        try:
            handle = await self._client.start_workflow(
                names.ITEM_WORKFLOW,
                run_input,
                id=workflow_id,
                task_queue=request.item_task_queue or self._task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                search_attributes=search_attributes.for_item_run(
                    item_id=item_id, owner_id=owner_id, batch_id=request.batch_id
                ),
            )
        except WorkflowAlreadyStartedError as err:
            return JoinedRun(item_id, err.run_id) if err.run_id else None
        return StartedRun(
            item_id=item_id,
            workflow_id=workflow_id,
            run_id=handle.result_run_id or "",
            queue_time=queue_time,
            request_id=run_input.request_id,
        )

    @activity.defn(name=names.CANCEL_BATCH_RUNS)
    async def cancel_batch_runs(
        self, request: activities_pb2.CancelBatchRunsInput
    ) -> activities_pb2.CancelBatchRunsOutput:
        runs = await asyncio.to_thread(self._windows.open_runs, request.batch_id)
        cancelled = await _bounded(
            [self._cancel(item_id, run_id, request.reason) for item_id, run_id in runs]
        )
        for failure in cancelled:
            if isinstance(failure, BaseException):
                raise failure
        # The runs record their cancellation (and the batch counts it) in a moment: wait for it,
        # so that the batch's counters say how its members ended.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + request.grace.ToTimedelta().total_seconds()
        window = await self._window(request.batch_id)
        while window.open_runs and loop.time() < deadline:
            await asyncio.sleep(CANCEL_RECHECK_SECONDS)
            window = await self._window(request.batch_id)
        return activities_pb2.CancelBatchRunsOutput(
            cancelled=sum(1 for done in cancelled if done is True), still_open=window.open_runs
        )

    async def _window(self, batch_id: str) -> Window:
        return await asyncio.to_thread(self._windows.window, batch_id)

    async def _cancel(self, item_id: str, run_id: str, reason: str) -> bool:
        """Requests the run's cancellation; False when it had closed meanwhile."""
        handle = self._client.get_workflow_handle(names.item_workflow_id(item_id), run_id=run_id)
        try:
            await handle.cancel(reason=reason)
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return True


async def _bounded(calls: Sequence[Coroutine[Any, Any, T]]) -> list[T | BaseException]:
    """Runs the calls with at most STARTS_AT_ONCE in flight; their results (or errors) in order."""
    gate = asyncio.Semaphore(STARTS_AT_ONCE)

    async def gated(call: Coroutine[Any, Any, T]) -> T:
        async with gate:
            return await call

    return await asyncio.gather(*(gated(call) for call in calls), return_exceptions=True)
