"""Fixtures of the activity tests: a migrated database (SQLite and PostgreSQL) and a media root."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bubble_shared.store import ItemStore, create_engine
from bubble_shared.testing.fixtures import database_url  # noqa: F401


@pytest.fixture()
def store(database_url: str) -> Iterator[ItemStore]:
    engine = create_engine(database_url)
    yield ItemStore(engine)
    engine.dispose()


@pytest.fixture()
def media_root(tmp_path: Path) -> Path:
    root = tmp_path / "media"
    (root / "items").mkdir(parents=True)
    return root
