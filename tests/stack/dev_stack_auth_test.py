"""With AUTH_TOKENS set, the commands the stack prints work as printed: they carry a token (and
an owner it may act for), where they used to fail with UNAUTHENTICATED."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import httpx
from e2e.system import jpeg
from stack.running import PORT_NAMES, started_stack

from bubble_shared.testing.ports import free_ports

TOKEN = "stack-token-of-owner-a-0123456789"
CLI_PREFIX = "./pants run clients/python/bubble_client/cli.py --"


def _printed_cli_commands(output: str) -> dict[str, list[str]]:
    """The CLI commands the stack printed, by command name, as argument lists after ``--``."""
    commands: dict[str, list[str]] = {}
    for line in (printed.strip() for printed in output.splitlines()):
        if line.startswith(CLI_PREFIX):
            arguments = shlex.split(line.removeprefix(CLI_PREFIX))
            name = next(a for a in arguments if a in ("create", "process"))
            commands[name] = arguments
    return commands


def _cli(arguments: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """The client's CLI, as ``./pants run clients/python/bubble_client/cli.py --`` runs it."""
    path = os.pathsep.join(os.path.abspath(entry) for entry in sys.path)
    return subprocess.run(
        [sys.executable, "-m", "bubble_client.cli", *arguments],
        cwd=cwd,  # where photo.jpg is
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_the_printed_commands_carry_the_token_and_work(tmp_path: Path) -> None:
    ports = dict(zip(PORT_NAMES, free_ports(len(PORT_NAMES)), strict=True))
    env = {"AUTH_TOKENS": f"{TOKEN}=owner-a"}
    with started_stack(tmp_path / "state", ports, env=env) as stack:
        stack.wait_until_ready()
        commands = _printed_cli_commands(stack.text)
        assert set(commands) == {"create", "process"}, stack.text
        (tmp_path / "photo.jpg").write_bytes(jpeg(5))

        created = _cli(commands["create"], tmp_path)
        assert created.returncode == 0, created.stderr
        [item_id] = re.findall(r"^item (\S+) ", created.stdout, re.MULTILINE)
        assert "owner owner-a" in created.stdout

        process = [item_id if a == "ITEM_ID" else a for a in commands["process"]]
        processed = _cli(process, tmp_path)
        assert processed.returncode == 0, processed.stderr
        assert "SUCCEEDED" in processed.stdout

        # The dashboard asks for a token, says so where it is printed, and shows the item with it.
        dashboard = f"http://127.0.0.1:{ports['dashboard']}"
        assert f"Dashboard     {dashboard}   (sign in with a token" in stack.text
        assert httpx.get(dashboard).status_code == 303
        signed_in = httpx.get(dashboard, headers={"authorization": f"Bearer {TOKEN}"})
        assert signed_in.status_code == 200
        assert item_id in signed_in.text
