"""CreateItem, GetItem and ListItems: the items themselves, in the database, each seen only by
callers whose token may act for its owner (``access``)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from bubble.processing.v1 import item_pb2, service_pb2
from bubble_service.dependencies import Context, Dependencies
from bubble_service.errors import (
    FieldViolation,
    already_exists,
    failed_precondition,
    invalid_argument,
)
from bubble_service.images import UploadLookup, plan_images, store_images
from bubble_service.validation import Violations
from bubble_shared.store import InvalidPageTokenError, ItemAlreadyExistsError
from bubble_shared.store.models import OWNER_ID_LENGTH
from bubble_shared.store.uploads import DEFAULT_UPLOAD_TTL

CREATE_ITEM = "/bubble.processing.v1.ItemProcessingService/CreateItem"
MAX_TITLE_LENGTH = 200
MAX_DESCRIPTION_LENGTH = 5000
# Derives the item ID of a CreateItem that carries a request_id but no item_id, so two attempts of
# the same request cannot create two items (the second finds the first's ID taken).
_REQUEST_ITEM_NAMESPACE = uuid.UUID("5c1a37e4-2f0d-4a53-9a56-0b5c3f1f2a11")
UPLOAD_TTL_HOURS = DEFAULT_UPLOAD_TTL // timedelta(hours=1)


class ItemRpcs:
    def __init__(self, deps: Dependencies) -> None:
        self._deps = deps

    async def CreateItem(  # noqa: N802 - gRPC method names
        self, request: service_pb2.CreateItemRequest, context: Context
    ) -> service_pb2.CreateItemResponse:
        deps = self._deps
        violations = Violations()
        request_id = violations.request_id(request.request_id)
        violations.optional_id("item_id", request.item_id, what="item ID")
        if not request.owner_id:
            violations.add("owner_id", "the owner ID is required", "FIELD_REQUIRED")
        violations.text("owner_id", request.owner_id, OWNER_ID_LENGTH)
        violations.text("title", request.title, MAX_TITLE_LENGTH)
        violations.text("description", request.description, MAX_DESCRIPTION_LENGTH)
        principal = deps.auth.principal(context)
        # Uploads are looked up only for an owner the caller may act for: nobody learns which
        # upload IDs another owner has.
        allowed = principal.may_act_for(request.owner_id)
        # Resolving URIs follows symlinks on disk, finding uploads reads the database: off the
        # event loop.
        planned = await asyncio.to_thread(
            plan_images,
            request.images,
            media_root=deps.settings.store.media_root,
            max_inline_bytes=deps.settings.max_inline_image_bytes,
            violations=violations,
            uploads=self._uploads_of(request.owner_id) if allowed else None,
        )
        violations.raise_if_any()
        deps.access.require_owner(principal, request.owner_id)
        expired = [image.expired_upload for image in planned if image.expired_upload]
        if expired:
            raise failed_precondition(
                f"the upload {expired[0]!r} has expired (uploads are kept "
                f"{UPLOAD_TTL_HOURS} hours): upload the image again",
                "UPLOAD_EXPIRED",
                upload_id=expired[0],
            )

        replay = await deps.idempotency.replay(
            CREATE_ITEM, request_id, request, service_pb2.CreateItemResponse
        )
        if replay is not None:
            return replay
        item_id = request.item_id or None
        if item_id is None and request_id:
            item_id = uuid.uuid5(_REQUEST_ITEM_NAMESPACE, request_id).hex
        # Only now, with everything valid, is anything written: first the files, then the row.
        images = await asyncio.to_thread(store_images, deps.settings.store.media_root, planned)
        try:
            item = await asyncio.to_thread(
                deps.items.create_item,
                item_id=item_id,
                owner_id=request.owner_id,
                title=request.title,
                description=request.description,
                images=images,
            )
        except ItemAlreadyExistsError:
            item = await self._earlier_attempt(request, request_id, item_id or "")
        response = service_pb2.CreateItemResponse(item=item)
        return await deps.idempotency.record(CREATE_ITEM, request_id, request, response)

    def _uploads_of(self, owner_id: str) -> UploadLookup:
        uploads = self._deps.uploads
        return lambda upload_id: uploads.find(upload_id, owner_id=owner_id)

    async def _earlier_attempt(
        self, request: service_pb2.CreateItemRequest, request_id: str, item_id: str
    ) -> item_pb2.Item:
        """The item an earlier attempt of this very request created, else ALREADY_EXISTS.

        With a request_id, a concurrent or interrupted earlier attempt may have created the item
        without recording its answer yet; its stored answer, or the identical item, is this
        request's answer too.
        """
        if request_id:
            replay = await self._deps.idempotency.replay(
                CREATE_ITEM, request_id, request, service_pb2.CreateItemResponse
            )
            if replay is not None:
                return replay.item
            existing = await asyncio.to_thread(self._deps.items.get_item, item_id)
            if _same_item(existing, request) and not request.item_id:
                return existing
        raise already_exists(
            f"an item with ID {item_id!r} already exists; choose another item_id or leave it "
            "empty for a generated one",
            "ITEM_ALREADY_EXISTS",
            item_id=item_id,
        )

    async def GetItem(  # noqa: N802
        self, request: service_pb2.GetItemRequest, context: Context
    ) -> service_pb2.GetItemResponse:
        violations = Violations()
        violations.required_id("item_id", request.item_id, what="item ID")
        _check_view(violations, request.view)
        violations.raise_if_any()
        principal = self._deps.auth.principal(context)
        item = await self._deps.access.item(
            principal, request.item_id, view=request.view or item_pb2.ITEM_VIEW_FULL
        )
        return service_pb2.GetItemResponse(item=item)

    async def ListItems(  # noqa: N802
        self, request: service_pb2.ListItemsRequest, context: Context
    ) -> service_pb2.ListItemsResponse:
        violations = Violations()
        if request.page_size < 0:
            violations.add("page_size", f"must not be negative, got {request.page_size}")
        violations.text("owner_id", request.owner_id, OWNER_ID_LENGTH)
        for index, status in enumerate(request.statuses):
            if status == item_pb2.ITEM_STATUS_UNSPECIFIED:
                violations.add(f"statuses[{index}]", "ITEM_STATUS_UNSPECIFIED is not a status")
            elif status not in item_pb2.ItemStatus.values():
                violations.add(f"statuses[{index}]", f"{status} is not a known item status")
        _check_view(violations, request.view)
        violations.raise_if_any()
        principal = self._deps.auth.principal(context)
        if request.owner_id:
            self._deps.access.require_owner(principal, request.owner_id)
        try:
            items, next_token = await asyncio.to_thread(
                self._deps.items.list_items,
                page_size=request.page_size,
                page_token=request.page_token,
                owner_id=request.owner_id,
                statuses=list(request.statuses),
                view=request.view or item_pb2.ITEM_VIEW_BASIC,
                # No owner named: only the items of the owners the caller acts for.
                owner_ids=None if request.owner_id else principal.owners,
            )
        except InvalidPageTokenError as error:
            raise invalid_argument(
                [FieldViolation("page_token", str(error), "INVALID_PAGE_TOKEN")]
            ) from None
        return service_pb2.ListItemsResponse(items=items, next_page_token=next_token)


def _check_view(violations: Violations, view: int) -> None:
    if view not in item_pb2.ItemView.values():
        violations.add("view", f"{view} is not a known item view")


def _same_item(item: item_pb2.Item, request: service_pb2.CreateItemRequest) -> bool:
    """Whether ``item`` is what ``request`` creates (uploads are content-addressed, so the URIs
    of inline images match too)."""
    if (item.owner_id, item.title, item.description) != (
        request.owner_id,
        request.title,
        request.description,
    ):
        return False
    return len(item.images) == len(request.images) and all(
        stored.filename == given.filename
        # An upload's image without a filename takes the upload's.
        or (given.WhichOneof("source") == "upload_id" and not given.filename)
        for stored, given in zip(item.images, request.images, strict=True)
    )
