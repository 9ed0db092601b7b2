"""ProcessingClient: the blocking Python client of the processing service.

with ProcessingClient("localhost:50051", token="...") as client:
    item = client.create_item(owner_id="u1", title="Jacket", images=[Path("front.jpg")])
    started = client.start_item_processing(item.item_id)
    for update in client.watch_status(item_id=item.item_id):
        print(update.item_run.stage)
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc

from bubble_client import _methods, _requests, _uploads
from bubble_client import messages as m
from bubble_client._methods import Method, Request, Response
from bubble_client._reconnect import CHANNEL_OPTIONS, ResumableWatch
from bubble_client._requests import ImageSource
from bubble_client._uploads import PendingUpload
from bubble_client.errors import ProcessingServiceError, error_from_status

DEFAULT_TARGET = "localhost:50051"
DEFAULT_TIMEOUT_SECONDS = 30.0


def _metadata(token: str | None) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),) if token else ()


class ProcessingClient:
    """Typed calls to ItemProcessingService; every failure raises a ProcessingServiceError.

    ``timeout`` is the deadline of each call in seconds (None: no deadline); watch_status has
    none unless given. Pass ``credentials`` for TLS, or a ready ``channel`` (the client then
    leaves closing it to you; set its ``grpc.max_reconnect_backoff_ms`` low, as the client does
    for its own, or a resumed watch may notice a restarted service only minutes later).
    """

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        token: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT_SECONDS,
        credentials: grpc.ChannelCredentials | None = None,
        channel: grpc.Channel | None = None,
    ) -> None:
        if channel is None:
            channel = (
                grpc.secure_channel(target, credentials, options=CHANNEL_OPTIONS)
                if credentials is not None
                else grpc.insecure_channel(target, options=CHANNEL_OPTIONS)
            )
            self._owns_channel = True
        else:
            self._owns_channel = False
        self._channel = channel
        self._metadata = _metadata(token)
        self.timeout = timeout

    def _call(self, method: Method[Request, Response], request: Request) -> Response:
        call = self._channel.unary_unary(
            method.route,
            request_serializer=method.serialize,
            response_deserializer=method.deserialize,
        )
        try:
            response: Response = call(request, timeout=self.timeout, metadata=self._metadata)
        except grpc.RpcError as err:
            raise _error(err) from None
        return response

    def create_item(
        self,
        *,
        owner_id: str,
        title: str,
        images: Sequence[ImageSource],
        description: str = "",
        item_id: str | None = None,
        request_id: str | None = None,
    ) -> m.Item:
        """Creates the item; images over 1 MiB (files or bytes) are uploaded first, by
        UploadImage, so photos of any size up to the server's cap (20 MiB) just work."""
        inputs = [
            self._upload(image, owner_id) if isinstance(image, PendingUpload) else image
            for image in _uploads.plan(images)
        ]
        request = _requests.create_item(
            owner_id=owner_id,
            title=title,
            description=description,
            images=inputs,
            item_id=item_id,
            request_id=request_id,
        )
        response = self._call(_methods.CREATE_ITEM, request)
        assert response.item is not None
        return response.item

    def upload_image(
        self,
        image: Path | bytes,
        *,
        owner_id: str,
        filename: str | None = None,
        content_type: str = "",
    ) -> m.UploadImageResponse:
        """Uploads one image in chunks; pass ``ImageInput(upload_id=...)`` to create_item within
        24 hours. ``filename`` defaults to the file's name. create_item does this on its own for
        large images."""
        upload = _uploads.pending_upload(image, filename=filename, content_type=content_type)
        return self._send(upload, owner_id)

    def _send(self, upload: PendingUpload, owner_id: str) -> m.UploadImageResponse:
        method = _methods.UPLOAD_IMAGE
        call = self._channel.stream_unary(
            method.route,
            request_serializer=method.serialize,
            response_deserializer=method.deserialize,
        )
        try:
            response: m.UploadImageResponse = call(
                upload.requests(owner_id), timeout=self.timeout, metadata=self._metadata
            )
        except grpc.RpcError as err:
            raise _error(err) from None
        return response

    def _upload(self, upload: PendingUpload, owner_id: str) -> m.ImageInput:
        return upload.image_input(self._send(upload, owner_id))

    def get_item(self, item_id: str, *, view: m.ItemView = m.ItemView.FULL) -> m.Item:
        response = self._call(_methods.GET_ITEM, m.GetItemRequest(item_id=item_id, view=view))
        assert response.item is not None
        return response.item

    def list_items(
        self,
        *,
        owner_id: str = "",
        statuses: Sequence[m.ItemStatus] = (),
        page_size: int = 0,
        view: m.ItemView = m.ItemView.BASIC,
    ) -> Iterator[m.Item]:
        """Every matching item, fetching pages as the iteration goes."""
        token = ""
        while True:
            page = self.list_items_page(
                owner_id=owner_id,
                statuses=statuses,
                page_size=page_size,
                page_token=token,
                view=view,
            )
            yield from page.items
            token = page.next_page_token
            if not token:
                return

    def list_items_page(
        self,
        *,
        owner_id: str = "",
        statuses: Sequence[m.ItemStatus] = (),
        page_size: int = 0,
        page_token: str = "",
        view: m.ItemView = m.ItemView.BASIC,
    ) -> m.ListItemsResponse:
        """One page, with the token of the next (for a caller that resumes later)."""
        return self._call(
            _methods.LIST_ITEMS,
            _requests.list_items(owner_id, statuses, page_size, page_token, view),
        )

    def start_item_processing(
        self,
        item_id: str,
        *,
        start_delay: timedelta | None = None,
        force: bool = False,
        skip_notification: bool = False,
        request_id: str | None = None,
    ) -> m.StartItemProcessingResponse:
        request = _requests.start_item_processing(
            item_id,
            request_id=request_id,
            start_delay=start_delay,
            force=force,
            skip_notification=skip_notification,
        )
        return self._call(_methods.START_ITEM_PROCESSING, request)

    def start_batch_processing(
        self,
        item_ids: Sequence[str] = (),
        *,
        selector: m.ItemSelector | None = None,
        batch_id: str | None = None,
        max_concurrency: int = 0,
        force: bool = False,
        skip_notification: bool = False,
        request_id: str | None = None,
    ) -> m.StartBatchProcessingResponse:
        """Processes the listed items, or those ``selector`` selects (any number: the server
        reads the selection page by page while the batch runs)."""
        request = _requests.start_batch_processing(
            item_ids,
            selector=selector,
            batch_id=batch_id,
            max_concurrency=max_concurrency,
            request_id=request_id,
            force=force,
            skip_notification=skip_notification,
        )
        return self._call(_methods.START_BATCH_PROCESSING, request)

    def get_status(
        self,
        *,
        item_id: str | None = None,
        batch_id: str | None = None,
        workflow_id: str | None = None,
    ) -> m.GetStatusResponse:
        target = _requests.target(item_id=item_id, batch_id=batch_id, workflow_id=workflow_id)
        return self._call(_methods.GET_STATUS, m.GetStatusRequest(**target))

    def watch_status(
        self,
        *,
        item_id: str | None = None,
        batch_id: str | None = None,
        workflow_id: str | None = None,
        timeout: float | None = None,
    ) -> Iterator[m.WatchStatusResponse]:
        """Each change of the run's status until it ends (the last update is ``terminal``).

        A service restart or the server's stream limit does not end the watch: once the first
        update has arrived, UNAVAILABLE opens a new stream (with jittered exponential backoff)
        and the watch goes on without repeating an update, ``sequence`` counting on. ``timeout``
        bounds the whole watch, reconnections included: past it, a ProcessingServiceError with
        code DEADLINE_EXCEEDED. Other errors, and UNAVAILABLE before the first update, raise.
        An item watch that reconnects after its run ended and the item was processed again
        follows the newer run (see ``run_id``).
        """
        target = _requests.target(item_id=item_id, batch_id=batch_id, workflow_id=workflow_id)
        watch = ResumableWatch(target, timeout)
        method = _methods.WATCH_STATUS
        stream = self._channel.unary_stream(
            method.route,
            request_serializer=method.serialize,
            response_deserializer=method.deserialize,
        )
        while True:
            responses = stream(
                watch.request,
                timeout=watch.time_left(),
                metadata=self._metadata,
                wait_for_ready=watch.wait_for_ready,
            )
            try:
                for response in responses:
                    update = watch.accept(response)
                    if update is not None:
                        yield update
            except grpc.RpcError as err:
                delay = watch.retry_delay(_error(err))
            else:
                return
            finally:
                responses.cancel()
            time.sleep(delay)

    def cancel_processing(
        self,
        *,
        item_id: str | None = None,
        batch_id: str | None = None,
        workflow_id: str | None = None,
        reason: str = "",
    ) -> m.CancelProcessingResponse:
        target = _requests.target(item_id=item_id, batch_id=batch_id, workflow_id=workflow_id)
        return self._call(
            _methods.CANCEL_PROCESSING, m.CancelProcessingRequest(**target, reason=reason)
        )

    def close(self) -> None:
        if self._owns_channel:
            self._channel.close()

    def __enter__(self) -> ProcessingClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _error(err: grpc.RpcError) -> ProcessingServiceError:
    call: Any = err  # a grpc.Call as well: code(), details(), trailing_metadata()
    return error_from_status(call.code(), call.details() or "", call.trailing_metadata())
