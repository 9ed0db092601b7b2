"""What the RPC handlers share: settings, the stores, Temporal, and the shutdown signal."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, TypeAlias

import grpc

from bubble_service.idempotency import Idempotency
from bubble_service.runs import Runs
from bubble_service.settings import ServiceSettings
from bubble_service.status import StatusReader
from bubble_shared.store import ItemStore

# A string: the stubs make ServicerContext generic, the runtime class is not subscriptable.
Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"
"""The context every handler gets (request and response types do not matter to handlers)."""


@dataclass(frozen=True)
class Dependencies:
    settings: ServiceSettings
    items: ItemStore
    idempotency: Idempotency
    runs: Runs
    statuses: StatusReader
    stopping: asyncio.Event
    """Set when the server begins to shut down: long-lived streams end."""
