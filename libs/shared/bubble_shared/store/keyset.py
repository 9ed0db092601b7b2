"""Keyset positions for sweeps over rows ordered by (update_time, key), and bounded IN lists.

A sweep (reconciliation) pages through the rows that have not changed for a while, oldest first.
Continuing after the last row seen, rather than starting over, lets it reach every such row over
successive pages even when the oldest ones stay unchanged (a run waiting out a long start delay).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

VERSIONS_CHUNK = 500
"""Most IDs in one ``IN (...)`` list: well under every driver's parameter limit."""


def after_row(
    update_time: InstrumentedAttribute[datetime],
    key: InstrumentedAttribute[str],
    after: str,
) -> ColumnElement[bool]:
    """Rows after the row whose key is ``after`` in (update_time, key) order.

    The position is that row's current update_time: if it has changed since, the page jumps ahead
    (or comes back empty), which only means the sweep starts over sooner.
    """
    time_of_after = select(update_time).where(key == after).scalar_subquery()
    return or_(update_time > time_of_after, and_(update_time == time_of_after, key > after))


def versions(
    session: Session,
    key: InstrumentedAttribute[str],
    version: InstrumentedAttribute[int],
    ids: Sequence[str],
) -> dict[str, int]:
    """The ``version`` of each row whose ``key`` is in ``ids``: one query per chunk of IDs."""
    found: dict[str, int] = {}
    for chunk in chunks(ids):
        for row_key, row_version in session.execute(select(key, version).where(key.in_(chunk))):
            found[row_key] = row_version
    return found


def chunks(ids: Sequence[str], size: int = VERSIONS_CHUNK) -> Iterator[Sequence[str]]:
    """``ids`` in slices of at most ``size``."""
    for start in range(0, len(ids), size):
        yield ids[start : start + size]
