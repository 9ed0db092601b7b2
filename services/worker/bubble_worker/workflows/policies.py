"""Timeouts and retry policies of every activity call, in one place so they can be reasoned about.

Image errors (corrupt, too large, unsupported, missing) are raised as non-retryable by the
activity. Infrastructure errors (the database, the media volume, a worker or analysis process that
died) are not the item's fault: they are retried with exponential backoff for as long as the
worker's retry budget (``RETRY_BUDGET_SECONDS``, an hour by default). Only when the budget is spent
does a run give up, and then it records the item FAILED with ``INFRASTRUCTURE_UNAVAILABLE``. The
database writes (the item's outcome, the run's steps, a batch's bookkeeping) retry without limit:
a run never ends with its item still PROCESSING, and while the database is down it stays open.

The budget is a worker setting, read once at start (``configure``) and shared with the workflow
sandbox (this module is passed through). It only shapes retry options and timeouts, which Temporal
does not compare on replay, so workers with different budgets replay each other's histories.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from temporalio.common import RetryPolicy

from bubble_worker import error_codes

NON_RETRYABLE_ERROR_CODES = list(error_codes.INPUT_ERRORS)


@dataclass(frozen=True)
class RetryBudget:
    """How long, and how patiently, infrastructure failures are retried."""

    budget: timedelta = timedelta(hours=1)
    """How long a step is retried before its run gives up with INFRASTRUCTURE_UNAVAILABLE."""
    max_interval: timedelta = timedelta(minutes=1)
    """The longest wait between two attempts (backoff doubles up to it)."""


_budget = RetryBudget()


def configure(budget: RetryBudget) -> None:
    """Sets the worker's retry budget; called once, before the workers start."""
    global _budget  # noqa: PLW0603 - the worker's one setting, set before it starts
    _budget = budget


def retry_budget() -> RetryBudget:
    return _budget


def _retry(initial: timedelta, *, also_final: Sequence[str] = ()) -> RetryPolicy:
    """Unlimited attempts (a timeout bounds them where the step may give up), doubling backoff;
    input errors, and the step's own ``also_final`` types, are not retried."""
    return RetryPolicy(
        initial_interval=min(initial, _budget.max_interval),
        backoff_coefficient=2.0,
        maximum_interval=_budget.max_interval,
        maximum_attempts=0,
        non_retryable_error_types=[*also_final, *NON_RETRYABLE_ERROR_CODES],
    )


# The analysis heartbeats after every image and every few seconds while it waits for the process
# pool, so a worker that died is noticed in well under a minute.
ANALYSIS_START_TO_CLOSE = timedelta(minutes=10)
ANALYSIS_HEARTBEAT = timedelta(seconds=30)


def analysis_retry() -> RetryPolicy:
    return _retry(timedelta(seconds=1))


def analysis_schedule_to_close() -> timedelta:
    """All attempts of one analysis together."""
    return _budget.budget


# The vision model: one request (two when the server refuses the JSON schema) of at most
# VISION_MODEL_TIMEOUT_SECONDS each. Unavailable models (timeouts, 429, 5xx) are retried after the
# server's Retry-After or with backoff for the retry budget, the wait in the rate-limited queue
# included; then the run goes on with the image facts. A refusal (other 4xx) is final at once.
VISION_MODEL_START_TO_CLOSE = timedelta(minutes=5)


def vision_model_retry() -> RetryPolicy:
    return _retry(timedelta(seconds=1), also_final=[error_codes.VISION_MODEL_REFUSED])


def vision_model_schedule_to_close() -> timedelta:
    return _budget.budget


# Short database writes run as local activities: no extra task-queue round trip per item. A
# statement waits at most a few seconds less than this (see bubble_shared.store.database).
ITEM_WRITE_START_TO_CLOSE = timedelta(seconds=30)


# A local activity's retry waits on a workflow timer, not inside the workflow task: a task held
# open through an outage's retries is heartbeated only every few seconds, which paces the
# attempts, and it delays everything else the run does (queries, cancellation).
LOCAL_RETRY_THRESHOLD = timedelta(milliseconds=1)


def item_write_retry() -> RetryPolicy:
    """For writes that must happen: they are retried until the database answers."""
    return _retry(timedelta(milliseconds=500))


# A webhook receiver may be down for a while; the item is already up to date meanwhile.
NOTIFY_START_TO_CLOSE = timedelta(seconds=30)
NOTIFY_SCHEDULE_TO_CLOSE = timedelta(hours=1)


def notify_retry() -> RetryPolicy:
    return _retry(timedelta(seconds=2), also_final=["WEBHOOK_REJECTED"])


# A batch ticks: each tick is one ``advance_batch`` that goes on filling the window for a couple
# of seconds (refilling a slot within a tenth of a second of its run's end: it polls the database,
# nothing signals the batch), then returns, and the next tick follows at once. Only when nothing
# but runs it joined (someone else's, possibly for days) is left does the batch wait on a timer,
# doubling the pause up to half a minute.
BATCH_FILL_FOR = timedelta(seconds=2)
BATCH_TICK_GAP = timedelta(milliseconds=50)
"""A short timer between two ticks ends the workflow task (the local activities of one task keep it
open), so that a cancellation reaches the batch within a tick."""
BATCH_JOINED_PAUSE_FIRST = timedelta(milliseconds=500)
BATCH_JOINED_PAUSE_MAX = timedelta(seconds=30)
BATCH_STARTS_PER_TICK = 200
"""Most runs one pass of ``advance_batch`` starts; a larger free window fills over the next
passes, with no pause between them."""
ADVANCE_BATCH_START_TO_CLOSE = timedelta(minutes=2)
BATCH_EVENTS_PER_RUN = 4_000
"""A batch execution continues as new once its history is this long (about 1,000 ticks of four or
five events, half an hour), or earlier if Temporal suggests it; the batch's input may ask for
fewer (tests)."""
# A cancelled batch waits this long for the runs it started to record their cancellation.
CANCEL_RUNS_GRACE = timedelta(minutes=2)

DEFAULT_BATCH_CONCURRENCY = 50
