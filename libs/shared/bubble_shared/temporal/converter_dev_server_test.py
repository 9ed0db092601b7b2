"""Our messages cross a real Temporal dev server as binary protobuf, in both directions."""

from __future__ import annotations

import uuid
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import HistoryEvent
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    import google.protobuf.message

    from bubble.processing.v1 import activities_pb2, analysis_pb2, item_pb2, run_pb2, workflows_pb2
    from bubble_shared.temporal.converter import BINARY_PROTOBUF
    from bubble_shared.testing.temporal_servers import start_dev_server

TASK_QUEUE = "converter-test"


@activity.defn(name="analyze_item_images")
async def analyze_item_images(
    request: activities_pb2.AnalyzeItemImagesInput,
) -> activities_pb2.AnalyzeItemImagesOutput:
    images = [analysis_pb2.ImageAnalysis(image_id=image.image_id) for image in request.images]
    return activities_pb2.AnalyzeItemImagesOutput(
        analysis=analysis_pb2.ItemAnalysis(item_id=request.item_id, images=images),
        cache_hits=len(images),
    )


@workflow.defn(name="ConverterProbeWorkflow")
class ConverterProbeWorkflow:
    @workflow.run
    async def run(
        self, request: workflows_pb2.ItemImageProcessingWorkflowInput
    ) -> workflows_pb2.ItemImageProcessingWorkflowOutput:
        analysed = await workflow.execute_activity(
            analyze_item_images,
            activities_pb2.AnalyzeItemImagesInput(
                item_id=request.item_id, images=[item_pb2.ItemImage(image_id="image-1")]
            ),
            start_to_close_timeout=timedelta(seconds=30),
        )
        return workflows_pb2.ItemImageProcessingWorkflowOutput(
            item_id=analysed.analysis.item_id,
            state=run_pb2.RUN_STATE_SUCCEEDED,
            suggestions=analysis_pb2.ItemSuggestions(
                primary_image_id=analysed.analysis.images[0].image_id
            ),
        )


def _only_payload(events: dict[str, HistoryEvent], attributes: str, field: str) -> Payload:
    """The one payload in ``field`` of the event with ``attributes`` (e.g. the workflow input)."""
    payloads = getattr(getattr(events[attributes], attributes), field).payloads
    assert len(payloads) == 1
    payload: Payload = payloads[0]
    return payload


def _assert_binary(payload: Payload, expected: google.protobuf.message.Message) -> None:
    assert payload.metadata["encoding"] == BINARY_PROTOBUF.encode()
    assert payload.metadata["messageType"] == expected.DESCRIPTOR.full_name.encode()
    decoded = type(expected)()
    decoded.ParseFromString(payload.data)
    assert decoded == expected


async def test_workflow_and_activity_payloads_are_binary_protobuf_in_the_history() -> None:
    request = workflows_pb2.ItemImageProcessingWorkflowInput(item_id="item-1", request_id="r-1")
    async with (
        await start_dev_server() as env,
        Worker(
            env.client,
            task_queue=TASK_QUEUE,
            workflows=[ConverterProbeWorkflow],
            activities=[analyze_item_images],
        ),
    ):
        handle = await env.client.start_workflow(
            ConverterProbeWorkflow.run,
            request,
            id=f"converter-{uuid.uuid4()}",
            task_queue=TASK_QUEUE,
        )
        result = await handle.result()
        history = await handle.fetch_history()

    expected_result = workflows_pb2.ItemImageProcessingWorkflowOutput(
        item_id="item-1",
        state=run_pb2.RUN_STATE_SUCCEEDED,
        suggestions=analysis_pb2.ItemSuggestions(primary_image_id="image-1"),
    )
    assert result == expected_result

    events = {str(event.WhichOneof("attributes")): event for event in history.events}
    _assert_binary(
        _only_payload(events, "workflow_execution_started_event_attributes", "input"),
        request,
    )
    _assert_binary(
        _only_payload(events, "activity_task_scheduled_event_attributes", "input"),
        activities_pb2.AnalyzeItemImagesInput(
            item_id="item-1", images=[item_pb2.ItemImage(image_id="image-1")]
        ),
    )
    _assert_binary(
        _only_payload(events, "activity_task_completed_event_attributes", "result"),
        activities_pb2.AnalyzeItemImagesOutput(
            analysis=analysis_pb2.ItemAnalysis(
                item_id="item-1", images=[analysis_pb2.ImageAnalysis(image_id="image-1")]
            ),
            cache_hits=1,
        ),
    )
    _assert_binary(
        _only_payload(events, "workflow_execution_completed_event_attributes", "result"),
        expected_result,
    )
