"""A Temporal outage fails fast: RPCs that need Temporal answer UNAVAILABLE (TEMPORAL_UNAVAILABLE)
within a second once the health probe has noticed, and well within a 5 s client deadline before
it has; status reads, which never touch Temporal, keep answering. Real dev server, really
stopped; real gRPC with a client deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import replace
from typing import Any

import grpc
from google.protobuf.duration_pb2 import Duration
from grpc_health.v1 import health_pb2, health_pb2_grpc  # type: ignore[import-untyped]
from temporalio.testing import WorkflowEnvironment

from bubble.processing.v1 import run_pb2, service_pb2
from bubble_service.conftest import Harness, close_harness, expect_error, open_harness
from bubble_service.server import SERVICE_NAME
from bubble_service.settings import ServiceSettings
from bubble_shared.store.models import Batch

CLIENT_DEADLINE = 5.0
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def timed_failure(call: Awaitable[Any]) -> tuple[grpc.StatusCode, str, float]:
    """The code and reason of a call that must fail, and how long the answer took."""
    started = time.perf_counter()
    error = await expect_error(call)
    return error.code, error.reason, time.perf_counter() - started


async def wait_until_not_serving(harness: Harness) -> None:
    health = health_pb2_grpc.HealthStub(harness.channel)
    for _ in range(100):
        checked = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME))
        if checked.status == NOT_SERVING:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("health never noticed that Temporal is gone")


async def test_once_health_knows_temporal_is_down_starts_and_cancels_fail_within_a_second(
    harness: Harness, dev_server: WorkflowEnvironment
) -> None:
    stub = harness.stub
    harness.new_item("queued")
    harness.new_item("other")
    started = await stub.StartItemProcessing(
        service_pb2.StartItemProcessingRequest(item_id="queued", start_delay=Duration(seconds=300))
    )

    await dev_server.shutdown()
    await wait_until_not_serving(harness)

    calls: dict[str, Awaitable[Any]] = {
        "StartItemProcessing": stub.StartItemProcessing(
            service_pb2.StartItemProcessingRequest(item_id="other"), timeout=CLIENT_DEADLINE
        ),
        "StartBatchProcessing": stub.StartBatchProcessing(
            service_pb2.StartBatchProcessingRequest(item_ids=["other"], batch_id="b-1"),
            timeout=CLIENT_DEADLINE,
        ),
        "CancelProcessing": stub.CancelProcessing(
            service_pb2.CancelProcessingRequest(item_id="queued"), timeout=CLIENT_DEADLINE
        ),
    }
    for name, call in calls.items():
        code, reason, seconds = await timed_failure(call)
        assert (code, reason) == (grpc.StatusCode.UNAVAILABLE, "TEMPORAL_UNAVAILABLE"), name
        assert seconds < 1.0, f"{name} took {seconds:.2f}s"

    status = await stub.GetStatus(
        service_pb2.GetStatusRequest(item_id="queued"), timeout=CLIENT_DEADLINE
    )
    assert (status.item_run.run_id, status.item_run.state) == (
        started.run_id,
        run_pb2.RUN_STATE_QUEUED,
    )
    assert harness.count(Batch) == 0  # a refused batch leaves no row behind


async def test_before_health_knows_a_start_fails_as_unavailable_within_the_client_deadline(
    settings: ServiceSettings, dev_server: WorkflowEnvironment
) -> None:
    # Probed once at start (Temporal is up), then not again during the test.
    harness = await open_harness(
        replace(settings, health_check_interval_seconds=300), dev_server.client
    )
    try:
        harness.new_item("item-1")
        await dev_server.shutdown()

        code, reason, seconds = await timed_failure(
            harness.stub.StartItemProcessing(
                service_pb2.StartItemProcessingRequest(item_id="item-1"),
                timeout=CLIENT_DEADLINE,
            )
        )

        assert (code, reason) == (grpc.StatusCode.UNAVAILABLE, "TEMPORAL_UNAVAILABLE")
        assert seconds < CLIENT_DEADLINE - 1, f"took {seconds:.2f}s"
    finally:
        await close_harness(harness)
