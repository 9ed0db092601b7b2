"""Turning what went wrong in an activity into the ProcessingError the item and the caller see.

Only documented codes come out of here (see ``bubble_worker.error_codes``): an activity's own
ProcessingError as it attached it, ``INFRASTRUCTURE_UNAVAILABLE`` when a step gave up on the
database, the media volume or the analysis processes after the retry budget, ``TIMEOUT``,
``CANCELLED``, and ``INTERNAL`` for anything else. Messages are bounded.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    TimeoutError,
    TimeoutType,
    is_cancelled_exception,
)

with workflow.unsafe.imports_passed_through():
    from bubble.processing.v1 import run_pb2
    from bubble_worker import error_codes
    from bubble_worker.workflows import policies


def processing_error_from(
    err: BaseException, stage: run_pb2.ProcessingStage.ValueType
) -> run_pb2.ProcessingError:
    """The ProcessingError behind ``err``: the one an activity attached, else one describing it.

    Activities raise ``ApplicationError(type=code, details=[ProcessingError])``; timeouts and
    cancellations come from Temporal itself.
    """
    cause = err.cause if isinstance(err, ActivityError) and err.cause is not None else err
    if is_cancelled_exception(err):
        return run_pb2.ProcessingError(
            code=error_codes.CANCELLED, message="processing was cancelled", stage=stage
        )
    if isinstance(cause, ApplicationError):
        return _from_application_error(cause, stage)
    if isinstance(cause, TimeoutError):
        return _from_timeout(cause, stage)
    return _internal(str(cause), stage)


def _from_application_error(
    cause: ApplicationError, stage: run_pb2.ProcessingStage.ValueType
) -> run_pb2.ProcessingError:
    for detail in cause.details:
        if isinstance(detail, run_pb2.ProcessingError) and detail.code in error_codes.DOCUMENTED:
            error = run_pb2.ProcessingError()
            error.CopyFrom(detail)
            error.message = error_codes.bounded(error.message)
            error.stage = error.stage or stage
            return error
    if cause.type in error_codes.INFRASTRUCTURE_TYPES:
        return _gave_up(cause.message, stage)
    return _internal(cause.message, stage)


def _from_timeout(
    cause: TimeoutError, stage: run_pb2.ProcessingStage.ValueType
) -> run_pb2.ProcessingError:
    if cause.type == TimeoutType.SCHEDULE_TO_CLOSE:
        # Every attempt failed until the budget ran out: the last one says why.
        last = cause.cause
        if isinstance(last, ApplicationError) and last.type == error_codes.INTERNAL:
            return _internal(last.message, stage)
        return _gave_up(str(last) if last is not None else "no attempt succeeded", stage)
    return run_pb2.ProcessingError(
        code=error_codes.TIMEOUT,
        message=f"the step timed out ({cause.message or 'no response in time'})",
        retryable=True,
        stage=stage,
    )


def _internal(message: str, stage: run_pb2.ProcessingStage.ValueType) -> run_pb2.ProcessingError:
    return run_pb2.ProcessingError(
        code=error_codes.INTERNAL,
        message=error_codes.bounded(message or "an unexpected error"),
        stage=stage,
    )


def _gave_up(last_error: str, stage: run_pb2.ProcessingStage.ValueType) -> run_pb2.ProcessingError:
    budget = policies.retry_budget().budget
    return run_pb2.ProcessingError(
        code=error_codes.INFRASTRUCTURE_UNAVAILABLE,
        message=error_codes.bounded(
            f"gave up after retrying for {budget} (RETRY_BUDGET_SECONDS); last error: {last_error}"
        ),
        retryable=True,
        stage=stage,
    )
