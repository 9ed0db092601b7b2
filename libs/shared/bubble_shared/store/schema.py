"""Alembic, driven from code: upgrade a database and ask which revision it is at.

The Alembic configuration is built in code, with the migrations found next to this file, so it
works wherever the package's files are (a checkout, a Pants sandbox, a PEX) and needs no
alembic.ini in the working directory. Upgrading an up-to-date database does nothing, so every
process may run it at start. The command line is ``bubble_shared.store.migrate``.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from bubble_shared.store.database import create_engine, read_only

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Serialises concurrent upgrades on PostgreSQL (two processes starting at once); SQLite's
# BEGIN IMMEDIATE does the same there. Any constant works: it names this lock, b"bubble".
_POSTGRES_MIGRATION_LOCK = 0x627562626C65


def alembic_config() -> Config:
    """The Alembic configuration of the store's migrations."""
    config = Config()
    # ConfigParser interpolates "%": a path containing one must be escaped.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest revision the code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def current_revision(url: str) -> str | None:
    """The revision the database is at; None when it has never been migrated."""
    engine = create_engine(url)
    try:
        with read_only(engine).connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def upgrade(url: str) -> None:
    """Upgrades the database to the newest revision, in one transaction (all or nothing)."""
    engine = create_engine(url, time_limits=False)
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _POSTGRES_MIGRATION_LOCK}
                )
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()
