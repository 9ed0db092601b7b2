"""The error codes a run can record, and the transient failure types activities raise.

Only the documented codes (``ProcessingError.code`` in proto/bubble/processing/v1/run.proto) ever
reach an item, a run's status or a notification. Activities raise transient failures under their
own types (so logs and the Temporal UI say what was unavailable); those are retried, and when a
run gives up on them it records ``INFRASTRUCTURE_UNAVAILABLE``.
"""

from __future__ import annotations

INFRASTRUCTURE_UNAVAILABLE = "INFRASTRUCTURE_UNAVAILABLE"
INTERNAL = "INTERNAL"
TIMEOUT = "TIMEOUT"
CANCELLED = "CANCELLED"

INPUT_ERRORS = (
    "IMAGE_NOT_FOUND",
    "IMAGE_CORRUPT",
    "IMAGE_TOO_LARGE",
    "IMAGE_UNSUPPORTED",
    "ITEM_NOT_FOUND",
    "INVALID_ARGUMENT",
)
"""Errors in what the run was given: trying again unchanged cannot help, so they are final."""

DOCUMENTED = frozenset(
    {*INPUT_ERRORS, TIMEOUT, CANCELLED, "TERMINATED", INFRASTRUCTURE_UNAVAILABLE, INTERNAL}
)

# Transient failure types raised by activities (ApplicationError.type), retried within the budget.
DATABASE_UNAVAILABLE = "DATABASE_UNAVAILABLE"
MEDIA_UNAVAILABLE = "MEDIA_UNAVAILABLE"
ANALYSIS_PROCESS_DIED = "ANALYSIS_PROCESS_DIED"
TEMPORAL_UNAVAILABLE = "TEMPORAL_UNAVAILABLE"
"""A batch's tick could not start or cancel runs: Temporal's frontend did not answer."""
VISION_MODEL_UNAVAILABLE = "VISION_MODEL_UNAVAILABLE"
"""The vision model timed out, was unreachable or answered 408/429/5xx: retried (honouring its
Retry-After) within the budget, then the run goes on with the image facts."""
VISION_MODEL_REFUSED = "VISION_MODEL_REFUSED"
"""The vision model answered another 4xx (key, model or URL wrong): final for the run, which goes
on with the image facts. Neither vision code ever reaches an item."""
INFRASTRUCTURE_TYPES = frozenset(
    {DATABASE_UNAVAILABLE, MEDIA_UNAVAILABLE, ANALYSIS_PROCESS_DIED, TEMPORAL_UNAVAILABLE}
)

MAX_MESSAGE_CHARS = 500
"""Failure messages are cut to this: they travel in history, on the item and in notifications."""


def bounded(message: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``message`` on one line, cut to ``limit`` characters."""
    flat = " ".join(message.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
