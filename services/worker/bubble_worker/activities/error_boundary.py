"""Every activity's unexpected exception leaves it as a small ApplicationError with a known type.

Without this, an exception escaping an activity reaches Temporal as its Python class name (which
then became an item's error code, e.g. ``OperationalError``) with its whole message and chained
traceback: SQLAlchemy's include the SQL statement and its parameters (binary analysis blobs), large
enough that Temporal shows "Failure exceeds size limit." instead. Here:

- database and media-volume failures become ``DATABASE_UNAVAILABLE`` / ``MEDIA_UNAVAILABLE``,
  retryable (the workflows retry them for the whole retry budget), with the driver's first line;
  a Temporal call that fails (a batch starting or cancelling its runs) ``TEMPORAL_UNAVAILABLE``;
- anything else is a bug: ``INTERNAL``, retried a few times (a race may pass), then final;
- the message is bounded and the original traceback is logged here once, bounded by the log
  formatter, instead of travelling in history.

ApplicationErrors raised on purpose (image errors, ...) and cancellations pass unchanged.
"""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy.exc
from temporalio import activity
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.service import RPCError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from bubble_worker import error_codes

MAX_INTERNAL_ATTEMPTS = 5
"""Attempts an unexpected error gets before it is final (infrastructure errors get the budget)."""

_DATABASE_ERRORS = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.DisconnectionError,
    sqlalchemy.exc.TimeoutError,  # no pooled connection came free in time
)


class ErrorBoundary(Interceptor):
    """Worker interceptor: see the module docstring."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Boundary(next)


class _Boundary(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await self.next.execute_activity(input)
        except (ApplicationError, CancelledError, asyncio.CancelledError):
            raise
        except Exception as err:
            failure = failure_for(err, attempt=activity.info().attempt)
            activity.logger.warning(
                "%s (%s)",
                failure.message,
                failure.type,
                # A bug needs its traceback; an outage is said in one line.
                exc_info=err if failure.type == error_codes.INTERNAL else None,
            )
            raise failure from None


def failure_for(err: BaseException, *, attempt: int) -> ApplicationError:
    """The ApplicationError an activity reports for an unexpected ``err`` on ``attempt``."""
    if _is_database_failure(err):
        return ApplicationError(
            error_codes.bounded(f"the database is unavailable: {_driver_message(err)}"),
            type=error_codes.DATABASE_UNAVAILABLE,
        )
    if isinstance(err, RPCError):
        return ApplicationError(
            error_codes.bounded(f"Temporal is unavailable: {err.message or err.status.name}"),
            type=error_codes.TEMPORAL_UNAVAILABLE,
        )
    if isinstance(err, OSError):
        reason = err.strerror or str(err)
        where = f" ({err.filename})" if err.filename else ""
        return ApplicationError(
            error_codes.bounded(f"the media volume is unavailable: {reason}{where}"),
            type=error_codes.MEDIA_UNAVAILABLE,
        )
    return ApplicationError(
        error_codes.bounded(f"unexpected error: {err}" if str(err) else "unexpected error"),
        type=error_codes.INTERNAL,
        non_retryable=attempt >= MAX_INTERNAL_ATTEMPTS,
    )


def _is_database_failure(err: BaseException) -> bool:
    if isinstance(err, _DATABASE_ERRORS):
        return True
    return isinstance(err, sqlalchemy.exc.DBAPIError) and err.connection_invalidated


def _driver_message(err: BaseException) -> str:
    """The driver's own first line: never the SQL statement or its parameters."""
    original = getattr(err, "orig", None) or err
    text = str(original).strip()
    if isinstance(err, sqlalchemy.exc.SQLAlchemyError) and original is err:
        # A pool or SQLAlchemy-level error: its text has no statement, but may have a link.
        text = text.split(" (Background on this error")[0]
    return text.splitlines()[0] if text else type(original).__name__
