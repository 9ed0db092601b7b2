"""Requests reach the wire at least an interval apart, however many threads ask at once and
however late a request leaves after its turn."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from bubble_worker.vision.pacing import MARGIN, Pacer


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_turns_are_spaced_by_the_interval() -> None:
    time_ = FakeTime()
    pacer = Pacer(4.0, clock=time_.clock, sleep=time_.sleep)

    for _ in range(3):
        with pacer.turn() as sent:  # the first request goes at once
            sent()
    time_.now += 10  # after a quiet spell, at once again
    with pacer.turn() as sent:
        sent()

    assert time_.slept == pytest.approx([0.25 * MARGIN, 0.25 * MARGIN])


def test_the_interval_runs_from_when_the_previous_request_was_sent() -> None:
    # A busy worker let the first request leave 0.3 s after its turn: the next turn waits a
    # whole interval from then, so the server never sees the two closer than that.
    time_ = FakeTime()
    pacer = Pacer(2.0, clock=time_.clock, sleep=time_.sleep)

    with pacer.turn() as sent:
        time_.now += 0.3
        sent()
        first_sent = time_.now
        time_.now += 5.0  # its answer takes long: the next request does not wait for it
        with pacer.turn() as sent_next:
            second_turn = time_.now
            sent_next()

    assert second_turn - first_sent == pytest.approx(5.0)
    with pacer.turn() as sent:
        assert time_.now - second_turn == pytest.approx(0.5 * MARGIN)
        sent()


def test_a_request_that_failed_before_it_was_sent_ends_its_turn() -> None:
    time_ = FakeTime()
    pacer = Pacer(2.0, clock=time_.clock, sleep=time_.sleep)

    def refused() -> None:
        with pacer.turn():
            time_.now += 0.2
            raise ConnectionError("refused")

    with pytest.raises(ConnectionError):
        refused()
    failed_at = time_.now
    with pacer.turn() as sent:
        assert time_.now - failed_at == pytest.approx(0.5 * MARGIN)
        sent()


def test_threads_asking_at_once_reach_the_wire_spaced_in_real_time() -> None:
    pacer = Pacer(20.0)
    interval = MARGIN / 20.0
    sent_at: list[float] = []
    lock = threading.Lock()

    def request(delay: float) -> None:
        with pacer.turn() as sent:
            time.sleep(delay)  # encoding, connecting, a busy machine
            with lock:
                sent_at.append(time.monotonic())
            sent()

    threads = [threading.Thread(target=request, args=(0.03 * (n % 2),)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    sent_at.sort()
    gaps = [later - earlier for earlier, later in itertools.pairwise(sent_at)]
    assert min(gaps) >= interval
