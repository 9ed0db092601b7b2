"""Alembic's entry point for the item store's migrations.

``bubble_shared.store.migrate`` runs it programmatically and hands over a connection (in
``config.attributes["connection"]``) whose transaction it owns. Run without one, e.g. by the
``alembic`` command with ``sqlalchemy.url`` set, it connects through the store's own engine
factory, so SQLite gets the same pragmas as the application.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from bubble_shared.store.database import create_engine
from bubble_shared.store.models import Base


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things: later migrations copy-and-move tables (batch mode).
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    if context.is_offline_mode():
        raise RuntimeError("offline (--sql) migrations are not supported; run against a database")
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database: pass a connection or set sqlalchemy.url")
    engine = create_engine(url, time_limits=False)
    try:
        with engine.begin() as own_connection:
            run_migrations(own_connection)
    finally:
        engine.dispose()


main()
