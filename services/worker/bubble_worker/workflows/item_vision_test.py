"""ItemImageProcessingWorkflow with a vision model: asked only when the analysis names one, on
its own queue, retried after its Retry-After, and never the reason a run fails."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from itertools import pairwise

import pytest
from sqlalchemy import Engine
from temporalio.exceptions import ApplicationError

from bubble.processing.v1 import activities_pb2, run_pb2, workflows_pb2
from bubble_shared.temporal import names
from bubble_shared.testing.temporal_servers import start_dev_server
from bubble_worker import error_codes
from bubble_worker.testing.fakes import (
    MODEL_SUGGESTIONS,
    FakeActivities,
    FakeVisionModel,
    Harness,
    running_harness,
    serving_vision_model,
    suggestions_for,
)
from bubble_worker.workflows import policies
from bubble_worker.workflows.item import ItemImageProcessingWorkflow


@pytest.fixture()
async def model(harness: Harness) -> AsyncIterator[FakeVisionModel]:
    async with serving_vision_model(harness) as fake:
        yield fake


async def _run(harness: Harness) -> workflows_pb2.ItemImageProcessingWorkflowOutput:
    return await harness.client.execute_workflow(
        ItemImageProcessingWorkflow.run,
        workflows_pb2.ItemImageProcessingWorkflowInput(
            item_id="item-1", analysis_task_queue=harness.analysis_task_queue
        ),
        id=f"{names.item_workflow_id('item-1')}-{uuid.uuid4().hex[:6]}",
        task_queue=harness.task_queue,
    )


async def test_without_a_model_nothing_is_asked(harness: Harness) -> None:
    output = await _run(harness)

    [update] = harness.fakes.updates
    assert update.suggestions == suggestions_for("item-1") == output.suggestions


async def test_the_models_suggestions_are_written(harness: Harness, model: FakeVisionModel) -> None:
    output = await _run(harness)

    [asked] = model.calls
    assert asked.item_id == "item-1"
    assert asked.suggestions == suggestions_for("item-1")
    [update] = harness.fakes.updates
    assert update.suggestions == MODEL_SUGGESTIONS == output.suggestions
    assert output.state == run_pb2.RUN_STATE_SUCCEEDED


async def test_a_busy_model_is_asked_again_after_its_retry_after(
    fakes: FakeActivities, engine: Engine
) -> None:
    """On a real dev server: the time-skipping test server retries the first failure at once,
    whatever its next_retry_delay (Temporal's server honours it every time)."""

    def busy_twice(attempt: int) -> activities_pb2.SuggestWithVisionModelOutput:
        if attempt <= 2:
            raise ApplicationError(
                "the vision model answered HTTP 429",
                type=error_codes.VISION_MODEL_UNAVAILABLE,
                next_retry_delay=timedelta(seconds=1.5),
            )
        return activities_pb2.SuggestWithVisionModelOutput(suggestions=MODEL_SUGGESTIONS)

    async with (
        await start_dev_server() as env,
        running_harness(env, fakes, engine) as harness,
        serving_vision_model(harness) as model,
    ):
        model.behaviour = busy_twice
        output = await _run(harness)

    assert output.suggestions == MODEL_SUGGESTIONS
    times = model.attempt_times
    gaps = [later - earlier for earlier, later in pairwise(times)]
    assert len(gaps) == 2
    # The policy's own backoff would retry after 100 ms (the tests' cap), then 200 ms.
    assert all(gap >= timedelta(seconds=1.5) for gap in gaps), gaps


@pytest.mark.parametrize("final", [True, False])
async def test_a_model_that_refuses_or_stays_down_leaves_the_image_facts(
    harness: Harness, model: FakeVisionModel, final: bool
) -> None:
    policies.configure(
        policies.RetryBudget(budget=timedelta(seconds=3), max_interval=timedelta(milliseconds=200))
    )

    def failing(_: int) -> activities_pb2.SuggestWithVisionModelOutput:
        if final:
            raise ApplicationError(
                "the vision model refused the request with HTTP 401: bad key",
                type=error_codes.VISION_MODEL_REFUSED,
                non_retryable=True,
            )
        raise ApplicationError(
            "the vision model answered HTTP 503", type=error_codes.VISION_MODEL_UNAVAILABLE
        )

    model.behaviour = failing

    output = await _run(harness)

    assert output.state == run_pb2.RUN_STATE_SUCCEEDED
    assert harness.fakes.failures == []
    [update] = harness.fakes.updates
    suggestions = update.suggestions
    assert suggestions.title == suggestions_for("item-1").title
    assert suggestions.sources.model == "llava"
    [warning] = suggestions.suggestion_warnings
    assert warning.startswith("the vision model gave no suggestions: ")
    assert ("HTTP 401" in warning) if final else ("timed out" in warning or "503" in warning)
    assert len(model.calls) == 1 if final else len(model.calls) > 1
    assert [n.kind for n in harness.fakes.notifications] == [
        activities_pb2.NOTIFICATION_KIND_PROCESSED
    ]
