"""CreateItem, GetItem and ListItems through a real server: the happy paths, idempotency, and
hostile requests that must fail with the right code and reason and write nothing."""

from __future__ import annotations

import uuid

import grpc
import pytest

from bubble.processing.v1 import item_pb2, service_pb2
from bubble_service.conftest import JPEG_BYTES, PNG_BYTES, Harness, expect_error

ImageInput = item_pb2.ImageInput


@pytest.fixture()
def harness(offline_harness: Harness) -> Harness:
    """The item RPCs do not touch Temporal: no dev server needed."""
    return offline_harness


def create_request(**overrides: object) -> service_pb2.CreateItemRequest:
    request = service_pb2.CreateItemRequest(
        owner_id="owner-1",
        title="Wool scarf",
        description="Blue",
        images=[
            ImageInput(uri="items/front.jpg", filename="front.jpg"),
            ImageInput(content=PNG_BYTES, filename="back.png"),
        ],
    )
    for name, value in overrides.items():
        if isinstance(value, list):
            request.ClearField(name)  # type: ignore[arg-type]
            getattr(request, name).extend(value)
        else:
            setattr(request, name, value)
    return request


async def test_create_item_stores_uris_and_uploads_and_returns_the_full_item(
    harness: Harness,
) -> None:
    response = await harness.stub.CreateItem(create_request(item_id="scarf-1"))

    item = response.item
    assert item.item_id == "scarf-1"
    assert item.status == item_pb2.ITEM_STATUS_PENDING
    assert [image.position for image in item.images] == [0, 1]
    front, back = item.images
    assert (front.uri, front.content_type, front.size_bytes) == ("items/front.jpg", "image/jpeg", 0)
    assert back.uri.startswith("uploads/")
    assert back.uri.endswith(".png")
    assert (back.content_type, back.size_bytes, back.filename) == (
        "image/png",
        len(PNG_BYTES),
        "back.png",
    )
    stored = harness.settings.store.media_root / back.uri
    assert stored.read_bytes() == PNG_BYTES
    got = await harness.stub.GetItem(service_pb2.GetItemRequest(item_id="scarf-1"))
    assert got.item == item


async def test_create_item_generates_an_id_when_none_is_given(harness: Harness) -> None:
    first = await harness.stub.CreateItem(create_request())
    second = await harness.stub.CreateItem(create_request())

    assert first.item.item_id != second.item.item_id
    assert harness.items() == 2


async def test_create_item_with_a_request_id_is_idempotent(harness: Harness) -> None:
    request_id = str(uuid.uuid4())

    first = await harness.stub.CreateItem(create_request(request_id=request_id))
    again = await harness.stub.CreateItem(create_request(request_id=request_id))

    assert again == first
    assert harness.items() == 1
    error = await expect_error(
        harness.stub.CreateItem(create_request(request_id=request_id, title="Other"))
    )
    assert (error.code, error.reason) == (grpc.StatusCode.ALREADY_EXISTS, "REQUEST_ID_REUSED")
    assert harness.items() == 1


async def test_a_request_whose_answer_was_lost_gets_the_item_it_created(harness: Harness) -> None:
    """The item exists (first attempt) but its answer was never recorded: the retry finds it."""
    request_id = str(uuid.uuid4())
    first = await harness.stub.CreateItem(create_request(request_id=request_id))
    with harness.engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM request_records")

    again = await harness.stub.CreateItem(create_request(request_id=request_id))

    assert again.item.item_id == first.item.item_id
    assert harness.items() == 1


async def test_a_taken_item_id_is_already_exists(harness: Harness) -> None:
    await harness.stub.CreateItem(create_request(item_id="taken"))

    error = await expect_error(harness.stub.CreateItem(create_request(item_id="taken")))

    assert (error.code, error.reason) == (grpc.StatusCode.ALREADY_EXISTS, "ITEM_ALREADY_EXISTS")
    assert error.metadata == {"item_id": "taken"}
    assert harness.items() == 1


HOSTILE_CREATES = {
    "no owner": (create_request(owner_id=""), "FIELD_REQUIRED", ["owner_id"]),
    "long owner": (create_request(owner_id="o" * 129), "INVALID_FIELD", ["owner_id"]),
    "bad item id": (create_request(item_id="a/b"), "INVALID_ID", ["item_id"]),
    "long item id": (create_request(item_id="a" * 129), "INVALID_ID", ["item_id"]),
    "long title": (create_request(title="t" * 201), "INVALID_FIELD", ["title"]),
    # PostgreSQL text cannot hold NUL: refused up front instead of failing in the database.
    "nul in title": (create_request(title="a\x00b"), "INVALID_FIELD", ["title"]),
    "nul in owner": (create_request(owner_id="u\x00"), "INVALID_FIELD", ["owner_id"]),
    "nul in filename": (
        create_request(images=[ImageInput(uri="a.jpg", filename="f\x00.jpg")]),
        "INVALID_FIELD",
        ["images[0].filename"],
    ),
    "long description": (create_request(description="d" * 5001), "INVALID_FIELD", ["description"]),
    "no images": (create_request(images=[]), "FIELD_REQUIRED", ["images"]),
    "21 images": (
        create_request(images=[ImageInput(uri=f"i/{n}.jpg") for n in range(21)]),
        "TOO_MANY_IMAGES",
        ["images"],
    ),
    "no source": (
        create_request(images=[ImageInput(filename="x.jpg")]),
        "IMAGE_SOURCE_REQUIRED",
        ["images[0].source"],
    ),
    "escaping uri": (
        create_request(images=[ImageInput(uri="../../etc/passwd")]),
        "INVALID_IMAGE_URI",
        ["images[0].uri"],
    ),
    "absolute file uri outside": (
        create_request(images=[ImageInput(uri="file:///etc/passwd")]),
        "INVALID_IMAGE_URI",
        ["images[0].uri"],
    ),
    "http uri": (
        create_request(images=[ImageInput(uri="https://example.com/a.jpg")]),
        "INVALID_IMAGE_URI",
        ["images[0].uri"],
    ),
    "not an image": (
        create_request(images=[ImageInput(content=b"#!/bin/sh\nrm -rf /\n")]),
        "IMAGE_UNSUPPORTED",
        ["images[0].content"],
    ),
    # As the worker answers for an empty file by URI (IMAGE_CORRUPT, "the file is empty").
    "empty content": (
        create_request(images=[ImageInput(content=b"")]),
        "IMAGE_CORRUPT",
        ["images[0].content"],
    ),
    "too large inline": (
        create_request(images=[ImageInput(content=JPEG_BYTES + b"\x00" * 4096)]),
        "IMAGE_TOO_LARGE",
        ["images[0].content"],
    ),
    "not an image type": (
        create_request(images=[ImageInput(uri="a.jpg", content_type="text/html")]),
        "INVALID_FIELD",
        ["images[0].content_type"],
    ),
    "long filename": (
        create_request(images=[ImageInput(uri="a.jpg", filename="f" * 256)]),
        "INVALID_FIELD",
        ["images[0].filename"],
    ),
    "bad request id": (
        create_request(request_id="not-a-uuid"),
        "INVALID_REQUEST_ID",
        ["request_id"],
    ),
    # A valid upload before an invalid image: nothing may be written, not even the upload.
    "good upload then bad uri": (
        create_request(images=[ImageInput(content=JPEG_BYTES), ImageInput(uri="/abs.jpg")]),
        "INVALID_IMAGE_URI",
        ["images[1].uri"],
    ),
}


@pytest.mark.parametrize("case", HOSTILE_CREATES.values(), ids=HOSTILE_CREATES.keys())
async def test_invalid_creates_are_invalid_argument_and_write_nothing(
    harness_small_uploads: Harness, case: tuple[service_pb2.CreateItemRequest, str, list[str]]
) -> None:
    harness = harness_small_uploads
    request, reason, fields = case

    error = await expect_error(harness.stub.CreateItem(request))

    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert (error.reason, error.domain) == (reason, "bubble.processing.v1")
    assert error.fields == fields
    assert fields[0] in error.message
    assert harness.items() == 0
    assert harness.media_files() == []


async def test_every_problem_is_listed_in_one_answer(harness: Harness) -> None:
    request = create_request(owner_id="", title="t" * 201, images=[ImageInput(uri="../x")])

    error = await expect_error(harness.stub.CreateItem(request))

    assert error.fields == ["owner_id", "title", "images[0].uri"]
    assert error.message.startswith("3 invalid fields")


async def test_a_request_over_the_message_size_is_resource_exhausted(harness: Harness) -> None:
    big = JPEG_BYTES + b"\x00" * (harness.settings.max_message_bytes + 1)

    error = await expect_error(
        harness.stub.CreateItem(create_request(images=[ImageInput(content=big)]))
    )

    assert error.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert harness.items() == 0


async def test_get_item_views_and_errors(harness: Harness) -> None:
    await harness.stub.CreateItem(create_request(item_id="i1"))

    basic = await harness.stub.GetItem(
        service_pb2.GetItemRequest(item_id="i1", view=item_pb2.ITEM_VIEW_BASIC)
    )
    assert basic.item.item_id == "i1"
    missing = await expect_error(harness.stub.GetItem(service_pb2.GetItemRequest(item_id="nope")))
    assert (missing.code, missing.reason) == (grpc.StatusCode.NOT_FOUND, "ITEM_NOT_FOUND")
    assert missing.metadata == {"item_id": "nope"}
    empty = await expect_error(harness.stub.GetItem(service_pb2.GetItemRequest()))
    assert (empty.code, empty.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "FIELD_REQUIRED")
    bad_view = await expect_error(
        harness.stub.GetItem(service_pb2.GetItemRequest(item_id="i1", view=9))  # type: ignore[arg-type]
    )
    assert (bad_view.code, bad_view.fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["view"])


async def test_list_items_pages_newest_first(harness: Harness) -> None:
    for index in range(5):
        await harness.stub.CreateItem(create_request(item_id=f"item-{index}"))

    seen: list[str] = []
    token = ""
    while True:
        page = await harness.stub.ListItems(
            service_pb2.ListItemsRequest(page_size=2, page_token=token)
        )
        seen.extend(item.item_id for item in page.items)
        token = page.next_page_token
        if not token:
            break

    assert seen == [f"item-{index}" for index in reversed(range(5))]


@pytest.mark.parametrize(
    ("request_", "field", "reason"),
    [
        (service_pb2.ListItemsRequest(page_size=-1), "page_size", "INVALID_FIELD"),
        (service_pb2.ListItemsRequest(page_token="garbage"), "page_token", "INVALID_PAGE_TOKEN"),
        (
            service_pb2.ListItemsRequest(statuses=[item_pb2.ITEM_STATUS_UNSPECIFIED]),
            "statuses[0]",
            "INVALID_FIELD",
        ),
        (service_pb2.ListItemsRequest(statuses=[42]), "statuses[0]", "INVALID_FIELD"),  # type: ignore[list-item]
    ],
)
async def test_invalid_list_requests(
    harness: Harness, request_: service_pb2.ListItemsRequest, field: str, reason: str
) -> None:
    error = await expect_error(harness.stub.ListItems(request_))

    assert (error.code, error.reason, error.fields) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        reason,
        [field],
    )


async def test_a_page_token_for_other_filters_is_refused(harness: Harness) -> None:
    for index in range(3):
        await harness.stub.CreateItem(create_request(item_id=f"item-{index}"))
    page = await harness.stub.ListItems(service_pb2.ListItemsRequest(page_size=1))

    error = await expect_error(
        harness.stub.ListItems(
            service_pb2.ListItemsRequest(page_size=1, page_token=page.next_page_token, owner_id="x")
        )
    )

    assert (error.code, error.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN")
