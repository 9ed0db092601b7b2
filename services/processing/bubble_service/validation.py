"""Checks of request fields against the limits the API reference promises.

Each check appends to a list of violations instead of raising, so one INVALID_ARGUMENT answer lists
every problem of a request (a client fixes them in one go); ``raise_if_any`` ends the validation.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from google.protobuf.duration_pb2 import Duration

from bubble_service.errors import FieldViolation, invalid_argument
from bubble_shared.store.items import ITEM_ID_PATTERN

ID_PATTERN = ITEM_ID_PATTERN
"""Item and batch IDs: 1 to 128 characters from [A-Za-z0-9_-]."""
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
MAX_START_DELAY = timedelta(days=30)
# Temporal's default limit on workflow IDs; longer ones cannot name a run of ours.
MAX_WORKFLOW_ID_LENGTH = 1000
_ID_RULE = "use 1 to 128 characters from A-Z, a-z, 0-9, '_' and '-'"


class Violations:
    """The problems found in one request so far."""

    def __init__(self) -> None:
        self.found: list[FieldViolation] = []

    def add(self, field: str, description: str, reason: str = "INVALID_FIELD") -> None:
        self.found.append(FieldViolation(field, description, reason))

    def raise_if_any(self) -> None:
        if self.found:
            raise invalid_argument(self.found)

    def required_id(self, field: str, value: str, *, what: str = "ID") -> None:
        """An ID that must be set and well formed."""
        if not value:
            self.add(field, f"the {what} is required", "FIELD_REQUIRED")
        else:
            self.optional_id(field, value, what=what)

    def optional_id(self, field: str, value: str, *, what: str = "ID") -> None:
        if value and not ID_PATTERN.fullmatch(value):
            self.add(field, f"{_shown(value)} is not a valid {what}: {_ID_RULE}", "INVALID_ID")

    def request_id(self, value: str) -> str:
        """The request_id in canonical (lowercase) form, or "" when unset."""
        if not value:
            return ""
        if not _UUID.fullmatch(value):
            self.add(
                "request_id",
                f"{_shown(value)} is not a UUID in canonical form "
                "(e.g. 0f8fad5b-d9cb-469f-a165-70867728950e)",
                "INVALID_REQUEST_ID",
            )
            return ""
        return str(uuid.UUID(value))

    def text(self, field: str, value: str, limit: int) -> None:
        """Free text: at most ``limit`` characters and no NUL, which PostgreSQL text refuses."""
        if len(value) > limit:
            self.add(field, f"is {len(value)} characters long; at most {limit} are allowed")
        if "\x00" in value:
            self.add(field, "must not contain NUL characters")

    def start_delay(self, field: str, value: Duration | None) -> timedelta:
        """The delay, or zero; negative, malformed and over-30-day delays are violations."""
        if value is None:
            return timedelta(0)
        seconds, nanos = value.seconds, value.nanos
        if (
            not -999_999_999 <= nanos <= 999_999_999
            or (seconds > 0 > nanos)
            or (seconds < 0 < nanos)
        ):
            self.add(field, "is not a valid duration (seconds and nanos must share a sign)")
            return timedelta(0)
        total_nanos = seconds * 1_000_000_000 + nanos
        if total_nanos < 0:
            self.add(field, "must not be negative")
        elif total_nanos > MAX_START_DELAY // timedelta(microseconds=1) * 1000:
            self.add(field, f"is longer than {MAX_START_DELAY.days} days, the most allowed")
        else:
            return timedelta(microseconds=total_nanos // 1000)
        return timedelta(0)


def _shown(value: str) -> str:
    """A value for a message: quoted, and cut short so a hostile value cannot flood logs."""
    return repr(value if len(value) <= 64 else value[:64] + "...")
