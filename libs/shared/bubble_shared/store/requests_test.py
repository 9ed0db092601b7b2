"""Idempotency records: first answer wins, expiry, races, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from bubble_shared.store import RequestStore
from bubble_shared.store.conftest import FakeClock

METHOD = "/bubble.processing.v1.ItemProcessingService/StartItemProcessing"
REQUEST_ID = "0f8fad5b-d9cb-469f-a165-70867728950e"


@pytest.fixture()
def requests(engine: Engine, clock: FakeClock) -> RequestStore:
    return RequestStore(engine, clock=clock)


def test_an_unknown_request_id_is_none(requests: RequestStore) -> None:
    assert requests.get(METHOD, REQUEST_ID) is None


def test_remember_then_get(requests: RequestStore, clock: FakeClock) -> None:
    stored, created = requests.remember(METHOD, REQUEST_ID, fingerprint="f1", response=b"one")

    assert created
    assert (stored.fingerprint, stored.response, stored.create_time) == ("f1", b"one", clock.now)
    assert requests.get(METHOD, REQUEST_ID) == stored


def test_the_first_answer_wins(requests: RequestStore) -> None:
    requests.remember(METHOD, REQUEST_ID, fingerprint="f1", response=b"one")

    stored, created = requests.remember(METHOD, REQUEST_ID, fingerprint="f2", response=b"two")

    assert not created
    assert (stored.fingerprint, stored.response) == ("f1", b"one")


def test_the_key_includes_the_method(requests: RequestStore) -> None:
    requests.remember(METHOD, REQUEST_ID, fingerprint="f1", response=b"one")

    assert requests.get("/other/Method", REQUEST_ID) is None
    _, created = requests.remember("/other/Method", REQUEST_ID, fingerprint="f2", response=b"")
    assert created


def test_records_are_kept_for_the_retention_then_expire(
    requests: RequestStore, clock: FakeClock
) -> None:
    requests.remember(METHOD, REQUEST_ID, fingerprint="f1", response=b"one")

    clock.advance(timedelta(hours=24).total_seconds() - 1)
    assert requests.get(METHOD, REQUEST_ID) is not None
    clock.advance(1)
    assert requests.get(METHOD, REQUEST_ID) is None

    stored, created = requests.remember(METHOD, REQUEST_ID, fingerprint="f2", response=b"two")
    assert created
    assert stored.response == b"two"


def test_purge_removes_only_expired_records(requests: RequestStore, clock: FakeClock) -> None:
    requests.remember(METHOD, "old", fingerprint="f", response=b"")
    clock.advance(3600)
    requests.remember(METHOD, "new", fingerprint="f", response=b"")
    clock.advance(timedelta(hours=24).total_seconds() - 1800)

    assert requests.purge_expired() == 1
    assert requests.purge_expired() == 0
    assert requests.get(METHOD, "new") is not None


def test_a_retention_under_a_day_is_refused(engine: Engine) -> None:
    with pytest.raises(ValueError, match="at least"):
        RequestStore(engine, retention=timedelta(hours=1))


@pytest.mark.parametrize(
    ("method", "request_id"), [("", REQUEST_ID), (METHOD, ""), (METHOD, "x" * 37)]
)
def test_bad_keys_are_refused(requests: RequestStore, method: str, request_id: str) -> None:
    with pytest.raises(ValueError, match="characters"):
        requests.get(method, request_id)


def test_concurrent_remembers_agree_on_one_answer(requests: RequestStore) -> None:
    writers = 8
    barrier = threading.Barrier(writers)

    def remember(index: int) -> tuple[bytes, bool]:
        barrier.wait()
        stored, created = requests.remember(
            METHOD, REQUEST_ID, fingerprint="f", response=str(index).encode()
        )
        return stored.response, created

    with ThreadPoolExecutor(writers) as pool:
        results = list(pool.map(remember, range(writers)))

    assert sum(created for _, created in results) == 1
    assert len({response for response, _ in results}) == 1
