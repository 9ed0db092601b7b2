"""The service as an operator runs it: its own process, settings from the environment, metrics on
their port, a clean exit 0 on SIGTERM, and exit 2 with every problem listed on bad settings."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc  # type: ignore[import-untyped]

from bubble_service import main as service_main
from bubble_shared.store import upgrade
from bubble_shared.testing.ports import free_port

# Run as its own process, the way an operator starts it.
COMMAND = [sys.executable, "-m", service_main.__name__]


def environment(tmp_path: Path, **overrides: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'service.db'}",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "TEMPORAL_ADDRESS": "127.0.0.1:1",
        "HEALTH_CHECK_INTERVAL_SECONDS": "0.2",
        "LOG_FORMAT": "json",
        **overrides,
    }


@pytest.fixture()
def service_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int, int]]:
    upgrade(f"sqlite:///{tmp_path / 'service.db'}")
    port, metrics_port = free_port(), free_port()
    process = subprocess.Popen(
        COMMAND,
        env=environment(tmp_path, GRPC_PORT=str(port), METRICS_PORT=str(metrics_port)),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process, port, metrics_port
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def wait_for_log(process: subprocess.Popen[str], text: str) -> list[dict[str, object]]:
    """Reads the JSON log lines until one contains ``text``; returns them."""
    assert process.stderr is not None
    lines: list[dict[str, object]] = []
    for line in process.stderr:
        lines.append(json.loads(line))
        if text in line:
            return lines
    raise AssertionError(f"the process ended without logging {text!r}: {lines}")


def test_serves_exports_metrics_and_stops_cleanly_on_sigterm(
    service_process: tuple[subprocess.Popen[str], int, int],
) -> None:
    process, port, metrics_port = service_process
    wait_for_log(process, "listening on")

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        checked = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
    process.send_signal(signal.SIGTERM)
    lines = wait_for_log(process, "server stopped")

    assert process.wait(timeout=30) == 0
    assert checked.status == health_pb2.HealthCheckResponse.NOT_SERVING  # Temporal is down
    assert 'bubble_grpc_requests_total{code="OK",method="/grpc.health.v1.Health/Check"} 1.0' in (
        metrics
    )
    assert not [line for line in lines if line["level"] == "error"]


def test_an_unmigrated_database_stops_the_service_with_a_hint(tmp_path: Path) -> None:
    result = subprocess.run(
        COMMAND,
        env=environment(tmp_path, GRPC_PORT=str(free_port()), METRICS_PORT="0"),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert result.returncode == 1
    assert "store:migrate" in result.stderr


def test_bad_settings_exit_2_listing_every_problem(tmp_path: Path) -> None:
    result = subprocess.run(
        COMMAND,
        env=environment(tmp_path, GRPC_PORT="http", TLS_CERT_FILE=str(tmp_path / "missing.pem")),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert result.returncode == 2
    assert "GRPC_PORT='http' is not a whole number" in result.stderr
    assert "TLS_CERT_FILE" in result.stderr
