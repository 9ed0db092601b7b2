"""The item store: items, their processing state, notifications, the analysis cache and
idempotency records.

engine = create_engine(url)   # sqlite:///... or postgresql://...
upgrade(url)                  # Alembic migrations to the newest revision
store = ItemStore(engine)
requests = RequestStore(engine)  # idempotency records (AIP-155)
"""

from bubble_shared.store.database import create_engine
from bubble_shared.store.errors import (
    InvalidPageTokenError,
    ItemAlreadyExistsError,
    ItemNotFoundError,
    NotificationNotFoundError,
)
from bubble_shared.store.items import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    ItemClaim,
    ItemStore,
    NewImage,
)
from bubble_shared.store.notifications import Notification
from bubble_shared.store.requests import RequestStore, StoredResponse
from bubble_shared.store.schema import upgrade

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "InvalidPageTokenError",
    "ItemAlreadyExistsError",
    "ItemClaim",
    "ItemNotFoundError",
    "ItemStore",
    "NewImage",
    "Notification",
    "NotificationNotFoundError",
    "RequestStore",
    "StoredResponse",
    "create_engine",
    "upgrade",
]
