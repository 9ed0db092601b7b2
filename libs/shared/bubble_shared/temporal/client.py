"""Connecting to Temporal the one way every process of the system does."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.runtime import Runtime

from bubble_shared.settings import TemporalSettings
from bubble_shared.temporal.converter import DATA_CONVERTER


async def connect(settings: TemporalSettings, *, runtime: Runtime | None = None) -> Client:
    """A client with our payload converter; ``runtime`` carries metrics settings when given."""
    return await Client.connect(
        settings.address,
        namespace=settings.namespace,
        data_converter=DATA_CONVERTER,
        runtime=runtime,
    )
