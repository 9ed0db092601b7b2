"""Authorization: what a principal (its token's owners, ``principals``) may see and act on.

An item belongs to its owner; a batch to the owners it may process (``batches.owner_ids``). An
item or run the caller may not see is answered exactly as one that does not exist (NOT_FOUND,
same reason and message), so no caller learns which IDs other owners use. Naming another owner
outright (CreateItem's owner_id, ListItems' filter, a selector's owner) is PERMISSION_DENIED:
the caller already knows that owner, there is nothing to hide. A principal acting for every owner
is never checked, so it costs no query.
"""

from __future__ import annotations

import asyncio

from bubble.processing.v1 import item_pb2
from bubble_service.errors import item_not_found, owner_not_allowed
from bubble_service.principals import Principal
from bubble_service.status import StatusReader, Target
from bubble_shared.store import BatchStore, ItemNotFoundError, ItemStore


class Access:
    def __init__(self, items: ItemStore, batches: BatchStore, statuses: StatusReader) -> None:
        self._items = items
        self._batches = batches
        self._statuses = statuses

    @staticmethod
    def require_owner(principal: Principal, owner_id: str) -> None:
        """PERMISSION_DENIED unless the principal may act for ``owner_id``."""
        if not principal.may_act_for(owner_id):
            raise owner_not_allowed(owner_id)

    async def item(
        self, principal: Principal, item_id: str, *, view: int = item_pb2.ITEM_VIEW_BASIC
    ) -> item_pb2.Item:
        """The item; ITEM_NOT_FOUND when it does not exist or belongs to another owner."""
        try:
            item = await asyncio.to_thread(self._items.get_item, item_id, view=view)
        except ItemNotFoundError:
            raise item_not_found(item_id) from None
        if not principal.may_act_for(item.owner_id):
            raise item_not_found(item_id)
        return item

    async def require_target(self, principal: Principal, target: Target) -> None:
        """NOT_FOUND, as for a target that does not exist, unless the principal may see it: an
        item's runs need its owner, a batch all of the batch's owners."""
        if not principal.restricted:
            return
        if target.kind == "item":
            owner = await asyncio.to_thread(self._items.owner_of, target.id)
            visible = owner is not None and principal.may_act_for(owner)
        else:
            scope = await asyncio.to_thread(self._batches.owners, target.id)
            visible = scope is not None and principal.covers(scope.owner_ids)
        if not visible:
            raise self._statuses.absent(target)
