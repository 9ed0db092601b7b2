"""The model's checked answer merged into the image-fact suggestions.

What the model said takes the place of what the facts say (its title over the colour title);
its tags come first, then the facts' colour and shape tags; the facts' colours, warnings and cover
stay. Every suggestion says where it came from.
"""

from __future__ import annotations

from collections.abc import Sequence

from bubble.processing.v1 import analysis_pb2
from bubble_worker.vision import limits
from bubble_worker.vision.prompt import PROMPT_VERSION

MODEL = analysis_pb2.SUGGESTION_SOURCE_VISION_MODEL


def merge_answer(
    facts: analysis_pb2.ItemSuggestions,
    answer: analysis_pb2.ItemSuggestions | None,
    *,
    model: str,
    warnings: Sequence[str] = (),
) -> analysis_pb2.ItemSuggestions:
    """The suggestions to write: ``facts`` with the usable part of ``answer`` (None: nothing
    usable) and the warnings about what was not."""
    merged = analysis_pb2.ItemSuggestions()
    merged.CopyFrom(facts)
    merged.sources.model = model
    merged.sources.prompt_version = PROMPT_VERSION
    merged.suggestion_warnings.extend(warnings)
    if answer is None:
        return merged
    if answer.title:
        merged.title = answer.title
        merged.sources.title = MODEL
    if answer.category:
        merged.category = answer.category
        merged.sources.category = MODEL
    if answer.description:
        merged.description = answer.description
        merged.sources.description = MODEL
    if answer.attributes:
        merged.attributes.update(answer.attributes)
        merged.sources.attributes = MODEL
    tags = list(dict.fromkeys([*answer.tags, *facts.tags]))[: limits.TAGS]
    del merged.tags[:]
    merged.tags.extend(tags)
    merged.sources.model_tags.extend(tag for tag in answer.tags if tag in tags)
    return merged
