"""ItemBatchProcessingWorkflow: many items through ItemImageProcessingWorkflow, in a sliding window.

The members and counters live in the database: the workflow reads its members a page at a time
(``read_batch_page``) and starts one child per member with at most ``max_concurrency`` open,
starting the next one as soon as a child reports its end. Each child runs under the item's own
workflow id, so an item someone else is already processing is never processed twice at once: the
start fails with "already started" and the batch joins that run (``join_item_run``) without
holding a slot; the run counts its outcome for the batch and tells it when it ends.

The batch runs on a task queue of its own and starts its children on the items' queue
(``item_task_queue``): its refills, page reads and bookkeeping never wait behind the workflow and
local-activity tasks of the children it is refilling for.

Children report to the batch's workflow id (signal ``item_run_finished``), not to the execution
that started them, so the batch continues as new every ``items_per_run`` children with its open
children carried over (parent close policy ABANDON): the window never drains at a page boundary
and each execution's history stays bounded. One item failing never fails the batch.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from temporalio import workflow
from temporalio.exceptions import WorkflowAlreadyStartedError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from bubble.processing.v1 import activities_pb2, run_pb2, workflows_pb2
    from bubble_shared.temporal import names
    from bubble_worker.workflows import policies
    from bubble_worker.workflows.steps import database_write, timestamp

Input = workflows_pb2.ItemBatchProcessingWorkflowInput
Output = workflows_pb2.ItemBatchProcessingWorkflowOutput


@workflow.defn(name=names.BATCH_WORKFLOW)
class ItemBatchProcessingWorkflow:
    @workflow.init
    def __init__(self, request: Input) -> None:
        self._state = Input()
        # Open children: item id -> run id ("" for children an earlier execution started). Set
        # here, not in run(): a child's report may be handled before run() begins.
        self._open: dict[str, str] = dict.fromkeys(request.open_item_ids, "")
        # Runs that reported their end before their start was seen here (same activation).
        self._ended_early: set[str] = set()
        self._reports = 0
        self._all_started = False
        # Members whose start (or join) is under way, and the tasks doing it.
        self._starting: set[str] = set()
        self._starting_tasks: list[asyncio.Task[None]] = []

    @workflow.signal(name=names.ITEM_RUN_FINISHED_SIGNAL)
    def item_run_finished(self, signal: workflows_pb2.ItemRunFinishedSignal) -> None:
        self._reports += 1
        if signal.item_id in self._open and self._open[signal.item_id] in ("", signal.run_id):
            del self._open[signal.item_id]
        else:
            self._ended_early.add(signal.run_id)

    @workflow.query(name=names.PROGRESS_QUERY)
    def get_progress(self) -> workflows_pb2.ItemBatchProcessingProgress:
        state = self._state
        return workflows_pb2.ItemBatchProcessingProgress(
            batch_id=state.batch_id,
            max_concurrency=state.max_concurrency,
            continued_as_new_count=state.continued_as_new_count,
            open_children=len(self._open),
            next_position=state.next_position,
            all_started=self._all_started,
        )

    @workflow.run
    async def run(self, request: Input) -> Output:
        state = self._state
        state.CopyFrom(request)
        state.max_concurrency = max(1, state.max_concurrency or policies.DEFAULT_BATCH_CONCURRENCY)
        try:
            if not await self._start_members():
                self._continue_as_new()
            self._all_started = True
            return await self._finish()
        except BaseException as err:
            if not is_cancelled_exception(err):
                raise
            await self._cancel()
            raise

    async def _start_members(self) -> bool:
        """Starts members until none is left (True) or this execution has started its share and
        should continue as new (False)."""
        state = self._state
        items_per_run = state.items_per_run or policies.DEFAULT_ITEMS_PER_RUN
        started = 0
        while True:
            limit = min(policies.BATCH_PAGE_SIZE, items_per_run - started)
            page = await self._read_page(limit)
            for item_id in page.item_ids:
                await workflow.wait_condition(self._slot_free)
                self._launch(item_id)
                state.next_position += 1
                started += 1
            if page.exhausted or started >= items_per_run:
                break
            if workflow.info().is_continue_as_new_suggested():
                break
        # Every start must have been answered: the next execution cannot see this one's.
        await workflow.wait_condition(lambda: not self._starting)
        await asyncio.gather(*self._starting_tasks)
        return page.exhausted

    def _slot_free(self) -> bool:
        return len(self._open) + len(self._starting) < self._state.max_concurrency

    def _launch(self, item_id: str) -> None:
        """Starts (or joins) the member's run without waiting for Temporal's answer, so that
        several free slots are filled in one workflow task instead of one round trip each."""
        self._starting.add(item_id)
        task = asyncio.ensure_future(self._start_or_join(item_id))
        task.add_done_callback(lambda _: self._starting.discard(item_id))
        self._starting_tasks.append(task)

    async def _read_page(self, limit: int) -> activities_pb2.ReadBatchPageOutput:
        state = self._state
        return await database_write(
            names.READ_BATCH_PAGE,
            activities_pb2.ReadBatchPageInput(
                batch_id=state.batch_id,
                from_position=state.next_position,
                limit=max(1, limit),
                run_id=workflow.info().run_id,
                continued_as_new_count=state.continued_as_new_count,
                time=timestamp(workflow.now()),
            ),
            activities_pb2.ReadBatchPageOutput,
        )

    async def _start_or_join(self, item_id: str) -> None:
        """Starts the item's child run, or joins the run someone else has open for it."""
        retry = policies.JOIN_RETRY_FIRST
        while True:
            try:
                await self._start_child(item_id)
            except WorkflowAlreadyStartedError:
                if await self._join(item_id):
                    return
            else:
                return
            # The open run has not written its first step yet, or has just ended: retry.
            await workflow.sleep(retry)
            retry = min(retry * 2, policies.JOIN_RETRY_MAX)

    async def _start_child(self, item_id: str) -> None:
        state = self._state
        starting = asyncio.ensure_future(
            workflow.start_child_workflow(
                names.ITEM_WORKFLOW,
                workflows_pb2.ItemImageProcessingWorkflowInput(
                    item_id=item_id,
                    request_id=state.request_id,
                    batch_id=state.batch_id,
                    force=state.force,
                    skip_notification=state.skip_notification,
                    analyzer=state.analyzer,
                    analysis_task_queue=state.analysis_task_queue,
                ),
                id=names.item_workflow_id(item_id),
                task_queue=state.item_task_queue or None,
                result_type=workflows_pb2.ItemImageProcessingWorkflowOutput,
                # Children outlive the execution that started them (continue-as-new); a
                # cancelled batch cancels them itself.
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
            )
        )
        try:
            child = await asyncio.shield(starting)
        except asyncio.CancelledError:
            # The batch is cancelled while this start is under way: let the start finish, so the
            # child is known and cancelled with the others instead of running on unseen.
            with contextlib.suppress(WorkflowAlreadyStartedError):
                self._opened(item_id, await starting)
            raise
        self._opened(item_id, child)

    def _opened(self, item_id: str, child: workflow.ChildWorkflowHandle[Any, Any]) -> None:
        # The outcome arrives by signal (it must reach later executions too), not here.
        child.add_done_callback(_ignore_outcome)
        run_id = child.first_execution_run_id or ""
        if run_id in self._ended_early:
            self._ended_early.discard(run_id)
        else:
            self._open[item_id] = run_id

    async def _join(self, item_id: str) -> bool:
        joined = await database_write(
            names.JOIN_ITEM_RUN,
            activities_pb2.JoinItemRunInput(
                batch_id=self._state.batch_id, item_id=item_id, time=timestamp(workflow.now())
            ),
            activities_pb2.JoinItemRunOutput,
        )
        return joined.joined

    def _continue_as_new(self) -> None:
        state = self._state
        following = Input()
        following.CopyFrom(state)
        following.continued_as_new_count += 1
        del following.open_item_ids[:]
        following.open_item_ids.extend(self._open)
        workflow.continue_as_new(following)

    async def _finish(self) -> Output:
        """Waits for the open children, then for the runs the batch joined, and ends the batch.

        The database decides: once every member has an outcome the batch ends, even if a report
        never came (the open children are then only notifying, or were lost).
        """
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(lambda: not self._open, timeout=policies.JOINED_RECHECK)
        while True:
            done = await self._finish_batch(run_pb2.RUN_STATE_SUCCEEDED)
            if done.finished:
                return self._output(done)
            # Runs the batch joined are still open: they signal when they end; look again
            # now and then all the same, in case a report was lost to a terminated run.
            if workflow.info().is_continue_as_new_suggested():
                self._continue_as_new()
            reports = self._reports
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda seen=reports: self._reports > seen,  # type: ignore[misc]
                    timeout=policies.JOINED_RECHECK,
                )

    async def _cancel(self) -> None:
        """Cancels the open children, gives them a moment to record it, and ends the batch."""
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: not self._starting, timeout=policies.CANCEL_CHILDREN_GRACE
            )
        reason = workflow.cancellation_reason()
        child_reason = f"the batch was cancelled: {reason}" if reason else "the batch was cancelled"
        for item_id in list(self._open):
            handle = workflow.get_external_workflow_handle(names.item_workflow_id(item_id))
            try:
                await handle.cancel(reason=child_reason)
            except Exception as err:  # it has ended meanwhile
                workflow.logger.info("child of item %s not cancelled (%s)", item_id, err)
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: not self._open, timeout=policies.CANCEL_CHILDREN_GRACE
            )
        await self._finish_batch(
            run_pb2.RUN_STATE_CANCELLED,
            run_pb2.ProcessingError(code="CANCELLED", message="the batch was cancelled"),
        )

    async def _finish_batch(
        self, state: run_pb2.RunState.ValueType, error: run_pb2.ProcessingError | None = None
    ) -> activities_pb2.FinishBatchOutput:
        return await database_write(
            names.FINISH_BATCH,
            activities_pb2.FinishBatchInput(
                batch_id=self._state.batch_id,
                state=state,
                error=error,
                time=timestamp(workflow.now()),
            ),
            activities_pb2.FinishBatchOutput,
        )

    def _output(self, done: activities_pb2.FinishBatchOutput) -> Output:
        counted = done.progress
        return Output(
            batch_id=self._state.batch_id,
            total=counted.total,
            succeeded=counted.succeeded,
            failed=counted.failed,
            cancelled=counted.cancelled,
            skipped=counted.skipped,
            failed_item_ids=done.failed_item_ids,
            continued_as_new_count=self._state.continued_as_new_count,
        )


def _ignore_outcome(child: asyncio.Future[object]) -> None:
    """Marks a child's own outcome as seen, so asyncio does not report it as never retrieved."""
    if not child.cancelled():
        child.exception()
