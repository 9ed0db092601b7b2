"""Throwaway databases for tests: a SQLite file, or a fresh database on a real PostgreSQL server.

Pants runs test files in parallel sandboxes, so no two tests may share a database: each call
creates its own and removes it afterwards. PostgreSQL is required, not optional: when the server
is unreachable the test fails with a message saying where it looked, instead of skipping (a
skipped database test is a test nobody ran).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import TupleRow
from sqlalchemy.engine import URL, make_url

POSTGRES_URL_ENV = "BUBBLE_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

DatabaseKind = Literal["sqlite", "postgresql"]


@contextmanager
def temporary_database(kind: DatabaseKind, tmp_path: Path) -> Iterator[str]:
    """Yields the SQLAlchemy URL of an empty database of ``kind`` that exists for the block.

    sqlite: a new file in ``tmp_path``. postgresql: ``CREATE DATABASE bubble_test_<random>`` on
    the server at $BUBBLE_TEST_POSTGRES_URL (default 127.0.0.1:5432, user postgres), dropped with
    ``WITH (FORCE)`` afterwards so connections a test leaked cannot keep it alive.
    """
    if kind == "sqlite":
        path = tmp_path / f"bubble_test_{secrets.token_hex(4)}.db"
        yield URL.create("sqlite", database=str(path)).render_as_string()
    elif kind == "postgresql":
        with _temporary_postgres_database() as url:
            yield url
    else:
        raise ValueError(f"unknown database kind {kind!r}: use 'sqlite' or 'postgresql'")


def postgres_server_url() -> URL:
    """The URL of the PostgreSQL server tests use (any database on it; it is only connected to)."""
    return make_url(os.environ.get(POSTGRES_URL_ENV) or DEFAULT_POSTGRES_URL)


@contextmanager
def _temporary_postgres_database() -> Iterator[str]:
    server = postgres_server_url()
    name = f"bubble_test_{secrets.token_hex(8)}"
    with _admin_connection(server) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        database = server.set(drivername="postgresql+psycopg", database=name)
        yield database.render_as_string(hide_password=False)
    finally:
        with _admin_connection(server) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _admin_connection(server: URL) -> psycopg.Connection[TupleRow]:
    conninfo = server.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        return psycopg.connect(conninfo, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as error:
        shown = server.render_as_string(hide_password=True)
        pytest.fail(
            f"PostgreSQL is not reachable at {shown} ({str(error).strip()}). These tests run "
            f"against a real PostgreSQL server: start it (e.g. `pg_ctlcluster 15 main start`), or "
            f"set {POSTGRES_URL_ENV} to the URL of one where this user may create databases.",
            pytrace=False,
        )
