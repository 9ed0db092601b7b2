"""Resolving a run target (item_id, batch_id or workflow_id) and reading the run's full status.

Shared by GetStatus, WatchStatus, CancelProcessing and the snapshots of the start calls, so a run
reads the same whichever RPC asks.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal

from temporalio.client import WorkflowExecutionStatus

from bubble.processing.v1 import item_pb2, run_pb2, workflows_pb2
from bubble_service.errors import not_found
from bubble_service.run_status import (
    BatchRunFacts,
    Execution,
    ItemRunFacts,
    batch_run_status,
    is_terminal,
    item_run_status,
    item_run_status_from_item,
)
from bubble_service.runs import Runs
from bubble_service.validation import MAX_WORKFLOW_ID_LENGTH, Violations
from bubble_shared.store import ItemNotFoundError, ItemStore
from bubble_shared.temporal import names

TargetField = Literal["item_id", "batch_id", "workflow_id"]


@dataclass(frozen=True)
class Target:
    """A run as a request named it, resolved to its workflow ID."""

    kind: Literal["item", "batch"]
    workflow_id: str
    named_by: str
    """The field and value the request used, for messages: "item_id 'abc'"."""
    item: item_pb2.Item | None = None


@dataclass(frozen=True)
class Snapshot:
    item_run: run_pb2.ItemRunStatus | None = None
    batch_run: run_pb2.BatchRunStatus | None = None

    @property
    def state(self) -> run_pb2.RunState.ValueType:
        run = self.item_run or self.batch_run
        return run.state if run is not None else run_pb2.RUN_STATE_UNSPECIFIED

    @property
    def terminal(self) -> bool:
        return is_terminal(self.state)

    @property
    def run_id(self) -> str:
        run = self.item_run or self.batch_run
        return run.run_id if run is not None else ""


class StatusReader:
    def __init__(self, runs: Runs, items: ItemStore) -> None:
        self._runs = runs
        self._items = items

    async def resolve(self, field: str | None, value: str) -> Target:
        """The target of a GetStatus/WatchStatus/CancelProcessing request's ``target`` oneof.

        INVALID_ARGUMENT when unset, empty or malformed; NOT_FOUND for an unknown item or a
        workflow ID this service does not own.
        """
        violations = Violations()
        if field is None:
            violations.add(
                "target", "set one of item_id, batch_id or workflow_id", "FIELD_REQUIRED"
            )
        elif field == "item_id":
            violations.required_id("item_id", value, what="item ID")
        elif field == "batch_id":
            violations.required_id("batch_id", value, what="batch ID")
        elif not value:
            violations.add("workflow_id", "the workflow ID is required", "FIELD_REQUIRED")
        elif len(value) > MAX_WORKFLOW_ID_LENGTH:
            violations.add(
                "workflow_id", f"is longer than {MAX_WORKFLOW_ID_LENGTH} characters", "INVALID_ID"
            )
        violations.raise_if_any()
        if field == "item_id":
            return Target(
                "item", names.item_workflow_id(value), f"item_id {value!r}", await self.item(value)
            )
        if field == "batch_id":
            return Target("batch", names.batch_workflow_id(value), f"batch_id {value!r}")
        if names.item_id_from_workflow_id(value) is not None:
            return Target("item", value, f"workflow_id {value!r}")
        if names.batch_id_from_workflow_id(value) is not None:
            return Target("batch", value, f"workflow_id {value!r}")
        raise not_found(
            f"no run has workflow_id {value[:200]!r}: this service only knows item runs "
            "('item-processing/<item_id>') and batches ('item-batch/<batch_id>')",
            "WORKFLOW_NOT_FOUND",
            workflow_id=value[:200],
        )

    async def item(self, item_id: str) -> item_pb2.Item:
        try:
            return await asyncio.to_thread(
                self._items.get_item, item_id, view=item_pb2.ITEM_VIEW_BASIC
            )
        except ItemNotFoundError:
            raise not_found(
                f"no item has ID {item_id!r}", "ITEM_NOT_FOUND", item_id=item_id
            ) from None

    async def execution(self, target: Target, run_id: str | None = None) -> Execution | None:
        """The target's run (its latest one unless ``run_id``), or None when there is none."""
        execution = await self._runs.describe(target.workflow_id, run_id)
        expected = names.ITEM_WORKFLOW if target.kind == "item" else names.BATCH_WORKFLOW
        if execution is None or execution.workflow_type != expected:
            return None
        return execution

    async def snapshot(self, target: Target, run_id: str | None = None) -> Snapshot:
        """The run's status now; NOT_FOUND when there is no run."""
        execution = await self.execution(target, run_id)
        if execution is None:
            fallback = target.item and item_run_status_from_item(target.item)
            if fallback:
                return Snapshot(item_run=fallback)
            raise self.no_run(target)
        return await self.snapshot_of(target, execution)

    async def snapshot_of(self, target: Target, execution: Execution) -> Snapshot:
        if target.kind == "item":
            return Snapshot(item_run=await self.item_status(execution, target.item))
        return Snapshot(batch_run=await self.batch_status(execution))

    def no_run(self, target: Target) -> Exception:
        if target.kind == "item" and target.item is not None:
            return not_found(
                f"item {target.item.item_id!r} has never been processed: it has no run",
                "RUN_NOT_FOUND",
                item_id=target.item.item_id,
            )
        reason = "BATCH_NOT_FOUND" if target.kind == "batch" else "RUN_NOT_FOUND"
        return not_found(
            f"no run found for {target.named_by}", reason, workflow_id=target.workflow_id
        )

    async def item_status(
        self, execution: Execution, item: item_pb2.Item | None = None
    ) -> run_pb2.ItemRunStatus:
        runs = self._runs
        request = await runs.read_input(execution, workflows_pb2.ItemImageProcessingWorkflowInput)
        progress = output = None
        if execution.is_open and not execution.untouched:
            progress = await runs.query_progress(
                execution, workflows_pb2.ItemImageProcessingProgress
            )
        elif execution.status == WorkflowExecutionStatus.COMPLETED:
            output = await runs.read_output(
                execution, workflows_pb2.ItemImageProcessingWorkflowOutput
            )
        elif execution.status == WorkflowExecutionStatus.CANCELED:
            # The workflow recorded why on the item just before it ended: read it fresh.
            item_id = names.item_id_from_workflow_id(execution.workflow_id) or ""
            try:
                item = await asyncio.to_thread(
                    self._items.get_item, item_id, view=item_pb2.ITEM_VIEW_BASIC
                )
            except ItemNotFoundError:
                item = None
        return item_run_status(
            ItemRunFacts(execution, input=request, progress=progress, output=output, item=item)
        )

    async def batch_status(self, execution: Execution) -> run_pb2.BatchRunStatus:
        runs = self._runs
        request = await runs.read_input(execution, workflows_pb2.ItemBatchProcessingWorkflowInput)
        progress = output = None
        if execution.status == WorkflowExecutionStatus.COMPLETED:
            output = await runs.read_output(
                execution, workflows_pb2.ItemBatchProcessingWorkflowOutput
            )
        elif not execution.untouched:
            # Open, or closed without output (cancelled): the counters only the workflow knows.
            progress = await runs.query_progress(
                execution, workflows_pb2.ItemBatchProcessingProgress
            )
        return batch_run_status(
            BatchRunFacts(execution, input=request, progress=progress, output=output)
        )
