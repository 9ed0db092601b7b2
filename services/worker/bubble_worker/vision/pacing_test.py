"""Requests start at least an interval apart, however many threads ask at once."""

from __future__ import annotations

import threading
import time

import pytest

from bubble_worker.vision.pacing import MARGIN, Pacer


def test_turns_are_spaced_by_the_interval() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)

    pacer = Pacer(4.0, clock=lambda: now[0], sleep=sleep)

    pacer.wait_turn()  # the first request goes at once
    pacer.wait_turn()
    pacer.wait_turn()
    now[0] += 10  # after a quiet spell, at once again
    pacer.wait_turn()

    assert slept == pytest.approx([0.25 * MARGIN, 0.5 * MARGIN])


def test_threads_asking_at_once_are_spaced_in_real_time() -> None:
    pacer = Pacer(20.0)
    interval = MARGIN / 20.0
    starts: list[float] = []
    lock = threading.Lock()

    def request() -> None:
        pacer.wait_turn()
        with lock:
            starts.append(time.monotonic())

    began = time.monotonic()
    threads = [threading.Thread(target=request) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # The k-th turn never comes before k intervals after the first request (recording a start
    # may lag behind its turn on a busy machine, never run ahead of it).
    starts.sort()
    assert all(start - began >= k * interval for k, start in enumerate(starts))
