"""The dashboard process: serves until SIGTERM and exits 0; says why when it cannot start."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bubble_shared.testing.ports import free_ports


def _start(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bubble_service.dashboard.main"],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "LOG_FORMAT": "text", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_serves_until_sigterm_then_exits_cleanly(database_url: str, tmp_path: Path) -> None:
    [port] = free_ports(1)
    process = _start({"DATABASE_URL": database_url, "DASHBOARD_PORT": str(port)})
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()[0]
                assert time.monotonic() < deadline, "the dashboard did not listen in 30 s"
                time.sleep(0.1)
        assert answer.text == "ok"
        assert httpx.get(f"http://127.0.0.1:{port}/").status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0]
    assert process.returncode == 0, output


def test_a_taken_port_is_reported_not_crashed_on(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = _start(
            {"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}", "DASHBOARD_PORT": str(port)}
        )
        output = process.communicate(timeout=30)[0]

    assert process.returncode == 1, output
    assert f"the dashboard cannot listen on 127.0.0.1:{port}" in output


def test_bad_settings_exit_2_naming_them() -> None:
    process = _start({"TEMPORAL_UI_URL": "localhost:8233"})
    output = process.communicate(timeout=30)[0]

    assert process.returncode == 2, output
    assert "TEMPORAL_UI_URL='localhost:8233' must start with http://" in output
