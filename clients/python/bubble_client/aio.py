"""AsyncProcessingClient: the asyncio twin of ProcessingClient (same methods, awaited).

async with AsyncProcessingClient("localhost:50051") as client:
    started = await client.start_item_processing(item_id)
    async for update in client.watch_status(item_id=item_id):
        ...
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc
import grpc.aio

from bubble_client import _methods, _requests, _uploads
from bubble_client import messages as m
from bubble_client._methods import Method, Request, Response
from bubble_client._reconnect import CHANNEL_OPTIONS, ResumableWatch
from bubble_client._requests import ImageSource
from bubble_client._uploads import UPLOAD_ACCEPTED, PendingUpload
from bubble_client.client import DEFAULT_TARGET, DEFAULT_TIMEOUT_SECONDS, _metadata
from bubble_client.errors import ProcessingServiceError, error_from_status


class AsyncProcessingClient:
    """See ProcessingClient; create it inside the event loop that uses it."""

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        token: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT_SECONDS,
        credentials: grpc.ChannelCredentials | None = None,
        channel: grpc.aio.Channel | None = None,
    ) -> None:
        if channel is None:
            channel = (
                grpc.aio.secure_channel(target, credentials, options=CHANNEL_OPTIONS)
                if credentials is not None
                else grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)
            )
            self._owns_channel = True
        else:
            self._owns_channel = False
        self._channel = channel
        self._metadata = _metadata(token)
        self.timeout = timeout

    async def _call(self, method: Method[Request, Response], request: Request) -> Response:
        call = self._channel.unary_unary(
            method.route,
            request_serializer=method.serialize,
            response_deserializer=method.deserialize,
        )
        try:
            response: Response = await call(request, timeout=self.timeout, metadata=self._metadata)
        except grpc.aio.AioRpcError as err:
            raise _error(err) from None
        return response

    async def create_item(
        self,
        *,
        owner_id: str,
        title: str,
        images: Sequence[ImageSource],
        description: str = "",
        item_id: str | None = None,
        request_id: str | None = None,
    ) -> m.Item:
        """See ProcessingClient.create_item: large images are uploaded first."""
        inputs = [
            upload.image_input(await self._send(upload, owner_id))
            if isinstance(upload, PendingUpload)
            else upload
            for upload in await asyncio.to_thread(_uploads.plan, images)
        ]
        request = _requests.create_item(
            owner_id=owner_id,
            title=title,
            description=description,
            images=inputs,
            item_id=item_id,
            request_id=request_id,
        )
        response = await self._call(_methods.CREATE_ITEM, request)
        assert response.item is not None
        return response.item

    async def upload_image(
        self,
        image: Path | bytes,
        *,
        owner_id: str,
        filename: str | None = None,
        content_type: str = "",
    ) -> m.UploadImageResponse:
        """See ProcessingClient.upload_image."""
        upload = await asyncio.to_thread(
            _uploads.pending_upload, image, filename=filename, content_type=content_type
        )
        return await self._send(upload, owner_id)

    async def _send(self, upload: PendingUpload, owner_id: str) -> m.UploadImageResponse:
        method = _methods.UPLOAD_IMAGE
        call = self._channel.stream_unary(
            method.route,
            request_serializer=method.serialize,
            response_deserializer=method.deserialize,
        )(timeout=self.timeout, metadata=self._metadata)
        try:
            await _write_all(call, upload.requests(owner_id))
            response: m.UploadImageResponse = await call
        except grpc.aio.AioRpcError as err:
            raise _error(err) from None
        return response

    async def get_item(self, item_id: str, *, view: m.ItemView = m.ItemView.FULL) -> m.Item:
        response = await self._call(_methods.GET_ITEM, m.GetItemRequest(item_id=item_id, view=view))
        assert response.item is not None
        return response.item

    async def list_items(
        self,
        *,
        owner_id: str = "",
        statuses: Sequence[m.ItemStatus] = (),
        page_size: int = 0,
        view: m.ItemView = m.ItemView.BASIC,
    ) -> AsyncIterator[m.Item]:
        token = ""
        while True:
            page = await self.list_items_page(
                owner_id=owner_id,
                statuses=statuses,
                page_size=page_size,
                page_token=token,
                view=view,
            )
            for item in page.items:
                yield item
            token = page.next_page_token
            if not token:
                return

    async def list_items_page(
        self,
        *,
        owner_id: str = "",
        statuses: Sequence[m.ItemStatus] = (),
        page_size: int = 0,
        page_token: str = "",
        view: m.ItemView = m.ItemView.BASIC,
    ) -> m.ListItemsResponse:
        """One page, with the token of the next (for a caller that resumes later)."""
        return await self._call(
            _methods.LIST_ITEMS,
            _requests.list_items(owner_id, statuses, page_size, page_token, view),
        )

    async def start_item_processing(
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
        return await self._call(_methods.START_ITEM_PROCESSING, request)

    async def start_batch_processing(
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
        return await self._call(_methods.START_BATCH_PROCESSING, request)

    async def get_status(
        self,
        *,
        item_id: str | None = None,
        batch_id: str | None = None,
        workflow_id: str | None = None,
    ) -> m.GetStatusResponse:
        target = _requests.target(item_id=item_id, batch_id=batch_id, workflow_id=workflow_id)
        return await self._call(_methods.GET_STATUS, m.GetStatusRequest(**target))

    async def watch_status(
        self,
        *,
        item_id: str | None = None,
        batch_id: str | None = None,
        workflow_id: str | None = None,
        timeout: float | None = None,
    ) -> AsyncIterator[m.WatchStatusResponse]:
        """Each change of the run's status until it ends, resuming across service restarts:
        see ProcessingClient.watch_status."""
        target = _requests.target(item_id=item_id, batch_id=batch_id, workflow_id=workflow_id)
        watch = ResumableWatch(target, timeout)
        method = _methods.WATCH_STATUS
        stream = self._channel.unary_stream(
            method.route,
            request_serializer=method.serialize,
            response_deserializer=method.deserialize,
        )
        while True:
            call = stream(
                watch.request,
                timeout=watch.time_left(),
                metadata=self._metadata,
                wait_for_ready=watch.wait_for_ready,
            )
            try:
                async for response in call:
                    update = watch.accept(response)
                    if update is not None:
                        yield update
            except grpc.aio.AioRpcError as err:
                delay = watch.retry_delay(_error(err))
            else:
                return
            finally:
                call.cancel()
            await asyncio.sleep(delay)

    async def cancel_processing(
        self,
        *,
        item_id: str | None = None,
        batch_id: str | None = None,
        workflow_id: str | None = None,
        reason: str = "",
    ) -> m.CancelProcessingResponse:
        target = _requests.target(item_id=item_id, batch_id=batch_id, workflow_id=workflow_id)
        return await self._call(
            _methods.CANCEL_PROCESSING, m.CancelProcessingRequest(**target, reason=reason)
        )

    async def close(self) -> None:
        if self._owns_channel:
            await self._channel.close()

    async def __aenter__(self) -> AsyncProcessingClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


async def _write_all(
    call: grpc.aio.StreamUnaryCall[Any, Any], requests: Iterator[m.UploadImageRequest]
) -> None:
    """Writes the metadata, waits for the server's go-ahead header, then the chunks (read in
    a thread), stopping once the call has ended: a refusal of the metadata then arrives
    intact. A write after the server's status turns it into INTERNAL in grpc.aio
    (grpc/grpc#36066), and a refusal's empty headers can come before ``call.done()`` turns
    true, so only the header says the server reads on. (A write racing a later refusal can
    still lose it; the blocking client reports it as sent.)"""
    first = True
    while (request := await asyncio.to_thread(next, requests, None)) is not None:
        if call.done():
            return
        try:
            await call.write(request)
        except asyncio.InvalidStateError:  # ended meanwhile: awaiting the call tells why
            return
        if first:
            first = False
            headers = await call.initial_metadata()
            if UPLOAD_ACCEPTED not in tuple(headers or ()):
                return  # refused: awaiting the call tells why
    if not call.done():
        await call.done_writing()


def _error(err: grpc.aio.AioRpcError) -> ProcessingServiceError:
    call: Any = err  # the stubs type trailing_metadata() loosely
    return error_from_status(call.code(), call.details() or "", call.trailing_metadata())
