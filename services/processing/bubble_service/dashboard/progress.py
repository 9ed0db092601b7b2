"""A batch's live progress as server-sent events, read from the batch's row in the read model.

The stream reads the row every poll interval and sends its counters only when its version
changed; it ends with an ``end`` event once the batch is terminal, and a comment line keeps idle
proxies from closing it. A stream lasts at most MAX_STREAM_SECONDS: the browser's EventSource
reconnects by itself, so no connection is held forever.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from bubble.processing.v1 import run_pb2
from bubble_service.dashboard.pages import run_state
from bubble_shared.store import BatchStore

MAX_STREAM_SECONDS = 600.0
KEEPALIVE_SECONDS = 15.0
_TERMINAL = {
    run_pb2.RUN_STATE_SUCCEEDED,
    run_pb2.RUN_STATE_FAILED,
    run_pb2.RUN_STATE_CANCELLED,
}


def progress_event(status: run_pb2.BatchRunStatus) -> dict[str, object]:
    """What the batch page shows, as one event's data."""
    counted = status.progress
    finished = counted.succeeded + counted.failed + counted.cancelled + counted.skipped
    return {
        "state": run_state(status.state),
        "total": counted.total,
        "pending": counted.pending,
        "running": counted.running,
        "succeeded": counted.succeeded,
        "failed": counted.failed,
        "cancelled": counted.cancelled,
        "skipped": counted.skipped,
        "finished": finished,
        "selection_complete": status.selection_complete,
    }


async def progress_events(
    batches: BatchStore, batch_id: str, poll_seconds: float
) -> AsyncIterator[str]:
    """The event stream's text, event by event."""
    deadline = time.monotonic() + MAX_STREAM_SECONDS
    version: int | None = None
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        stored = await run_in_threadpool(batches.read, batch_id)
        if stored is None:
            yield "event: gone\ndata: {}\n\n"
            return
        if stored.version != version:
            version = stored.version
            quiet_since = time.monotonic()
            yield f"data: {json.dumps(progress_event(stored.status))}\n\n"
        if stored.status.state in _TERMINAL:
            yield "event: end\ndata: {}\n\n"
            return
        if time.monotonic() - quiet_since >= KEEPALIVE_SECONDS:
            quiet_since = time.monotonic()
            yield ": still running\n\n"
        await asyncio.sleep(poll_seconds)


def progress_stream(batches: BatchStore, batch_id: str, poll_seconds: float) -> StreamingResponse:
    return StreamingResponse(
        progress_events(batches, batch_id, poll_seconds),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )
