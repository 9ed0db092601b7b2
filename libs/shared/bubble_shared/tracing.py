"""OpenTelemetry tracing: one trace from a gRPC call through its workflow to the activities.

Off unless the standard ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set. Then each process exports its
spans in batches over OTLP/HTTP (protobuf) to ``<endpoint>/v1/traces``, named by
``OTEL_SERVICE_NAME`` (default: the process's own name). The service opens a span per RPC
(OpenTelemetry's gRPC server interceptor); the Temporal clients of both processes carry
temporalio's ``TracingInterceptor``, which writes the span context into the headers of every
workflow and activity it starts, so the worker's spans (``RunWorkflow:…``, ``StartActivity:…``,
``RunActivity:…``) join the RPC's trace. A batch's runs, started by its ``advance_batch``
activity, belong to the trace of the StartBatchProcessing call.
"""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from temporalio.client import Interceptor
from temporalio.contrib.opentelemetry import TracingInterceptor

from bubble_shared.settings import EnvReader


@dataclass(frozen=True)
class TracingSettings:
    otlp_endpoint: str | None = None
    """Base URL of an OTLP/HTTP receiver (a collector, Jaeger, Tempo...); None: no tracing."""
    service_name: str = ""

    @property
    def enabled(self) -> bool:
        return self.otlp_endpoint is not None

    @classmethod
    def read(cls, env: EnvReader, *, default_service_name: str) -> TracingSettings:
        return cls(
            otlp_endpoint=env.url("OTEL_EXPORTER_OTLP_ENDPOINT", schemes=("http", "https")),
            service_name=env.text("OTEL_SERVICE_NAME", default_service_name),
        )


def start_tracing(settings: TracingSettings) -> TracerProvider | None:
    """Installs the process's tracer provider and exporter; None when tracing is off.

    OpenTelemetry has one provider per process: a second call (the tests run the service and
    the worker in one process) returns the first one.
    """
    if settings.otlp_endpoint is None:
        return None
    installed = trace.get_tracer_provider()
    if isinstance(installed, TracerProvider):
        return installed
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: settings.service_name}))
    exporter = OTLPSpanExporter(endpoint=settings.otlp_endpoint.rstrip("/") + "/v1/traces")
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return provider


def temporal_interceptors(settings: TracingSettings) -> list[Interceptor]:
    """What a Temporal client carries to propagate traces (a worker built on the client gets
    its worker side too)."""
    return [TracingInterceptor()] if settings.enabled else []
