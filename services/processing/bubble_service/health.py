"""The standard gRPC health service, kept honest by probing Temporal and the database.

The service cannot do anything useful without Temporal or the database, so a load balancer should
route around it while either is unreachable: both the overall status ("") and the service's own
name go NOT_SERVING, and SERVING again once the probes pass. The first probe runs at start, so the
status is right before the first request. What the Temporal probe finds also goes to the
``TemporalGate``, so RPCs that need Temporal fail at once while it is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import timedelta

from grpc_health.v1 import health, health_pb2  # type: ignore[import-untyped]
from sqlalchemy import Engine, text
from temporalio.client import Client

from bubble_service.temporal_gate import TemporalGate

log = logging.getLogger(__name__)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def new_health_servicer() -> object:
    return health.aio.HealthServicer()


class HealthMonitor:
    def __init__(
        self,
        servicer: object,
        *,
        client: Client,
        engine: Engine,
        service_names: Sequence[str],
        interval_seconds: float,
        temporal_gate: TemporalGate | None = None,
    ) -> None:
        self._servicer = servicer
        self._gate = temporal_gate
        self._client = client
        self._engine = engine
        self._names = ["", *service_names]
        self._interval = interval_seconds
        self._healthy: bool | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Probes until ``stop`` is set."""
        while not stop.is_set():
            await self.check_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._interval)

    async def check_once(self) -> bool:
        temporal, database = await asyncio.gather(
            self._temporal_problem(), self._database_problem()
        )
        if self._gate is not None:
            self._gate.set_reachable(not temporal)
        problems = [problem for problem in (temporal, database) if problem]
        healthy = not problems
        if healthy != self._healthy:
            if healthy:
                log.info("healthy: Temporal and the database are reachable")
            else:
                log.warning("unhealthy: %s", "; ".join(problems))
            self._healthy = healthy
            status = SERVING if healthy else NOT_SERVING
            for name in self._names:
                await self._servicer.set(name, status)  # type: ignore[attr-defined]
        return healthy

    async def _temporal_problem(self) -> str:
        timeout = timedelta(seconds=max(1.0, min(self._interval, 5.0)))
        try:
            ok = await self._client.service_client.check_health(timeout=timeout)
        except Exception as error:  # any failure means "not reachable"
            return (
                f"Temporal at {self._client.service_client.config.target_host} is unreachable "
                f"({str(error)[:200]})"
            )
        return "" if ok else "Temporal reports that it is not serving"

    async def _database_problem(self) -> str:
        def probe() -> None:
            with self._engine.connect() as connection:
                connection.execute(text("SELECT 1"))

        try:
            await asyncio.to_thread(probe)
        except Exception as error:
            return f"the database is unreachable ({str(error)[:200]})"
        return ""
