"""Assembles and runs the gRPC server: the service, health, reflection, interceptors, background
tasks (health probes, the watch poller, reconciliation, the idempotency purge); and stops it
gracefully.

    service = await start(settings)      # listening when this returns; service.port is bound
    ...
    await service.stop()                 # stop accepting, end watches, finish in-flight RPCs
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any
from wsgiref.simple_server import WSGIServer

import grpc
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import FileDescriptor
from grpc_health.v1 import health_pb2_grpc  # type: ignore[import-untyped]
from grpc_reflection.v1alpha import reflection  # type: ignore[import-untyped]
from opentelemetry.instrumentation.grpc import aio_server_interceptor
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import Engine
from temporalio.client import Client

from bubble.processing.v1 import service_pb2, service_pb2_grpc
from bubble_service.access import Access
from bubble_service.auth import Authenticator, BearerTokenInterceptor
from bubble_service.dependencies import Dependencies
from bubble_service.health import HealthMonitor, new_health_servicer
from bubble_service.idempotency import Idempotency
from bubble_service.metrics import RpcMetrics
from bubble_service.observe import ObservingInterceptor
from bubble_service.reconcile import Reconciler
from bubble_service.request_decoding import RequestDecodingInterceptor
from bubble_service.runs import Runs
from bubble_service.servicer import ItemProcessingServicer
from bubble_service.settings import ServiceSettings
from bubble_service.status import StatusReader
from bubble_service.temporal_gate import TemporalGate
from bubble_service.watching import WatchHub
from bubble_shared.process import StartupError
from bubble_shared.store import BatchStore, ItemStore, RequestStore, RunRecords, create_engine
from bubble_shared.store.migrate import display_url
from bubble_shared.store.schema import current_revision, head_revision
from bubble_shared.temporal.client import connect
from bubble_shared.tracing import start_tracing, temporal_interceptors

log = logging.getLogger("bubble_service")

SERVICE_NAME = service_pb2.DESCRIPTOR.services_by_name["ItemProcessingService"].full_name
HEALTH_SERVICE_NAME = "grpc.health.v1.Health"
# How often expired idempotency records are deleted.
PURGE_INTERVAL_SECONDS = 3600.0


@dataclass
class Service:
    server: grpc.aio.Server
    port: int
    settings: ServiceSettings
    client: Client
    engine: Engine
    stopping: asyncio.Event
    metrics: RpcMetrics
    health: object
    deps: Dependencies
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    metrics_server: WSGIServer | None = None
    tracer_provider: TracerProvider | None = None

    async def stop(self, grace_seconds: float | None = None) -> None:
        """Stops accepting RPCs, ends watch streams (UNAVAILABLE: reconnect), gives in-flight
        RPCs the grace period, then releases Temporal and the database."""
        grace = self.settings.shutdown_grace_seconds if grace_seconds is None else grace_seconds
        self.stopping.set()
        await self.health.enter_graceful_shutdown()  # type: ignore[attr-defined]
        await self.server.stop(grace)
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.metrics_server is not None:
            self.metrics_server.shutdown()
            self.metrics_server.server_close()
        self.engine.dispose()
        if self.tracer_provider is not None:
            self.tracer_provider.force_flush()  # the last RPCs' spans, before the process exits
        log.info("server stopped")

    async def wait(self) -> None:
        await self.server.wait_for_termination()


async def start(settings: ServiceSettings, *, client: Client | None = None) -> Service:
    """Starts the server; it listens (and answers health checks) when this returns.

    ``client`` replaces the Temporal client made from the settings (tests pass a dev server's).
    Without one the client connects lazily, so the server starts while Temporal is down and
    reports NOT_SERVING until it is back.
    """
    await asyncio.to_thread(_check_schema, settings.store.database_url)
    tracer_provider = start_tracing(settings.tracing)
    if client is None:
        client = await connect(
            settings.temporal, lazy=True, interceptors=temporal_interceptors(settings.tracing)
        )
    engine = create_engine(settings.store.database_url)
    requests = RequestStore(engine)
    deps = _dependencies(settings, client, engine, requests)
    stopping = deps.stopping
    metrics = RpcMetrics()
    interceptors: list[grpc.aio.ServerInterceptor] = [ObservingInterceptor(metrics)]
    if tracer_provider is not None:
        # Outermost but for the metrics: every RPC gets a span, refused ones included.
        traced: grpc.aio.ServerInterceptor = aio_server_interceptor(  # type: ignore[no-untyped-call]
            tracer_provider=tracer_provider
        )
        interceptors.append(traced)
    if deps.auth.enabled:
        interceptors.append(BearerTokenInterceptor(deps.auth))
    # Innermost: undecodable request bytes reach the others as a ServiceError, not as UNKNOWN.
    interceptors.append(RequestDecodingInterceptor())
    server = grpc.aio.server(
        interceptors=interceptors,
        options=[
            ("grpc.max_receive_message_length", settings.max_message_bytes),
            ("grpc.max_send_message_length", settings.max_message_bytes),
        ],
    )
    service_pb2_grpc.add_ItemProcessingServiceServicer_to_server(
        ItemProcessingServicer(deps), server
    )
    health = new_health_servicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    reflection.enable_server_reflection(
        [SERVICE_NAME, HEALTH_SERVICE_NAME, reflection.SERVICE_NAME],
        server,
        pool=MethodFindingPool(descriptor_pool.Default()),
    )
    metrics_server: WSGIServer | None = None
    try:
        port = _listen(server, settings)
        monitor = HealthMonitor(
            health,
            client=client,
            engine=engine,
            service_names=[SERVICE_NAME],
            interval_seconds=settings.health_check_interval_seconds,
            temporal_gate=deps.temporal.gate,
        )
        await monitor.check_once()
        # Started before the metrics: stopping a server that never started keeps its port bound.
        await server.start()
        if settings.metrics_port:
            metrics_server = metrics.serve(settings.host, settings.metrics_port)
    except BaseException:
        # Nothing half-started stays behind: no listening socket, metrics thread or pool.
        await server.stop(None)
        if metrics_server is not None:
            metrics_server.shutdown()
            metrics_server.server_close()
        engine.dispose()
        raise
    service = Service(
        server=server,
        port=port,
        settings=settings,
        client=client,
        engine=engine,
        stopping=stopping,
        metrics=metrics,
        health=health,
        deps=deps,
        metrics_server=metrics_server,
        tracer_provider=tracer_provider,
    )
    service.tasks.append(asyncio.create_task(monitor.run(stopping), name="health-monitor"))
    service.tasks.append(asyncio.create_task(deps.watches.run(stopping), name="watch-poller"))
    service.tasks.append(asyncio.create_task(deps.reconciler.run(stopping), name="reconcile"))
    service.tasks.append(asyncio.create_task(_purge(requests, stopping), name="purge-requests"))
    log.info(
        "listening on %s:%d (%s, auth %s)",
        settings.host,
        port,
        "TLS" if settings.tls_cert_file else "plaintext",
        "on" if settings.auth_enabled else "off",
        extra={"peer": settings.temporal.address},
    )
    return service


def _dependencies(
    settings: ServiceSettings, client: Client, engine: Engine, requests: RequestStore
) -> Dependencies:
    items, runs, batches = ItemStore(engine), RunRecords(engine), BatchStore(engine)
    temporal = Runs(
        client,
        task_queue=settings.temporal.task_queue,
        batch_task_queue=settings.temporal.batch_task_queue,
        gate=TemporalGate(),
    )
    statuses = StatusReader(items, runs, batches)
    return Dependencies(
        settings=settings,
        auth=Authenticator(settings.auth_tokens),
        access=Access(items, batches, statuses),
        items=items,
        run_records=runs,
        batches=batches,
        idempotency=Idempotency(requests),
        temporal=temporal,
        statuses=statuses,
        watches=WatchHub(statuses, interval_seconds=settings.watch_poll_interval_seconds),
        reconciler=Reconciler(
            temporal,
            runs,
            batches,
            interval_seconds=settings.reconcile_interval_seconds,
            after_seconds=settings.reconcile_after_seconds,
        ),
        stopping=asyncio.Event(),
    )


class MethodFindingPool:
    """The descriptor pool reflection answers from, which also finds the file of a method.

    ``grpcurl describe pkg.Service.Method`` asks for the file containing that symbol, and
    protobuf's pool knows messages, enums and services but not methods: "Symbol not found".
    """

    def __init__(self, pool: descriptor_pool.DescriptorPool) -> None:
        self._pool = pool

    def FindFileContainingSymbol(self, symbol: str) -> FileDescriptor:  # noqa: N802 - pool API
        try:
            return self._pool.FindFileContainingSymbol(symbol)
        except KeyError:
            # A method's file is its service's; a KeyError again is reflection's NOT_FOUND.
            return self._pool.FindMethodByName(symbol).containing_service.file

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)


class SchemaOutdatedError(StartupError):
    """The database is reachable but not migrated to the schema this code needs."""


def _check_schema(url: str) -> None:
    """Refuses to serve from a database that is behind the code's migrations (every write would
    fail); an unreachable database is only logged, the health service reports it."""
    try:
        current = current_revision(url)
    except Exception as error:  # unreachable now: may come back, health says NOT_SERVING
        log.warning("cannot check the database schema: %s", str(error)[:200])
        return
    if current != head_revision():
        raise SchemaOutdatedError(
            f"the database {display_url(url)} is at schema revision {current or 'none'}, not "
            f"{head_revision()}: run `./pants run libs/shared/bubble_shared/store:migrate` "
            "(python -m bubble_shared.store.migrate) first"
        )


def _listen(server: grpc.aio.Server, settings: ServiceSettings) -> int:
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    address = f"{host}:{settings.port}"
    if settings.tls_cert_file is not None and settings.tls_key_file is not None:
        credentials = grpc.ssl_server_credentials(
            [(settings.tls_key_file.read_bytes(), settings.tls_cert_file.read_bytes())]
        )
        port = server.add_secure_port(address, credentials)
    else:
        port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot listen on {address}")
    return port


async def _purge(requests: RequestStore, stop: asyncio.Event) -> None:
    """Deletes expired idempotency records now and then; a failure waits for the next round."""
    while not stop.is_set():
        try:
            purged = await asyncio.to_thread(requests.purge_expired)
            if purged:
                log.info("purged %d expired idempotency records", purged)
        except Exception:
            log.warning("purging idempotency records failed", exc_info=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=PURGE_INTERVAL_SECONDS)
