"""The ``suggest_with_vision_model`` activity: ask the vision model about an item's pictures and
merge its checked answer into the image-fact suggestions.

It runs on its own task queue, whose workers Temporal holds to VISION_MODEL_MAX_REQUESTS_PER_SECOND
together (Celery's ``rate_limit``). Answers are cached by the pictures' hashes, the owner's text,
the model and the prompt version: reprocessing an unchanged item asks nothing.

The model never fails an item: an answer that is not usable becomes a suggestion warning here,
and a model that refuses (4xx) or stays unavailable past the retry budget becomes one in the
workflow; the image facts stand either way.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from bubble.processing.v1 import activities_pb2, analysis_pb2, item_pb2
from bubble_shared.store import ItemStore, VisionAnswerCache
from bubble_shared.temporal import names
from bubble_worker import error_codes
from bubble_worker.analysis import ImageRejectedError
from bubble_worker.vision.answer import check_answer, dropped
from bubble_worker.vision.client import (
    ChatCompletions,
    ModelRefusedError,
    ModelUnavailableError,
    UnusableResponseError,
)
from bubble_worker.vision.merge import merge_answer
from bubble_worker.vision.pictures import MAX_SIDE, Picture, data_url, pick_pictures
from bubble_worker.vision.prompt import PROMPT_VERSION, messages
from bubble_worker.vision.settings import VisionModelSettings


class VisionSuggestions:
    def __init__(
        self,
        *,
        items: ItemStore,
        answers: VisionAnswerCache,
        media_root: Path,
        settings: VisionModelSettings,
        model: ChatCompletions,
    ) -> None:
        self._items = items
        self._answers = answers
        self._media_root = media_root
        self._settings = settings
        self._model = model

    @activity.defn(name=names.SUGGEST_WITH_VISION_MODEL)
    def suggest_with_vision_model(
        self, request: activities_pb2.SuggestWithVisionModelInput
    ) -> activities_pb2.SuggestWithVisionModelOutput:
        facts = request.suggestions
        item = self._items.get_item(request.item_id, view=item_pb2.ITEM_VIEW_BASIC)
        pictures = pick_pictures(
            item.images,
            request.analysis,
            facts,
            media_root=self._media_root,
            limit=self._settings.max_images,
        )
        key = _cache_key(item, pictures, self._settings.model)
        cached = self._answers.get_answer(key)
        if cached is not None:
            return activities_pb2.SuggestWithVisionModelOutput(
                suggestions=self._merge(facts, cached), cached=True
            )
        urls = _data_urls(pictures)
        if not urls:
            checked = dropped("none of the item's images could be read to send")
            return activities_pb2.SuggestWithVisionModelOutput(
                suggestions=self._merge(facts, None, checked.warnings)
            )
        asked = messages(
            owner_title=item.title,
            owner_description=item.description,
            colors=facts.colors,
            image_urls=urls,
        )
        try:
            checked = check_answer(self._model.complete(asked))
        except ModelUnavailableError as err:
            raise ApplicationError(
                str(err),
                type=error_codes.VISION_MODEL_UNAVAILABLE,
                next_retry_delay=_delay(err.retry_after),
            ) from None
        except ModelRefusedError as err:
            raise ApplicationError(
                error_codes.bounded(str(err)),
                type=error_codes.VISION_MODEL_REFUSED,
                non_retryable=True,
            ) from None
        except UnusableResponseError as err:
            checked = dropped(str(err))
        if checked.suggestions is not None:
            self._answers.put_answer(
                key,
                model=self._settings.model,
                prompt_version=PROMPT_VERSION,
                answer=checked.suggestions,
            )
        for warning in checked.warnings:
            activity.logger.warning("item %s: %s", request.item_id, warning)
        return activities_pb2.SuggestWithVisionModelOutput(
            suggestions=self._merge(facts, checked.suggestions, checked.warnings)
        )

    def _merge(
        self,
        facts: analysis_pb2.ItemSuggestions,
        answer: analysis_pb2.ItemSuggestions | None,
        warnings: list[str] | None = None,
    ) -> analysis_pb2.ItemSuggestions:
        return merge_answer(facts, answer, model=self._settings.model, warnings=warnings or ())


def _data_urls(pictures: list[Picture]) -> list[str]:
    """The pictures that can still be read (a file may have gone since its analysis)."""
    urls = []
    for picture in pictures:
        try:
            urls.append(data_url(picture))
        except ImageRejectedError as err:
            activity.logger.warning("image %s not sent to the model: %s", picture.image_id, err)
    return urls


def _cache_key(item: item_pb2.Item, pictures: list[Picture], model: str) -> str:
    """Everything the answer depends on, hashed."""
    asked = {
        "model": model,
        "prompt_version": PROMPT_VERSION,
        "max_side": MAX_SIDE,
        "images": [picture.sha256 for picture in pictures],
        "title": item.title,
        "description": item.description,
    }
    return hashlib.sha256(json.dumps(asked, sort_keys=True).encode()).hexdigest()


def _delay(seconds: float | None) -> timedelta | None:
    """The server's Retry-After as Temporal's next retry delay (None: the policy's backoff)."""
    return None if seconds is None else timedelta(seconds=seconds)
