"""Reconciliation: the database catches up with runs that ended in Temporal without saying so.

A run records its own steps, its outcome last. A run terminated from the Temporal CLI or UI, timed
out, failed in workflow code, or cancelled before its first step never writes that last step, so
its row would stay QUEUED or RUNNING forever and its batch would wait for it. Every
RECONCILE_INTERVAL_SECONDS a sweep takes the open item runs and batches whose rows have not
changed for RECONCILE_AFTER_SECONDS (at most ``SWEEP_LIMIT`` of each, continuing where the last
sweep stopped, so it reaches every such row over time), describes them in Temporal, and writes
the terminal step of those Temporal has closed:

- terminated: FAILED, code TERMINATED; timed out: TIMED_OUT, code TIMEOUT; cancelled: CANCELLED,
  code CANCELLED; failed: FAILED, code INTERNAL; an item run that completed without recording
  (an older worker): its output.
- the store counts such an item's outcome for its batches, as the run itself would have; the
  batches read it at their next tick and free the slot.
- a batch whose workflow chain has closed: finished with the same states.

Temporal is never asked about a row that changes (a healthy run moves forward), and a row stays
as it is when Temporal says the run is open or does not know it (a run past its retention is
logged, not guessed at). Temporal unreachable: the sweep logs and tries again next time.
GetStatus asks for one target it read stale (``check_soon``): fire-and-forget, deduplicated,
never delaying the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.client import WorkflowExecutionStatus as Closed

from bubble.processing.v1 import run_pb2
from bubble_service.runs import Execution, Runs
from bubble_service.status import Snapshot
from bubble_shared.store import BatchStore, RunRecords, RunStep
from bubble_shared.store.run_convert import TERMINAL_STATES
from bubble_shared.store.timestamps import utc_now
from bubble_shared.temporal import names

log = logging.getLogger(__name__)

SWEEP_LIMIT = 100
"""Most item runs, and most batches, described in one sweep."""
_CONCURRENT_DESCRIBES = 8
_MAX_PENDING_CHECKS = 16
_CheckKey = tuple[str, str]
_Check = Coroutine[Any, Any, bool]

_OUTCOMES: dict[Closed, tuple[run_pb2.RunState.ValueType, str, str]] = {
    Closed.TERMINATED: (run_pb2.RUN_STATE_FAILED, "TERMINATED", "was terminated"),
    Closed.TIMED_OUT: (run_pb2.RUN_STATE_TIMED_OUT, "TIMEOUT", "timed out"),
    Closed.CANCELED: (run_pb2.RUN_STATE_CANCELLED, "CANCELLED", "was cancelled"),
    Closed.FAILED: (run_pb2.RUN_STATE_FAILED, "INTERNAL", "failed"),
}


@dataclass(frozen=True)
class Outcome:
    state: run_pb2.RunState.ValueType
    error: run_pb2.ProcessingError


def outcome_of(execution: Execution, what: str) -> Outcome | None:
    """What a closed execution means for its row; None while open (or completed, which the
    caller reads from the output)."""
    known = _OUTCOMES.get(execution.status) if execution.status is not None else None
    if known is None:
        return None
    state, code, how = known
    message = f"{what} {how} in Temporal before it recorded its outcome"
    return Outcome(state, run_pb2.ProcessingError(code=code, message=message))


class Reconciler:
    """Sweeps stale open rows against Temporal; see the module docstring."""

    def __init__(
        self,
        temporal: Runs,
        runs: RunRecords,
        batches: BatchStore,
        *,
        interval_seconds: float,
        after_seconds: float,
    ) -> None:
        self._temporal = temporal
        self._runs = runs
        self._batches = batches
        self._interval = interval_seconds
        self._after = timedelta(seconds=after_seconds)
        self._run_cursor: str | None = None
        self._batch_cursor: str | None = None
        self._checks: dict[_CheckKey, asyncio.Task[None]] = {}
        self._checked: dict[_CheckKey, float] = {}
        self._describes = asyncio.Semaphore(_CONCURRENT_DESCRIBES)

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=self._interval)
            if stopping.is_set():
                break
            try:
                await self.sweep()
            except Exception as error:  # Temporal or the database is down
                log.warning("reconciliation sweep failed, retrying next time: %s", str(error)[:200])
        for task in list(self._checks.values()):
            task.cancel()

    async def sweep(self) -> int:
        """One sweep; returns the number of rows it closed."""
        moment = utc_now() - self._after
        runs = await asyncio.to_thread(
            self._runs.open_runs_unchanged_since,
            moment,
            SWEEP_LIMIT,
            after_run_id=self._run_cursor,
        )
        self._run_cursor = runs[-1][1] if len(runs) == SWEEP_LIMIT else None
        batches = await asyncio.to_thread(
            self._batches.open_batches_unchanged_since,
            moment,
            SWEEP_LIMIT,
            after_batch_id=self._batch_cursor,
        )
        self._batch_cursor = batches[-1] if len(batches) == SWEEP_LIMIT else None
        closed = await asyncio.gather(
            *(self._bounded(self.reconcile_run(wf, run_id)) for wf, run_id in runs),
            *(self._bounded(self.reconcile_batch(batch_id)) for batch_id in batches),
            return_exceptions=True,
        )
        failures = [result for result in closed if isinstance(result, BaseException)]
        if failures:
            log.warning(
                "reconciliation: %d of %d checks failed, retrying next time: %s",
                len(failures),
                len(closed),
                str(failures[0])[:200],
            )
        return sum(1 for result in closed if result is True)

    def check_soon(self, snapshot: Snapshot) -> None:
        """Reconciles the target of a status just read, if it is open and stale, in the
        background; at most once per RECONCILE_AFTER_SECONDS per target."""
        if snapshot.terminal or snapshot.update_time is None:
            return
        if snapshot.update_time > utc_now() - self._after:
            return
        run, batch = snapshot.item_run, snapshot.batch_run
        if run is not None:
            key = ("item", run.run_id)
        else:
            key = ("batch", batch.batch_id if batch is not None else "")
        now = time.monotonic()
        if len(self._checked) > 1000:
            self._checked = {k: until for k, until in self._checked.items() if until > now}
        if key in self._checks or self._checked.get(key, 0.0) > now:
            return
        if len(self._checks) >= _MAX_PENDING_CHECKS:
            return
        if run is not None:
            check = self.reconcile_run(run.workflow_id, run.run_id)
        else:
            check = self.reconcile_batch(key[1])
        self._checked[key] = now + self._after.total_seconds()
        self._checks[key] = asyncio.create_task(self._check(key, check), name="reconcile-one")

    async def drain(self) -> None:
        """Waits until the checks ``check_soon`` started have finished."""
        await asyncio.gather(*self._checks.values(), return_exceptions=True)

    async def _check(self, key: _CheckKey, check: _Check) -> None:
        try:
            await self._bounded(check)
        except Exception as error:  # the next sweep tries again
            log.info("reconciling %s %s failed: %s", *key, str(error)[:200])
        finally:
            self._checks.pop(key, None)

    async def _bounded(self, check: _Check) -> bool:
        async with self._describes:
            return await check

    async def reconcile_run(self, workflow_id: str, run_id: str) -> bool:
        """Closes the item run's row if Temporal has closed the run; True when it did."""
        execution = await self._temporal.describe(workflow_id, run_id)
        if execution is None:
            log.warning(
                "item run %s of %s is open in the database but unknown to Temporal",
                run_id,
                workflow_id,
            )
            return False
        if execution.workflow_type != names.ITEM_WORKFLOW or execution.is_open:
            return False
        step = await self._closing_step(execution)
        if step is None:
            return False
        await asyncio.to_thread(self._runs.record, step)
        log.info(
            "item run %s of %s closed in Temporal (%s) without recording it: recorded %s",
            run_id,
            workflow_id,
            execution.status.name if execution.status else "?",
            run_pb2.RunState.Name(step.state),
        )
        return True

    async def _closing_step(self, execution: Execution) -> RunStep | None:
        item_id = names.item_id_from_workflow_id(execution.workflow_id)
        current = await asyncio.to_thread(self._runs.get, execution.run_id)
        if item_id is None or current is None or current.state in TERMINAL_STATES:
            return None  # it recorded its outcome meanwhile
        closed_at = execution.close_time or utc_now()
        step = RunStep(
            item_id=item_id,
            workflow_id=execution.workflow_id,
            run_id=execution.run_id,
            queue_time=current.queue_time.ToDatetime(tzinfo=closed_at.tzinfo),
            state=run_pb2.RUN_STATE_FAILED,
            stage=run_pb2.PROCESSING_STAGE_DONE,
            time=closed_at,
        )
        outcome = outcome_of(execution, "the run")
        if outcome is not None:
            return dataclasses.replace(step, state=outcome.state, error=outcome.error)
        output = await self._temporal.item_output(execution.workflow_id, execution.run_id)
        if output is None or output.state == run_pb2.RUN_STATE_UNSPECIFIED:
            error = run_pb2.ProcessingError(
                code="INTERNAL", message="the run completed without recording its outcome"
            )
            return dataclasses.replace(step, error=error)
        return dataclasses.replace(
            step,
            state=output.state,
            error=output.error if output.HasField("error") else None,
            skip_reason=output.skip_reason,
            result=output.suggestions if output.HasField("suggestions") else None,
        )

    async def reconcile_batch(self, batch_id: str) -> bool:
        """Finishes the batch's row if its workflow chain has closed; True when it did."""
        workflow_id = names.batch_workflow_id(batch_id)
        execution = await self._temporal.describe(workflow_id)
        if execution is None:
            log.warning("batch %s is open in the database but unknown to Temporal", batch_id)
            return False
        if execution.workflow_type != names.BATCH_WORKFLOW or execution.is_open:
            return False
        closed_at = execution.close_time or utc_now()
        outcome = outcome_of(execution, "the batch")
        if outcome is None:  # completed, yet never finished its row
            done = await asyncio.to_thread(
                self._batches.finish, batch_id, state=run_pb2.RUN_STATE_SUCCEEDED, time=closed_at
            )
            if done.finished:
                return True
            outcome = Outcome(
                run_pb2.RUN_STATE_FAILED,
                run_pb2.ProcessingError(
                    code="INTERNAL", message="the batch completed without recording its outcome"
                ),
            )
        await asyncio.to_thread(
            self._batches.finish, batch_id, state=outcome.state, time=closed_at, error=outcome.error
        )
        log.info(
            "batch %s closed in Temporal without recording it: recorded %s",
            batch_id,
            run_pb2.RunState.Name(outcome.state),
        )
        return True
