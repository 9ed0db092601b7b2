"""Each gRPC status a caller may handle has its own error class."""

from __future__ import annotations

import grpc
import pytest

from bubble_client import (
    AlreadyExistsError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ProcessingServiceError,
    UnauthenticatedError,
    UnavailableError,
)
from bubble_client.errors import error_from_status


@pytest.mark.parametrize(
    ("code", "error_class"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, InvalidArgumentError),
        (grpc.StatusCode.NOT_FOUND, NotFoundError),
        (grpc.StatusCode.ALREADY_EXISTS, AlreadyExistsError),
        (grpc.StatusCode.FAILED_PRECONDITION, FailedPreconditionError),
        (grpc.StatusCode.UNAUTHENTICATED, UnauthenticatedError),
        # A token acting for another owner (AUTH_TOKENS with owners).
        (grpc.StatusCode.PERMISSION_DENIED, PermissionDeniedError),
        (grpc.StatusCode.UNAVAILABLE, UnavailableError),
    ],
)
def test_each_status_has_its_class(
    code: grpc.StatusCode, error_class: type[ProcessingServiceError]
) -> None:
    error = error_from_status(code, "what happened", None)

    assert type(error) is error_class
    assert (error.code, error.message) == (code, "what happened")


def test_other_statuses_are_the_base_class() -> None:
    error = error_from_status(grpc.StatusCode.INTERNAL, "a bug", None)

    assert type(error) is ProcessingServiceError
