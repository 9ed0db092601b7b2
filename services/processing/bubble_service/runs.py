"""Temporal's side of a run: describe it, read its input, progress and output, start and cancel it.

Everything here talks to Temporal by workflow and query *names* (``bubble_shared.temporal.names``)
and never imports the worker. The progress query needs a worker to answer, so it runs with a short
deadline and any failure only means "unknown": a status read must not hang because no worker runs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import OrderedDict
from datetime import timedelta
from typing import TypeVar

from google.protobuf.message import Message
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from bubble.processing.v1 import workflows_pb2
from bubble_service.run_status import Execution, PendingActivity
from bubble_shared.temporal import names

log = logging.getLogger(__name__)

M = TypeVar("M", bound=Message)
# Short Temporal calls (describe, start, cancel) get this deadline, so a hung server is reported as
# unavailable instead of holding the RPC until the client's deadline.
RPC_TIMEOUT = timedelta(seconds=10)
_INPUT_CACHE_SIZE = 1024
_UNTOUCHED_HISTORY_LENGTH = 2
_SHORT_HISTORY_LENGTH = 8


class Runs:
    """Temporal calls for item and batch runs."""

    def __init__(self, client: Client, *, task_queue: str, query_timeout: timedelta) -> None:
        self._client = client
        self._task_queue = task_queue
        self._query_timeout = query_timeout
        # A run's input never changes: cache it (the watch loop reads it every poll).
        self._inputs: OrderedDict[tuple[str, str, str], Message] = OrderedDict()

    async def describe(self, workflow_id: str, run_id: str | None = None) -> Execution | None:
        """The run (the latest one without ``run_id``), or None when Temporal has no such run."""
        handle = self._client.get_workflow_handle(workflow_id, run_id=run_id)
        try:
            description = await handle.describe(rpc_timeout=RPC_TIMEOUT)
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return None
            raise
        execution = _execution(description)
        if execution.is_open:
            untouched = await self._untouched(execution)
            execution = dataclasses.replace(execution, untouched=untouched)
        return execution

    async def _untouched(self, execution: Execution) -> bool:
        """Whether no worker has completed a workflow task of the run yet.

        A run nobody picked up holds "started" and "workflow task scheduled", plus a few events
        that need no worker (a cancellation request, signals); the first completed workflow task
        is the sign a worker runs it. Long histories were certainly touched.
        """
        if execution.history_length <= _UNTOUCHED_HISTORY_LENGTH:
            return True
        if execution.history_length > _SHORT_HISTORY_LENGTH:
            return False
        events = await self._history_events(execution, _SHORT_HISTORY_LENGTH)
        return not any(
            event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED for event in events
        )

    async def _history_events(self, execution: Execution, count: int) -> list[HistoryEvent]:
        response = await self._client.workflow_service.get_workflow_execution_history(
            GetWorkflowExecutionHistoryRequest(
                namespace=self._client.namespace,
                execution=WorkflowExecution(
                    workflow_id=execution.workflow_id, run_id=execution.run_id
                ),
                maximum_page_size=count,
            ),
            retry=True,
            timeout=RPC_TIMEOUT,
        )
        return list(response.history.events)

    async def read_input(self, execution: Execution, input_type: type[M]) -> M | None:
        """The workflow input of the run (its first history event); None if undecodable."""
        key = (execution.workflow_id, execution.run_id, input_type.DESCRIPTOR.full_name)
        cached = self._inputs.get(key)
        if cached is not None:
            self._inputs.move_to_end(key)
            return cached  # type: ignore[return-value]
        events = await self._history_events(execution, 1)
        if not events or not events[0].HasField("workflow_execution_started_event_attributes"):
            return None
        payloads = events[0].workflow_execution_started_event_attributes.input.payloads
        try:
            [decoded] = await self._client.data_converter.decode(list(payloads), [input_type])
        except Exception:  # a payload this version cannot read: the status falls back
            log.warning("cannot decode the input of %s", execution.workflow_id, exc_info=True)
            return None
        if not isinstance(decoded, input_type):
            return None
        self._inputs[key] = decoded
        if len(self._inputs) > _INPUT_CACHE_SIZE:
            self._inputs.popitem(last=False)
        return decoded

    async def query_progress(self, execution: Execution, progress_type: type[M]) -> M | None:
        """The workflow's own progress, or None when no worker answers in time."""
        handle = self._client.get_workflow_handle(execution.workflow_id, run_id=execution.run_id)
        try:
            # wait_for bounds the whole call, retries included.
            result = await asyncio.wait_for(
                handle.query(
                    names.PROGRESS_QUERY,
                    result_type=progress_type,
                    rpc_timeout=self._query_timeout,
                ),
                timeout=self._query_timeout.total_seconds() + 1,
            )
        except (TimeoutError, RPCError, WorkflowQueryFailedError, WorkflowQueryRejectedError):
            return None
        return result if isinstance(result, progress_type) else None

    async def read_output(self, execution: Execution, output_type: type[M]) -> M | None:
        """The output of a completed run; None when it cannot be read or decoded."""
        handle = self._client.get_workflow_handle(
            execution.workflow_id, run_id=execution.run_id, result_type=output_type
        )
        try:
            result = await handle.result(follow_runs=False, rpc_timeout=RPC_TIMEOUT)
        except RPCError:
            raise
        except Exception:  # undecodable or not completed after all: the status falls back
            log.warning("cannot read the output of %s", execution.workflow_id, exc_info=True)
            return None
        return result if isinstance(result, output_type) else None

    async def start_item(
        self, request: workflows_pb2.ItemImageProcessingWorkflowInput
    ) -> tuple[str, bool]:
        """Starts the item's run; the run ID, and whether another run was open under its ID.

        Another caller may start the item between our describe and this start: Temporal then
        refuses the second start (one open run per ID), and the open run is returned as
        already running, since this request's options did not apply to it.
        """
        try:
            handle = await self._client.start_workflow(
                names.ITEM_WORKFLOW,
                request,
                id=names.item_workflow_id(request.item_id),
                task_queue=self._task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                rpc_timeout=RPC_TIMEOUT,
            )
        except WorkflowAlreadyStartedError as err:
            return err.run_id or "", True
        return handle.result_run_id or "", False

    async def start_batch(
        self, request: workflows_pb2.ItemBatchProcessingWorkflowInput
    ) -> str | None:
        """Starts the batch; None when a batch with this ID exists (IDs are never reused)."""
        try:
            handle = await self._client.start_workflow(
                names.BATCH_WORKFLOW,
                request,
                id=names.batch_workflow_id(request.batch_id),
                task_queue=self._task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                rpc_timeout=RPC_TIMEOUT,
            )
        except WorkflowAlreadyStartedError:
            return None
        return handle.result_run_id or ""

    async def cancel(self, workflow_id: str, run_id: str | None, reason: str) -> bool:
        """Requests cancellation of the open run (the latest one without ``run_id``: a batch that
        continued as new); False when it had closed meanwhile."""
        handle = self._client.get_workflow_handle(workflow_id, run_id=run_id)
        try:
            await handle.cancel(reason=reason, rpc_timeout=RPC_TIMEOUT)
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return True


def _execution(description: WorkflowExecutionDescription) -> Execution:
    raw = description.raw_description
    pending = [
        PendingActivity(
            activity_type=activity.activity_type.name,
            attempt=activity.attempt,
            last_failure_type=activity.last_failure.application_failure_info.type,
            last_failure_message=activity.last_failure.message,
        )
        for activity in raw.pending_activities
    ]
    return Execution(
        workflow_id=description.id,
        run_id=description.run_id,
        workflow_type=description.workflow_type,
        status=description.status,
        start_time=description.start_time,
        close_time=description.close_time,
        history_length=description.history_length,
        parent_workflow_id=description.parent_id or "",
        first_run_id=raw.workflow_execution_info.first_run_id or description.run_id,
        pending_activities=pending,
    )
