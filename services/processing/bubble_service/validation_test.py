"""Field checks: IDs, request IDs, start delays."""

from __future__ import annotations

from datetime import timedelta

import pytest
from google.protobuf.duration_pb2 import Duration

from bubble_service.errors import ServiceError
from bubble_service.validation import Violations


def test_request_ids_must_be_canonical_uuids_and_are_normalised() -> None:
    violations = Violations()

    assert violations.request_id("") == ""
    assert (
        violations.request_id("0F8FAD5B-D9CB-469F-A165-70867728950E")
        == "0f8fad5b-d9cb-469f-a165-70867728950e"
    )
    assert violations.found == []
    for bad in ("0f8fad5bd9cb469fa16570867728950e", "{0f8fad5b-d9cb-469f-a165-70867728950e}", "x"):
        assert violations.request_id(bad) == ""
    assert [v.reason for v in violations.found] == ["INVALID_REQUEST_ID"] * 3


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("a", True),
        ("A-z_09", True),
        ("a" * 128, True),
        ("a" * 129, False),
        ("a b", False),
        ("a/b", False),
        ("ä", False),
        ("a\n", False),
    ],
)
def test_ids(value: str, valid: bool) -> None:
    violations = Violations()

    violations.required_id("item_id", value)

    assert (violations.found == []) == valid


@pytest.mark.parametrize(
    ("seconds", "nanos", "expected"),
    [
        (0, 0, timedelta(0)),
        (90, 500_000_000, timedelta(seconds=90.5)),
        (30 * 86400, 0, timedelta(days=30)),
        (30 * 86400, 1, None),
        (-1, 0, None),
        (0, -1, None),
        (1, -1, None),
        (2**62, 0, None),
        (0, 2_000_000_000, None),
    ],
)
def test_start_delays(seconds: int, nanos: int, expected: timedelta | None) -> None:
    violations = Violations()

    delay = violations.start_delay("start_delay", Duration(seconds=seconds, nanos=nanos))

    if expected is None:
        assert [v.field for v in violations.found] == ["start_delay"]
        assert delay == timedelta(0)
    else:
        assert violations.found == []
        assert delay == expected


def test_raise_if_any_lists_every_violation() -> None:
    violations = Violations()
    violations.add("a", "is wrong", "FIRST")
    violations.add("b", "is wrong too")

    with pytest.raises(ServiceError) as raised:
        violations.raise_if_any()

    assert raised.value.reason == "FIRST"
    assert [v.field for v in raised.value.violations] == ["a", "b"]
    assert raised.value.message == "2 invalid fields: a: is wrong; b: is wrong too"
