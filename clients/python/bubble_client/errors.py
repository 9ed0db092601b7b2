"""Errors the client raises: one class per gRPC status a caller may want to handle.

The service attaches a ``google.rpc.ErrorInfo`` (a stable ``reason`` such as "ITEM_NOT_FOUND")
and, for bad requests, ``google.rpc.BadRequest`` field violations; both are decoded here so
callers branch on ``err.reason`` instead of parsing messages meant for people.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import grpc
from google.rpc import error_details_pb2, status_pb2

_STATUS_DETAILS_KEY = "grpc-status-details-bin"


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class ProcessingServiceError(Exception):
    """A call to the processing service failed; ``code`` is the gRPC status."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        *,
        reason: str = "",
        metadata: Mapping[str, str] | None = None,
        field_violations: Sequence[FieldViolation] = (),
    ) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        self.reason = reason
        self.metadata = dict(metadata or {})
        self.field_violations = list(field_violations)


class InvalidArgumentError(ProcessingServiceError):
    """The request is malformed; ``field_violations`` says which fields and why."""


class NotFoundError(ProcessingServiceError):
    """No such item, batch or run."""


class AlreadyExistsError(ProcessingServiceError):
    """The item id is taken, or a request_id was reused with other parameters."""


class FailedPreconditionError(ProcessingServiceError):
    """The item is not in a state that allows this (e.g. already processed, without force)."""


class UnauthenticatedError(ProcessingServiceError):
    """No token, or a wrong one."""


class PermissionDeniedError(ProcessingServiceError):
    """The token may not act for that owner (reason OWNER_NOT_ALLOWED)."""


class ResourceExhaustedError(ProcessingServiceError):
    """Over a limit: an image larger than the server accepts (reason UPLOAD_TOO_LARGE), a
    request over the message size, or a rate limit."""


class UnavailableError(ProcessingServiceError):
    """The service or what it depends on (Temporal, the database) is unreachable: retry later."""


_BY_CODE: dict[grpc.StatusCode, type[ProcessingServiceError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExistsError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.UNAUTHENTICATED: UnauthenticatedError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
}


def error_from_status(
    code: grpc.StatusCode,
    message: str,
    trailing_metadata: Sequence[tuple[str, str | bytes]] | None,
) -> ProcessingServiceError:
    """The exception for a failed call, with the rich details the server attached, if any."""
    reason = ""
    info: Mapping[str, str] = {}
    violations: list[FieldViolation] = []
    for key, value in trailing_metadata or ():
        if key != _STATUS_DETAILS_KEY or not isinstance(value, bytes):
            continue
        status = status_pb2.Status.FromString(value)
        for detail in status.details:
            error_info = error_details_pb2.ErrorInfo()
            bad_request = error_details_pb2.BadRequest()
            if detail.Unpack(error_info):
                reason, info = error_info.reason, dict(error_info.metadata)
            elif detail.Unpack(bad_request):
                violations.extend(
                    FieldViolation(v.field, v.description) for v in bad_request.field_violations
                )
    error_class = _BY_CODE.get(code, ProcessingServiceError)
    return error_class(code, message, reason=reason, metadata=info, field_violations=violations)
