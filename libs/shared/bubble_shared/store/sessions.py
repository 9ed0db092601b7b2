"""What every store class shares: a session factory for writes, one for reads, and a clock.

Every store method is one short transaction, and everything it returns is converted to protobuf
(or a frozen dataclass) inside that transaction, so no ORM object escapes a session. Reads use
``read_only`` sessions so that, on SQLite, they do not queue behind writers (see ``database.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from bubble_shared.store.database import read_only
from bubble_shared.store.timestamps import require_aware, utc_now


class StoreBase:
    """The sessions and clock of a store class; ``ItemStore`` and its siblings extend it.

    ``clock`` returns the current aware time; tests pass a fake one to control create_time order.
    """

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.engine = engine
        """The database, for a sibling store on the same one."""
        self._writes = sessionmaker(engine, expire_on_commit=False)
        self._reads = sessionmaker(read_only(engine), expire_on_commit=False)
        self._clock = clock

    def _now(self) -> datetime:
        return require_aware(self._clock(), "the store's clock")
