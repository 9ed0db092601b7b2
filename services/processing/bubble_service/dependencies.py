"""What the RPC handlers share: settings, the stores, Temporal, the watch poller, reconciliation
and the shutdown signal."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, TypeAlias

import grpc

from bubble_service.idempotency import Idempotency
from bubble_service.reconcile import Reconciler
from bubble_service.runs import Runs
from bubble_service.settings import ServiceSettings
from bubble_service.status import StatusReader
from bubble_service.watching import WatchHub
from bubble_shared.store import BatchStore, ItemStore, RunRecords

# A string: the stubs make ServicerContext generic, the runtime class is not subscriptable.
Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"
"""The context every handler gets (request and response types do not matter to handlers)."""


@dataclass(frozen=True)
class Dependencies:
    settings: ServiceSettings
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
