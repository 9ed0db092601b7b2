"""ListItems: keyset pagination, filters and page tokens, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, event

from bubble.processing.v1 import analysis_pb2, item_pb2, run_pb2
from bubble_shared.store import InvalidPageTokenError, ItemStore, NewImage, RunWrites
from bubble_shared.store.conftest import FakeClock

PENDING = item_pb2.ITEM_STATUS_PENDING
PROCESSING = item_pb2.ITEM_STATUS_PROCESSING
FAILED = item_pb2.ITEM_STATUS_FAILED

# (item_id, owner_id, seconds after the first item): i2, i3 and i4 share a create_time, and so
# do i6 and i7, so item_id has to break ties (also across a page boundary).
LAYOUT = [
    ("i1", "a", 0),
    ("i2", "b", 1),
    ("i3", "a", 1),
    ("i4", "a", 1),
    ("i5", "a", 2),
    ("i6", "b", 3),
    ("i7", "a", 3),
    ("i8", "a", 4),
    ("i9", "a", 5),
]
NEWEST_FIRST = ["i9", "i8", "i7", "i6", "i5", "i4", "i3", "i2", "i1"]


@pytest.fixture(autouse=True)
def _items(store: ItemStore, run_writes: RunWrites, clock: FakeClock) -> None:
    """The items of LAYOUT; i3, i6 and i8 are PROCESSING, i5 FAILED, the others PENDING."""
    start = clock.now
    for item_id, owner_id, seconds in LAYOUT:
        clock.now = start
        clock.advance(seconds)
        store.create_item(
            item_id=item_id,
            owner_id=owner_id,
            title=item_id,
            description="",
            images=[NewImage(uri=f"{item_id}/0.jpg"), NewImage(uri=f"{item_id}/1.jpg")],
        )
    run_start = datetime(2026, 2, 1, tzinfo=UTC)
    for item_id in ["i3", "i5", "i6", "i8"]:
        run_writes.claim_item(
            item_id=item_id, workflow_id=item_id, run_id="r", run_start_time=run_start, force=False
        )
    run_writes.mark_failed(
        item_id="i5",
        workflow_id="i5",
        run_id="r",
        run_start_time=run_start,
        error=run_pb2.ProcessingError(code="IMAGE_CORRUPT"),
        cancelled=False,
    )


def all_pages(
    store: ItemStore,
    *,
    page_size: int,
    owner_id: str = "",
    statuses: Sequence[int] = (),
    view: int = item_pb2.ITEM_VIEW_BASIC,
) -> list[list[str]]:
    pages: list[list[str]] = []
    token = ""
    while True:
        items, token = store.list_items(
            page_size=page_size, page_token=token, owner_id=owner_id, statuses=statuses, view=view
        )
        pages.append([item.item_id for item in items])
        if not token:
            return pages


def first_token(store: ItemStore, **filters: Any) -> str:
    _, token = store.list_items(page_size=2, **filters)
    assert token
    return token


def test_pages_list_every_item_once_newest_first(store: ItemStore) -> None:
    assert all_pages(store, page_size=2) == [
        ["i9", "i8"],
        ["i7", "i6"],
        ["i5", "i4"],
        ["i3", "i2"],
        ["i1"],
    ]


def test_the_last_full_page_has_no_next_page_token(store: ItemStore) -> None:
    assert all_pages(store, page_size=3) == [NEWEST_FIRST[0:3], NEWEST_FIRST[3:6], NEWEST_FIRST[6:]]


def test_pages_with_owner_and_status_filters(store: ItemStore) -> None:
    pages = all_pages(store, page_size=2, owner_id="a", statuses=[PENDING, FAILED])

    assert pages == [["i9", "i7"], ["i5", "i4"], ["i1"]]


def test_status_filter_alone(store: ItemStore) -> None:
    assert all_pages(store, page_size=10, statuses=[PROCESSING]) == [["i8", "i6", "i3"]]


def test_owner_filter_alone(store: ItemStore) -> None:
    assert all_pages(store, page_size=10, owner_id="b") == [["i6", "i2"]]


def test_items_created_while_paging_do_not_shift_later_pages(
    store: ItemStore, clock: FakeClock
) -> None:
    first, token = store.list_items(page_size=4)
    clock.advance(60)
    store.create_item(item_id="i10", owner_id="a", title="", description="", images=[])

    rest, _ = store.list_items(page_size=100, page_token=token)

    assert [item.item_id for item in first + rest] == NEWEST_FIRST
    newest, _ = store.list_items(page_size=1)
    assert [item.item_id for item in newest] == ["i10"]


def test_page_size_zero_means_the_default(store: ItemStore) -> None:
    items, token = store.list_items(page_size=0)

    assert [item.item_id for item in items] == NEWEST_FIRST
    assert token == ""


def test_page_size_above_the_maximum_is_capped(store: ItemStore) -> None:
    items, token = store.list_items(page_size=1_000_000)

    assert len(items) == len(NEWEST_FIRST)
    assert token == ""


def test_negative_page_size_is_refused(store: ItemStore) -> None:
    with pytest.raises(ValueError, match="page_size"):
        store.list_items(page_size=-1)


def test_unspecified_status_filter_is_refused(store: ItemStore) -> None:
    with pytest.raises(ValueError, match="status"):
        store.list_items(page_size=2, statuses=[item_pb2.ITEM_STATUS_UNSPECIFIED])


def test_a_token_is_valid_with_the_same_filters_in_any_order(store: ItemStore) -> None:
    token = first_token(store, statuses=[PENDING, FAILED, PENDING])

    items, _ = store.list_items(page_size=2, page_token=token, statuses=[FAILED, PENDING])

    assert [item.item_id for item in items] == ["i5", "i4"]


@pytest.mark.parametrize(
    "other_filters",
    [
        {"owner_id": "b"},
        {"owner_id": "a", "statuses": [PENDING]},
        {"owner_id": "a", "view": item_pb2.ITEM_VIEW_FULL},
    ],
)
def test_a_token_used_with_other_filters_is_refused(
    store: ItemStore, other_filters: dict[str, Any]
) -> None:
    token = first_token(store, owner_id="a")

    with pytest.raises(InvalidPageTokenError, match="different filters"):
        store.list_items(page_size=2, page_token=token, **other_filters)


def test_a_tampered_token_is_refused(store: ItemStore) -> None:
    token = first_token(store)
    middle = len(token) // 2
    tampered = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]

    with pytest.raises(InvalidPageTokenError):
        store.list_items(page_size=2, page_token=tampered)
    with pytest.raises(InvalidPageTokenError):
        store.list_items(page_size=2, page_token=token[:-3])


@pytest.mark.parametrize("token", ["x", "not a token!", "e30", "🙂"])
def test_a_malformed_token_is_refused(store: ItemStore, token: str) -> None:
    with pytest.raises(InvalidPageTokenError):
        store.list_items(page_size=2, page_token=token)


def test_the_basic_view_omits_image_analysis(store: ItemStore, run_writes: RunWrites) -> None:
    item = store.get_item("i9")
    analysis = analysis_pb2.ItemAnalysis(
        images=[analysis_pb2.ImageAnalysis(image_id=i.image_id, format="PNG") for i in item.images]
    )
    run_writes.apply_suggestions(
        item_id="i9",
        workflow_id="w",
        run_id="r",
        run_start_time=datetime(2026, 3, 1, tzinfo=UTC),
        analysis=analysis,
        suggestions=analysis_pb2.ItemSuggestions(title="Nice"),
    )

    (basic,), _ = store.list_items(page_size=1)
    (full,), _ = store.list_items(page_size=1, view=item_pb2.ITEM_VIEW_FULL)

    assert basic.suggestions.title == "Nice"
    assert [image.HasField("analysis") for image in basic.images] == [False, False]
    assert [image.analysis.format for image in full.images] == ["PNG", "PNG"]
    assert full == store.get_item("i9")


@pytest.mark.parametrize("view", [item_pb2.ITEM_VIEW_BASIC, item_pb2.ITEM_VIEW_FULL])
def test_a_page_takes_two_queries_however_many_items_it_has(
    store: ItemStore, engine: Engine, view: int
) -> None:
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", record)
    try:
        items, _ = store.list_items(page_size=100, view=view)
    finally:
        event.remove(engine, "before_cursor_execute", record)

    assert sum(len(item.images) for item in items) == 2 * len(NEWEST_FIRST)
    selects = [statement for statement in statements if statement.lstrip().startswith("SELECT")]
    assert len(selects) == 2, selects
