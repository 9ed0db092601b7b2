"""Temporal's side of a run: start it, cancel it, and (only for reconciliation and rare
fallbacks of a start) describe it or read its input and output.

No status read calls anything here: statuses come from the database (``status``). Everything
talks to Temporal by workflow *names* (``bubble_shared.temporal.names``) and never
imports the worker. Every call goes through the ``TemporalGate``, so none waits on a Temporal
that is down: refused at once while the health probe knows it is, bounded in time otherwise.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from google.protobuf.message import Message
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import (
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from bubble.processing.v1 import workflows_pb2
from bubble_service.errors import ServiceError
from bubble_service.temporal_gate import RPC_TIMEOUT, TemporalGate
from bubble_shared.temporal import names, search_attributes

log = logging.getLogger(__name__)

_OPEN = frozenset({WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.CONTINUED_AS_NEW})


@dataclass(frozen=True)
class Execution:
    """Temporal's description of one workflow execution (run)."""

    workflow_id: str
    run_id: str
    workflow_type: str
    status: WorkflowExecutionStatus | None
    close_time: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.status is None or self.status in _OPEN


class Runs:
    """Temporal calls for item and batch runs."""

    def __init__(
        self, client: Client, *, task_queue: str, batch_task_queue: str, gate: TemporalGate
    ) -> None:
        self._client = client
        self._task_queue = task_queue
        self._batch_task_queue = batch_task_queue
        self.gate = gate

    async def start_item(
        self, request: workflows_pb2.ItemImageProcessingWorkflowInput, *, owner_id: str
    ) -> tuple[str, bool]:
        """Starts the item's run; the run ID, and whether another run was already open.

        Temporal allows one open run per workflow ID, so a second start is refused and the open
        run's ID is returned instead: this request's options did not apply to it.
        """
        return await self._start(
            names.ITEM_WORKFLOW,
            request,
            names.item_workflow_id(request.item_id),
            self._task_queue,
            WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            search_attributes.for_item_run(item_id=request.item_id, owner_id=owner_id),
        )

    async def start_batch(
        self, request: workflows_pb2.ItemBatchProcessingWorkflowInput, *, owner_id: str = ""
    ) -> tuple[str, bool]:
        """Starts the batch; its run ID, and whether it had been started already (a batch ID is
        started once, ever: a retried start finds it, open or closed)."""
        return await self._start(
            names.BATCH_WORKFLOW,
            request,
            names.batch_workflow_id(request.batch_id),
            self._batch_task_queue,
            WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes.for_batch(batch_id=request.batch_id, owner_id=owner_id),
        )

    async def _start(
        self,
        workflow: str,
        request: Message,
        workflow_id: str,
        task_queue: str,
        reuse: WorkflowIDReusePolicy,
        attributes: TypedSearchAttributes,
    ) -> tuple[str, bool]:
        """The started run's ID and False, or the ID of the run already open and True."""
        try:
            handle = await self.gate.call(
                lambda: self._client.start_workflow(
                    workflow,
                    request,
                    id=workflow_id,
                    task_queue=task_queue,
                    id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                    id_reuse_policy=reuse,
                    search_attributes=attributes,
                    rpc_timeout=RPC_TIMEOUT,
                )
            )
        except WorkflowAlreadyStartedError as err:
            return err.run_id or "", True
        return handle.result_run_id or "", False

    async def cancel(self, workflow_id: str, run_id: str | None, reason: str) -> bool:
        """Requests cancellation of the open run (the latest one without ``run_id``: a batch that
        continued as new); False when it had closed meanwhile."""
        handle = self._client.get_workflow_handle(workflow_id, run_id=run_id)
        try:
            await self.gate.call(lambda: handle.cancel(reason=reason, rpc_timeout=RPC_TIMEOUT))
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return True

    async def describe(self, workflow_id: str, run_id: str | None = None) -> Execution | None:
        """The run (the latest one without ``run_id``), or None when Temporal has no such run."""
        handle = self._client.get_workflow_handle(workflow_id, run_id=run_id)
        try:
            description = await self.gate.call(lambda: handle.describe(rpc_timeout=RPC_TIMEOUT))
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return None
            raise
        return Execution(
            workflow_id=description.id,
            run_id=description.run_id,
            workflow_type=description.workflow_type,
            status=description.status,
            close_time=description.close_time,
        )

    async def item_input(
        self, workflow_id: str, run_id: str
    ) -> workflows_pb2.ItemImageProcessingWorkflowInput | None:
        """The input the run was started with (its first history event); None if unreadable.
        Only for a run the database has no row of yet: who started it."""
        response = await self.gate.call(
            lambda: self._client.workflow_service.get_workflow_execution_history(
                GetWorkflowExecutionHistoryRequest(
                    namespace=self._client.namespace,
                    execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
                    maximum_page_size=1,
                ),
                retry=True,
                timeout=RPC_TIMEOUT,
            )
        )
        events = list(response.history.events)
        if not events or not events[0].HasField("workflow_execution_started_event_attributes"):
            return None
        payloads = events[0].workflow_execution_started_event_attributes.input.payloads
        input_type = workflows_pb2.ItemImageProcessingWorkflowInput
        try:
            [decoded] = await self._client.data_converter.decode(list(payloads), [input_type])
        except Exception:  # a payload this version cannot read
            log.warning("cannot decode the input of %s", workflow_id, exc_info=True)
            return None
        return decoded if isinstance(decoded, input_type) else None

    async def item_output(
        self, workflow_id: str, run_id: str
    ) -> workflows_pb2.ItemImageProcessingWorkflowOutput | None:
        """The output of a completed run; None when it cannot be read or decoded. Only for a run
        that completed without recording its outcome (e.g. run by an older worker)."""
        handle = self._client.get_workflow_handle(
            workflow_id,
            run_id=run_id,
            result_type=workflows_pb2.ItemImageProcessingWorkflowOutput,
        )
        try:
            result = await self.gate.call(
                lambda: handle.result(follow_runs=False, rpc_timeout=RPC_TIMEOUT)
            )
        except (RPCError, ServiceError):  # Temporal unreachable: try again later
            raise
        except Exception:  # undecodable, or not completed after all
            log.warning("cannot read the output of %s", workflow_id, exc_info=True)
            return None
        output_type = workflows_pb2.ItemImageProcessingWorkflowOutput
        return result if isinstance(result, output_type) else None
