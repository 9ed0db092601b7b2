"""The service's settings, read once from the environment and validated before anything starts.

| variable | default | meaning |
| --- | --- | --- |
| GRPC_HOST | 127.0.0.1 | address to listen on; loopback by default so that an unconfigured
|           |           | service is not exposed (set 0.0.0.0 or :: in a container) |
| GRPC_PORT | 50051 | gRPC port (0: any free port, for tests) |
| METRICS_PORT | 9465 | Prometheus metrics on GRPC_HOST; 0 turns them off |
| MAX_INLINE_IMAGE_BYTES | 20 MiB | largest ImageInput.content accepted (at most 20 MiB); the
|                        |        | message limit (GRPC_MAX_MESSAGE_BYTES) binds first |
| MAX_UPLOAD_BYTES | 20 MiB | largest image UploadImage accepts (at most 20 MiB) |
| MAX_BATCH_ITEMS | 10000 | most listed item IDs in one StartBatchProcessing (at most 10,000) |
| GRPC_MAX_MESSAGE_BYTES | 4 MiB | largest request or response message |
| SHUTDOWN_GRACE_SECONDS | 10 | how long in-flight RPCs may finish after SIGTERM/SIGINT |
| AUTH_TOKENS | unset | comma-separated bearer tokens, each with the owners it may act for
|             |       | (see principals.py); unset: no authentication |
| TLS_CERT_FILE, TLS_KEY_FILE | unset | PEM certificate chain and key; both or neither |
| HEALTH_CHECK_INTERVAL_SECONDS | 5 | how often Temporal and the database are probed |
| WATCH_POLL_INTERVAL_SECONDS | 0.5 | how often the watch poller checks the watched runs |
| WATCH_MAX_STREAM_SECONDS | 3600 | a WatchStatus stream ends with UNAVAILABLE after this |
| RECONCILE_INTERVAL_SECONDS | 30 | how often open runs are checked against Temporal |
| RECONCILE_AFTER_SECONDS | 120 | an open run unchanged this long is checked against Temporal |
| TEMPORAL_*, ANALYSIS_TASK_QUEUE, DATABASE_URL, MEDIA_ROOT | | as for the worker |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bubble_service.principals import Principal, read_auth_tokens
from bubble_shared.settings import EnvReader, StoreSettings, TemporalSettings
from bubble_shared.tracing import TracingSettings

MIB = 1024 * 1024
# Limits the API reference (service.proto, item.proto) promises; settings may only lower them.
MAX_INLINE_IMAGE_BYTES = 20 * MIB
MAX_UPLOAD_BYTES = 20 * MIB
MAX_BATCH_ITEMS = 10_000


@dataclass(frozen=True)
class ServiceSettings:
    temporal: TemporalSettings = field(default_factory=TemporalSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    host: str = "127.0.0.1"
    port: int = 50051
    metrics_port: int = 9465
    max_inline_image_bytes: int = MAX_INLINE_IMAGE_BYTES
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    max_batch_items: int = MAX_BATCH_ITEMS
    max_message_bytes: int = 4 * MIB
    shutdown_grace_seconds: float = 10.0
    auth_tokens: Mapping[str, Principal] = field(default_factory=dict)
    """Each bearer token and the owners it may act for; empty: no authentication."""
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    health_check_interval_seconds: float = 5.0
    watch_poll_interval_seconds: float = 0.5
    watch_max_stream_seconds: float = 3600.0
    reconcile_interval_seconds: float = 30.0
    reconcile_after_seconds: float = 120.0
    tracing: TracingSettings = field(default_factory=TracingSettings)

    @property
    def auth_enabled(self) -> bool:
        return bool(self.auth_tokens)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServiceSettings:
        """Raises SettingsError naming every variable with a bad value."""
        env = EnvReader(environ)
        settings = cls(
            temporal=TemporalSettings.read(env),
            store=StoreSettings.read(env),
            tracing=TracingSettings.read(env, default_service_name="bubble-processing"),
            host=env.text("GRPC_HOST", cls.host),
            port=env.integer("GRPC_PORT", cls.port, minimum=0, maximum=65535),
            metrics_port=env.integer("METRICS_PORT", cls.metrics_port, minimum=0, maximum=65535),
            max_inline_image_bytes=env.integer(
                "MAX_INLINE_IMAGE_BYTES",
                cls.max_inline_image_bytes,
                minimum=1,
                maximum=MAX_INLINE_IMAGE_BYTES,
            ),
            max_upload_bytes=env.integer(
                "MAX_UPLOAD_BYTES", cls.max_upload_bytes, minimum=1, maximum=MAX_UPLOAD_BYTES
            ),
            max_batch_items=env.integer(
                "MAX_BATCH_ITEMS", cls.max_batch_items, minimum=1, maximum=MAX_BATCH_ITEMS
            ),
            max_message_bytes=env.integer(
                "GRPC_MAX_MESSAGE_BYTES",
                cls.max_message_bytes,
                minimum=64 * 1024,
                maximum=512 * MIB,
            ),
            shutdown_grace_seconds=env.seconds(
                "SHUTDOWN_GRACE_SECONDS", cls.shutdown_grace_seconds, minimum=0, maximum=3600
            ),
            auth_tokens=read_auth_tokens(env),
            tls_cert_file=_path(env, "TLS_CERT_FILE"),
            tls_key_file=_path(env, "TLS_KEY_FILE"),
            health_check_interval_seconds=env.seconds(
                "HEALTH_CHECK_INTERVAL_SECONDS",
                cls.health_check_interval_seconds,
                minimum=0.05,
                maximum=300,
            ),
            watch_poll_interval_seconds=env.seconds(
                "WATCH_POLL_INTERVAL_SECONDS",
                cls.watch_poll_interval_seconds,
                minimum=0.05,
                maximum=10,
            ),
            watch_max_stream_seconds=env.seconds(
                "WATCH_MAX_STREAM_SECONDS", cls.watch_max_stream_seconds, minimum=1, maximum=3600
            ),
            reconcile_interval_seconds=env.seconds(
                "RECONCILE_INTERVAL_SECONDS",
                cls.reconcile_interval_seconds,
                minimum=0.1,
                maximum=3600,
            ),
            reconcile_after_seconds=env.seconds(
                "RECONCILE_AFTER_SECONDS", cls.reconcile_after_seconds, minimum=1, maximum=86400
            ),
        )
        if (settings.tls_cert_file is None) != (settings.tls_key_file is None):
            env.problems.append(
                "TLS_CERT_FILE and TLS_KEY_FILE must be set together (or neither, for plaintext)"
            )
        env.raise_if_invalid()
        return settings


def _path(env: EnvReader, name: str) -> Path | None:
    raw = env.optional_text(name)
    if raw is None:
        return None
    path = Path(raw)
    if not path.is_file():
        env.problems.append(f"{name}={raw!r} is not a readable file")
        return None
    return path
