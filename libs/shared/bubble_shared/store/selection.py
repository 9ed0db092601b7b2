"""Item selectors: which items a batch processes, as a keyset-paged query over ``items``.

A selector is evaluated page by page while its batch runs, oldest first by (create_time,
item_id): the order the ``ix_items_create_time`` and ``ix_items_owner_id_create_time`` indexes
already give, so reading the next page costs one index range scan however large the selection.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import UTC, datetime

from sqlalchemy import Select, func, select, tuple_
from sqlalchemy.orm import Session

from bubble.processing.v1 import item_pb2
from bubble_shared.store.convert import status_name
from bubble_shared.store.models import Item

_VERSION = re.compile(r"(\d{1,6})\.(\d{1,6})\.(\d{1,6})")


def version_key(version: str) -> str:
    """A sortable key of a "MAJOR.MINOR.PATCH" version: "1.3.0" -> "000001.000003.000000".

    Raises ValueError for anything else (a pre-release suffix is not compared: "1.3.0-rc1" is
    refused rather than ordered by guesswork).
    """
    match = _VERSION.fullmatch(version)
    if match is None:
        raise ValueError(f"not a MAJOR.MINOR.PATCH version: {version!r}")
    return ".".join(f"{int(part):06d}" for part in match.groups())


def version_key_or_none(version: str) -> str | None:
    try:
        return version_key(version)
    except ValueError:
        return None


def selector_problems(selector: item_pb2.ItemSelector) -> list[tuple[str, str]]:
    """(field, problem) for every invalid field of ``selector``; [] when it is valid."""
    problems: list[tuple[str, str]] = []
    for index, status in enumerate(selector.statuses):
        if status == item_pb2.ITEM_STATUS_UNSPECIFIED or status not in item_pb2.ItemStatus.values():
            problems.append((f"statuses[{index}]", f"{status} is not a valid item status"))
    if (
        selector.analyzed_before_version
        and version_key_or_none(selector.analyzed_before_version) is None
    ):
        problems.append(
            ("analyzed_before_version", "use a MAJOR.MINOR.PATCH version such as 1.3.0")
        )
    if (
        selector.HasField("created_after")
        and selector.HasField("created_before")
        and selector.created_after.ToDatetime() >= selector.created_before.ToDatetime()
    ):
        problems.append(("created_after", "must be before created_before"))
    return problems


def selection(
    selector: item_pb2.ItemSelector,
    *,
    accepted_at: datetime,
    owner_ids: Collection[str] | None = None,
) -> Select[str, datetime]:
    """The (item_id, create_time) of the selected items, oldest first; ``accepted_at`` excludes
    items created after the batch was accepted, ``owner_ids`` (not None) the items of other
    owners than these (those the batch's starter may not act for)."""
    query = select(Item.item_id, Item.create_time).where(Item.create_time <= accepted_at)
    if selector.owner_id:
        query = query.where(Item.owner_id == selector.owner_id)
    if owner_ids is not None:
        query = query.where(Item.owner_id.in_(sorted(owner_ids)))
    if selector.statuses:
        query = query.where(Item.status.in_(sorted({status_name(s) for s in selector.statuses})))
    if selector.HasField("created_after"):
        query = query.where(Item.create_time >= selector.created_after.ToDatetime(tzinfo=UTC))
    if selector.HasField("created_before"):
        query = query.where(Item.create_time < selector.created_before.ToDatetime(tzinfo=UTC))
    if selector.analyzed_before_version:
        query = query.where(
            Item.analyzer_version_key < version_key(selector.analyzed_before_version)
        )
    return query.order_by(Item.create_time, Item.item_id)


def count_selection(
    session: Session,
    selector: item_pb2.ItemSelector,
    *,
    accepted_at: datetime,
    owner_ids: Collection[str] | None = None,
) -> int:
    query = selection(selector, accepted_at=accepted_at, owner_ids=owner_ids).order_by(None)
    return int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)


def next_selected(
    session: Session,
    selector: item_pb2.ItemSelector,
    *,
    accepted_at: datetime,
    after: tuple[datetime, str] | None,
    limit: int,
    owner_ids: Collection[str] | None = None,
) -> list[tuple[str, datetime]]:
    """Up to ``limit`` selected items after the keyset position ``after`` (exclusive)."""
    query = selection(selector, accepted_at=accepted_at, owner_ids=owner_ids)
    if after is not None:
        query = query.where(tuple_(Item.create_time, Item.item_id) > after)
    return [(row.item_id, row.create_time) for row in session.execute(query.limit(limit))]
