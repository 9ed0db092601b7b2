"""Uploads: owned, findable only by their owner, expiring, purged."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine

from bubble_shared.store.conftest import FakeClock
from bubble_shared.store.uploads import UploadStore


def _add(uploads: UploadStore, owner_id: str = "owner-a") -> str:
    return uploads.add(
        owner_id=owner_id,
        uri="uploads/ab/abc.jpg",
        filename="photo.jpg",
        content_type="image/jpeg",
        size_bytes=20 * 1024 * 1024,
        sha256="ab" * 32,
    ).upload_id


def test_an_upload_is_found_by_its_owner_only(engine: Engine, clock: FakeClock) -> None:
    uploads = UploadStore(engine, clock=clock)
    upload_id = _add(uploads)

    found = uploads.find(upload_id, owner_id="owner-a")

    assert found is not None
    assert (found.uri, found.size_bytes, found.filename, found.expired) == (
        "uploads/ab/abc.jpg",
        20 * 1024 * 1024,
        "photo.jpg",
        False,
    )
    assert found.expire_time == clock.now + timedelta(hours=24)
    assert uploads.find(upload_id, owner_id="owner-b") is None
    assert uploads.find("0" * 32, owner_id="owner-a") is None
    assert uploads.find("x" * 500, owner_id="owner-a") is None


def test_an_upload_expires_and_is_purged(engine: Engine, clock: FakeClock) -> None:
    uploads = UploadStore(engine, clock=clock)
    upload_id = _add(uploads)
    kept = _add(uploads, owner_id="owner-b")
    clock.advance(24 * 3600)

    expired = uploads.find(upload_id, owner_id="owner-a")

    assert expired is not None
    assert expired.expired
    assert uploads.purge_expired(older_than=timedelta(hours=1)) == 0
    clock.advance(3600)
    assert uploads.purge_expired(older_than=timedelta(hours=1)) == 2
    assert uploads.find(upload_id, owner_id="owner-a") is None
    assert uploads.find(kept, owner_id="owner-b") is None


def test_delete_forgets_one_upload(engine: Engine, clock: FakeClock) -> None:
    uploads = UploadStore(engine, clock=clock)
    gone, kept = _add(uploads), _add(uploads)

    uploads.delete(gone)

    assert uploads.find(gone, owner_id="owner-a") is None
    assert uploads.find(kept, owner_id="owner-a") is not None
