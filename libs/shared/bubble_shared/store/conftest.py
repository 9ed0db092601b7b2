"""Fixtures of the store tests: every test gets its own migrated database, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bubble.processing.v1 import run_pb2
from bubble_shared.store.analysis_cache import AnalysisCache
from bubble_shared.store.batch_window import BatchWindows
from bubble_shared.store.batches import BatchStore
from bubble_shared.store.database import create_engine
from bubble_shared.store.items import ItemStore
from bubble_shared.store.notifications import NotificationStore
from bubble_shared.store.run_records import RunRecords, RunStep
from bubble_shared.store.run_writes import RunWrites
from bubble_shared.store.schema import upgrade
from bubble_shared.testing.databases import DatabaseKind, temporary_database


class FakeClock:
    """A clock that only moves when told to, so create_time order is the test's choice."""

    def __init__(self, start: datetime = datetime(2026, 1, 1, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float = 1.0) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


STEP_TIME = datetime(2026, 1, 1, tzinfo=UTC)


def run_step(item_id: str, run_id: str, state: int, **fields: object) -> RunStep:
    """A step of item ``item_id``'s run ``run_id``: analysing while RUNNING, else done."""
    running = state == run_pb2.RUN_STATE_RUNNING
    return RunStep(
        item_id=item_id,
        workflow_id=f"item-processing/{item_id}",
        run_id=run_id,
        queue_time=STEP_TIME,
        state=state,  # type: ignore[arg-type]
        stage=run_pb2.PROCESSING_STAGE_ANALYZING if running else run_pb2.PROCESSING_STAGE_DONE,
        time=STEP_TIME,
        **fields,  # type: ignore[arg-type]
    )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_kind(request: pytest.FixtureRequest) -> DatabaseKind:
    kind: DatabaseKind = request.param
    return kind


@pytest.fixture()
def database_url(database_kind: DatabaseKind, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own (not migrated)."""
    with temporary_database(database_kind, tmp_path) as url:
        yield url


@pytest.fixture()
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on a migrated database of its own."""
    upgrade(database_url)
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture()
def store(engine: Engine, clock: FakeClock) -> ItemStore:
    return ItemStore(engine, clock=clock)


@pytest.fixture()
def run_writes(engine: Engine, clock: FakeClock) -> RunWrites:
    return RunWrites(engine, clock=clock)


@pytest.fixture()
def notifications(engine: Engine, clock: FakeClock) -> NotificationStore:
    return NotificationStore(engine, clock=clock)


@pytest.fixture()
def cache(engine: Engine, clock: FakeClock) -> AnalysisCache:
    return AnalysisCache(engine, clock=clock)


@pytest.fixture()
def runs(engine: Engine, clock: FakeClock) -> RunRecords:
    return RunRecords(engine, clock=clock)


@pytest.fixture()
def batches(engine: Engine, clock: FakeClock) -> BatchStore:
    return BatchStore(engine, clock=clock)


@pytest.fixture()
def windows(engine: Engine, clock: FakeClock) -> BatchWindows:
    return BatchWindows(engine, clock=clock)
