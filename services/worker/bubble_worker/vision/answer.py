"""The model's answer, checked before anything of it is used.

A model's output is untrusted text. The answer must be one JSON object with the five fields of
the prompt, each of the right type; otherwise the whole answer is dropped. A field whose value is
unusable (too long, HTML, control characters, too many entries) is dropped on its own. Every drop
is a warning for the run; none is an error: the image facts stand.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Final

from bubble.processing.v1 import analysis_pb2
from bubble_worker.vision import limits

REQUIRED_FIELDS: Final = ("title", "category", "tags", "description", "attributes")

QUALITY_WORDS: Final = frozenset(
    {
        "blurry",
        "blurred",
        "out of focus",
        "dark",
        "overexposed",
        "underexposed",
        "low-resolution",
        "low resolution",
        "high-resolution",
        "high resolution",
        "low quality",
        "low-quality",
        "pixelated",
        "grainy",
    }
)
"""Words about a photo, not about the item: they are quality warnings, never tags."""

_MARKUP: Final = re.compile(r"<\s*/?\s*[a-zA-Z!?]|&(?:[a-zA-Z]+|#\d+|#x[0-9a-fA-F]+);")
_CONTROL: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_FENCE: Final = re.compile(r"^```(?:json)?\s*\n(?P<body>.*)\n```$", re.DOTALL)


@dataclass
class CheckedAnswer:
    """The usable part of an answer (the model's fields of ItemSuggestions), or None when the
    whole answer was dropped; why anything was dropped."""

    suggestions: analysis_pb2.ItemSuggestions | None
    warnings: list[str] = field(default_factory=list)


def dropped(reason: str) -> CheckedAnswer:
    return CheckedAnswer(None, [f"the vision model's answer was dropped: {reason}"])


def check_answer(content: str) -> CheckedAnswer:
    """The answer's usable fields and the warnings about what was not usable."""
    text = content.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group("body").strip()
    try:
        answer = json.loads(text)
    except ValueError:
        return dropped("it is not JSON")
    if not isinstance(answer, dict):
        return dropped("it is not a JSON object")
    missing = [name for name in REQUIRED_FIELDS if name not in answer]
    if missing:
        return dropped(f"it lacks {', '.join(missing)}")
    wrong = _wrong_types(answer)
    if wrong:
        return dropped(f"{', '.join(wrong)} {'is' if len(wrong) == 1 else 'are'} of the wrong type")
    return _checked_fields(answer)


def _wrong_types(answer: dict[str, Any]) -> list[str]:
    wrong = [
        name for name in ("title", "category", "description") if not isinstance(answer[name], str)
    ]
    tags = answer["tags"]
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        wrong.append("tags")
    attributes = answer["attributes"]
    if not isinstance(attributes, dict) or not all(
        isinstance(value, str) for value in attributes.values()
    ):
        wrong.append("attributes")
    return wrong


def _checked_fields(answer: dict[str, Any]) -> CheckedAnswer:
    checked = CheckedAnswer(analysis_pb2.ItemSuggestions())
    suggestions = checked.suggestions
    assert suggestions is not None
    for name, limit in (
        ("title", limits.TITLE),
        ("category", limits.CATEGORY),
        ("description", limits.DESCRIPTION),
    ):
        value, problem = _plain_text(answer[name], limit)
        if problem:
            checked.warnings.append(f"the vision model's {name} was dropped: {problem}")
        else:
            setattr(suggestions, name, value)
    tags, problem = _tags(answer["tags"])
    if problem:
        checked.warnings.append(f"the vision model's tags were dropped: {problem}")
    suggestions.tags.extend(tags)
    attributes, problem = _attributes(answer["attributes"])
    if problem:
        checked.warnings.append(f"the vision model's attributes were dropped: {problem}")
    suggestions.attributes.update(attributes)
    return checked


def _plain_text(value: str, limit: int) -> tuple[str, str]:
    """The value with its whitespace collapsed, or a problem that makes it unusable."""
    text = " ".join(value.split())
    if len(text) > limit:
        return "", f"it is {len(text):,} characters long, more than {limit:,}"
    if _MARKUP.search(text):
        return "", "it contains HTML"
    if _CONTROL.search(text):
        return "", "it contains control characters"
    return text, ""


def _tags(values: list[str]) -> tuple[list[str], str]:
    if len(values) > limits.TAGS:
        return [], f"there are {len(values):,} of them, more than {limits.TAGS}"
    tags: list[str] = []
    for value in values:
        tag, problem = _plain_text(value.lower(), limits.TAG)
        if problem:
            return [], f"a tag is unusable: {problem}"
        if tag and tag not in QUALITY_WORDS and tag not in tags:
            tags.append(tag)
    return tags, ""


def _attributes(values: dict[str, str]) -> tuple[dict[str, str], str]:
    if len(values) > limits.ATTRIBUTES:
        return {}, f"there are {len(values):,} of them, more than {limits.ATTRIBUTES}"
    attributes: dict[str, str] = {}
    for raw_name, raw_value in values.items():
        name, problem = _plain_text(raw_name, limits.ATTRIBUTE_NAME)
        if not problem:
            value, problem = _plain_text(raw_value, limits.ATTRIBUTE_VALUE)
        if problem:
            return {}, f"an attribute is unusable: {problem}"
        if name and value:
            attributes[name] = value
    return attributes, ""
