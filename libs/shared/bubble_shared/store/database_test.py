"""Engines: URL handling, SQLite pragmas and locking, UTC timestamps on both databases."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import StatementError

from bubble_shared.store.database import (
    SQLITE_BUSY_TIMEOUT_MS,
    create_engine,
    normalize_url,
    read_only,
)
from bubble_shared.store.models import AnalysisCacheEntry
from bubble_shared.store.schema import upgrade
from bubble_shared.testing.databases import temporary_database


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p@db:5432/bubble", "postgresql+psycopg://u:p@db:5432/bubble"),
        ("postgres://u@db/bubble", "postgresql+psycopg://u@db/bubble"),
        ("postgresql+psycopg://u@db/bubble", "postgresql+psycopg://u@db/bubble"),
        ("sqlite:///relative.db", "sqlite:///relative.db"),
        ("sqlite:////abs/olute.db", "sqlite:////abs/olute.db"),
    ],
)
def test_normalize_url(url: str, expected: str) -> None:
    assert normalize_url(url).render_as_string(hide_password=False) == expected


@pytest.mark.parametrize("url", ["mysql://u@db/bubble", "postgresql+psycopg2://u@db/x"])
def test_unsupported_databases_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="unsupported database URL"):
        create_engine(url)


def test_a_url_that_is_not_one_is_refused() -> None:
    with pytest.raises(ValueError, match="not a database URL"):
        create_engine("just words")


@pytest.fixture()
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    with temporary_database("sqlite", tmp_path) as url:
        upgrade(url)
        yield url


@pytest.fixture()
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    engine = create_engine(sqlite_url)
    yield engine
    engine.dispose()


def other_connection(url: str) -> sqlite3.Connection:
    """A plain sqlite3 connection that gives up at once when the database is locked."""
    database = make_url(url).database
    assert database
    return sqlite3.connect(database, timeout=0, isolation_level=None)


def test_sqlite_connections_are_configured(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as connection:
        pragma = {
            name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ["journal_mode", "foreign_keys", "busy_timeout", "synchronous"]
        }

    assert pragma == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "busy_timeout": SQLITE_BUSY_TIMEOUT_MS,
        "synchronous": 1,  # NORMAL
    }


def test_sqlite_parent_folders_are_created(tmp_path: Path) -> None:
    path = tmp_path / "not" / "yet" / "there.db"

    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        connection.exec_driver_sql("SELECT 1")
    engine.dispose()

    assert path.is_file()


def test_sqlite_write_transactions_take_the_write_lock_at_begin(
    sqlite_url: str, sqlite_engine: Engine
) -> None:
    other = other_connection(sqlite_url)
    try:
        with sqlite_engine.begin():
            # Nothing written yet, but the lock is already ours: another writer cannot start...
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
            # ...while readers still can (WAL).
            assert other.execute("SELECT count(*) FROM items").fetchone() == (0,)
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
    finally:
        other.close()


def test_sqlite_read_only_transactions_do_not_take_the_write_lock(
    sqlite_url: str, sqlite_engine: Engine
) -> None:
    other = other_connection(sqlite_url)
    try:
        with read_only(sqlite_engine).begin() as connection:
            connection.execute(select(func.count()).select_from(AnalysisCacheEntry))
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
    finally:
        other.close()


def test_sqlite_concurrent_read_then_write_transactions_do_not_fail(
    sqlite_engine: Engine,
) -> None:
    """With deferred BEGINs two such transactions deadlock on the lock upgrade and one fails
    with "database is locked" at once; BEGIN IMMEDIATE makes them queue instead."""
    threads, rounds = 4, 25
    barrier = threading.Barrier(threads)

    def work(thread: int) -> None:
        barrier.wait()
        for round_ in range(rounds):
            with sqlite_engine.begin() as connection:
                connection.execute(select(func.count()).select_from(AnalysisCacheEntry))
                connection.execute(
                    insert(AnalysisCacheEntry).values(
                        sha256=f"{thread}-{round_}",
                        analyzer_name="a",
                        analyzer_version="1",
                        analysis=b"",
                        create_time=datetime.now(UTC),
                    )
                )

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(work, range(threads)))

    with sqlite_engine.connect() as connection:
        count = connection.execute(select(func.count()).select_from(AnalysisCacheEntry))
        assert count.scalar() == threads * rounds


def test_timestamps_round_trip_as_utc(engine: Engine) -> None:
    paris_summer = timezone(timedelta(hours=2))
    written = datetime(2026, 7, 1, 14, 30, 15, 123456, tzinfo=paris_summer)
    with engine.begin() as connection:
        connection.execute(
            insert(AnalysisCacheEntry).values(
                sha256="s",
                analyzer_name="a",
                analyzer_version="1",
                analysis=b"",
                create_time=written,
            )
        )

    with engine.connect() as connection:
        read = connection.execute(select(AnalysisCacheEntry.create_time)).scalar_one()

    assert read == written
    assert read.tzinfo is UTC
    assert read.hour == 12


def test_naive_timestamps_are_refused(engine: Engine) -> None:
    with pytest.raises(StatementError, match="timezone-aware"), engine.begin() as connection:
        connection.execute(
            insert(AnalysisCacheEntry).values(
                sha256="s",
                analyzer_name="a",
                analyzer_version="1",
                analysis=b"",
                create_time=datetime(2026, 1, 1),  # naive on purpose
            )
        )


@pytest.mark.postgres()
def test_postgresql_timestamps_are_utc_whatever_the_session_time_zone(tmp_path: Path) -> None:
    with temporary_database("postgresql", tmp_path) as url:
        upgrade(url)
        tokyo = make_url(url).update_query_dict({"options": "-c timezone=Asia/Tokyo"})
        engine = create_engine(tokyo.render_as_string(hide_password=False))
        try:
            written = datetime(2026, 1, 1, 23, 30, tzinfo=UTC)
            with engine.begin() as connection:
                assert connection.execute(text("SHOW timezone")).scalar() == "Asia/Tokyo"
                connection.execute(
                    insert(AnalysisCacheEntry).values(
                        sha256="s",
                        analyzer_name="a",
                        analyzer_version="1",
                        analysis=b"",
                        create_time=written,
                    )
                )
                read = connection.execute(select(AnalysisCacheEntry.create_time)).scalar_one()
        finally:
            engine.dispose()

    assert read == written
    assert read.tzinfo is UTC


@pytest.mark.postgres()
def test_plain_postgresql_urls_connect_through_psycopg(tmp_path: Path) -> None:
    with temporary_database("postgresql", tmp_path) as url:
        plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        engine = create_engine(plain)
        try:
            with engine.connect() as connection:
                assert connection.execute(text("SELECT 1")).scalar() == 1
            assert engine.dialect.driver == "psycopg"
            assert engine.pool._pre_ping
        finally:
            engine.dispose()


@pytest.fixture()
def postgres_url(tmp_path: Path) -> Iterator[str]:
    with temporary_database("postgresql", tmp_path) as url:
        yield url


@pytest.mark.postgres()
def test_postgres_waits_are_bounded_below_an_item_write(postgres_url: str) -> None:
    # A statement blocked on a lock must fail inside the 30 s attempt that runs it (and be
    # retried), not hold a thread past it.
    engine = create_engine(postgres_url)
    unbounded = create_engine(postgres_url, time_limits=False)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SHOW statement_timeout")).scalar() == "20s"
            assert connection.execute(text("SHOW lock_timeout")).scalar() == "10s"
        with unbounded.connect() as connection:  # migrations may take longer
            assert connection.execute(text("SHOW statement_timeout")).scalar() == "0"
    finally:
        engine.dispose()
        unbounded.dispose()


@pytest.mark.postgres()
def test_errors_never_carry_statement_parameters(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SET statement_timeout = 50"))
            statement = text("SELECT pg_sleep(1), :secret")
            with pytest.raises(StatementError) as raised:
                connection.execute(statement, {"secret": "owner-secret-text"})
    finally:
        engine.dispose()

    assert "canceling statement due to statement timeout" in str(raised.value)
    assert "owner-secret-text" not in str(raised.value)
