"""The RPCs of ItemProcessingService: route and message classes, shared by both clients.

The facade calls the channel directly instead of through betterproto2's stubs because those
take no deadline and no metadata (the token), which every call here needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

import betterproto2

from bubble_client import messages as m

SERVICE = "bubble.processing.v1.ItemProcessingService"

Request = TypeVar("Request", bound=betterproto2.Message)
Response = TypeVar("Response", bound=betterproto2.Message)


@dataclass(frozen=True)
class Method(Generic[Request, Response]):
    name: str
    request: type[Request]
    response: type[Response]

    @property
    def route(self) -> str:
        return f"/{SERVICE}/{self.name}"

    def serialize(self, request: Request) -> bytes:
        return bytes(request)

    def deserialize(self, data: bytes) -> Response:
        return self.response.parse(data)


CREATE_ITEM = Method("CreateItem", m.CreateItemRequest, m.CreateItemResponse)
UPLOAD_IMAGE = Method("UploadImage", m.UploadImageRequest, m.UploadImageResponse)
GET_ITEM = Method("GetItem", m.GetItemRequest, m.GetItemResponse)
LIST_ITEMS = Method("ListItems", m.ListItemsRequest, m.ListItemsResponse)
START_ITEM_PROCESSING = Method(
    "StartItemProcessing", m.StartItemProcessingRequest, m.StartItemProcessingResponse
)
START_BATCH_PROCESSING = Method(
    "StartBatchProcessing", m.StartBatchProcessingRequest, m.StartBatchProcessingResponse
)
GET_STATUS = Method("GetStatus", m.GetStatusRequest, m.GetStatusResponse)
WATCH_STATUS = Method("WatchStatus", m.WatchStatusRequest, m.WatchStatusResponse)
CANCEL_PROCESSING = Method(
    "CancelProcessing", m.CancelProcessingRequest, m.CancelProcessingResponse
)
