"""Errors: the rich status a client receives, and which exceptions are not bugs."""

from __future__ import annotations

import grpc
import sqlalchemy.exc
from google.rpc import code_pb2, error_details_pb2
from temporalio.service import RPCError, RPCStatusCode

from bubble_service.errors import (
    DOMAIN,
    INTERNAL,
    FieldViolation,
    ServiceError,
    expected_failure,
    invalid_argument,
    not_found,
    undecodable_request,
)


def test_the_status_carries_error_info_and_bad_request() -> None:
    error = invalid_argument([FieldViolation("title", "too long"), FieldViolation("x", "bad", "R")])

    status = error.to_status()

    assert status.code == code_pb2.INVALID_ARGUMENT
    assert status.message == error.message
    info, bad_request = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
    assert status.details[0].Unpack(info)
    assert status.details[1].Unpack(bad_request)
    assert (info.reason, info.domain, dict(info.metadata)) == (
        "INVALID_FIELD",
        DOMAIN,
        {"field": "title"},
    )
    assert [(v.field, v.reason) for v in bad_request.field_violations] == [
        ("title", "INVALID_FIELD"),
        ("x", "R"),
    ]


def test_not_found_has_no_bad_request() -> None:
    status = not_found("no item", "ITEM_NOT_FOUND", item_id="x").to_status()

    assert status.code == code_pb2.NOT_FOUND
    assert len(status.details) == 1


def test_unreachable_dependencies_are_unavailable_and_bugs_are_not_expected() -> None:
    down = RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b"")
    lazy = RuntimeError("Failed client connect: Server connection error")
    database = sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("could not connect"))
    pool = sqlalchemy.exc.TimeoutError("QueuePool limit of size 5 overflow 10 reached")
    disk = OSError(28, "No space left on device")

    failures = (down, lazy, database, pool, disk)
    assert [expected_failure(e).reason for e in failures] == [  # type: ignore[union-attr]
        "TEMPORAL_UNAVAILABLE",
        "TEMPORAL_UNAVAILABLE",
        "DATABASE_UNAVAILABLE",
        "DATABASE_UNAVAILABLE",
        "MEDIA_UNAVAILABLE",
    ]
    assert expected_failure(down).code == grpc.StatusCode.UNAVAILABLE  # type: ignore[union-attr]
    limited = RPCError("namespace rate limit exceeded", RPCStatusCode.RESOURCE_EXHAUSTED, b"")
    assert expected_failure(limited).code == grpc.StatusCode.RESOURCE_EXHAUSTED  # type: ignore[union-attr]
    assert expected_failure(KeyError("bug")) is None
    assert expected_failure(RuntimeError("something else")) is None
    assert "internal error" in INTERNAL.message


def test_a_namespace_without_our_search_attributes_is_a_failed_precondition() -> None:
    refused = RPCError(
        "Namespace default has no mapping defined for search attribute BubbleItemId",
        RPCStatusCode.INVALID_ARGUMENT,
        b"",
    )

    failure = expected_failure(refused)

    assert failure is not None
    assert (failure.code, failure.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "TEMPORAL_NOT_SET_UP",
    )
    assert "BubbleItemId" in failure.message
    assert "setup-namespace.sh" in failure.message


def test_every_status_code_converts_to_its_number() -> None:
    for code in (
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.NOT_FOUND,
    ):
        status = ServiceError(code, "message", "REASON").to_status()
        assert status.code == code.value[0]


def test_undecodable_request_bytes_are_an_invalid_argument_in_plain_words() -> None:
    error = undecodable_request("CreateItem", 24)

    assert (error.code, error.reason, dict(error.metadata)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "MALFORMED_REQUEST",
        {"rpc": "CreateItem"},
    )
    assert error.message.startswith("the request body (24 bytes) is not a valid protobuf")
    assert "<class" not in error.message
