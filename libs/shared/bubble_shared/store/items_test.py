"""Creating and reading items, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from bubble.processing.v1 import analysis_pb2, item_pb2
from bubble_shared.store import (
    ItemAlreadyExistsError,
    ItemNotFoundError,
    ItemStore,
    NewImage,
)
from bubble_shared.store.conftest import FakeClock
from bubble_shared.store.models import Item, ItemImage

IMAGES = [
    NewImage(uri="items/a.jpg", filename="front.jpg", content_type="image/jpeg", size_bytes=10),
    NewImage(uri="items/b.png"),
]


def create(store: ItemStore, item_id: str | None = "item-1", owner_id: str = "owner-1") -> str:
    item = store.create_item(
        item_id=item_id, owner_id=owner_id, title="Jacket", description="Blue", images=IMAGES
    )
    return item.item_id


def test_create_item_returns_the_pending_item_with_positions_and_new_image_ids(
    store: ItemStore, clock: FakeClock
) -> None:
    item = store.create_item(
        item_id="item-1", owner_id="owner-1", title="Jacket", description="Blue", images=IMAGES
    )

    assert item.item_id == "item-1"
    assert item.owner_id == "owner-1"
    assert (item.title, item.description) == ("Jacket", "Blue")
    assert item.status == item_pb2.ITEM_STATUS_PENDING
    assert [image.position for image in item.images] == [0, 1]
    assert [image.uri for image in item.images] == ["items/a.jpg", "items/b.png"]
    first = item.images[0]
    assert (first.filename, first.content_type, first.size_bytes) == (
        "front.jpg",
        "image/jpeg",
        10,
    )
    assert all(re.fullmatch(r"[0-9a-f]{32}", image.image_id) for image in item.images)
    assert len({image.image_id for image in item.images}) == 2
    assert item.create_time.ToDatetime(tzinfo=UTC) == clock.now
    assert item.update_time == item.create_time
    assert not item.HasField("processed_time")
    assert not item.HasField("suggestions")
    assert not item.HasField("last_error")
    assert (item.current_workflow_id, item.last_workflow_id) == ("", "")
    assert store.get_item("item-1") == item


def test_create_item_without_id_picks_a_uuid(store: ItemStore) -> None:
    item_id = create(store, item_id=None)

    assert re.fullmatch(r"[0-9a-f]{32}", item_id)
    assert store.get_item(item_id).item_id == item_id


def test_create_item_refuses_a_taken_id(store: ItemStore) -> None:
    create(store)

    with pytest.raises(ItemAlreadyExistsError, match="item-1"):
        create(store, owner_id="someone else")
    assert store.get_item("item-1").owner_id == "owner-1"


def test_concurrent_creates_of_one_id_create_it_once(store: ItemStore) -> None:
    barrier = threading.Barrier(4)

    def attempt(_: int) -> str:
        barrier.wait()
        try:
            create(store)
        except ItemAlreadyExistsError:
            return "exists"
        return "created"

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = sorted(pool.map(attempt, range(4)))

    assert results == ["created", "exists", "exists", "exists"]


@pytest.mark.parametrize("item_id", ["", "has space", "slash/ed", "x" * 129, "ünïcode"])
def test_create_item_refuses_malformed_ids(store: ItemStore, item_id: str) -> None:
    with pytest.raises(ValueError, match="invalid item ID"):
        create(store, item_id=item_id)


def test_create_item_accepts_the_longest_id(store: ItemStore) -> None:
    assert create(store, item_id="a" * 128) == "a" * 128


def test_get_item_of_a_missing_item_raises(store: ItemStore) -> None:
    with pytest.raises(ItemNotFoundError, match="nope"):
        store.get_item("nope")


def test_basic_view_omits_image_analysis_and_full_view_has_it(
    store: ItemStore, engine: Engine
) -> None:
    item_id = create(store)
    analysis = analysis_pb2.ImageAnalysis(format="JPEG", width=3, height=4)
    with Session(engine) as session, session.begin():
        image = session.scalars(select(ItemImage).where(ItemImage.position == 0)).one()
        image.analysis = analysis.SerializeToString()

    full = store.get_item(item_id)
    default = store.get_item(item_id, view=item_pb2.ITEM_VIEW_UNSPECIFIED)
    basic = store.get_item(item_id, view=item_pb2.ITEM_VIEW_BASIC)

    assert full.images[0].analysis == analysis
    assert default == full
    assert not basic.images[0].HasField("analysis")
    assert [image.image_id for image in basic.images] == [image.image_id for image in full.images]


def test_get_item_refuses_an_unknown_view(store: ItemStore) -> None:
    item_id = create(store)

    with pytest.raises(ValueError, match="view"):
        store.get_item(item_id, view=99)


def test_timestamps_are_timezone_aware_utc_in_the_database(engine: Engine) -> None:
    store = ItemStore(engine)  # the real clock
    before = datetime.now(UTC)
    item_id = create(store)
    after = datetime.now(UTC)

    with Session(engine) as session:
        row = session.get_one(Item, item_id)
        assert row.create_time.tzinfo is UTC
        assert row.update_time.tzinfo is UTC
        assert before <= row.create_time <= after
    assert store.get_item(item_id).create_time.ToDatetime(tzinfo=UTC) == row.create_time


def test_deleting_an_item_deletes_its_images(store: ItemStore, engine: Engine) -> None:
    item_id = create(store)

    with Session(engine) as session, session.begin():
        session.execute(delete(Item).where(Item.item_id == item_id))
    with Session(engine) as session:
        assert session.scalars(select(ItemImage)).all() == []
