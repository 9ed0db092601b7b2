"""The model's answer over the image facts, every suggestion saying where it came from."""

from __future__ import annotations

from bubble.processing.v1 import analysis_pb2
from bubble_worker.vision.merge import merge_answer
from bubble_worker.vision.prompt import PROMPT_VERSION

FACTS = analysis_pb2.ItemSuggestions(
    title="Sneakers in red",
    tags=["red", "white", "landscape"],
    colors=["red", "white"],
    quality_warnings=[analysis_pb2.QualityWarning(kind=analysis_pb2.QUALITY_WARNING_KIND_BLURRY)],
    primary_image_id="img-2",
    sources=analysis_pb2.SuggestionSources(title=analysis_pb2.SUGGESTION_SOURCE_IMAGE_FACTS),
)
MODEL = analysis_pb2.SUGGESTION_SOURCE_VISION_MODEL


def test_the_answer_takes_the_place_of_the_facts_and_says_so() -> None:
    answer = analysis_pb2.ItemSuggestions(
        title="Nike Air Max 90",
        category="Shoes > Sneakers",
        description="Classic sneakers.",
        tags=["sneakers", "red"],
        attributes={"brand": "Nike"},
    )

    merged = merge_answer(FACTS, answer, model="llava")

    assert (merged.title, merged.category, merged.description) == (
        "Nike Air Max 90",
        "Shoes > Sneakers",
        "Classic sneakers.",
    )
    assert dict(merged.attributes) == {"brand": "Nike"}
    assert list(merged.tags) == ["sneakers", "red", "white", "landscape"]
    assert merged.sources == analysis_pb2.SuggestionSources(
        title=MODEL,
        category=MODEL,
        description=MODEL,
        attributes=MODEL,
        model_tags=["sneakers", "red"],
        model="llava",
        prompt_version=PROMPT_VERSION,
    )
    # What only the image facts know stays.
    assert list(merged.colors) == ["red", "white"]
    assert merged.quality_warnings == FACTS.quality_warnings
    assert merged.primary_image_id == "img-2"


def test_what_the_model_left_empty_is_the_facts() -> None:
    merged = merge_answer(FACTS, analysis_pb2.ItemSuggestions(category="Shoes"), model="llava")

    assert merged.title == "Sneakers in red"
    assert merged.sources.title == analysis_pb2.SUGGESTION_SOURCE_IMAGE_FACTS
    assert merged.sources.category == MODEL
    assert not merged.description
    assert not merged.sources.description
    assert list(merged.tags) == list(FACTS.tags)


def test_no_answer_keeps_the_facts_with_the_warnings() -> None:
    merged = merge_answer(FACTS, None, model="llava", warnings=["the answer was dropped: x"])

    expected = analysis_pb2.ItemSuggestions()
    expected.CopyFrom(FACTS)
    expected.sources.model = "llava"
    expected.sources.prompt_version = PROMPT_VERSION
    expected.suggestion_warnings.append("the answer was dropped: x")
    assert merged == expected
