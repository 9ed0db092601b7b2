"""The reconnect policy on its own: backoff, what is retried, repeats dropped, the deadline.
(tests/e2e/watch_reconnect_e2e_test.py restarts a real service under the clients.)"""

from __future__ import annotations

import grpc
import pytest

from bubble_client import messages as m
from bubble_client._reconnect import Backoff, ResumableWatch
from bubble_client.errors import ProcessingServiceError, error_from_status

QUEUED = m.ItemRunStatus(item_id="i", run_id="r1", state=m.RunState.QUEUED)
RUNNING = m.ItemRunStatus(item_id="i", run_id="r1", state=m.RunState.RUNNING)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _error(code: grpc.StatusCode) -> ProcessingServiceError:
    return error_from_status(code, "details", None)


def _message(sequence: int, status: m.ItemRunStatus) -> m.WatchStatusResponse:
    return m.WatchStatusResponse(sequence=sequence, item_run=status)


def test_backoff_doubles_up_to_its_maximum_with_full_jitter() -> None:
    backoff = Backoff(initial=0.25, maximum=5.0)
    upper = [backoff.delay(n, uniform=lambda low, high: high) for n in range(8)]
    assert upper == [0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    assert backoff.delay(3, uniform=lambda low, high: low) == 0.0
    assert backoff.delay(10_000, uniform=lambda low, high: high) == 5.0
    assert all(0.0 <= backoff.delay(n) <= min(5.0, 0.25 * 2**n) for n in range(20))


def test_a_new_streams_repeated_snapshot_is_dropped_and_sequences_go_on() -> None:
    watch = ResumableWatch({"item_id": "i"}, None)
    first = watch.accept(_message(1, QUEUED))
    watch.retry_delay(_error(grpc.StatusCode.UNAVAILABLE))
    repeated = watch.accept(_message(1, QUEUED))  # the next stream starts over at 1
    changed = watch.accept(_message(2, RUNNING))

    assert first is not None
    assert first.sequence == 1
    assert repeated is None
    assert changed is not None
    assert (changed.sequence, changed.item_run) == (2, RUNNING)


def test_unavailable_is_retried_only_once_a_stream_has_delivered() -> None:
    watch = ResumableWatch({"batch_id": "b"}, None, backoff=Backoff(initial=1.0, maximum=1.0))
    with pytest.raises(ProcessingServiceError) as raised:
        watch.retry_delay(_error(grpc.StatusCode.UNAVAILABLE))
    assert raised.value.code == grpc.StatusCode.UNAVAILABLE
    assert watch.wait_for_ready is None  # the first stream fails fast, like any call

    watch.accept(m.WatchStatusResponse(sequence=1, batch_run=m.BatchRunStatus(batch_id="b")))
    assert 0.0 <= watch.retry_delay(_error(grpc.StatusCode.UNAVAILABLE)) <= 1.0
    assert watch.wait_for_ready is True


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.DEADLINE_EXCEEDED,
    ],
)
def test_other_errors_are_raised_at_once(code: grpc.StatusCode) -> None:
    watch = ResumableWatch({"item_id": "i"}, None)
    watch.accept(_message(1, QUEUED))
    error = _error(code)
    with pytest.raises(ProcessingServiceError) as raised:
        watch.retry_delay(error)
    assert raised.value is error


def test_consecutive_failures_back_off_further_and_a_message_resets_them() -> None:
    watch = ResumableWatch({"item_id": "i"}, None, backoff=Backoff(initial=0.25, maximum=5.0))
    watch.accept(_message(1, QUEUED))
    unavailable = _error(grpc.StatusCode.UNAVAILABLE)
    limits = [min(5.0, 0.25 * 2**n) for n in range(6)]
    delays = [watch.retry_delay(unavailable) for _ in limits]
    assert all(0.0 <= delay <= limit for delay, limit in zip(delays, limits, strict=True))

    watch.accept(_message(1, QUEUED))
    assert watch.retry_delay(unavailable) <= 0.25


def test_the_deadline_bounds_the_waits_and_then_raises_deadline_exceeded() -> None:
    clock = Clock()
    watch = ResumableWatch(
        {"workflow_id": "w"}, 10.0, backoff=Backoff(initial=60.0, maximum=60.0), clock=clock
    )
    assert watch.time_left() == 10.0
    watch.accept(_message(1, QUEUED))
    clock.now += 9.0
    assert watch.retry_delay(_error(grpc.StatusCode.UNAVAILABLE)) <= 1.0
    clock.now += 1.0

    with pytest.raises(ProcessingServiceError) as raised:
        watch.time_left()
    assert raised.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "workflow_id w did not end within 10s" in str(raised.value)
    assert "UNAVAILABLE" in str(raised.value)
    with pytest.raises(ProcessingServiceError) as again:
        watch.retry_delay(_error(grpc.StatusCode.UNAVAILABLE))
    assert again.value.code == grpc.StatusCode.DEADLINE_EXCEEDED


def test_without_a_deadline_there_is_no_time_limit() -> None:
    watch = ResumableWatch({"item_id": "i"}, None)
    assert watch.time_left() is None
