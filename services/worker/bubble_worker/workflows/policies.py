"""Timeouts and retry policies of every activity call, in one place so they can be reasoned about.

Image errors (corrupt, too large, unsupported, missing) are raised as non-retryable by the
activity; everything else (I/O, database, a worker that died) is transient and retried with
exponential backoff.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

NON_RETRYABLE_ERROR_CODES = [
    "IMAGE_NOT_FOUND",
    "IMAGE_CORRUPT",
    "IMAGE_TOO_LARGE",
    "IMAGE_UNSUPPORTED",
    "ITEM_NOT_FOUND",
    "INVALID_ARGUMENT",
]

ANALYSIS_START_TO_CLOSE = timedelta(minutes=10)
# The activity heartbeats after every image and every few seconds while it waits for the process
# pool, so a worker that died is noticed in well under a minute.
ANALYSIS_HEARTBEAT = timedelta(seconds=30)
ANALYSIS_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=8,
    non_retryable_error_types=NON_RETRYABLE_ERROR_CODES,
)

# Short database writes run as local activities: no extra task-queue round trip per item.
ITEM_WRITE_START_TO_CLOSE = timedelta(seconds=30)
ITEM_WRITE_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=500),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=10,
    non_retryable_error_types=NON_RETRYABLE_ERROR_CODES,
)

# A webhook receiver may be down for a while; the item is already up to date meanwhile.
NOTIFY_START_TO_CLOSE = timedelta(seconds=30)
NOTIFY_SCHEDULE_TO_CLOSE = timedelta(hours=1)
NOTIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    non_retryable_error_types=["WEBHOOK_REJECTED", *NON_RETRYABLE_ERROR_CODES],
)

# A batch that finds an item's workflow open but no open run in the read model (it has not written
# its first step yet, or has just ended) tries to start it again after this, doubling up to the max.
JOIN_RETRY_FIRST = timedelta(seconds=1)
JOIN_RETRY_MAX = timedelta(minutes=1)
# A batch waiting for runs it joined looks at its members again at least this often, even when no
# run reports (a run terminated in Temporal reports through the service's reconciliation).
JOINED_RECHECK = timedelta(minutes=5)
# A cancelled batch waits this long for its open children to record their cancellation.
CANCEL_CHILDREN_GRACE = timedelta(minutes=2)

DEFAULT_BATCH_CONCURRENCY = 50
DEFAULT_ITEMS_PER_RUN = 500
"""Children one batch execution starts before continuing as new (about 8 history events each)."""
BATCH_PAGE_SIZE = 200
"""Members one ``read_batch_page`` returns: 200 item ids keep its result a few kilobytes."""
