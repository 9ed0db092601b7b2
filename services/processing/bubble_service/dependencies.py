"""What the RPC handlers share: settings, who a call acts for and what it may see, the stores,
Temporal, the watch poller, reconciliation and the shutdown signal."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import cached_property

from bubble_service.access import Access
from bubble_service.auth import Authenticator, Context
from bubble_service.idempotency import Idempotency
from bubble_service.reconcile import Reconciler
from bubble_service.runs import Runs
from bubble_service.settings import ServiceSettings
from bubble_service.status import StatusReader
from bubble_service.watching import WatchHub
from bubble_shared.store import BatchStore, ItemStore, RunRecords, UploadStore

__all__ = ["Context", "Dependencies"]


@dataclass(frozen=True)
class Dependencies:
    settings: ServiceSettings
    auth: Authenticator
    """Whom a call acts for (``auth.principal(context)``)."""
    access: Access
    """Which items and runs that principal may see."""
    items: ItemStore
    run_records: RunRecords
    batches: BatchStore
    idempotency: Idempotency
    temporal: Runs
    """Starting and cancelling runs; never used to read a status."""
    statuses: StatusReader
    watches: WatchHub
    reconciler: Reconciler
    stopping: asyncio.Event
    """Set when the server begins to shut down: long-lived streams end."""

    @cached_property
    def uploads(self) -> UploadStore:
        """Uploads (UploadImage) live in the items' database."""
        return UploadStore(self.items.engine)
