"""Errors as the API reports them (AIP-193): a status code, a sentence, machine-readable details.

Handlers raise ``ServiceError``; the observing interceptor turns it into the gRPC status with a
``google.rpc.ErrorInfo`` (reason, domain, metadata) and, for INVALID_ARGUMENT, a
``google.rpc.BadRequest`` listing every field violation. Exceptions from Temporal or the database
that mean "unreachable" become UNAVAILABLE (retryable); anything else is a bug and becomes INTERNAL
with no detail, so no stack trace or internal message ever reaches a client.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import grpc
import sqlalchemy.exc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from temporalio.service import RPCError, RPCStatusCode

DOMAIN = "bubble.processing.v1"


@dataclass(frozen=True)
class FieldViolation:
    """One invalid field: its path in the request (``images[2].content``) and what is wrong."""

    field: str
    description: str
    reason: str = "INVALID_FIELD"


@dataclass
class ServiceError(Exception):
    """An error for the client: raise it anywhere below a handler."""

    code: grpc.StatusCode
    message: str
    reason: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    violations: Sequence[FieldViolation] = ()

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def to_status(self) -> status_pb2.Status:
        """The google.rpc.Status with our details, as sent in ``grpc-status-details-bin``."""
        details = [
            _pack(
                error_details_pb2.ErrorInfo(
                    reason=self.reason, domain=DOMAIN, metadata=dict(self.metadata)
                )
            )
        ]
        if self.violations:
            details.append(
                _pack(
                    error_details_pb2.BadRequest(
                        field_violations=[
                            error_details_pb2.BadRequest.FieldViolation(
                                field=violation.field,
                                description=violation.description,
                                reason=violation.reason,
                            )
                            for violation in self.violations
                        ]
                    )
                )
            )
        code: int = self.code.value[0]  # grpc.StatusCode values are (number, name)
        return status_pb2.Status(code=code, message=self.message, details=details)


def invalid_argument(violations: Sequence[FieldViolation]) -> ServiceError:
    """INVALID_ARGUMENT for one or more violations; the first one names the reason."""
    first = violations[0]
    message = "; ".join(f"{v.field}: {v.description}" for v in violations)
    if len(violations) > 1:
        message = f"{len(violations)} invalid fields: {message}"
    return ServiceError(
        grpc.StatusCode.INVALID_ARGUMENT,
        message,
        first.reason,
        {"field": first.field},
        violations,
    )


def not_found(message: str, reason: str, **metadata: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.NOT_FOUND, message, reason, metadata)


def already_exists(message: str, reason: str, **metadata: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.ALREADY_EXISTS, message, reason, metadata)


def failed_precondition(message: str, reason: str, **metadata: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.FAILED_PRECONDITION, message, reason, metadata)


def unavailable(message: str, reason: str, **metadata: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.UNAVAILABLE, message, reason, metadata)


def unauthenticated(message: str, reason: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.UNAUTHENTICATED, message, reason)


def permission_denied(message: str, reason: str, **metadata: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.PERMISSION_DENIED, message, reason, metadata)


def owner_not_allowed(owner_id: str) -> ServiceError:
    """PERMISSION_DENIED for a request naming an owner the caller's token may not act for."""
    return permission_denied(
        f"this token may not act for owner {owner_id!r}", "OWNER_NOT_ALLOWED", owner_id=owner_id
    )


def item_not_found(item_id: str) -> ServiceError:
    """NOT_FOUND for an item that does not exist, or that the caller may not see: the same
    answer for both, so nobody learns which items other owners have."""
    return not_found(f"no item has ID {item_id!r}", "ITEM_NOT_FOUND", item_id=item_id)


def undecodable_request(rpc: str, size: int) -> ServiceError:
    """INVALID_ARGUMENT for request bytes that are not the RPC's protobuf message: a caller's
    serialization bug, said plainly (no parser or class names, they help nobody calling us)."""
    return ServiceError(
        grpc.StatusCode.INVALID_ARGUMENT,
        f"the request body ({size} bytes) is not a valid protobuf {rpc} request: send the "
        "request message defined in the service's .proto files (bubble.processing.v1), "
        "serialized as protobuf",
        "MALFORMED_REQUEST",
        {"rpc": rpc},
    )


INTERNAL = ServiceError(
    grpc.StatusCode.INTERNAL, "internal error; it has been logged, please report it", "INTERNAL"
)

_TEMPORAL_DOWN = frozenset({RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED})


def expected_failure(  # noqa: PLR0911 - one return per kind of failure, in order
    error: BaseException,
) -> ServiceError | None:
    """The ServiceError for an exception that is not a bug (a dependency is down), else None."""
    if isinstance(error, ServiceError):
        return error
    if isinstance(error, RPCError) and error.status in _TEMPORAL_DOWN:
        return temporal_unavailable()
    if isinstance(error, RPCError) and error.status == RPCStatusCode.RESOURCE_EXHAUSTED:
        return ServiceError(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "the Temporal service is rate limiting requests; retry later with backoff",
            "TEMPORAL_RATE_LIMITED",
        )
    if _is_connection_failure(error):
        return temporal_unavailable()
    if isinstance(error, RPCError) and "search attribute" in error.message:
        # The namespace lacks our search attributes: a deployment step was skipped.
        return ServiceError(
            grpc.StatusCode.FAILED_PRECONDITION,
            f"Temporal refused the run ({error.message}): the namespace needs the Bubble* search "
            "attributes registered (docker/temporal/setup-namespace.sh)",
            "TEMPORAL_NOT_SET_UP",
        )
    if isinstance(
        error,
        sqlalchemy.exc.OperationalError
        | sqlalchemy.exc.InterfaceError
        | sqlalchemy.exc.TimeoutError,
    ):
        return unavailable(
            "the item database cannot be reached; retry with exponential backoff",
            "DATABASE_UNAVAILABLE",
        )
    if isinstance(error, OSError):
        # Writing an upload failed: the media volume is full, read-only or gone.
        return unavailable(
            "the media storage cannot be written; retry with exponential backoff",
            "MEDIA_UNAVAILABLE",
        )
    return None


def temporal_unavailable() -> ServiceError:
    return unavailable(
        "the Temporal service cannot be reached; retry with exponential backoff",
        "TEMPORAL_UNAVAILABLE",
    )


def _is_connection_failure(error: BaseException) -> bool:
    """A lazy Temporal client that cannot connect raises a plain RuntimeError saying so."""
    return type(error) is RuntimeError and str(error).startswith("Failed client connect")


def _pack(message: error_details_pb2.ErrorInfo | error_details_pb2.BadRequest) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed
