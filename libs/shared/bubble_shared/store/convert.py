"""Conversions between the stored rows and the protobuf messages the store speaks.

Kept apart from the queries so that what a row means in the API is decided in one place.
"""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from bubble.processing.v1 import item_pb2, run_pb2
from bubble_shared.store.models import Item, ItemImage

_STATUS_PREFIX = "ITEM_STATUS_"
_STAGE_PREFIX = "PROCESSING_STAGE_"


def status_name(status: int) -> str:
    """The stored name of an ItemStatus value: ITEM_STATUS_FAILED -> "FAILED"."""
    if status == item_pb2.ITEM_STATUS_UNSPECIFIED or status not in item_pb2.ItemStatus.values():
        raise ValueError(f"not a valid item status: {status}")
    return item_pb2.ItemStatus.Name(item_pb2.ItemStatus.ValueType(status)).removeprefix(
        _STATUS_PREFIX
    )


def status_value(name: str) -> item_pb2.ItemStatus.ValueType:
    """The ItemStatus value of a stored name: "FAILED" -> ITEM_STATUS_FAILED."""
    return item_pb2.ItemStatus.Value(_STATUS_PREFIX + name)


def stage_name(stage: int) -> str:
    """The stored name of a ProcessingStage; unknown (newer) values are kept as their number."""
    if stage in run_pb2.ProcessingStage.values():
        value = run_pb2.ProcessingStage.ValueType(stage)
        return run_pb2.ProcessingStage.Name(value).removeprefix(_STAGE_PREFIX)
    return str(stage)


def stage_value(name: str) -> run_pb2.ProcessingStage.ValueType:
    """The ProcessingStage of a stored name; a name this code does not know reads as UNSPECIFIED."""
    if name.isdigit():
        return run_pb2.ProcessingStage.ValueType(int(name))
    try:
        return run_pb2.ProcessingStage.Value(_STAGE_PREFIX + name)
    except ValueError:
        return run_pb2.PROCESSING_STAGE_UNSPECIFIED


def timestamp(value: datetime) -> Timestamp:
    """A protobuf Timestamp of an aware datetime."""
    message = Timestamp()
    message.FromDatetime(value)
    return message


def processing_error(
    code: str,
    message: str | None,
    image_id: str | None,
    retryable: bool | None,
    stage: str | None,
) -> run_pb2.ProcessingError:
    """A stored error (the columns of an item's last error, or of a run's error)."""
    return run_pb2.ProcessingError(
        code=code,
        message=message or "",
        image_id=image_id or "",
        retryable=bool(retryable),
        stage=stage_value(stage or ""),
    )


def item_to_proto(item: Item, *, include_analysis: bool) -> item_pb2.Item:
    """The API view of an item; its images must have been loaded with the query.

    ``include_analysis`` is False for the BASIC view, whose queries do not even load the analysis
    column (it is deferred with raiseload, so touching it here would raise).
    """
    message = item_pb2.Item(
        item_id=item.item_id,
        owner_id=item.owner_id,
        title=item.title,
        description=item.description,
        status=status_value(item.status),
        current_workflow_id=item.current_workflow_id or "",
        # The API's last_workflow_id is the most recent run, open or closed: the open run if any.
        last_workflow_id=item.current_workflow_id or item.last_workflow_id or "",
        create_time=timestamp(item.create_time),
        update_time=timestamp(item.update_time),
        images=[image_to_proto(image, include_analysis=include_analysis) for image in item.images],
    )
    if item.last_error_code is not None:
        message.last_error.CopyFrom(
            processing_error(
                item.last_error_code,
                item.last_error_message,
                item.last_error_image_id,
                item.last_error_retryable,
                item.last_error_stage,
            )
        )
    if item.suggestions is not None:
        message.suggestions.ParseFromString(item.suggestions)
    if item.processed_time is not None:
        message.processed_time.CopyFrom(timestamp(item.processed_time))
    return message


def image_to_proto(image: ItemImage, *, include_analysis: bool) -> item_pb2.ItemImage:
    """The API view of one image."""
    message = item_pb2.ItemImage(
        image_id=image.image_id,
        uri=image.uri,
        position=image.position,
        content_type=image.content_type,
        size_bytes=image.size_bytes,
        filename=image.filename,
    )
    if include_analysis and image.analysis is not None:
        message.analysis.ParseFromString(image.analysis)
    return message
