"""Fixtures of the activity tests: a migrated database (SQLite and PostgreSQL), a media root and
an analysis process pool (one per test module: starting processes is slow)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bubble_shared.store import (
    AnalysisCache,
    ItemStore,
    NotificationStore,
    RunWrites,
    create_engine,
)
from bubble_shared.testing.fixtures import database_url  # noqa: F401
from bubble_worker.activities.analysis_pool import AnalysisPool


@pytest.fixture()
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture()
def store(engine: Engine) -> ItemStore:
    return ItemStore(engine)


@pytest.fixture()
def run_writes(engine: Engine) -> RunWrites:
    return RunWrites(engine)


@pytest.fixture()
def notifications(engine: Engine) -> NotificationStore:
    return NotificationStore(engine)


@pytest.fixture()
def cache(engine: Engine) -> AnalysisCache:
    return AnalysisCache(engine)


@pytest.fixture()
def media_root(tmp_path: Path) -> Path:
    root = tmp_path / "media"
    (root / "items").mkdir(parents=True)
    return root


@pytest.fixture(scope="module")
def pool() -> Iterator[AnalysisPool]:
    pool = AnalysisPool(2)
    yield pool
    pool.shutdown()
