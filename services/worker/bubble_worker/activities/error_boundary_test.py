"""What an activity reports for an unexpected exception: a known type, a short message, no SQL."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
import sqlalchemy.exc
from sqlalchemy import text
from temporalio.service import RPCError, RPCStatusCode

from bubble_shared.store import create_engine
from bubble_shared.testing.ports import free_port
from bubble_worker.activities.error_boundary import MAX_INTERNAL_ATTEMPTS, failure_for
from bubble_worker.testing.fakes import database_outage


def test_a_database_that_refuses_connections_is_unavailable_and_retryable() -> None:
    engine = create_engine(f"postgresql://postgres@127.0.0.1:{free_port()}/bubble")
    try:
        with pytest.raises(sqlalchemy.exc.OperationalError) as raised, engine.connect():
            pass
    finally:
        engine.dispose()

    failure = failure_for(raised.value, attempt=40)

    assert failure.type == "DATABASE_UNAVAILABLE"
    assert not failure.non_retryable
    assert "refused" in failure.message.lower()
    assert "\n" not in failure.message


def test_a_failed_statement_reports_neither_the_statement_nor_its_parameters() -> None:
    failure = failure_for(database_outage(), attempt=1)

    assert failure.message == "the database is unavailable: connection failed: Connection refused"
    assert failure.type == "DATABASE_UNAVAILABLE"


def test_sqlite_busy_is_the_database_being_unavailable(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'a.db'}")
    try:
        with pytest.raises(sqlalchemy.exc.OperationalError) as raised, engine.connect() as c:
            c.execute(text("SELECT * FROM no_such_table"))
    finally:
        engine.dispose()

    # An OperationalError is the database's word, whatever its cause: retried, never the item's.
    assert failure_for(raised.value, attempt=1).type == "DATABASE_UNAVAILABLE"


def test_an_unreadable_media_volume_is_unavailable() -> None:
    err = OSError(errno.EIO, "Input/output error", "/media/items/a.jpg")

    failure = failure_for(err, attempt=1)

    assert failure.type == "MEDIA_UNAVAILABLE"
    assert failure.message == (
        "the media volume is unavailable: Input/output error (/media/items/a.jpg)"
    )


def test_a_temporal_call_that_fails_is_temporal_unavailable_and_retryable() -> None:
    err = RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b"")

    failure = failure_for(err, attempt=MAX_INTERNAL_ATTEMPTS + 10)

    assert (failure.type, failure.non_retryable) == ("TEMPORAL_UNAVAILABLE", False)
    assert failure.message == "Temporal is unavailable: connection refused"


def test_a_bug_is_internal_retried_a_few_times_then_final() -> None:
    assert not failure_for(KeyError("images"), attempt=1).non_retryable
    last = failure_for(KeyError("images"), attempt=MAX_INTERNAL_ATTEMPTS)

    assert last.non_retryable
    assert last.type == "INTERNAL"
    assert last.message == "unexpected error: 'images'"


def test_messages_are_bounded() -> None:
    failure = failure_for(ValueError("x" * 100_000), attempt=1)

    assert len(failure.message) <= 500
