"""Python client of Bubble item processing.

    from bubble_client import ProcessingClient
    with ProcessingClient("localhost:50051") as client:
        client.start_item_processing("item-1")

``AsyncProcessingClient`` is the asyncio twin; ``bubble_client.tasks`` has the Celery-compatible
``process_item_images.delay(item_id)``; ``bubble_client.messages`` every message and enum. The
protobuf code under ``bubble_client._generated`` is written by betterproto2 from proto/
(``./pants run tools:codegen``) and committed, so the client installs without a code generator.
"""

from bubble_client.aio import AsyncProcessingClient
from bubble_client.client import ProcessingClient
from bubble_client.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    FieldViolation,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ProcessingServiceError,
    ResourceExhaustedError,
    UnauthenticatedError,
    UnavailableError,
)

__all__ = [
    "AlreadyExistsError",
    "AsyncProcessingClient",
    "FailedPreconditionError",
    "FieldViolation",
    "InvalidArgumentError",
    "NotFoundError",
    "PermissionDeniedError",
    "ProcessingClient",
    "ProcessingServiceError",
    "ResourceExhaustedError",
    "UnauthenticatedError",
    "UnavailableError",
]
