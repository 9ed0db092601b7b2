"""One trace from a gRPC call through its workflow to the activities, exported over OTLP/HTTP to
a stand-in collector; the service and the worker run with OTEL_EXPORTER_OTLP_ENDPOINT set."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import grpc
import pytest
from e2e.system import System, jpeg, running_system, until_processed, worker_on
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from temporalio.testing import WorkflowEnvironment

from bubble.processing.v1 import service_pb2, service_pb2_grpc
from bubble_client import AsyncProcessingClient
from bubble_shared.testing.otlp_receiver import OtlpReceiver, ReceivedSpan, otlp_receiver
from bubble_shared.tracing import TracingSettings

RPC = "/bubble.processing.v1.ItemProcessingService/StartItemProcessing"
BATCH_RPC = "/bubble.processing.v1.ItemProcessingService/StartBatchProcessing"


@pytest.fixture(scope="module")
def collector() -> Iterator[OtlpReceiver]:
    """One for the module: OpenTelemetry's provider, and with it the exporter's endpoint, is set
    once per process."""
    with otlp_receiver() as receiver:
        yield receiver


@pytest.fixture()
async def system(
    dev_server: WorkflowEnvironment, database_url: str, tmp_path: Path, collector: OtlpReceiver
) -> AsyncIterator[System]:
    tracing = TracingSettings(otlp_endpoint=collector.url, service_name="bubble-e2e")
    worker = worker_on(dev_server, database_url, tmp_path, analysis_processes=1, tracing=tracing)
    async with running_system(worker) as running:
        yield running


async def test_an_rpc_its_workflow_and_its_activities_are_one_trace(
    system: System, collector: OtlpReceiver
) -> None:
    earlier = len(collector.received())
    async with AsyncProcessingClient(system.target, timeout=30) as client:
        item = await client.create_item(owner_id="u1", title="lamp", images=[jpeg(1)])
        await client.start_item_processing(item.item_id)
        await until_processed(client, item.item_id)

    spans = await _spans_until(
        collector, earlier, lambda names: "RunActivity:send_processing_notification" in names
    )

    [rpc] = [span for span in spans if span.name == RPC]
    in_trace = {span.name for span in spans if span.trace_id == rpc.trace_id}
    assert {
        RPC,
        "StartWorkflow:ItemImageProcessingWorkflow",
        "RunWorkflow:ItemImageProcessingWorkflow",
        "StartActivity:analyze_item_images",
        "RunActivity:analyze_item_images",
        "RunActivity:update_item_with_suggestions",
        "RunActivity:send_processing_notification",
    } <= in_trace
    # The workflow's spans hang under the RPC's, not beside it.
    [start] = [
        span
        for span in spans
        if span.name == "StartWorkflow:ItemImageProcessingWorkflow"
        and span.trace_id == rpc.trace_id
    ]
    assert start.parent_span_id == rpc.span_id
    assert all(span.service_name == "bubble-e2e" for span in spans)


async def test_a_batchs_runs_belong_to_the_trace_of_its_rpc(
    system: System, collector: OtlpReceiver
) -> None:
    earlier = len(collector.received())
    async with AsyncProcessingClient(system.target, timeout=30) as client:
        items = [
            await client.create_item(owner_id="u2", title=f"cup {n}", images=[jpeg(10 + n)])
            for n in range(2)
        ]
        batch = await client.start_batch_processing([item.item_id for item in items])
        for item in items:
            await until_processed(client, item.item_id)
        del batch

    spans = await _spans_until(
        collector,
        earlier,
        lambda names: names.count("RunActivity:send_processing_notification") >= 2,
    )

    [rpc] = [span for span in spans if span.name == BATCH_RPC]
    in_trace = [span.name for span in spans if span.trace_id == rpc.trace_id]
    assert "RunWorkflow:ItemBatchProcessingWorkflow" in in_trace
    # The batch's ticks are local activities: they start the runs, within the trace.
    assert "StartActivity:advance_batch" in in_trace
    assert in_trace.count("RunWorkflow:ItemImageProcessingWorkflow") == 2
    assert in_trace.count("RunActivity:analyze_item_images") == 2


async def _spans_until(
    collector: OtlpReceiver, earlier: int, done: Callable[[list[str]], bool]
) -> list[ReceivedSpan]:
    """The spans received after the first ``earlier`` once ``done(names)`` holds (the exporter
    sends in batches)."""
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    spans: list[ReceivedSpan] = []
    try:
        async with asyncio.timeout(30):
            while True:
                await asyncio.to_thread(provider.force_flush)
                spans = collector.received()[earlier:]
                if done([span.name for span in spans]):
                    return spans
                await asyncio.sleep(0.2)
    except TimeoutError:
        raise AssertionError(f"spans received: {sorted({s.name for s in spans})}") from None


async def test_a_caller_with_a_traceparent_header_gets_its_trace_continued(
    system: System, collector: OtlpReceiver
) -> None:
    earlier = len(collector.received())
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    async with AsyncProcessingClient(system.target, timeout=30) as client:
        item = await client.create_item(owner_id="u3", title="vase", images=[jpeg(30)])
    async with grpc.aio.insecure_channel(system.target) as channel:
        stub = service_pb2_grpc.ItemProcessingServiceStub(channel)
        await stub.StartItemProcessing(
            service_pb2.StartItemProcessingRequest(item_id=item.item_id),
            metadata=(("traceparent", f"00-{trace_id}-{parent_id}-01"),),
        )

    spans = await _spans_until(collector, earlier, lambda names: RPC in names)

    [rpc] = [span for span in spans if span.name == RPC]
    assert (rpc.trace_id, rpc.parent_span_id) == (trace_id, parent_id)
