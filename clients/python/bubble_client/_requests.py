"""Building request messages from plain Python arguments, the same way for both clients."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from bubble_client import messages as m

ImageSource = str | bytes | Path | m.ImageInput
"""A URI under the server's MEDIA_ROOT (str), the bytes of an image, a local file to upload
(Path), or a full ImageInput. Bytes and files over 1 MiB are uploaded first (``_uploads``)."""


def image_input(source: ImageSource) -> m.ImageInput:
    if isinstance(source, m.ImageInput):
        return source
    if isinstance(source, bytes):
        return m.ImageInput(content=source)
    if isinstance(source, Path):
        return m.ImageInput(content=source.read_bytes(), filename=source.name)
    return m.ImageInput(uri=source)


def new_request_id() -> str:
    """A fresh AIP-155 request id: retrying a call with the same id never repeats its work."""
    return str(uuid.uuid4())


def create_item(
    *,
    owner_id: str,
    title: str,
    description: str,
    images: Sequence[ImageSource],
    item_id: str | None,
    request_id: str | None,
) -> m.CreateItemRequest:
    return m.CreateItemRequest(
        item_id=item_id or "",
        owner_id=owner_id,
        title=title,
        description=description,
        images=[image_input(image) for image in images],
        request_id=request_id or new_request_id(),
    )


def start_item_processing(
    item_id: str,
    *,
    request_id: str | None,
    start_delay: timedelta | None,
    force: bool,
    skip_notification: bool,
) -> m.StartItemProcessingRequest:
    return m.StartItemProcessingRequest(
        item_id=item_id,
        request_id=request_id or new_request_id(),
        start_delay=start_delay,
        force=force,
        skip_notification=skip_notification,
    )


def start_batch_processing(
    item_ids: Sequence[str],
    *,
    selector: m.ItemSelector | None,
    batch_id: str | None,
    max_concurrency: int,
    request_id: str | None,
    force: bool,
    skip_notification: bool,
) -> m.StartBatchProcessingRequest:
    """Listed items or a selector (the server says which is missing or both are given)."""
    return m.StartBatchProcessingRequest(
        item_ids=list(item_ids),
        selector=selector,
        batch_id=batch_id or "",
        max_concurrency=max_concurrency,
        request_id=request_id or new_request_id(),
        force=force,
        skip_notification=skip_notification,
    )


def target(*, item_id: str | None, batch_id: str | None, workflow_id: str | None) -> dict[str, str]:
    """The one run a status, watch or cancel call is about."""
    given = {
        name: value
        for name, value in (
            ("item_id", item_id),
            ("batch_id", batch_id),
            ("workflow_id", workflow_id),
        )
        if value
    }
    if len(given) != 1:
        raise ValueError("name exactly one of item_id, batch_id or workflow_id")
    return given


def list_items(
    owner_id: str,
    statuses: Sequence[m.ItemStatus],
    page_size: int,
    page_token: str,
    view: m.ItemView,
) -> m.ListItemsRequest:
    """One ListItems page request, the same for both clients."""
    return m.ListItemsRequest(
        page_size=page_size,
        page_token=page_token,
        owner_id=owner_id,
        statuses=list(statuses),
        view=view,
    )
