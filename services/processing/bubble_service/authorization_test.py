"""Per-owner authorization, through the Python client (ProcessingClient with token=...) against
the real server, on a real dev server (no worker) and a real database (SQLite and PostgreSQL).

The tokens (conftest.AUTH_TOKENS): TOKEN_A acts for owner-a, TOKEN_AB for owner-a and owner-b,
TOKEN_ALL for every owner ('*'), TOKEN_BARE (no '=') for every owner too. Whatever a token may
not see reads exactly as what does not exist: same code, reason and message, IDs aside.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import grpc
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from bubble_client import ProcessingClient, ProcessingServiceError
from bubble_client import messages as m
from bubble_service.conftest import (
    TOKEN_A,
    TOKEN_AB,
    TOKEN_ALL,
    TOKEN_BARE,
    Harness,
    workflow_runs,
)
from bubble_shared.store import BatchWindows, StartPlan

T = TypeVar("T")
MISSING = "ghost-1"
CANCEL_REQUESTED = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED


async def as_token(harness: Harness, token: str, call: Callable[[ProcessingClient], T]) -> T:
    """``call`` with a blocking client holding ``token``, in a thread (the server runs on this
    event loop)."""

    def run() -> T:
        with ProcessingClient(harness.address, token=token, timeout=10) as client:
            return call(client)

    return await asyncio.to_thread(run)


@dataclass(frozen=True)
class Failure:
    code: grpc.StatusCode
    reason: str
    message: str
    metadata: dict[str, str]

    def naming(self, real_id: str, shown_id: str = "ID") -> Failure:
        """The failure with ``real_id`` replaced, to compare answers about different IDs."""
        return Failure(
            self.code,
            self.reason,
            self.message.replace(real_id, shown_id),
            {k: v.replace(real_id, shown_id) for k, v in self.metadata.items()},
        )


async def failure(
    harness: Harness, token: str, call: Callable[[ProcessingClient], object]
) -> Failure:
    with pytest.raises(ProcessingServiceError) as raised:
        await as_token(harness, token, call)
    error = raised.value
    return Failure(error.code, error.reason, error.message, error.metadata)


async def cancel_requested(dev_server: WorkflowEnvironment, workflow_id: str) -> bool:
    """Whether anyone asked Temporal to cancel the (still running) workflow."""
    handle = dev_server.client.get_workflow_handle(workflow_id)
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    history = await handle.fetch_history()
    return any(event.event_type == CANCEL_REQUESTED for event in history.events)


def first_page(harness: Harness, batch_id: str, run_id: str) -> StartPlan:
    """What the batch workflow plans first: the members it will start."""
    return BatchWindows(harness.batches.engine).plan(
        batch_id,
        next_position=0,
        max_concurrency=100,
        run_id=run_id,
        continued_as_new_count=0,
        time=datetime.now(UTC),
    )


def items_of_three_owners(harness: Harness) -> None:
    for item_id, owner in [
        ("a-1", "owner-a"),
        ("a-2", "owner-a"),
        ("b-1", "owner-b"),
        ("c-1", "owner-c"),
    ]:
        harness.new_item(item_id, owner_id=owner)


async def test_another_owners_item_reads_as_a_missing_one(secured_harness: Harness) -> None:
    items_of_three_owners(secured_harness)

    mine = await as_token(secured_harness, TOKEN_A, lambda c: c.get_item("a-1"))
    foreign = await failure(secured_harness, TOKEN_A, lambda c: c.get_item("b-1"))
    missing = await failure(secured_harness, TOKEN_A, lambda c: c.get_item(MISSING))

    assert mine.owner_id == "owner-a"
    assert foreign.code == grpc.StatusCode.NOT_FOUND
    assert foreign.naming("b-1") == missing.naming(MISSING)
    for token in (TOKEN_AB, TOKEN_ALL, TOKEN_BARE):
        item = await as_token(secured_harness, token, lambda c: c.get_item("b-1"))
        assert item.owner_id == "owner-b"


async def test_creating_an_item_for_another_owner_is_permission_denied(
    secured_harness: Harness,
) -> None:
    def create(owner_id: str) -> Callable[[ProcessingClient], m.Item]:
        return lambda c: c.create_item(owner_id=owner_id, title="Scarf", images=["items/a.jpg"])

    denied = await failure(secured_harness, TOKEN_A, create("owner-b"))
    created = await as_token(secured_harness, TOKEN_A, create("owner-a"))
    by_bare = await as_token(secured_harness, TOKEN_BARE, create("owner-c"))

    assert (denied.code, denied.reason, denied.metadata) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "OWNER_NOT_ALLOWED",
        {"owner_id": "owner-b"},
    )
    assert (created.owner_id, by_bare.owner_id) == ("owner-a", "owner-c")
    assert secured_harness.items() == 2


async def test_list_items_shows_only_the_tokens_owners(secured_harness: Harness) -> None:
    items_of_three_owners(secured_harness)

    async def listed(token: str, owner_id: str = "") -> set[str]:
        items = await as_token(
            secured_harness, token, lambda c: list(c.list_items(owner_id=owner_id, page_size=1))
        )
        return {item.item_id for item in items}

    assert await listed(TOKEN_A) == {"a-1", "a-2"}
    assert await listed(TOKEN_A, "owner-a") == {"a-1", "a-2"}
    assert await listed(TOKEN_AB) == {"a-1", "a-2", "b-1"}
    assert await listed(TOKEN_ALL) == await listed(TOKEN_BARE) == {"a-1", "a-2", "b-1", "c-1"}
    denied = await failure(
        secured_harness, TOKEN_A, lambda c: list(c.list_items(owner_id="owner-b"))
    )
    assert (denied.code, denied.reason) == (grpc.StatusCode.PERMISSION_DENIED, "OWNER_NOT_ALLOWED")


async def test_starting_another_owners_item_is_not_found_and_starts_nothing(
    secured_harness: Harness, dev_server: WorkflowEnvironment
) -> None:
    items_of_three_owners(secured_harness)

    foreign = await failure(secured_harness, TOKEN_A, lambda c: c.start_item_processing("b-1"))
    missing = await failure(secured_harness, TOKEN_A, lambda c: c.start_item_processing(MISSING))

    assert foreign.code == grpc.StatusCode.NOT_FOUND
    assert foreign.naming("b-1") == missing.naming(MISSING)
    assert await workflow_runs(dev_server.client, "item-processing/b-1") == 0


async def test_runs_of_another_owners_item_read_as_missing_and_cannot_be_cancelled(
    secured_harness: Harness, dev_server: WorkflowEnvironment
) -> None:
    items_of_three_owners(secured_harness)
    started = await as_token(
        secured_harness,
        TOKEN_ALL,
        lambda c: c.start_item_processing("b-1", start_delay=timedelta(minutes=5)),
    )
    calls: dict[str, Callable[[str], Callable[[ProcessingClient], object]]] = {
        "GetStatus by item": lambda i: lambda c: c.get_status(item_id=i),
        "GetStatus by workflow": lambda i: (
            lambda c: c.get_status(workflow_id=f"item-processing/{i}")
        ),
        "WatchStatus": lambda i: lambda c: next(iter(c.watch_status(item_id=i, timeout=5))),
        "WatchStatus by workflow": lambda i: (
            lambda c: next(iter(c.watch_status(workflow_id=f"item-processing/{i}", timeout=5)))
        ),
        "CancelProcessing by item": lambda i: lambda c: c.cancel_processing(item_id=i),
        "CancelProcessing by workflow": lambda i: (
            lambda c: c.cancel_processing(workflow_id=f"item-processing/{i}")
        ),
    }

    for name, call in calls.items():
        foreign = await failure(secured_harness, TOKEN_A, call("b-1"))
        missing = await failure(secured_harness, TOKEN_A, call(MISSING))
        assert foreign.code == grpc.StatusCode.NOT_FOUND, name
        assert foreign.naming("b-1") == missing.naming(MISSING), name

    status = await as_token(secured_harness, TOKEN_AB, lambda c: c.get_status(item_id="b-1"))
    assert status.item_run is not None
    assert (status.item_run.run_id, status.item_run.state) == (started.run_id, m.RunState.QUEUED)
    assert not await cancel_requested(dev_server, started.workflow_id)


async def test_a_request_id_never_replays_another_tokens_answer(
    secured_harness: Harness,
) -> None:
    items_of_three_owners(secured_harness)
    item_request, batch_request = str(uuid.uuid4()), str(uuid.uuid4())
    await as_token(
        secured_harness,
        TOKEN_ALL,
        lambda c: c.start_item_processing(
            "b-1", start_delay=timedelta(minutes=5), request_id=item_request
        ),
    )
    await as_token(
        secured_harness,
        TOKEN_ALL,
        lambda c: c.start_batch_processing(["a-1"], request_id=batch_request),
    )

    item_retry = await failure(
        secured_harness,
        TOKEN_A,
        lambda c: c.start_item_processing(
            "b-1", start_delay=timedelta(minutes=5), request_id=item_request
        ),
    )
    batch_retry = await failure(
        secured_harness,
        TOKEN_A,
        lambda c: c.start_batch_processing(["a-1"], request_id=batch_request),
    )

    assert (item_retry.code, item_retry.reason) == (grpc.StatusCode.NOT_FOUND, "ITEM_NOT_FOUND")
    # The same fields from a token of other owners are another request, never the first answer.
    assert (batch_retry.code, batch_retry.reason) == (
        grpc.StatusCode.ALREADY_EXISTS,
        "REQUEST_ID_REUSED",
    )


async def test_listed_items_of_other_owners_count_as_unknown_ids_and_never_run(
    secured_harness: Harness,
) -> None:
    items_of_three_owners(secured_harness)

    started = await as_token(
        secured_harness,
        TOKEN_A,
        lambda c: c.start_batch_processing(["a-1", "b-1", MISSING, "c-1", "a-2"]),
    )

    assert started.accepted_item_count == 5
    assert started.status is not None
    assert started.status.progress is not None
    progress = started.status.progress
    assert (progress.total, progress.failed, progress.pending) == (5, 3, 2)
    # Another owner's item and an unknown ID cannot be told apart.
    assert list(started.status.failed_item_ids) == ["b-1", MISSING, "c-1"]
    # What the batch workflow reads: only owner-a's items, then nothing more.
    page = first_page(secured_harness, started.batch_id, started.run_id)
    assert (page.item_ids, page.all_read) == (["a-1", "a-2"], True)


async def test_selectors_reach_only_the_tokens_owners(secured_harness: Harness) -> None:
    items_of_three_owners(secured_harness)
    pending = [m.ItemStatus.PENDING]

    denied = await failure(
        secured_harness,
        TOKEN_A,
        lambda c: c.start_batch_processing(
            selector=m.ItemSelector(owner_id="owner-b", statuses=pending)
        ),
    )
    totals = {}
    for token in (TOKEN_A, TOKEN_AB, TOKEN_ALL):
        started = await as_token(
            secured_harness,
            token,
            lambda c: c.start_batch_processing(selector=m.ItemSelector(statuses=pending)),
        )
        assert started.status is not None
        assert started.status.progress is not None
        totals[token] = started.status.progress.total
        if token == TOKEN_A:
            page = first_page(secured_harness, started.batch_id, started.run_id)
            assert page.item_ids == ["a-1", "a-2"]

    assert (denied.code, denied.reason) == (grpc.StatusCode.PERMISSION_DENIED, "OWNER_NOT_ALLOWED")
    assert totals == {TOKEN_A: 2, TOKEN_AB: 3, TOKEN_ALL: 4}


async def test_a_batch_is_seen_only_by_tokens_allowed_for_all_its_owners(
    secured_harness: Harness, dev_server: WorkflowEnvironment
) -> None:
    items_of_three_owners(secured_harness)
    of_a_and_b = await as_token(
        secured_harness,
        TOKEN_AB,
        lambda c: c.start_batch_processing(
            selector=m.ItemSelector(statuses=[m.ItemStatus.PENDING])
        ),
    )
    of_everyone = await as_token(
        secured_harness, TOKEN_ALL, lambda c: c.start_batch_processing(["a-1", "c-1"])
    )
    of_a = await as_token(
        secured_harness,
        TOKEN_ALL,
        lambda c: c.start_batch_processing(selector=m.ItemSelector(owner_id="owner-a")),
    )
    calls: dict[str, Callable[[str], Callable[[ProcessingClient], object]]] = {
        "GetStatus": lambda b: lambda c: c.get_status(batch_id=b),
        "GetStatus by workflow": lambda b: lambda c: c.get_status(workflow_id=f"item-batch/{b}"),
        "WatchStatus": lambda b: lambda c: next(iter(c.watch_status(batch_id=b, timeout=5))),
        "CancelProcessing": lambda b: lambda c: c.cancel_processing(batch_id=b),
    }

    for batch_id, denied_tokens in [
        (of_a_and_b.batch_id, [TOKEN_A]),
        (of_everyone.batch_id, [TOKEN_A, TOKEN_AB]),
    ]:
        for token in denied_tokens:
            for name, call in calls.items():
                hidden = await failure(secured_harness, token, call(batch_id))
                missing = await failure(secured_harness, token, call("no-such-batch"))
                assert hidden.code == grpc.StatusCode.NOT_FOUND, name
                assert hidden.naming(batch_id) == missing.naming("no-such-batch"), name

    for token in (TOKEN_AB, TOKEN_ALL, TOKEN_BARE):
        seen = await as_token(
            secured_harness, token, lambda c: c.get_status(batch_id=of_a_and_b.batch_id)
        )
        assert seen.batch_run is not None
        assert seen.batch_run.batch_id == of_a_and_b.batch_id
    for token in (TOKEN_A, TOKEN_AB):
        seen = await as_token(
            secured_harness, token, lambda c: c.get_status(batch_id=of_a.batch_id)
        )
        assert seen.batch_run is not None
        assert seen.batch_run.batch_id == of_a.batch_id
    # The denied cancellations reached nothing.
    for started in (of_a_and_b, of_everyone):
        assert not await cancel_requested(dev_server, started.workflow_id)
