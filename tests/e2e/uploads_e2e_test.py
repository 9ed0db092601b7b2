"""Phone-sized photos: a 20 MB JPEG goes from the CLI and the clients through UploadImage and
CreateItem to PROCESSED; a 200 MB file is refused with the limit stated (CLI exit code 2)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from pathlib import Path

import pytest
from e2e.system import System

from bubble_client import AsyncProcessingClient, ProcessingClient, ResourceExhaustedError
from bubble_client import messages as m
from bubble_client.cli import run
from bubble_shared.testing.photos import padded_jpeg

PHOTO_BYTES = 20_000_000  # a large phone photo; the cap is 20 MiB (20,971,520 bytes)


def phone_photo(path: Path, size: int = PHOTO_BYTES) -> Path:
    """A real JPEG of exactly ``size`` bytes, written to ``path``."""
    path.write_bytes(padded_jpeg(size))
    return path


def _cli(system: System, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err):
        code = run(["--target", system.target, *args], stream=out)
    return code, out.getvalue(), err.getvalue()


async def test_a_20_mb_photo_is_processed_from_the_cli(system: System, tmp_path: Path) -> None:
    photo = phone_photo(tmp_path / "IMG_0001.jpg")

    def session() -> tuple[tuple[int, str, str], m.Item]:
        created = _cli(system, "--json", "create", "--owner", "u1", "--title", "Coat", str(photo))
        item_id = json.loads(created[1])["itemId"]
        with ProcessingClient(system.target, timeout=60) as client:
            client.start_item_processing(item_id)
            list(client.watch_status(item_id=item_id, timeout=120))
            return created, client.get_item(item_id)

    created, item = await asyncio.to_thread(session)

    assert created[0] == 0, created[2]
    assert item.status == m.ItemStatus.PROCESSED, item.last_error
    image = item.images[0]
    assert (image.size_bytes, image.filename) == (PHOTO_BYTES, "IMG_0001.jpg")
    assert (system.media_root / image.uri).read_bytes() == photo.read_bytes()
    assert image.analysis is not None
    assert (image.analysis.width, image.analysis.height) == (640, 480)


async def test_a_200_mb_file_is_refused_with_the_limit_and_exit_code_2(
    system: System, tmp_path: Path
) -> None:
    huge = tmp_path / "huge.jpg"
    with huge.open("wb") as file:  # sparse: 200 MB on paper, nothing on disk
        file.write(b"\xff\xd8\xff\xe0")
        file.truncate(200 * 1024 * 1024)

    code, out, err = await asyncio.to_thread(_cli, system, "create", "--owner", "u1", str(huge))

    assert code == 2
    assert out == ""
    assert (
        "RESOURCE_EXHAUSTED: the upload is 209715200 bytes; at most 20971520 bytes (20 MiB) "
        "are accepted"
    ) in err
    assert [p for p in system.media_root.rglob("*") if p.is_file()] == []


async def test_the_async_client_uploads_large_images_and_reports_refusals(
    system: System, tmp_path: Path
) -> None:
    photo = phone_photo(tmp_path / "big.jpg", size=6_000_000)
    huge = tmp_path / "huge.jpg"
    huge.write_bytes(b"\xff\xd8\xff\xe0" + bytes(21 * 1024 * 1024))

    async with AsyncProcessingClient(system.target, timeout=60) as client:
        item = await client.create_item(
            owner_id="u2", title="", images=[photo, photo.read_bytes()[:1000]]
        )
        with pytest.raises(ResourceExhaustedError) as refused:
            await client.create_item(owner_id="u2", title="", images=[huge])

    assert [image.size_bytes for image in item.images] == [6_000_000, 1000]
    assert refused.value.reason == "UPLOAD_TOO_LARGE"


async def test_refusals_of_the_metadata_arrive_intact_however_often_they_are_sent(
    system: System,
) -> None:
    """A refusal ends the call while the async client may be about to write its first chunk;
    such a write turns the status into INTERNAL in grpc.aio (grpc/grpc#36066). The client
    waits for the server's go-ahead header, so every refusal reads as itself."""
    too_big = b"\xff\xd8\xff\xe0" + bytes(21 * 1024 * 1024)
    reasons = []
    async with AsyncProcessingClient(system.target, timeout=60) as client:
        for _ in range(200):
            with pytest.raises(ResourceExhaustedError) as refused:
                await client.upload_image(too_big, owner_id="u3")
            reasons.append(refused.value.reason)

    assert set(reasons) == {"UPLOAD_TOO_LARGE"}
