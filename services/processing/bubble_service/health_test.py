"""The health service reflects whether Temporal (and the database) can be reached."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc  # type: ignore[import-untyped]
from temporalio.testing import WorkflowEnvironment

from bubble.processing.v1 import service_pb2
from bubble_service.conftest import Harness, close_harness, expect_error, open_harness
from bubble_service.server import SERVICE_NAME
from bubble_service.settings import ServiceSettings

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def statuses(harness: Harness) -> list[int]:
    health = health_pb2_grpc.HealthStub(harness.channel)
    return [
        (await health.Check(health_pb2.HealthCheckRequest(service=name))).status
        for name in ("", SERVICE_NAME)
    ]


async def test_not_serving_while_temporal_is_unreachable(offline_harness: Harness) -> None:
    assert await statuses(offline_harness) == [NOT_SERVING, NOT_SERVING]


async def test_temporal_calls_fail_with_unavailable_while_it_is_unreachable(
    offline_harness: Harness,
) -> None:
    offline_harness.store.create_item(
        item_id="i1", owner_id="o", title="", description="", images=[]
    )

    error = await expect_error(
        offline_harness.stub.StartItemProcessing(
            service_pb2.StartItemProcessingRequest(item_id="i1")
        )
    )

    assert (error.code, error.reason) == (grpc.StatusCode.UNAVAILABLE, "TEMPORAL_UNAVAILABLE")
    assert "Temporal" in error.message


async def test_serving_with_temporal_then_not_when_it_goes_away(
    settings: ServiceSettings, dev_server: WorkflowEnvironment
) -> None:
    harness = await open_harness(settings, dev_server.client)
    try:
        assert await statuses(harness) == [SERVING, SERVING]
        health = health_pb2_grpc.HealthStub(harness.channel)
        watch = health.Watch(health_pb2.HealthCheckRequest(service=SERVICE_NAME))
        assert (await watch.read()).status == SERVING

        await dev_server.shutdown()

        assert (await watch.read()).status == NOT_SERVING
        watch.cancel()
    finally:
        await close_harness(harness)
