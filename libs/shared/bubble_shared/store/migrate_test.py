"""Migrations: they build exactly the models' schema, are idempotent, and the CLI reports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, inspect

from bubble.processing.v1 import activities_pb2, item_pb2
from bubble_shared.store.database import create_engine
from bubble_shared.store.items import ItemStore
from bubble_shared.store.migrate import DATABASE_URL_ENV, main
from bubble_shared.store.models import ITEM_STATUS_NAMES, NOTIFICATION_KIND_NAMES, Base
from bubble_shared.store.schema import alembic_config, current_revision, head_revision, upgrade

TABLES = {
    "items",
    "item_images",
    "notifications",
    "analysis_cache",
    "request_records",
    "item_runs",
    "batches",
    "batch_items",
    "uploads",
    "vision_model_answers",
    "alembic_version",
}


def schema_differences(engine: Engine, metadata: MetaData) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))


def test_the_migrated_schema_equals_the_models(database_url: str) -> None:
    upgrade(database_url)
    engine = create_engine(database_url)
    try:
        assert schema_differences(engine, Base.metadata) == []
    finally:
        engine.dispose()


def test_the_comparison_would_notice_a_difference(database_url: str) -> None:
    """Guards the test above: a model change without a migration must show up."""
    upgrade(database_url)
    changed = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.tables.values():
        table.to_metadata(changed)
    Table("extra", changed, Column("id", Integer, primary_key=True))
    changed.tables["items"].append_column(Column("colour", String(20)))
    engine = create_engine(database_url)
    try:
        differences = [str(difference) for difference in schema_differences(engine, changed)]
    finally:
        engine.dispose()

    assert any("extra" in difference for difference in differences), differences
    assert any("colour" in difference for difference in differences), differences


def test_upgrade_is_idempotent_and_keeps_data(database_url: str) -> None:
    assert current_revision(database_url) is None

    upgrade(database_url)
    engine = create_engine(database_url)
    try:
        ItemStore(engine).create_item(
            item_id="kept", owner_id="o", title="", description="", images=[]
        )
        upgrade(database_url)
        assert ItemStore(engine).get_item("kept").item_id == "kept"
        assert set(inspect(engine).get_table_names()) == TABLES
    finally:
        engine.dispose()
    assert current_revision(database_url) == head_revision()


def test_downgrade_to_nothing_and_back(database_url: str) -> None:
    upgrade(database_url)
    engine = create_engine(database_url)
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.downgrade(config, "base")
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    finally:
        engine.dispose()

    upgrade(database_url)

    assert current_revision(database_url) == head_revision()


def test_stored_enumeration_names_cover_the_protobuf_enums() -> None:
    """A value added to a proto enum needs a migration of the CHECK constraint (and this list)."""
    statuses = [name for name, value in item_pb2.ItemStatus.items() if value]
    kinds = [name for name, value in activities_pb2.NotificationKind.items() if value]

    assert [name.removeprefix("ITEM_STATUS_") for name in statuses] == list(ITEM_STATUS_NAMES)
    assert [name.removeprefix("NOTIFICATION_KIND_") for name in kinds] == list(
        NOTIFICATION_KIND_NAMES
    )


# The command line ------------------------------------------------------------------------------


def test_cli_upgrades_then_reports_nothing_to_do(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--database-url", database_url]) == 0
    first = capsys.readouterr().out
    assert main(["--database-url", database_url]) == 0
    second = capsys.readouterr().out

    head = head_revision()
    assert f"upgraded from an empty database to revision {head} (head)" in first
    assert f"already at revision {head} (head): nothing to do" in second


def test_cli_takes_the_url_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'from-env.db'}"
    monkeypatch.setenv(DATABASE_URL_ENV, url)

    assert main([]) == 0

    assert url in capsys.readouterr().out
    assert current_revision(url) == head_revision()


def test_cli_defaults_to_a_sqlite_file_under_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    monkeypatch.chdir(tmp_path)

    assert main([]) == 0

    assert (tmp_path / ".local" / "bubble.db").is_file()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://postgres:secret@127.0.0.1:1/nowhere", "127.0.0.1"),
        ("mysql://u@db/bubble", "unsupported database URL"),
    ],
)
def test_cli_failure_exits_non_zero_with_a_message(
    url: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--database-url", url]) == 1

    error = capsys.readouterr().err
    assert error.startswith("error: could not migrate ")
    assert message in error
    assert "secret" not in error


def test_cli_runs_as_a_module(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'module.db'}"
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}

    result = subprocess.run(
        [sys.executable, "-m", "bubble_shared.store.migrate", "--database-url", url],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "upgraded from an empty database" in result.stdout
