"""Suggestions from a vision model end to end: client -> gRPC -> Temporal -> worker -> a stand-in
OpenAI-compatible server over real HTTP -> database, on a real dev server and both databases."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from e2e.system import System, jpeg, running_system, until_processed, worker_on
from temporalio.testing import WorkflowEnvironment

from bubble_client import AsyncProcessingClient, tasks
from bubble_client import messages as m
from bubble_worker.testing.vision_model_server import (
    VisionModelServer,
    error,
    vision_model_server,
)
from bubble_worker.vision.settings import VisionModelSettings

RATE_LIMIT = 2.0
"""Requests per second the tests allow the model."""


@pytest.fixture()
def model() -> Iterator[VisionModelServer]:
    with vision_model_server() as server:
        yield server


@pytest.fixture()
async def system(
    dev_server: WorkflowEnvironment, database_url: str, tmp_path: Path, model: VisionModelServer
) -> AsyncIterator[System]:
    vision = VisionModelSettings(
        url=model.url,
        model="stand-in-vlm",
        max_requests_per_second=RATE_LIMIT,
        task_queue=f"vision-{uuid.uuid4().hex[:8]}",
    )
    worker = worker_on(
        dev_server, database_url, tmp_path, analysis_processes=2, vision_model=vision
    )
    async with running_system(worker) as running:
        yield running


async def test_delay_returns_the_models_suggestions_and_a_rerun_asks_nothing(
    system: System, model: VisionModelServer
) -> None:
    def scenario() -> tuple[m.ItemSuggestions, m.ItemSuggestions]:
        client = tasks.configure(system.target, timeout=30)
        item = client.create_item(
            owner_id="u1", title="sneakers", description="Worn twice.", images=[jpeg(1), jpeg(2)]
        )
        first = tasks.process_item_images.delay(item.item_id).get(timeout=60)
        again = tasks.process_item_images.delay(item.item_id).get(timeout=60)
        return first, again

    first, again = await asyncio.to_thread(scenario)

    model_source = m.SuggestionSource.VISION_MODEL
    assert first.title == "Nike Air Max 90 sneakers"
    assert first.category == "Shoes > Sneakers"
    assert first.attributes == {"brand": "Nike", "model": "Air Max 90"}
    assert first.tags[:3] == ["sneakers", "nike", "running shoes"]
    assert first.colors  # the image facts stay
    sources = first.sources
    assert sources is not None
    assert (sources.title, sources.category, sources.model) == (
        model_source,
        model_source,
        "stand-in-vlm",
    )
    assert again == first
    [request] = model.received  # the rerun's answer came from the cache
    assert len(request.image_urls) == 2
    assert '"owner_title": "sneakers"' in request.user_text


async def test_a_busy_model_is_waited_for_and_a_refusing_one_leaves_the_image_facts(
    system: System, model: VisionModelServer
) -> None:
    model.replies += [error(429, "slow down", **{"Retry-After": "2"}), error(503, "loading")]
    async with AsyncProcessingClient(system.target, timeout=30) as client:
        busy = await client.create_item(owner_id="u2", title="lamp", images=[jpeg(3)])
        await client.start_item_processing(busy.item_id)
        await until_processed(client, busy.item_id)
        answered = await client.get_item(busy.item_id)

        model.default = error(401, "invalid api key")
        refused = await client.create_item(owner_id="u2", title="vase", images=[jpeg(4)])
        await client.start_item_processing(refused.item_id)
        await until_processed(client, refused.item_id)
        facts_only = await client.get_item(refused.item_id)

    assert answered.suggestions is not None
    assert answered.suggestions.category == "Shoes > Sneakers"
    first, second, third = (request.arrived for request in model.received[:3])
    assert second - first >= 2.0  # the server's Retry-After, not the policy's 1 s backoff
    assert third > second
    assert facts_only.status == m.ItemStatus.PROCESSED
    suggestions = facts_only.suggestions
    assert suggestions is not None
    assert not suggestions.category
    assert suggestions.title.startswith("vase in ")
    [warning] = suggestions.suggestion_warnings
    assert "HTTP 401" in warning
    assert len(model.received) == 4  # a refusal is not retried


async def test_the_model_never_sees_more_than_its_rate_limit(
    system: System, model: VisionModelServer
) -> None:
    count = 10
    async with AsyncProcessingClient(system.target, timeout=30) as client:
        item_ids = [
            (
                await client.create_item(owner_id="u3", title=f"cup {n}", images=[jpeg(50 + n)])
            ).item_id
            for n in range(count)
        ]
        batch = await client.start_batch_processing(item_ids, max_concurrency=count)
        async with asyncio.timeout(120):
            while True:
                status = (await client.get_status(batch_id=batch.batch_id)).batch_run
                assert status is not None
                if status.state not in (m.RunState.QUEUED, m.RunState.RUNNING):
                    break
                await asyncio.sleep(0.2)
        assert status.progress is not None
        assert status.progress.succeeded == count

    arrivals = sorted(request.arrived for request in model.received)
    assert len(arrivals) == count
    busiest = max(
        sum(1 for later in arrivals if start <= later < start + 1.0) for start in arrivals
    )
    assert busiest <= RATE_LIMIT, arrivals
    assert (arrivals[-1] - arrivals[0]) >= (count - 1) / RATE_LIMIT * 0.9, arrivals
