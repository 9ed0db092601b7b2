"""A dashboard served by uvicorn on a free loopback port, over a real database (SQLite and
PostgreSQL) and a real media folder, asked with httpx; items are written as a worker writes them,
thumbnails are real files."""

from __future__ import annotations

import asyncio
import contextlib
import io
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from PIL import Image
from starlette.types import ASGIApp

from bubble.processing.v1 import analysis_pb2, run_pb2
from bubble_service.dashboard.app import Stores, create_app
from bubble_service.dashboard.settings import DashboardSettings
from bubble_service.principals import parse_auth_tokens
from bubble_shared.settings import StoreSettings
from bubble_shared.store import BatchStore, Browsing, ItemStore, NewImage, RunWrites, create_engine

UI = "http://temporal-ui.test:8233"
TOKEN_A = "dashboard-token-owner-a-0123"
TOKEN_ALL = "dashboard-token-everyone-0123"
AUTH_TOKENS = f"{TOKEN_A}=owner-a,{TOKEN_ALL}=*"


@dataclass
class Site:
    client: httpx.Client
    items: ItemStore
    run_writes: RunWrites
    batches: BatchStore
    media_root: Path

    def thumbnail_file(self, name: str, *, colour: str = "red") -> str:
        """A real 128 px WebP under the media root; its URI."""
        path = self.media_root / "thumbnails" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        Image.new("RGB", (128, 96), colour).save(buffer, "WEBP")
        path.write_bytes(buffer.getvalue())
        return f"thumbnails/{name}"

    def item(
        self,
        item_id: str,
        *,
        owner_id: str = "owner-a",
        title: str = "Wool scarf",
        thumbnail_uri: str | None = None,
        suggestions: analysis_pb2.ItemSuggestions | None = None,
        error: run_pb2.ProcessingError | None = None,
    ) -> None:
        """An item, processed as a worker would leave it when ``suggestions`` or ``error``."""
        created = self.items.create_item(
            item_id=item_id,
            owner_id=owner_id,
            title=title,
            description="",
            images=[NewImage(uri=f"items/{item_id}.jpg", filename=f"{item_id}.jpg")],
        )
        if suggestions is None and error is None:
            return
        image_id = created.images[0].image_id
        run: dict[str, Any] = {
            "item_id": item_id,
            "workflow_id": f"item-processing/{item_id}",
            "run_id": str(uuid.uuid4()),
            "run_start_time": datetime.now(UTC),
        }
        self.run_writes.claim_item(**run, force=False)
        if error is not None:
            self.run_writes.mark_failed(**run, error=error, cancelled=False)
            return
        assert suggestions is not None
        thumbnails = []
        if thumbnail_uri is not None:
            thumbnails = [
                analysis_pb2.Thumbnail(
                    uri=thumbnail_uri, width=128, height=96, content_type="image/webp"
                )
            ]
        suggestions.primary_image_id = image_id
        suggestions.primary_thumbnails.extend(thumbnails)
        analysis = analysis_pb2.ItemAnalysis(
            item_id=item_id,
            images=[analysis_pb2.ImageAnalysis(image_id=image_id, thumbnails=thumbnails)],
        )
        self.run_writes.apply_suggestions(**run, analysis=analysis, suggestions=suggestions)


def make_site(
    database_url: str, tmp_path: Path, *, auth_tokens: str = "", page_size: int = 50
) -> Iterator[Site]:
    media_root = tmp_path / "media"
    media_root.mkdir(exist_ok=True)
    tokens, problems = parse_auth_tokens(auth_tokens) if auth_tokens else ({}, [])
    assert not problems
    settings = DashboardSettings(
        store=StoreSettings(database_url=database_url, media_root=media_root),
        temporal_ui_url=UI,
        page_size=page_size,
        progress_poll_seconds=0.05,
        auth_tokens=tokens,
    )
    engine = create_engine(database_url)
    stores = Stores(ItemStore(engine), BatchStore(engine), Browsing(engine))
    with (
        serving(create_app(settings, stores)) as base_url,
        httpx.Client(base_url=base_url, follow_redirects=False, timeout=10) as client,
    ):
        yield Site(client, stores.items, RunWrites(engine), stores.batches, media_root)
    engine.dispose()


@contextlib.contextmanager
def serving(app: ASGIApp) -> Iterator[str]:
    """``app`` on uvicorn in a thread of this process, on a free loopback port: its base URL."""
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan="off", log_config=None, timeout_graceful_shutdown=1)
    )
    thread = threading.Thread(target=asyncio.run, args=(server.serve(sockets=[listening]),))
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive(), "uvicorn stopped before it served"
            assert time.monotonic() < deadline, "uvicorn did not start in 10 s"
            time.sleep(0.01)
        yield f"http://127.0.0.1:{listening.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listening.close()


@pytest.fixture()
def site(database_url: str, tmp_path: Path) -> Iterator[Site]:
    yield from make_site(database_url, tmp_path, page_size=2)


@pytest.fixture()
def secured_site(database_url: str, tmp_path: Path) -> Iterator[Site]:
    yield from make_site(database_url, tmp_path, auth_tokens=AUTH_TOKENS)
