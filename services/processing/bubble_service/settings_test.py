"""Settings: defaults, every variable read, and every problem reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from bubble_service.principals import EVERY_OWNER, Principal
from bubble_service.settings import MIB, ServiceSettings
from bubble_shared.settings import SettingsError


def test_defaults() -> None:
    settings = ServiceSettings.from_env({})

    assert (settings.host, settings.port, settings.metrics_port) == ("127.0.0.1", 50051, 9465)
    assert settings.max_inline_image_bytes == 20 * MIB
    assert settings.max_batch_items == 10_000
    assert settings.max_message_bytes == 4 * MIB
    assert not settings.auth_enabled
    assert settings.tls_cert_file is None
    assert settings.temporal.address == "localhost:7233"
    assert (settings.reconcile_interval_seconds, settings.reconcile_after_seconds) == (30, 120)


def test_every_variable_is_read(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("cert")
    key.write_text("key")

    settings = ServiceSettings.from_env(
        {
            "GRPC_HOST": "0.0.0.0",
            "GRPC_PORT": "6000",
            "METRICS_PORT": "0",
            "MAX_INLINE_IMAGE_BYTES": "1024",
            "MAX_BATCH_ITEMS": "10",
            "GRPC_MAX_MESSAGE_BYTES": str(8 * MIB),
            "SHUTDOWN_GRACE_SECONDS": "2.5",
            "AUTH_TOKENS": " token-aaaaaaaaaaaaaaaa , token-bbbbbbbbbbbbbbbb = o-1 | o-2 ,",
            "TLS_CERT_FILE": str(cert),
            "TLS_KEY_FILE": str(key),
            "HEALTH_CHECK_INTERVAL_SECONDS": "1",
            "WATCH_POLL_INTERVAL_SECONDS": "0.25",
            "WATCH_MAX_STREAM_SECONDS": "60",
            "RECONCILE_INTERVAL_SECONDS": "5",
            "RECONCILE_AFTER_SECONDS": "600",
            "TEMPORAL_ADDRESS": "temporal:7233",
            "DATABASE_URL": "postgresql://u@db/bubble",
        }
    )

    assert (settings.host, settings.port, settings.metrics_port) == ("0.0.0.0", 6000, 0)
    assert (settings.max_inline_image_bytes, settings.max_batch_items) == (1024, 10)
    assert settings.max_message_bytes == 8 * MIB
    assert settings.shutdown_grace_seconds == 2.5
    assert settings.auth_tokens == {
        "token-aaaaaaaaaaaaaaaa": EVERY_OWNER,
        "token-bbbbbbbbbbbbbbbb": Principal(frozenset({"o-1", "o-2"})),
    }
    assert (settings.tls_cert_file, settings.tls_key_file) == (cert, key)
    assert settings.health_check_interval_seconds == 1
    assert settings.watch_poll_interval_seconds == 0.25
    assert settings.watch_max_stream_seconds == 60
    assert settings.reconcile_interval_seconds == 5
    assert settings.reconcile_after_seconds == 600
    assert settings.temporal.address == "temporal:7233"
    assert settings.store.database_url == "postgresql://u@db/bubble"


def test_every_problem_is_reported_together(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("cert")

    with pytest.raises(SettingsError) as raised:
        ServiceSettings.from_env(
            {
                "GRPC_PORT": "70000",
                "MAX_INLINE_IMAGE_BYTES": str(21 * MIB),
                "MAX_BATCH_ITEMS": "10001",
                "AUTH_TOKENS": "short",
                "TLS_CERT_FILE": str(cert),
                "TEMPORAL_ADDRESS": "nowhere",
                "RECONCILE_AFTER_SECONDS": "0",
            }
        )

    problems = "\n".join(raised.value.problems)
    for name in (
        "GRPC_PORT",
        "MAX_INLINE_IMAGE_BYTES",
        "MAX_BATCH_ITEMS",
        "AUTH_TOKENS",
        "TLS_CERT_FILE and TLS_KEY_FILE",
        "TEMPORAL_ADDRESS",
        "RECONCILE_AFTER_SECONDS",
    ):
        assert name in problems
    assert len(raised.value.problems) == 7


def test_auth_tokens_set_but_empty_is_a_problem() -> None:
    with pytest.raises(SettingsError, match="holds no token"):
        ServiceSettings.from_env({"AUTH_TOKENS": " , "})
