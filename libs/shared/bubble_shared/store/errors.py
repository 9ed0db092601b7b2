"""Errors the item store raises for conditions a caller handles, as opposed to database failures.

Database failures (connection lost, lock timeouts, serialization failures) propagate as SQLAlchemy
exceptions: they are transient, and the caller (a Temporal activity, a gRPC handler) decides whether
to retry. The errors below describe the request itself, so retrying it unchanged cannot help.
"""

from __future__ import annotations


class ItemNotFoundError(LookupError):
    """No item has this ID (never created, or deleted)."""

    def __init__(self, item_id: str) -> None:
        super().__init__(f"no item has ID {item_id!r}")
        self.item_id = item_id


class ItemAlreadyExistsError(ValueError):
    """The item ID chosen by the client is taken."""

    def __init__(self, item_id: str) -> None:
        super().__init__(f"an item with ID {item_id!r} already exists")
        self.item_id = item_id


class InvalidPageTokenError(ValueError):
    """A page token is malformed, corrupted, or was issued for other filters or another view."""


class NotificationNotFoundError(LookupError):
    """No notification has this ID."""

    def __init__(self, notification_id: str) -> None:
        super().__init__(f"no notification has ID {notification_id!r}")
        self.notification_id = notification_id
