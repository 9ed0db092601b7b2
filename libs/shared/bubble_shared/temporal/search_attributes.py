"""Search attributes set on every run, so that an operator finds the runs of an item, a batch or
an owner in the Temporal UI or with ``temporal workflow list -q "BubbleBatchId='...'"``.

Temporal refuses a start that carries an attribute the namespace has not registered, so every
server the runs start on registers these first: the dev stack and the test servers through
:func:`dev_server_flags` and :func:`register`, compose through docker/temporal/setup-namespace.sh.
"""

from __future__ import annotations

from typing import Final

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

ITEM_ID: Final = SearchAttributeKey.for_keyword("BubbleItemId")
BATCH_ID: Final = SearchAttributeKey.for_keyword("BubbleBatchId")
OWNER_ID: Final = SearchAttributeKey.for_keyword("BubbleOwnerId")
ALL: Final = (ITEM_ID, BATCH_ID, OWNER_ID)


def for_item_run(*, item_id: str, owner_id: str, batch_id: str = "") -> TypedSearchAttributes:
    """An item run's attributes; a run started by a batch carries the batch's ID too."""
    return _pairs((ITEM_ID, item_id), (OWNER_ID, owner_id), (BATCH_ID, batch_id))


def for_batch(*, batch_id: str, owner_id: str = "") -> TypedSearchAttributes:
    """A batch's attributes; the owner only when the batch selects one owner's items."""
    return _pairs((BATCH_ID, batch_id), (OWNER_ID, owner_id))


def dev_server_flags() -> list[str]:
    """``temporal server start-dev`` arguments that register every attribute."""
    return [flag for key in ALL for flag in ("--search-attribute", f"{key.name}=Keyword")]


async def register(client: Client, namespace: str) -> None:
    """Registers every attribute in ``namespace`` (for servers started without the flags)."""
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=namespace,
            search_attributes={
                key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for key in ALL
            },
        )
    )


def _pairs(*values: tuple[SearchAttributeKey[str], str]) -> TypedSearchAttributes:
    """Only the attributes that have a value: an empty keyword would match ``= ''`` queries."""
    pairs = [SearchAttributePair(key, value) for key, value in values if value]
    return TypedSearchAttributes(pairs)
