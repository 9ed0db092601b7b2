"""How an activity reports a failure the workflow should record rather than retry."""

from __future__ import annotations

from collections.abc import Sequence

from temporalio.exceptions import ApplicationError

from bubble.processing.v1 import run_pb2


def processing_failure(
    code: str,
    message: str,
    *,
    image_id: str = "",
    retryable: bool = False,
    stage: run_pb2.ProcessingStage.ValueType = run_pb2.PROCESSING_STAGE_UNSPECIFIED,
    image_errors: Sequence[run_pb2.ProcessingError] = (),
) -> ApplicationError:
    """An ApplicationError whose type is ``code`` and whose first detail is the ProcessingError.

    The workflow reads the ProcessingError back from the first detail (see workflows/failures.py),
    so the item records the same code and sentence the activity wrote. ``image_errors`` (one per
    bad image) follow it, for whoever reads the failure in Temporal; the workflow ignores them.
    """
    error = run_pb2.ProcessingError(
        code=code, message=message, image_id=image_id, retryable=retryable, stage=stage
    )
    return ApplicationError(message, error, *image_errors, type=code, non_retryable=not retryable)
