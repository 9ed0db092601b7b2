"""analyze_item_images with a real store, real files under MEDIA_ROOT and a real process pool."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from bubble.processing.v1 import activities_pb2, analysis_pb2, item_pb2, run_pb2
from bubble_shared.store import AnalysisCache, ItemStore, NewImage, RunWrites
from bubble_worker.activities.analysis_pool import AnalysisPool
from bubble_worker.activities.analyze import AnalyzeItemImages
from bubble_worker.testing import images

RUN_START = datetime(2026, 11, 1, tzinfo=UTC)


def _request(
    item: item_pb2.Item, *, run: str = "run-1", force: bool = False
) -> activities_pb2.AnalyzeItemImagesInput:
    started = Timestamp()
    started.FromDatetime(RUN_START)
    return activities_pb2.AnalyzeItemImagesInput(
        item_id=item.item_id,
        workflow_id=f"item-processing/{item.item_id}",
        run_id=run,
        run_start_time=started,
        force=force,
    )


def _item(store: ItemStore, media_root: Path, *files: Path) -> item_pb2.Item:
    return store.create_item(
        item_id=None,
        owner_id="owner-1",
        title="leather jacket",
        description="",
        images=[NewImage(uri=path.relative_to(media_root).as_posix()) for path in files],
    )


def test_analyses_every_image_in_order_and_caches_the_results(
    store: ItemStore,
    run_writes: RunWrites,
    cache: AnalysisCache,
    media_root: Path,
    pool: AnalysisPool,
) -> None:
    items = media_root / "items"
    files = [
        images.jpeg_rotated_by_exif(items / "front.jpg"),
        images.png_with_alpha(items / "cutout.png"),
        images.greyscale_jpeg(items / "grey.jpg"),
        images.cmyk_jpeg(items / "print.jpg"),
    ]
    item = _item(store, media_root, *files)
    activities = AnalyzeItemImages(
        run_writes=run_writes, cache=cache, media_root=media_root, pool=pool
    )

    output = ActivityEnvironment().run(activities.analyze_item_images, _request(item))

    analyses = list(output.analysis.images)
    assert [a.image_id for a in analyses] == [image.image_id for image in item.images]
    front, cutout, grey, cmyk = analyses
    assert (front.width, front.height) == (480, 640)  # upright: EXIF orientation 6 applied
    assert front.exif.orientation == 6
    assert front.exif.orientation_applied
    assert cutout.has_alpha
    assert (grey.mode, cmyk.mode) == ("L", "CMYK")
    assert all(a.analyze_time.seconds > 0 for a in analyses)
    for analysis in analyses:
        assert analysis.thumbnails
        for thumbnail in analysis.thumbnails:
            assert (media_root / thumbnail.uri).is_file()
    assert output.cache_hits == 0
    assert output.suggestions.primary_image_id in {image.image_id for image in item.images}
    assert output.suggestions.title

    # Reprocessing the same bytes costs no decoding: every image comes from the cache.
    run_writes.apply_suggestions(
        item_id=item.item_id,
        workflow_id=f"item-processing/{item.item_id}",
        run_id="run-1",
        run_start_time=RUN_START,
        analysis=output.analysis,
        suggestions=output.suggestions,
    )
    again = ActivityEnvironment().run(
        activities.analyze_item_images, _request(item, run="run-2", force=True)
    )
    assert again.cache_hits == 4
    assert [a.sha256 for a in again.analysis.images] == [a.sha256 for a in analyses]


def test_an_unknown_item_is_item_not_found(
    run_writes: RunWrites,
    cache: AnalysisCache,
    media_root: Path,
    pool: AnalysisPool,
) -> None:
    activities = AnalyzeItemImages(
        run_writes=run_writes, cache=cache, media_root=media_root, pool=pool
    )
    ghost = item_pb2.Item(item_id="no-such-item")

    with pytest.raises(ApplicationError) as raised:
        ActivityEnvironment().run(activities.analyze_item_images, _request(ghost))

    assert raised.value.type == "ITEM_NOT_FOUND"
    assert raised.value.non_retryable


def test_an_item_already_processed_is_skipped_without_force(
    store: ItemStore,
    run_writes: RunWrites,
    cache: AnalysisCache,
    media_root: Path,
    pool: AnalysisPool,
) -> None:
    item = _item(store, media_root, images.greyscale_jpeg(media_root / "items" / "a.jpg"))
    activities = AnalyzeItemImages(
        run_writes=run_writes, cache=cache, media_root=media_root, pool=pool
    )
    first = ActivityEnvironment().run(activities.analyze_item_images, _request(item))
    run_writes.apply_suggestions(
        item_id=item.item_id,
        workflow_id=f"item-processing/{item.item_id}",
        run_id="run-1",
        run_start_time=RUN_START,
        analysis=first.analysis,
        suggestions=first.suggestions,
    )

    later = ActivityEnvironment().run(activities.analyze_item_images, _request(item, run="run-2"))

    assert later == activities_pb2.AnalyzeItemImagesOutput(
        skip_reason=run_pb2.SKIP_REASON_ALREADY_PROCESSED
    )
    assert later.analysis == analysis_pb2.ItemAnalysis()


def test_an_image_replaced_after_it_was_hashed_is_cached_under_the_bytes_analysed(
    store: ItemStore,
    run_writes: RunWrites,
    cache: AnalysisCache,
    media_root: Path,
    pool: AnalysisPool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The cache is looked up with the hash taken before the analysis, and the file may change
    before the pool reads it: the result must go under the hash of what was analysed, or the
    old bytes would be answered with the new picture's facts and thumbnails from then on."""
    path = images.jpeg_rotated_by_exif(media_root / "items" / "front.jpg")
    item = _item(store, media_root, path)
    stale = "0" * 64  # what the file hashed to before it was replaced
    monkeypatch.setattr("bubble_worker.activities.analyze.file_sha256", lambda _: stale)
    activities = AnalyzeItemImages(
        run_writes=run_writes, cache=cache, media_root=media_root, pool=pool
    )

    output = ActivityEnvironment().run(activities.analyze_item_images, _request(item))

    (analysis,) = output.analysis.images
    assert analysis.sha256 != stale
    versioned = {
        "analyzer_name": analysis.analyzer_name,
        "analyzer_version": analysis.analyzer_version,
    }
    assert cache.get_cached_analyses([stale], **versioned) == {}
    assert list(cache.get_cached_analyses([analysis.sha256], **versioned)) == [analysis.sha256]
