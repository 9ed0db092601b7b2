"""TLS: with TLS_CERT_FILE and TLS_KEY_FILE the server speaks only TLS."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc  # type: ignore[import-untyped]

from bubble_service.conftest import close_harness, open_harness
from bubble_service.settings import ServiceSettings
from bubble_shared.settings import TemporalSettings


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    assert openssl is not None, "the openssl command is needed to make a test certificate"
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_tls_only(settings: ServiceSettings, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    harness = await open_harness(
        replace(
            settings,
            tls_cert_file=cert,
            tls_key_file=key,
            temporal=TemporalSettings(address="127.0.0.1:1"),
        ),
        None,
    )
    try:
        credentials = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        async with grpc.aio.secure_channel(harness.address, credentials) as channel:
            checked = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest()
            )
        assert checked.status == health_pb2.HealthCheckResponse.NOT_SERVING
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await health_pb2_grpc.HealthStub(harness.channel).Check(  # the plaintext channel
                health_pb2.HealthCheckRequest(), timeout=10
            )
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        await close_harness(harness)
