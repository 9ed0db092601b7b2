"""Prometheus metrics of the RPCs: how many, with which outcome, and how long they took."""

from __future__ import annotations

from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server


class RpcMetrics:
    """Metrics in a registry of their own, so tests can run several servers in one process."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.requests = Counter(
            "bubble_grpc_requests",
            "gRPC requests handled, by method and status code.",
            ["method", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "bubble_grpc_request_duration_seconds",
            "Time to handle a gRPC request (a stream: until it ended), by method.",
            ["method"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
        )

    def observe(self, method: str, code: str, seconds: float) -> None:
        self.requests.labels(method=method, code=code).inc()
        self.latency.labels(method=method).observe(seconds)

    def serve(self, host: str, port: int) -> WSGIServer:
        """Exposes /metrics over HTTP on a daemon thread (prometheus_client's own server);
        ``shutdown()`` the returned server to stop it."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return server
