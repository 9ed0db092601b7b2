"""bubble_shared.testing.databases: a database of its own per test, and a loud PostgreSQL check."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bubble_shared.store.database import create_engine
from bubble_shared.testing.databases import (
    POSTGRES_URL_ENV,
    postgres_server_url,
    temporary_database,
)


def postgres_database_exists(name: str) -> bool:
    conninfo = postgres_server_url().set(drivername="postgresql")
    with psycopg.connect(conninfo.render_as_string(hide_password=False)) as connection:
        found = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        return found.fetchone() is not None


def test_sqlite_databases_are_new_files_in_tmp_path(tmp_path: Path) -> None:
    with (
        temporary_database("sqlite", tmp_path) as first,
        temporary_database("sqlite", tmp_path) as second,
    ):
        assert first != second
        for url in (first, second):
            database = make_url(url).database
            assert database
            assert Path(database).parent == tmp_path
            assert not Path(database).exists()


@pytest.mark.postgres()
def test_postgresql_databases_exist_only_inside_the_block(tmp_path: Path) -> None:
    with temporary_database("postgresql", tmp_path) as url:
        name = make_url(url).database
        assert name
        assert name.startswith("bubble_test_")
        assert postgres_database_exists(name)
        engine = create_engine(url)
        # A connection left open must not keep the database alive (DROP ... WITH (FORCE)).
        leaked = engine.connect()
        assert leaked.execute(text("SELECT current_database()")).scalar() == name

    assert not postgres_database_exists(name)
    leaked.invalidate()
    engine.dispose()


def test_an_unreachable_postgresql_fails_the_test_with_directions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(POSTGRES_URL_ENV, "postgresql+psycopg://postgres:pw@127.0.0.1:1/postgres")

    with (
        pytest.raises(pytest.fail.Exception) as failure,
        temporary_database("postgresql", tmp_path),
    ):
        pass

    message = str(failure.value)
    assert "PostgreSQL is not reachable at postgresql+psycopg://postgres:***@127.0.0.1:1" in message
    assert POSTGRES_URL_ENV in message
    assert "pw@" not in message
