"""Statements that SQL spells differently on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import InstrumentedAttribute, Session

from bubble_shared.store.models import Base

T = TypeVar("T")


def insert_or_ignore(
    session: Session,
    entity: type[Base],
    values: Mapping[str, Any],
    *,
    conflict_columns: Sequence[str],
    returning: InstrumentedAttribute[T],
) -> T | None:
    """Inserts a row unless one with the same ``conflict_columns`` exists; returns ``returning``
    of the inserted row, or None when an existing row won.

    ``ON CONFLICT DO NOTHING`` settles a race between concurrent inserts inside the database: on
    PostgreSQL the second insert waits for the first transaction and then does nothing (or
    inserts, if the first rolled back); on SQLite writers are serialised anyway. So a concurrent
    duplicate is an ordinary "not inserted", never an IntegrityError to retry around.
    """
    dialect = session.get_bind().dialect.name
    index_elements = list(conflict_columns)
    if dialect == "postgresql":
        on_postgresql = postgresql.insert(entity).values(dict(values))
        on_postgresql = on_postgresql.on_conflict_do_nothing(index_elements=index_elements)
        return session.execute(on_postgresql.returning(returning)).scalar_one_or_none()
    if dialect == "sqlite":
        on_sqlite = sqlite.insert(entity).values(dict(values))
        on_sqlite = on_sqlite.on_conflict_do_nothing(index_elements=index_elements)
        return session.execute(on_sqlite.returning(returning)).scalar_one_or_none()
    raise NotImplementedError(f"the item store does not support {dialect}")
