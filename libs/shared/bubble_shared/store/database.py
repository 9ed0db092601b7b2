"""Engines for the two databases the store supports: SQLite (one machine) and PostgreSQL.

SQLite needs care to be a good neighbour to several writers (the service and many worker
threads or processes):

- WAL, so readers never block the writer and the writer never blocks readers;
- ``busy_timeout``, so a writer waits for the lock instead of failing at once;
- ``BEGIN IMMEDIATE`` for write transactions. With the driver's default deferred BEGIN, two
  transactions that both read and then write each take a shared lock first and then both try to
  upgrade it: one of them fails with "database is locked" immediately, whatever the busy timeout,
  because waiting could never succeed. Taking the write lock at BEGIN makes writers queue up in the
  busy handler instead. Read-only transactions (see ``read_only``) keep a deferred BEGIN, so reads
  run concurrently with the writer;
- ``foreign_keys=ON``, which SQLite leaves off by default (item images cascade with their item).

SQLite ignores ``SELECT ... FOR UPDATE``; ``BEGIN IMMEDIATE`` is what serialises writers there.

Every wait is bounded below the 30 s an item write may take (the local activities'
start-to-close timeout), so a statement blocked on a lock or an unreachable server fails inside
its attempt and is retried, instead of a thread outliving the attempt that started it: a
connection within ``CONNECT_TIMEOUT_SECONDS``, a pooled connection within ``POOL_TIMEOUT_SECONDS``,
a lock within ``LOCK_TIMEOUT_MS`` and a statement within ``STATEMENT_TIMEOUT_MS`` (PostgreSQL),
the write lock within ``SQLITE_BUSY_TIMEOUT_MS`` (SQLite). Statement parameters never appear in
errors or logs (``hide_parameters``): they hold analysis blobs and owners' text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import Engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.pool import ConnectionPoolEntry

# How long a SQLite writer waits for the lock before failing with "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 20_000
CONNECT_TIMEOUT_SECONDS = 5
POOL_TIMEOUT_SECONDS = 10
LOCK_TIMEOUT_MS = 10_000
STATEMENT_TIMEOUT_MS = 20_000

# Execution option that marks an engine's transactions as read-only (see ``read_only``).
_READ_ONLY_OPTION = "bubble_read_only"

_POSTGRESQL_DRIVERS = {"postgres", "postgresql", "postgresql+psycopg"}
_SQLITE_DRIVERS = {"sqlite", "sqlite+pysqlite"}


def normalize_url(url: str) -> URL:
    """The SQLAlchemy URL to connect with: PostgreSQL always through psycopg 3.

    ``postgresql://`` (and Heroku-style ``postgres://``) would otherwise pick psycopg2, which is
    not installed. Other databases are refused here rather than half-working later.
    """
    try:
        parsed = make_url(url)
    except sqlalchemy.exc.ArgumentError as error:
        raise ValueError(f"not a database URL: {url!r} ({error})") from None
    if parsed.drivername in _POSTGRESQL_DRIVERS:
        return parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername in _SQLITE_DRIVERS:
        return parsed
    raise ValueError(
        f"unsupported database URL {parsed.render_as_string(hide_password=True)!r}: use "
        "sqlite:///path/to/file.db or postgresql://user@host:port/database"
    )


def create_engine(url: str, *, max_connections: int = 15, time_limits: bool = True) -> Engine:
    """An engine for ``url`` (``sqlite:///...`` or ``postgresql[+psycopg]://...``).

    ``max_connections`` bounds the PostgreSQL pool; a process with more threads that use the
    database at once (a worker's activity threads) should pass its thread count, or its threads
    queue for a connection. ``time_limits=False`` lifts the statement and lock timeouts, for
    migrations (an index on a large table may take minutes).
    """
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    connect_args: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
    if time_limits:
        # Added to the URL's own ``options`` (e.g. a session time zone), not in place of them.
        given = parsed.query.get("options", "")
        limits = f"-c statement_timeout={STATEMENT_TIMEOUT_MS} -c lock_timeout={LOCK_TIMEOUT_MS}"
        connect_args["options"] = f"{given} {limits}".strip() if isinstance(given, str) else limits
    # pre_ping replaces connections the server closed (restart, idle timeout) before use.
    pool_size = min(5, max_connections)
    return sqlalchemy.create_engine(
        parsed,
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=max_connections - pool_size,
        pool_timeout=POOL_TIMEOUT_SECONDS,
        hide_parameters=True,
        connect_args=connect_args,
    )


def read_only(engine: Engine) -> Engine:
    """The same engine (same pool) for transactions that only read.

    On SQLite these begin with a deferred ``BEGIN``, so they do not queue behind writers.
    """
    return engine.execution_options(**{_READ_ONLY_OPTION: True})


def _sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    if database and database != ":memory:" and not url.query.get("uri"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = sqlalchemy.create_engine(url, hide_parameters=True)
    event.listen(engine, "connect", _configure_sqlite_connection)
    event.listen(engine, "begin", _begin_sqlite_transaction)
    return engine


def _configure_sqlite_connection(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # Take BEGIN away from the sqlite3 module (it would emit a deferred BEGIN on first write, and
    # none at all before reads or DDL); _begin_sqlite_transaction emits the right one instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        # With WAL, NORMAL loses no committed data on an application crash, only on power loss.
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _begin_sqlite_transaction(connection: Connection) -> None:
    if connection.get_execution_options().get(_READ_ONLY_OPTION):
        connection.exec_driver_sql("BEGIN")
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
