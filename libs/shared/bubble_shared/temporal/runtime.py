"""The Temporal runtime every process uses: its core's logs go through our logging.

Temporal's core (the Rust part of the SDK) writes its own log lines straight to stderr by default:
plain text with colour codes, in the middle of our JSON lines. Forwarded to the
``temporalio.core`` logger instead, they come out in ``LOG_FORMAT`` like every other line. Core
logs WARN and above (a lost connection, a failed poll); our Python logging filters further.
"""

from __future__ import annotations

import logging
import threading

from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

CORE_LOGGER = logging.getLogger("temporalio.core")

_lock = threading.Lock()
_plain: Runtime | None = None


def _logging() -> LoggingConfig:
    return LoggingConfig(
        filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
        forwarding=LogForwardingConfig(logger=CORE_LOGGER),
    )


def new_runtime(*, metrics_bind_address: str | None = None) -> Runtime:
    """A runtime forwarding core logs; exporting Prometheus metrics at ``metrics_bind_address``
    (``host:port``) when given."""
    metrics = PrometheusConfig(bind_address=metrics_bind_address) if metrics_bind_address else None
    return Runtime(telemetry=TelemetryConfig(logging=_logging(), metrics=metrics))


def shared_runtime() -> Runtime:
    """One runtime per process for the clients that export no metrics (made on first use)."""
    global _plain  # noqa: PLW0603 - one runtime per process, made on first use
    with _lock:
        if _plain is None:
            _plain = new_runtime()
        return _plain
