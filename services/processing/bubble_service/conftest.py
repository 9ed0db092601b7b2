"""Fixtures of the service tests: a real grpc.aio server on a free loopback port, in this process,
with a real database (SQLite and PostgreSQL) and, where runs are involved, a real Temporal dev
server. No worker runs unless a test starts one with its own stand-in workflows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from sqlalchemy import Engine, func, select
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bubble.processing.v1 import run_pb2, service_pb2_grpc
from bubble_service.principals import parse_auth_tokens
from bubble_service.server import Service, start
from bubble_service.settings import ServiceSettings
from bubble_service.testing.stand_in_activities import StandInActivities
from bubble_service.testing.stand_ins import STAND_INS
from bubble_shared.settings import StoreSettings, TemporalSettings
from bubble_shared.store import (
    BatchStore,
    ItemStore,
    NewImage,
    RunRecords,
    RunStep,
    RunWrites,
    create_engine,
)
from bubble_shared.store.models import Item, RequestRecord
from bubble_shared.testing.fixtures import database_url, dev_server  # noqa: F401

# Nothing listens on port 1: a lazy client fails at once with a connection error.
_UNREACHABLE = TemporalSettings(address="127.0.0.1:1")
# Real JPEG/PNG signatures with a little padding: the service only sniffs the first bytes.
JPEG_BYTES = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 32
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32

# Tokens of the secured harness, each acting for other owners (AUTH_TOKENS' own syntax).
TOKEN_A = "token-of-owner-a-0123456789"
TOKEN_AB = "token-of-owners-a-b-0123456789"
TOKEN_ALL = "token-of-every-owner-0123456789"
TOKEN_BARE = "bare-legacy-token-0123456789"
AUTH_TOKENS = f"{TOKEN_A}=owner-a,{TOKEN_AB}=owner-a|owner-b,{TOKEN_ALL}=*,{TOKEN_BARE}"


@pytest.fixture()
def settings(database_url: str, tmp_path: Path) -> ServiceSettings:
    media_root = tmp_path / "media"
    media_root.mkdir()
    return ServiceSettings(
        store=StoreSettings(database_url=database_url, media_root=media_root),
        host="127.0.0.1",
        port=0,
        metrics_port=0,
        health_check_interval_seconds=0.2,
        watch_poll_interval_seconds=0.1,
        shutdown_grace_seconds=2,
    )


@dataclass
class Harness:
    """A running service and what a test needs to talk to it and look behind it."""

    service: Service
    channel: grpc.aio.Channel
    stub: service_pb2_grpc.ItemProcessingServiceAsyncStub
    engine: Engine
    store: ItemStore
    run_writes: RunWrites
    runs: RunRecords
    """The item runs' rows: a test writes the steps a worker would."""
    batches: BatchStore
    settings: ServiceSettings

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.service.port}"

    def count(self, model: Any) -> int:
        with self.engine.connect() as connection:
            return int(connection.scalar(select(func.count()).select_from(model)) or 0)

    def items(self) -> int:
        return self.count(Item)

    def request_records(self) -> int:
        return self.count(RequestRecord)

    def media_files(self) -> list[Path]:
        return sorted(p for p in self.settings.store.media_root.rglob("*") if p.is_file())

    def new_item(self, item_id: str = "item-1", owner_id: str = "owner-1") -> str:
        self.store.create_item(
            item_id=item_id,
            owner_id=owner_id,
            title="",
            description="",
            images=[NewImage(uri="items/a.jpg")],
        )
        return item_id

    def step(
        self,
        run_id: str,
        state: run_pb2.RunState.ValueType,
        stage: run_pb2.ProcessingStage.ValueType,
        *,
        item_id: str = "item-1",
        **fields: Any,
    ) -> None:
        """Records a step of an item run as a worker would. Times default to now."""
        fields.setdefault("queue_time", datetime.now(UTC))
        fields.setdefault("time", fields["queue_time"])
        self.runs.record(
            RunStep(
                item_id=item_id,
                workflow_id=f"item-processing/{item_id}",
                run_id=run_id,
                state=state,
                stage=stage,
                **fields,
            )
        )

    @asynccontextmanager
    async def worker(self, client: Client) -> AsyncIterator[Worker]:
        """A worker running the stand-in workflows (not the real worker) on the service's item
        and batch queues."""
        activities = StandInActivities(self.runs, self.batches).activities()
        temporal = self.settings.temporal
        async with (
            Worker(
                client, task_queue=temporal.task_queue, workflows=STAND_INS, activities=activities
            ) as running,
            Worker(
                client,
                task_queue=temporal.batch_task_queue,
                workflows=STAND_INS,
                activities=activities,
            ),
        ):
            yield running


async def workflow_runs(client: Client, workflow_id: str) -> int:
    """How many runs Temporal has of this workflow ID."""
    return len([w async for w in client.list_workflows(f"WorkflowId = '{workflow_id}'")])


async def open_harness(settings: ServiceSettings, client: Client | None) -> Harness:
    service = await start(settings, client=client)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.port}")
    engine = create_engine(settings.store.database_url)
    return Harness(
        service=service,
        channel=channel,
        stub=service_pb2_grpc.ItemProcessingServiceStub(channel),
        engine=engine,
        store=ItemStore(engine),
        run_writes=RunWrites(engine),
        runs=RunRecords(engine),
        batches=BatchStore(engine),
        settings=settings,
    )


async def close_harness(harness: Harness) -> None:
    await harness.channel.close()
    await harness.service.stop(grace_seconds=1)
    harness.engine.dispose()


@pytest.fixture()
async def harness(
    settings: ServiceSettings, dev_server: WorkflowEnvironment
) -> AsyncIterator[Harness]:
    """The service on a dev server (no worker) and a fresh database."""
    running = await open_harness(settings, dev_server.client)
    yield running
    await close_harness(running)


@pytest.fixture()
async def secured_harness(
    settings: ServiceSettings, dev_server: WorkflowEnvironment
) -> AsyncIterator[Harness]:
    """The service on a dev server with the tokens of ``AUTH_TOKENS``, each for other owners."""
    tokens, problems = parse_auth_tokens(AUTH_TOKENS)
    assert not problems
    running = await open_harness(replace(settings, auth_tokens=tokens), dev_server.client)
    yield running
    await close_harness(running)


@pytest.fixture()
async def harness_small_uploads(settings: ServiceSettings) -> AsyncIterator[Harness]:
    """Without Temporal (the item RPCs do not need it), a 1 KiB cap on inline images."""
    running = await open_harness(
        replace(settings, max_inline_image_bytes=1024, temporal=_UNREACHABLE), None
    )
    yield running
    await close_harness(running)


@pytest.fixture()
async def offline_harness(settings: ServiceSettings) -> AsyncIterator[Harness]:
    """The service pointed at a Temporal address where nothing listens."""
    running = await open_harness(replace(settings, temporal=_UNREACHABLE), None)
    yield running
    await close_harness(running)


@dataclass(frozen=True)
class RichError:
    code: grpc.StatusCode
    message: str
    reason: str
    domain: str
    metadata: dict[str, str]
    fields: list[str]


def rich_error(error: grpc.aio.AioRpcError) -> RichError:
    """The status of a failed call with its google.rpc details decoded."""
    info = error_details_pb2.ErrorInfo()
    bad_request = error_details_pb2.BadRequest()
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            assert isinstance(value, bytes)
            status = status_pb2.Status.FromString(value)
            assert status.code == error.code().value[0]
            assert status.message == error.details()
            for detail in status.details:
                if detail.Is(info.DESCRIPTOR):
                    detail.Unpack(info)
                elif detail.Is(bad_request.DESCRIPTOR):
                    detail.Unpack(bad_request)
    return RichError(
        code=error.code(),
        message=error.details() or "",
        reason=info.reason,
        domain=info.domain,
        metadata=dict(info.metadata),
        fields=[violation.field for violation in bad_request.field_violations],
    )


async def expect_error(call: Any) -> RichError:
    """Awaits a call that must fail and returns its decoded error."""
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    return rich_error(raised.value)
