"""Uploads (the uploads table): images received by UploadImage, waiting for CreateItem.

The bytes live under MEDIA_ROOT (content-addressed, like inline images); a row says whose they
are and until when CreateItem may use them, so an upload cannot be used by another owner and an
abandoned one stops being usable. Expired rows are kept until ``purge_expired`` so that a late
CreateItem hears "expired" rather than "unknown"; purging leaves the files, which items may share.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete

from bubble_shared.store.models import UPLOAD_ID_LENGTH, Upload
from bubble_shared.store.sessions import StoreBase
from bubble_shared.store.timestamps import utc_now

# The API reference promises 24 hours.
DEFAULT_UPLOAD_TTL = timedelta(hours=24)


@dataclass(frozen=True)
class StoredUpload:
    upload_id: str
    owner_id: str
    uri: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    create_time: datetime
    expire_time: datetime
    expired: bool = False
    """Whether ``expire_time`` had passed when the row was read."""


class UploadStore(StoreBase):
    def __init__(
        self,
        engine: Engine,
        *,
        ttl: timedelta = DEFAULT_UPLOAD_TTL,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        super().__init__(engine, clock=clock)
        self._ttl = ttl

    def add(
        self,
        *,
        owner_id: str,
        uri: str,
        filename: str,
        content_type: str,
        size_bytes: int,
        sha256: str,
    ) -> StoredUpload:
        """Records a stored file as an upload of ``owner_id``, with a fresh random ID."""
        now = self._now()
        row = Upload(
            upload_id=uuid.uuid4().hex,
            owner_id=owner_id,
            uri=uri,
            filename=filename,
            content_type=content_type,
            size_bytes=size_bytes,
            sha256=sha256,
            create_time=now,
            expire_time=now + self._ttl,
        )
        with self._writes.begin() as session:
            session.add(row)
            session.flush()
            return _stored(row, now)

    def find(self, upload_id: str, *, owner_id: str) -> StoredUpload | None:
        """The upload, expired or not; None when no upload of ``owner_id`` has that ID (another
        owner's upload is not told apart from none)."""
        if not 0 < len(upload_id) <= UPLOAD_ID_LENGTH:
            return None
        now = self._now()
        with self._reads.begin() as session:
            row = session.get(Upload, upload_id)
            if row is None or row.owner_id != owner_id:
                return None
            return _stored(row, now)

    def delete(self, upload_id: str) -> None:
        """Forgets an upload (one whose file could not be put in place)."""
        with self._writes.begin() as session:
            session.execute(delete(Upload).where(Upload.upload_id == upload_id))

    def purge_expired(self, *, older_than: timedelta = timedelta(0)) -> int:
        """Deletes the rows expired more than ``older_than`` ago; returns how many."""
        cutoff = self._now() - older_than
        with self._writes.begin() as session:
            result = session.execute(delete(Upload).where(Upload.expire_time <= cutoff))
            return int(getattr(result, "rowcount", 0) or 0)


def _stored(row: Upload, now: datetime) -> StoredUpload:
    return StoredUpload(
        upload_id=row.upload_id,
        owner_id=row.owner_id,
        uri=row.uri,
        filename=row.filename,
        content_type=row.content_type,
        size_bytes=row.size_bytes,
        sha256=row.sha256,
        create_time=row.create_time,
        expire_time=row.expire_time,
        expired=row.expire_time <= now,
    )
