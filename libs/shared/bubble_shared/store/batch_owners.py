"""Whose items a batch may process: the owner scope stored on its row (``batches.owner_ids``).

A batch started by a token that acts only for some owners may touch only their items; a selector
is limited in ``selection``, listed IDs are split here when the batch is accepted.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from bubble_shared.store import keyset
from bubble_shared.store.models import Item


def encode(owner_ids: frozenset[str] | None) -> str | None:
    """The column's value: a JSON array of owner IDs, sorted; NULL for every owner."""
    return None if owner_ids is None else json.dumps(sorted(owner_ids))


def decode(stored: str | None) -> frozenset[str] | None:
    return None if stored is None else frozenset(json.loads(stored))


def split_listed(
    session: Session, item_ids: Sequence[str], owner_ids: Collection[str]
) -> tuple[list[str], list[str]]:
    """``item_ids`` split, in order, into the items of ``owner_ids`` and the rest (items of other
    owners and IDs no item has: the caller must not tell these apart)."""
    owners = sorted(owner_ids)
    allowed: set[str] = set()
    for chunk in keyset.chunks(item_ids):
        query = select(Item.item_id).where(Item.item_id.in_(chunk), Item.owner_id.in_(owners))
        allowed.update(session.scalars(query))
    runnable = [item_id for item_id in item_ids if item_id in allowed]
    return runnable, [item_id for item_id in item_ids if item_id not in allowed]
