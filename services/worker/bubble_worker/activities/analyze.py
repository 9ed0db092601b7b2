"""The ``analyze_item_images`` activity: claim the item, analyse every image, derive suggestions.

It runs on its own task queue (``image-analysis``) so that CPU-bound work scales on its own
workers. Per image: the file is located under MEDIA_ROOT and hashed; the item's images are looked
up in the analysis cache in one query (sha256 + analyser version: the same bytes are never
analysed twice), the others analysed in the process pool and cached together in one transaction.
Heartbeats go out after every image and every few seconds while waiting, so a dead worker is
noticed quickly and a cancellation reaches the activity.

An image that cannot be used does not stop the others: the owner is told about every bad image
at once (one failure, the first bad image's code), instead of one per run, and the good images
are analysed and cached all the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError, CancelledError

from bubble.processing.v1 import activities_pb2, analysis_pb2, item_pb2, run_pb2
from bubble_shared.media import MediaPathError, resolve_media_path
from bubble_shared.store import AnalysisCache, ItemNotFoundError, RunWrites
from bubble_shared.temporal import names
from bubble_worker import error_codes
from bubble_worker.activities.analysis_pool import AnalysisPool
from bubble_worker.activities.errors import processing_failure
from bubble_worker.analysis import (
    Analyzer,
    ImageRejectedError,
    analyze_image_file,
    file_sha256,
    get_analyzer,
    suggest_for_item,
)
from bubble_worker.analysis.errors import IMAGE_NOT_FOUND
from bubble_worker.analysis.files import checked_file_size
from bubble_worker.analysis.report import ImageProblem, image_label, summarize
from bubble_worker.vision.settings import VisionModelSettings

HEARTBEAT_EVERY_SECONDS = 5.0
ANALYZING = run_pb2.PROCESSING_STAGE_ANALYZING


@dataclass(frozen=True)
class _PendingImage:
    number: int
    image: item_pb2.ItemImage
    sha256: str
    path: Path


def _as_image(cached: analysis_pb2.ImageAnalysis, image_id: str) -> analysis_pb2.ImageAnalysis:
    """A cached analysis as this image's (a copy: two images may share their bytes)."""
    analysis = analysis_pb2.ImageAnalysis()
    analysis.CopyFrom(cached)
    analysis.image_id = image_id
    return analysis


class AnalyzeItemImages:
    def __init__(
        self,
        *,
        run_writes: RunWrites,
        cache: AnalysisCache,
        media_root: Path,
        pool: AnalysisPool,
        default_analyzer: str = "",
        vision_model: VisionModelSettings | None = None,
    ) -> None:
        self._run_writes = run_writes
        self._vision_model = vision_model
        self._cache = cache
        self._media_root = media_root
        self._pool = pool
        self._default_analyzer = default_analyzer

    @activity.defn(name=names.ANALYZE_ITEM_IMAGES)
    def analyze_item_images(
        self, request: activities_pb2.AnalyzeItemImagesInput
    ) -> activities_pb2.AnalyzeItemImagesOutput:
        try:
            claim = self._run_writes.claim_item(
                item_id=request.item_id,
                workflow_id=request.workflow_id,
                run_id=request.run_id,
                run_start_time=request.run_start_time.ToDatetime(tzinfo=UTC),
                force=request.force,
                attempt=activity.info().attempt,
                batch_id=request.batch_id,
                request_id=request.request_id,
            )
        except ItemNotFoundError:
            raise processing_failure(
                "ITEM_NOT_FOUND", f"item {request.item_id!r} does not exist", stage=ANALYZING
            ) from None
        if claim.skip_reason:
            activity.logger.info(
                "item %s skipped (reason %s)",
                request.item_id,
                claim.skip_reason,
                extra={"item_id": request.item_id},
            )
            return activities_pb2.AnalyzeItemImagesOutput(skip_reason=claim.skip_reason)

        images = list(request.images) or list(claim.item.images)
        analyzer = self._analyzer(request.analyzer)
        analyses, cache_hits = self._analyze_all(images, analyzer)
        ordered = [analyses[image.image_id] for image in images]
        output = activities_pb2.AnalyzeItemImagesOutput(
            analysis=analysis_pb2.ItemAnalysis(item_id=request.item_id, images=ordered),
            suggestions=suggest_for_item(ordered, item_title=claim.item.title),
            cache_hits=cache_hits,
        )
        if self._vision_model is not None:
            # The workflow asks the model next: it learns of it here, in its history.
            output.vision_model = self._vision_model.model
            output.vision_model_task_queue = self._vision_model.task_queue
        return output

    def _analyzer(self, name: str) -> Analyzer:
        try:
            return get_analyzer(name or self._default_analyzer)
        except ValueError as err:
            raise processing_failure("INVALID_ARGUMENT", str(err), stage=ANALYZING) from None

    def _analyze_all(
        self, images: list[item_pb2.ItemImage], analyzer: Analyzer
    ) -> tuple[dict[str, analysis_pb2.ImageAnalysis], int]:
        analyses: dict[str, analysis_pb2.ImageAnalysis] = {}
        problems: list[ImageProblem] = []
        located: list[_PendingImage] = []
        for number, image in enumerate(images, start=1):
            try:
                path = self._locate(image)
            except ImageRejectedError as err:
                problems.append(_problem(number, image, err))
                continue
            located.append(_PendingImage(number, image, file_sha256(path), path))
        versioned = {"analyzer_name": analyzer.name, "analyzer_version": analyzer.version}
        cached = self._cache.get_cached_analyses([image.sha256 for image in located], **versioned)
        pending: dict[Future[bytes], _PendingImage] = {}
        fresh: dict[str, analysis_pb2.ImageAnalysis] = {}
        try:
            for found in located:
                hit = cached.get(found.sha256)
                if hit is not None:
                    analyses[found.image.image_id] = _as_image(hit, found.image.image_id)
                    continue
                future = self._pool.submit(
                    analyze_image_file,
                    analyzer.name,
                    found.image.image_id,
                    str(found.path),
                    str(self._media_root),
                )
                pending[future] = found
            cache_hits = len(analyses)
            self._collect(pending, analyses, problems, fresh)
        finally:
            for future in pending:
                future.cancel()
        # The good images are cached even when others were bad: fixing those costs no decoding.
        self._cache.put_cached_analyses(fresh, **versioned)
        if problems:
            raise _rejected(problems, total=len(images))
        return analyses, cache_hits

    def _locate(self, image: item_pb2.ItemImage) -> Path:
        """The image's file, or an ImageRejectedError saying why there is none to analyse.

        A MEDIA_ROOT that is not there at all is the volume missing (not mounted, a network share
        down), not the image: that is retried like any outage, as is any error reading the
        file's metadata other than its absence.
        """
        if not self._media_root.is_dir():
            raise ApplicationError(
                f"the media volume is unavailable: MEDIA_ROOT {str(self._media_root)!r} is not a "
                "folder this worker can read",
                type=error_codes.MEDIA_UNAVAILABLE,
            )
        try:
            path = resolve_media_path(self._media_root, image.uri)
        except MediaPathError as err:
            raise ImageRejectedError(
                code=IMAGE_NOT_FOUND, image_id=image.image_id, reason=f"cannot be opened: {err}"
            ) from None
        checked_file_size(path, image.image_id)
        return path

    def _collect(
        self,
        pending: dict[Future[bytes], _PendingImage],
        analyses: dict[str, analysis_pb2.ImageAnalysis],
        problems: list[ImageProblem],
        fresh: dict[str, analysis_pb2.ImageAnalysis],
    ) -> None:
        """Waits for the pool's analyses (heartbeating): each into ``analyses`` by image and
        ``fresh`` by sha256 (to cache), or a problem."""
        waiting = set(pending)
        while waiting:
            done, waiting = wait(
                waiting, timeout=HEARTBEAT_EVERY_SECONDS, return_when=FIRST_COMPLETED
            )
            for future in done:
                image = pending[future]
                try:
                    result = future.result()
                except ImageRejectedError as err:
                    problems.append(_problem(image.number, image.image, err))
                    continue
                except BrokenProcessPool:
                    # Transient: the pool replaces itself and Temporal retries the activity.
                    raise ApplicationError(
                        f"the analysis process died while analysing image {image.image.image_id}",
                        type=error_codes.ANALYSIS_PROCESS_DIED,
                    ) from None
                analysis = analysis_pb2.ImageAnalysis.FromString(result)
                analysis.analyze_time.FromDatetime(datetime.now(UTC))
                # Under the hash of the bytes the pool read: the file may have been replaced
                # since it was hashed here for the lookup.
                fresh[analysis.sha256] = analysis
                analyses[image.image.image_id] = analysis
            activity.heartbeat(len(analyses))
            if activity.is_cancelled():
                raise CancelledError("analysis cancelled")


def _problem(number: int, image: item_pb2.ItemImage, err: ImageRejectedError) -> ImageProblem:
    return ImageProblem(number=number, label=image_label(image.filename, image.uri), rejection=err)


def _rejected(problems: Sequence[ImageProblem], *, total: int) -> ApplicationError:
    """One non-retryable failure for every bad image: the first one's code and id, all in the
    message, and a ProcessingError per image after the run's own in the details."""
    ordered = sorted(problems, key=lambda problem: problem.number)
    first = ordered[0].rejection
    per_image = [
        run_pb2.ProcessingError(
            code=problem.rejection.code,
            message=error_codes.bounded(problem.describe(total)),
            image_id=problem.rejection.image_id,
            stage=ANALYZING,
        )
        for problem in ordered
    ]
    return processing_failure(
        first.code,
        summarize(ordered, total),
        image_id=first.image_id,
        stage=ANALYZING,
        image_errors=per_image,
    )
