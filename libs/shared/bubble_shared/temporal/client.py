"""Connecting to Temporal the one way every process of the system does."""

from __future__ import annotations

from collections.abc import Sequence

from temporalio.client import Client, Interceptor
from temporalio.runtime import Runtime

from bubble_shared.settings import TemporalSettings
from bubble_shared.temporal.converter import DATA_CONVERTER
from bubble_shared.temporal.runtime import shared_runtime


async def connect(
    settings: TemporalSettings,
    *,
    runtime: Runtime | None = None,
    lazy: bool = False,
    interceptors: Sequence[Interceptor] = (),
) -> Client:
    """A client with our payload converter; ``runtime`` carries metrics settings when given
    (else one that forwards Temporal's own logs into ours, see ``runtime.py``); ``interceptors``
    (tracing) also reach the workers built on the client.

    ``lazy`` connects on first use instead of now, for a process that must start (and report
    itself unhealthy) while Temporal is down; each call then fails until Temporal is reachable.
    """
    return await Client.connect(
        settings.address,
        namespace=settings.namespace,
        data_converter=DATA_CONVERTER,
        runtime=runtime or shared_runtime(),
        lazy=lazy,
        interceptors=interceptors,
    )
