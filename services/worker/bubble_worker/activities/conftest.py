"""Fixtures of the activity tests: a migrated database (SQLite and PostgreSQL) and a media root."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bubble_shared.store import ItemStore, create_engine, upgrade
from bubble_shared.testing.databases import DatabaseKind, temporary_database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ItemStore]:
    kind: DatabaseKind = request.param
    with temporary_database(kind, tmp_path) as url:
        upgrade(url)
        engine = create_engine(url)
        yield ItemStore(engine)
        engine.dispose()


@pytest.fixture()
def media_root(tmp_path: Path) -> Path:
    root = tmp_path / "media"
    (root / "items").mkdir(parents=True)
    return root
