"""Celery-compatible tasks: code written against the old Celery tasks keeps working.

    # bubble/items/tasks.py in the Django app, the whole file:
    from bubble_client.tasks import process_item_images, process_items_batch  # noqa: F401

    result = process_item_images.delay(item.pk)          # starts the Temporal workflow
    result.get(timeout=30)                                # ItemSuggestions, or raises
    process_item_images.apply_async(args=[item.pk], countdown=60, task_id=str(uuid4()))
    process_items_batch.delay([1, 2, 3]).status          # "STARTED"

The tasks talk to the processing service at ``BUBBLE_PROCESSING_TARGET`` (default
localhost:50051) with ``BUBBLE_PROCESSING_TOKEN`` when set, or to what :func:`configure` says.
Like a Celery task, ``delay`` always runs: it reprocesses an item that was processed before
(``force``). ``countdown``/``eta`` become the run's start delay (a durable timer; the run can be
watched and revoked meanwhile), ``task_id`` becomes the request id, so sending the same task_id
twice starts one run.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc

from bubble_client import messages as m
from bubble_client.client import DEFAULT_TARGET, ProcessingClient
from bubble_client.errors import ProcessingServiceError

# Celery's state names, https://docs.celeryq.dev/en/stable/reference/celery.states.html
PENDING, STARTED, SUCCESS, FAILURE, REVOKED = "PENDING", "STARTED", "SUCCESS", "FAILURE", "REVOKED"
_CELERY_STATE = {
    m.RunState.UNSPECIFIED: PENDING,
    m.RunState.QUEUED: PENDING,
    m.RunState.RUNNING: STARTED,
    m.RunState.SUCCEEDED: SUCCESS,
    m.RunState.FAILED: FAILURE,
    m.RunState.TIMED_OUT: FAILURE,
    m.RunState.CANCELLED: REVOKED,
}
_TASK_ID_NAMESPACE = uuid.UUID("6f1c8f4e-4b7e-4d0a-9a57-2f6a3c2b1d10")

_lock = threading.Lock()
_client: ProcessingClient | None = None


class ProcessingFailedError(Exception):
    """The run failed; ``error`` says why (code, message, image)."""

    def __init__(self, error: m.ProcessingError | None) -> None:
        self.error = error or m.ProcessingError(code="FAILED", message="processing failed")
        super().__init__(f"{self.error.code}: {self.error.message}")


class TaskRevokedError(Exception):
    """The run was cancelled (revoked) before it finished."""


def configure(
    target: str | None = None, *, token: str | None = None, timeout: float | None = 30.0
) -> ProcessingClient:
    """Points the tasks at a service (replacing the client built from the environment)."""
    global _client  # noqa: PLW0603 - one shared client, like Celery's app
    with _lock:
        if _client is not None:
            _client.close()
        _client = ProcessingClient(
            target or os.environ.get("BUBBLE_PROCESSING_TARGET", DEFAULT_TARGET),
            token=token if token is not None else os.environ.get("BUBBLE_PROCESSING_TOKEN"),
            timeout=timeout,
        )
        return _client


def _shared_client() -> ProcessingClient:
    with _lock:
        client = _client
    return client if client is not None else configure()


class AsyncResult:
    """Celery's AsyncResult for a Temporal run: ``id`` is the run's workflow id."""

    def __init__(self, workflow_id: str, *, client: ProcessingClient | None = None) -> None:
        self.id = workflow_id
        self._client = client

    @property
    def client(self) -> ProcessingClient:
        return self._client or _shared_client()

    def __str__(self) -> str:
        return self.id

    def __repr__(self) -> str:
        return f"<AsyncResult: {self.id}>"

    def _snapshot(self) -> m.ItemRunStatus | m.BatchRunStatus:
        response = self.client.get_status(workflow_id=self.id)
        snapshot = response.item_run or response.batch_run
        assert snapshot is not None
        return snapshot

    @property
    def status(self) -> str:
        return _CELERY_STATE[self._snapshot().state]

    state = status

    def ready(self) -> bool:
        return self.status in (SUCCESS, FAILURE, REVOKED)

    def successful(self) -> bool:
        return self.status == SUCCESS

    def failed(self) -> bool:
        return self.status == FAILURE

    @property
    def result(self) -> Any:
        """The value ``get`` would return (or the error), None while the run is open."""
        snapshot = self._snapshot()
        if _CELERY_STATE[snapshot.state] in (PENDING, STARTED):
            return None
        return _outcome(snapshot, propagate=False)

    def get(self, timeout: float | None = None, propagate: bool = True) -> Any:
        """Waits for the run to end: its suggestions (item) or final status (batch).

        Raises TimeoutError after ``timeout`` seconds, ProcessingFailedError when the run failed
        and TaskRevokedError when it was cancelled (unless ``propagate`` is false: then the
        error is returned). A restart of the service meanwhile is waited out (the watch
        reconnects), within ``timeout``.
        """
        last: m.ItemRunStatus | m.BatchRunStatus | None = None
        try:
            for update in self.client.watch_status(workflow_id=self.id, timeout=timeout):
                last = update.item_run or update.batch_run
                if update.terminal:
                    break
        except ProcessingServiceError as err:
            if err.code == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise TimeoutError(f"run {self.id} did not finish within {timeout}s") from None
            raise
        if last is None or _CELERY_STATE[last.state] in (PENDING, STARTED):
            raise TimeoutError(f"run {self.id} did not finish within {timeout}s")
        return _outcome(last, propagate=propagate)

    def wait(self, timeout: float | None = None, propagate: bool = True) -> Any:
        return self.get(timeout=timeout, propagate=propagate)

    def revoke(self, terminate: bool = False, reason: str = "revoked") -> None:
        """Cancels the run; it marks its item(s) cancelled. ``terminate`` is accepted for
        compatibility: a Temporal run is always stopped cleanly."""
        self.client.cancel_processing(workflow_id=self.id, reason=reason)

    def forget(self) -> None:
        """Nothing to forget: Temporal keeps run histories for its retention period."""


def _outcome(snapshot: m.ItemRunStatus | m.BatchRunStatus, *, propagate: bool) -> Any:
    state = _CELERY_STATE[snapshot.state]
    if state == REVOKED:
        error: Exception = TaskRevokedError(f"run {snapshot.workflow_id} was cancelled")
    elif state == FAILURE:
        error = ProcessingFailedError(snapshot.error)
    elif isinstance(snapshot, m.ItemRunStatus):
        return snapshot.result
    else:
        return snapshot
    if propagate:
        raise error
    return error


def _request_id(task_id: str | None) -> str | None:
    """Celery task ids are usually UUIDs; any other string maps to a stable UUID."""
    if task_id is None:
        return None
    try:
        return str(uuid.UUID(task_id))
    except ValueError:
        return str(uuid.uuid5(_TASK_ID_NAMESPACE, task_id))


def _start_delay(countdown: float | None, eta: datetime | None) -> timedelta | None:
    if eta is not None:
        moment = eta if eta.tzinfo else eta.replace(tzinfo=UTC)
        return max(moment - datetime.now(UTC), timedelta(0))
    if countdown is not None:
        return timedelta(seconds=max(countdown, 0))
    return None


@dataclass(frozen=True)
class ProcessingTask:
    """A Celery-shaped task whose calls start Temporal runs through the processing service."""

    name: str
    _start: Callable[[ProcessingClient, Sequence[Any], timedelta | None, str | None], str]

    def delay(self, *args: Any, **kwargs: Any) -> AsyncResult:
        return self.apply_async(args=args, kwargs=kwargs)

    def apply_async(
        self,
        args: Sequence[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        *,
        countdown: float | None = None,
        eta: datetime | None = None,
        task_id: str | None = None,
        **options: Any,
    ) -> AsyncResult:
        """Starts the run. Celery routing options (queue, priority...) are accepted and ignored:
        the service routes runs itself."""
        positional = list(args or ()) + list((kwargs or {}).values())
        client = _shared_client()
        workflow_id = self._start(
            client, positional, _start_delay(countdown, eta), _request_id(task_id)
        )
        return AsyncResult(workflow_id, client=client)

    def AsyncResult(self, task_id: str) -> AsyncResult:  # noqa: N802 - Celery's spelling
        return AsyncResult(task_id)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Runs the task to completion, like calling a Celery task function directly."""
        return self.delay(*args, **kwargs).get()


def _start_item(
    client: ProcessingClient, args: Sequence[Any], delay: timedelta | None, request_id: str | None
) -> str:
    [item_id] = args
    started = client.start_item_processing(
        str(item_id), start_delay=delay, force=True, request_id=request_id
    )
    return started.workflow_id


def _start_batch(
    client: ProcessingClient, args: Sequence[Any], delay: timedelta | None, request_id: str | None
) -> str:
    [item_ids] = args
    if delay is not None:
        raise ValueError("process_items_batch takes no countdown or eta")
    started = client.start_batch_processing(
        [str(item_id) for item_id in item_ids], force=True, request_id=request_id
    )
    return started.workflow_id


process_item_images = ProcessingTask("bubble.items.tasks.process_item_images", _start_item)
process_items_batch = ProcessingTask("bubble.items.tasks.process_items_batch", _start_batch)
