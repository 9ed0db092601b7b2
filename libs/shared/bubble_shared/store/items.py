"""Items: creating, reading and listing them, with their images (the items and item_images tables).

What a processing run writes to an item is in ``run_writes.py``; notifications and the analysis
cache have modules of their own. Each method is one short transaction (see ``sessions.py``).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import exists, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.interfaces import LoaderOption

from bubble.processing.v1 import item_pb2
from bubble_shared.store.convert import item_to_proto, status_name
from bubble_shared.store.errors import ItemAlreadyExistsError, ItemNotFoundError
from bubble_shared.store.models import Item, ItemImage
from bubble_shared.store.page_tokens import (
    PageCursor,
    decode_page_token,
    encode_page_token,
    filters_fingerprint,
)
from bubble_shared.store.sessions import StoreBase

# Item IDs as item.proto defines them; checked here too because the ID is the primary key.
ITEM_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,128}")
# ListItems: page_size 0 means this many.
DEFAULT_PAGE_SIZE = 50
# ListItems: larger page sizes are treated as this one.
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class NewImage:
    """An image of an item being created: a file under MEDIA_ROOT (see ``bubble_shared.media``)."""

    uri: str
    filename: str = ""
    content_type: str = ""
    size_bytes: int = 0


class ItemStore(StoreBase):
    """Items and their images, with the processing state the runs recorded (see ``RunWrites``).

    ``clock`` returns the current aware time; tests pass a fake one to control create_time order.
    """

    def create_item(
        self,
        *,
        item_id: str | None,
        owner_id: str,
        title: str,
        description: str,
        images: Sequence[NewImage],
    ) -> item_pb2.Item:
        """Creates a PENDING item; ``item_id`` None picks a new UUID. Returns the FULL view.

        Images get new IDs and positions 0..n-1 in the given order. Raises ItemAlreadyExistsError
        when the ID is taken (also when a concurrent create took it first), and ValueError when
        the ID is not 1 to 128 characters of [A-Za-z0-9_-].
        """
        if item_id is None:
            item_id = uuid.uuid4().hex
        elif not ITEM_ID_PATTERN.fullmatch(item_id):
            raise ValueError(
                f"invalid item ID {item_id!r}: use 1 to 128 characters from A-Z, a-z, 0-9, _ and -"
            )
        now = self._now()
        row = Item(
            item_id=item_id,
            owner_id=owner_id,
            title=title,
            description=description,
            status=status_name(item_pb2.ITEM_STATUS_PENDING),
            create_time=now,
            update_time=now,
            version=1,
            images=[
                ItemImage(
                    image_id=uuid.uuid4().hex,
                    position=position,
                    uri=image.uri,
                    filename=image.filename,
                    content_type=image.content_type,
                    size_bytes=image.size_bytes,
                    analysis=None,
                )
                for position, image in enumerate(images)
            ],
        )
        try:
            with self._writes.begin() as session:
                if session.get(Item, item_id) is not None:
                    raise ItemAlreadyExistsError(item_id)
                session.add(row)
                session.flush()
                return item_to_proto(row, include_analysis=True)
        except IntegrityError as error:
            # A concurrent create won the race between our check and our insert.
            if self._item_exists(item_id):
                raise ItemAlreadyExistsError(item_id) from error
            raise

    def get_item(self, item_id: str, *, view: int = item_pb2.ITEM_VIEW_FULL) -> item_pb2.Item:
        """The item; BASIC omits each image's analysis. Raises ItemNotFoundError."""
        include_analysis = _include_analysis(view, default=item_pb2.ITEM_VIEW_FULL)
        with self._reads.begin() as session:
            query = select(Item).where(Item.item_id == item_id)
            row = session.scalars(query.options(load_images(include_analysis))).one_or_none()
            if row is None:
                raise ItemNotFoundError(item_id)
            return item_to_proto(row, include_analysis=include_analysis)

    def owner_of(self, item_id: str) -> str | None:
        """The item's owner; None when the item does not exist."""
        with self._reads.begin() as session:
            return session.scalar(select(Item.owner_id).where(Item.item_id == item_id))

    def list_items(
        self,
        *,
        page_size: int,
        page_token: str = "",
        owner_id: str = "",
        statuses: Sequence[int] = (),
        view: int = item_pb2.ITEM_VIEW_BASIC,
        owner_ids: Collection[str] | None = None,
    ) -> tuple[list[item_pb2.Item], str]:
        """A page of items, newest first (create_time, then item_id, both descending).

        ``owner_ids`` (not None) keeps only the items of these owners, whatever the other
        filters: the owners the caller may see.

        Returns the items and the token of the next page ("" after the last page). page_size 0
        means DEFAULT_PAGE_SIZE and values above MAX_PAGE_SIZE mean MAX_PAGE_SIZE; a negative one,
        or ITEM_STATUS_UNSPECIFIED among ``statuses``, raises ValueError. A token is only valid
        with the owner_id, statuses and view it was issued for (InvalidPageTokenError otherwise).

        Keyset pagination: an item created while paging shows up on a new first page and never
        shifts or repeats an item on later pages. Two queries per page, whatever its size: the
        items, then all of their images.
        """
        if page_size < 0:
            raise ValueError(f"page_size must not be negative, got {page_size}")
        limit = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        status_names = sorted({status_name(status) for status in statuses})
        include_analysis = _include_analysis(view, default=item_pb2.ITEM_VIEW_BASIC)
        fingerprint = filters_fingerprint(
            owner_id=owner_id,
            statuses=[*statuses],
            view=item_pb2.ITEM_VIEW_FULL if include_analysis else item_pb2.ITEM_VIEW_BASIC,
        )
        query = select(Item).options(load_images(include_analysis))
        if owner_id:
            query = query.where(Item.owner_id == owner_id)
        if owner_ids is not None:
            query = query.where(Item.owner_id.in_(sorted(owner_ids)))
        if status_names:
            query = query.where(Item.status.in_(status_names))
        if page_token:
            cursor = decode_page_token(page_token, fingerprint)
            # Row comparison: PostgreSQL walks the (create_time, item_id) index backwards from it.
            position = (cursor.create_time, cursor.item_id)
            query = query.where(tuple_(Item.create_time, Item.item_id) < position)
        query = query.order_by(Item.create_time.desc(), Item.item_id.desc()).limit(limit + 1)
        with self._reads.begin() as session:
            rows = list(session.scalars(query))
            page = [item_to_proto(row, include_analysis=include_analysis) for row in rows[:limit]]
        if len(rows) <= limit:
            return page, ""
        last = rows[limit - 1]
        cursor = PageCursor(create_time=last.create_time, item_id=last.item_id)
        return page, encode_page_token(cursor, fingerprint)

    def _item_exists(self, item_id: str) -> bool:
        with self._reads.begin() as session:
            return bool(session.scalar(select(exists().where(Item.item_id == item_id))))


def _include_analysis(view: int, *, default: int) -> bool:
    if view == item_pb2.ITEM_VIEW_UNSPECIFIED:
        view = default
    if view == item_pb2.ITEM_VIEW_FULL:
        return True
    if view == item_pb2.ITEM_VIEW_BASIC:
        return False
    raise ValueError(f"not a valid item view: {view}")


def load_images(include_analysis: bool) -> LoaderOption:
    """Loads the images of all selected items in one more query (never one per item).

    Shared with ``run_writes``, which locks an item with its images (without analysis).
    """
    if include_analysis:
        return selectinload(Item.images)
    # raiseload: touching the column by mistake raises instead of loading it image by image.
    return selectinload(Item.images).defer(ItemImage.analysis, raiseload=True)
