"""analyze_item_images on images that cannot be used: every one is reported, by place and name.

Real files under a temporary MEDIA_ROOT (made with Pillow), a real store and a real process pool.
Outages stay retryable infrastructure failures, never item errors.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from bubble.processing.v1 import activities_pb2, item_pb2, run_pb2
from bubble_shared.store import AnalysisCache, ItemStore, NewImage, RunWrites
from bubble_worker.activities.analysis_pool import AnalysisPool
from bubble_worker.activities.analyze import AnalyzeItemImages
from bubble_worker.activities.error_boundary import failure_for
from bubble_worker.analysis import file_sha256
from bubble_worker.analysis.pillow_analyzer import PillowAnalyzer
from bubble_worker.testing import images


@pytest.fixture()
def activities(
    run_writes: RunWrites, cache: AnalysisCache, media_root: Path, pool: AnalysisPool
) -> AnalyzeItemImages:
    return AnalyzeItemImages(run_writes=run_writes, cache=cache, media_root=media_root, pool=pool)


def _request(item: item_pb2.Item) -> activities_pb2.AnalyzeItemImagesInput:
    started = Timestamp()
    started.FromDatetime(datetime(2026, 11, 1, tzinfo=UTC))
    return activities_pb2.AnalyzeItemImagesInput(
        item_id=item.item_id,
        workflow_id=f"item-processing/{item.item_id}",
        run_id="run-1",
        run_start_time=started,
    )


def _item(store: ItemStore, media_root: Path, *files: Path | tuple[Path, str]) -> item_pb2.Item:
    """An item of ``files``, each a path or a path with the filename the owner gave it."""
    named = [file if isinstance(file, tuple) else (file, "") for file in files]
    return store.create_item(
        item_id=None,
        owner_id="owner-1",
        title="leather jacket",
        description="",
        images=[
            NewImage(uri=path.relative_to(media_root).as_posix(), filename=filename)
            for path, filename in named
        ],
    )


def _failure(activities: AnalyzeItemImages, item: item_pb2.Item) -> ApplicationError:
    with pytest.raises(ApplicationError) as raised:
        ActivityEnvironment().run(activities.analyze_item_images, _request(item))
    return raised.value


HOSTILE: list[tuple[str, Callable[[Path], Path], str]] = [
    ("bomb.png", images.decompression_bomb_png, "IMAGE_TOO_LARGE"),
    ("truncated.jpg", images.truncated_jpeg, "IMAGE_CORRUPT"),
    ("empty.jpg", images.empty_file, "IMAGE_CORRUPT"),
    ("list.jpg", images.text_named_jpg, "IMAGE_UNSUPPORTED"),
]


@pytest.mark.parametrize(("name", "make", "code"), HOSTILE, ids=[case[0] for case in HOSTILE])
def test_a_hostile_image_is_a_non_retryable_error_naming_the_image(
    store: ItemStore,
    media_root: Path,
    activities: AnalyzeItemImages,
    name: str,
    make: Callable[[Path], Path],
    code: str,
) -> None:
    good = images.greyscale_jpeg(media_root / "items" / "good.jpg")
    bad = make(media_root / "items" / name)
    item = _item(store, media_root, good, bad)
    bad_image_id = item.images[1].image_id

    failure = _failure(activities, item)

    assert failure.type == code
    assert failure.non_retryable
    [error, image_error] = failure.details
    assert isinstance(error, run_pb2.ProcessingError)
    assert (error.code, error.image_id, error.stage) == (
        code,
        bad_image_id,
        run_pb2.PROCESSING_STAGE_ANALYZING,
    )
    assert error.message.startswith(f"image 2 of 2 {name!r} ")
    assert "Traceback" not in error.message
    assert image_error == error


@pytest.mark.parametrize(
    ("uri", "reason"),
    [("../outside.jpg", "outside"), ("items/missing.jpg", "does not exist")],
)
def test_a_path_outside_media_root_or_missing_is_image_not_found(
    store: ItemStore,
    media_root: Path,
    activities: AnalyzeItemImages,
    uri: str,
    reason: str,
) -> None:
    images.greyscale_jpeg(media_root.parent / "outside.jpg")
    item = store.create_item(
        item_id=None, owner_id="o", title="t", description="", images=[NewImage(uri=uri)]
    )

    failure = _failure(activities, item)

    assert (failure.type, failure.non_retryable) == ("IMAGE_NOT_FOUND", True)
    assert reason in failure.message


def test_every_bad_image_is_reported_by_position_and_filename(
    store: ItemStore,
    cache: AnalysisCache,
    media_root: Path,
    activities: AnalyzeItemImages,
) -> None:
    items = media_root / "items"
    (items / "scans").mkdir()
    front = images.greyscale_jpeg(items / "1.jpg")
    item = _item(
        store,
        media_root,
        (front, "front.jpg"),
        (images.empty_file(items / "2.jpg"), "back.jpg"),
        (images.png_with_alpha(items / "3.png"), "side.png"),
        (images.decompression_bomb_png(items / "4.png", side=30_000), "huge.png"),
        (items / "scans", "scan.png"),
    )
    ids = [image.image_id for image in item.images]

    failure = _failure(activities, item)

    # One documented code for the run: the first bad image's.
    assert (failure.type, failure.non_retryable) == ("IMAGE_CORRUPT", True)
    assert failure.message == (
        "3 of 5 images cannot be used: image 2 'back.jpg' is empty (0 bytes); "
        "image 4 'huge.png' is 30000 × 30000 pixels (900 megapixels), more than the 64 "  # noqa: RUF001
        "megapixels allowed; image 5 'scan.png' is a folder, not an image file"
    )
    summary, *per_image = failure.details
    assert isinstance(summary, run_pb2.ProcessingError)
    assert (summary.code, summary.image_id, summary.message, summary.retryable) == (
        "IMAGE_CORRUPT",
        ids[1],
        failure.message,
        False,
    )
    assert [(e.code, e.image_id, e.message, e.stage) for e in per_image] == [
        (
            "IMAGE_CORRUPT",
            ids[1],
            "image 2 of 5 'back.jpg' is empty (0 bytes)",
            run_pb2.PROCESSING_STAGE_ANALYZING,
        ),
        (
            "IMAGE_TOO_LARGE",
            ids[3],
            "image 4 of 5 'huge.png' is 30000 × 30000 pixels (900 megapixels), more than the 64 "  # noqa: RUF001
            "megapixels allowed",
            run_pb2.PROCESSING_STAGE_ANALYZING,
        ),
        (
            "IMAGE_NOT_FOUND",
            ids[4],
            "image 5 of 5 'scan.png' is a folder, not an image file",
            run_pb2.PROCESSING_STAGE_ANALYZING,
        ),
    ]
    # The good images were analysed all the same: fixing the bad ones costs no new decoding.
    assert cache.get_cached_analysis(
        sha256=file_sha256(front),
        analyzer_name=PillowAnalyzer.name,
        analyzer_version=PillowAnalyzer.version,
    )


def test_many_bad_images_with_long_names_fit_one_bounded_line(
    store: ItemStore,
    media_root: Path,
    activities: AnalyzeItemImages,
) -> None:
    files = [
        (images.empty_file(media_root / "items" / f"{n}.jpg"), f"holiday\nphoto {n} " + "x" * 240)
        for n in range(20)
    ]
    item = _item(store, media_root, *files)

    failure = _failure(activities, item)

    message = failure.message
    assert len(message) <= 500
    assert "\n" not in message
    assert message.startswith("20 of 20 images cannot be used: image 1 'holiday\\nphoto 0 x")
    shown = message.count(" is empty (0 bytes)")
    assert shown >= 2
    assert message.endswith(f"; and {20 - shown} more")
    assert len(failure.details) == 21
    assert all(len(error.message) <= 500 for error in failure.details)


def test_an_empty_file_is_corrupt_and_says_0_bytes(
    store: ItemStore,
    media_root: Path,
    activities: AnalyzeItemImages,
) -> None:
    good = images.greyscale_jpeg(media_root / "items" / "good.jpg")
    item = _item(store, media_root, good, images.empty_file(media_root / "items" / "empty.jpg"))

    failure = _failure(activities, item)

    assert (failure.type, failure.non_retryable) == ("IMAGE_CORRUPT", True)
    assert failure.message == "image 2 of 2 'empty.jpg' is empty (0 bytes)"


def test_a_uri_naming_a_folder_says_it_is_a_folder(
    store: ItemStore,
    media_root: Path,
    activities: AnalyzeItemImages,
) -> None:
    folder = media_root / "items" / "jacket"
    folder.mkdir()
    item = _item(store, media_root, folder)

    failure = _failure(activities, item)

    assert (failure.type, failure.non_retryable) == ("IMAGE_NOT_FOUND", True)
    assert failure.message == "image 1 of 1 'jacket' is a folder, not an image file"


def test_a_missing_media_root_is_retried_not_blamed_on_the_images(
    store: ItemStore,
    run_writes: RunWrites,
    cache: AnalysisCache,
    media_root: Path,
    pool: AnalysisPool,
) -> None:
    item = _item(store, media_root, images.empty_file(media_root / "items" / "a.jpg"))
    unmounted = AnalyzeItemImages(
        run_writes=run_writes, cache=cache, media_root=media_root / "unmounted", pool=pool
    )

    failure = _failure(unmounted, item)

    assert (failure.type, failure.non_retryable) == ("MEDIA_UNAVAILABLE", False)


def test_an_io_error_on_one_image_stays_a_retryable_media_failure(
    store: ItemStore,
    media_root: Path,
    activities: AnalyzeItemImages,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """EIO says nothing about the image: the volume is failing, and a later attempt may read it."""
    items = media_root / "items"
    failing = images.greyscale_jpeg(items / "failing.jpg")
    item = _item(store, media_root, images.empty_file(items / "empty.jpg"), failing)
    real_stat = Path.stat

    def stat(path: Path, *, follow_symlinks: bool = True) -> object:
        if path.name == failing.name:
            raise OSError(errno.EIO, "Input/output error", str(path))
        return real_stat(path, follow_symlinks=follow_symlinks)

    monkeypatch.setattr(Path, "stat", stat)

    with pytest.raises(OSError, match="Input/output error") as raised:
        ActivityEnvironment().run(activities.analyze_item_images, _request(item))

    failure = failure_for(raised.value, attempt=1)
    assert (failure.type, failure.non_retryable) == ("MEDIA_UNAVAILABLE", False)
