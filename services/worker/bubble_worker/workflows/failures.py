"""Turning what went wrong in an activity into the ProcessingError the item and the caller see."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    TimeoutError,
    is_cancelled_exception,
)

with workflow.unsafe.imports_passed_through():
    from bubble.processing.v1 import run_pb2


def processing_error_from(
    err: BaseException, stage: run_pb2.ProcessingStage.ValueType
) -> run_pb2.ProcessingError:
    """The ProcessingError behind ``err``: the one an activity attached, else one describing it.

    Activities raise ``ApplicationError(type=code, details=[ProcessingError])``; timeouts and
    cancellations come from Temporal itself.
    """
    cause = err.cause if isinstance(err, ActivityError) and err.cause is not None else err
    if isinstance(cause, ApplicationError):
        for detail in cause.details:
            if isinstance(detail, run_pb2.ProcessingError):
                error = run_pb2.ProcessingError()
                error.CopyFrom(detail)
                error.stage = error.stage or stage
                return error
        return run_pb2.ProcessingError(
            code=cause.type or "INTERNAL",
            message=cause.message,
            retryable=not cause.non_retryable,
            stage=stage,
        )
    if is_cancelled_exception(err):
        return run_pb2.ProcessingError(
            code="CANCELLED", message="processing was cancelled", stage=stage
        )
    if isinstance(cause, TimeoutError):
        return run_pb2.ProcessingError(
            code="TIMEOUT",
            message=f"the step timed out ({cause.message or 'no response in time'})",
            retryable=True,
            stage=stage,
        )
    return run_pb2.ProcessingError(
        code="INTERNAL", message=str(cause) or type(cause).__name__, stage=stage
    )
