"""Bearer-token authentication: every service RPC needs a valid token, health and reflection
stay open."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc  # type: ignore[import-untyped]
from grpc_reflection.v1alpha import (  # type: ignore[import-untyped]
    reflection_pb2,
    reflection_pb2_grpc,
)

from bubble.processing.v1 import service_pb2
from bubble_service.conftest import Harness, close_harness, expect_error, open_harness
from bubble_service.principals import EVERY_OWNER, Principal
from bubble_service.settings import ServiceSettings
from bubble_shared.settings import TemporalSettings

TOKEN = "s3cret-token-0123456789"


@pytest.fixture()
async def secured(settings: ServiceSettings) -> AsyncIterator[Harness]:
    running = await open_harness(
        replace(
            settings,
            auth_tokens={
                TOKEN: EVERY_OWNER,
                "another-token-0123456789": Principal(frozenset({"owner-a"})),
            },
            temporal=TemporalSettings(address="127.0.0.1:1"),
        ),
        None,
    )
    yield running
    await close_harness(running)


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        ((), "MISSING_CREDENTIALS"),
        ((("authorization", "Bearer wrong-token-0123456789"),), "INVALID_CREDENTIALS"),
        ((("authorization", f"Basic {TOKEN}"),), "INVALID_CREDENTIALS"),
    ],
)
async def test_missing_or_wrong_tokens_are_unauthenticated(
    secured: Harness, metadata: tuple[tuple[str, str], ...], reason: str
) -> None:
    request = service_pb2.GetItemRequest(item_id="x")

    unary = await expect_error(secured.stub.GetItem(request, metadata=metadata))
    streaming = await expect_error(
        secured.stub.WatchStatus(
            service_pb2.WatchStatusRequest(item_id="x"), metadata=metadata
        ).read()
    )

    for error in (unary, streaming):
        assert (error.code, error.reason) == (grpc.StatusCode.UNAUTHENTICATED, reason)
        assert TOKEN not in error.message


async def test_a_valid_token_gets_through(secured: Harness) -> None:
    error = await expect_error(
        secured.stub.GetItem(
            service_pb2.GetItemRequest(item_id="x"),
            metadata=(("authorization", f"Bearer {TOKEN}"),),
        )
    )

    assert (error.code, error.reason) == (grpc.StatusCode.NOT_FOUND, "ITEM_NOT_FOUND")


async def test_health_and_reflection_need_no_token(secured: Harness) -> None:
    health = health_pb2_grpc.HealthStub(secured.channel)
    reflection = reflection_pb2_grpc.ServerReflectionStub(secured.channel)

    checked = await health.Check(health_pb2.HealthCheckRequest())
    replies = [
        reply
        async for reply in reflection.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        )
    ]

    assert checked.status in (
        health_pb2.HealthCheckResponse.SERVING,
        health_pb2.HealthCheckResponse.NOT_SERVING,
    )
    listed = {service.name for service in replies[0].list_services_response.service}
    assert "bubble.processing.v1.ItemProcessingService" in listed
