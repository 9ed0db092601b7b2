"""How ``bubble-processing`` shows items and runs as text: one function per thing shown.

Kept apart from the argument parsing in ``cli`` so the commands stay short and each format can be
read (and tested) on its own. JSON output does not come through here: it prints whole messages.
"""

from __future__ import annotations

import json
from typing import TextIO

import betterproto2

from bubble_client import messages as m

BAR_WIDTH = 30

# One character per outcome, so a glance at the bar tells what happened, not just how much.
BAR_SEGMENTS = (("succeeded", "#"), ("skipped", "="), ("failed", "!"), ("cancelled", "x"))


class Output:
    """Prints messages as JSON or as short text, to one stream."""

    def __init__(self, as_json: bool, stream: TextIO) -> None:
        self.as_json = as_json
        self.stream = stream

    def message(self, message: betterproto2.Message, text: str) -> None:
        if self.as_json:
            print(json.dumps(message.to_dict()), file=self.stream)
        else:
            print(text, file=self.stream)


def describe_item(item: m.Item) -> str:
    lines = [f"item {item.item_id}  {item.status.name}  {item.title!r}  owner {item.owner_id}"]
    lines += [f"  image {image.image_id}  {image.uri}" for image in item.images]
    if item.suggestions is not None:
        lines += describe_suggestions(item.suggestions, item.images)
    if item.last_error is not None and item.last_error.code:
        lines.append(f"  last error: {item.last_error.code}  {item.last_error.message}")
    return "\n".join(lines)


def describe_suggestions(suggestions: m.ItemSuggestions, images: list[m.ItemImage]) -> list[str]:
    """Every field that has a value, each on its own: an empty title says nothing of the rest."""
    lines = []
    sources = suggestions.sources or m.SuggestionSources()
    if suggestions.title:
        lines.append(f"  suggested title: {suggestions.title}{_from(sources.title)}")
    if suggestions.category:
        lines.append(f"  category: {suggestions.category}{_from(sources.category)}")
    if suggestions.description:
        lines.append(f"  description: {suggestions.description}{_from(sources.description)}")
    lines += [f"  attribute: {name} = {value}" for name, value in suggestions.attributes.items()]
    if suggestions.tags:
        lines.append(f"  tags: {', '.join(suggestions.tags)}")
    if suggestions.colors:
        lines.append(f"  colours: {', '.join(suggestions.colors)}")
    if suggestions.primary_image_id:
        lines.append(f"  cover image: {_image_name(suggestions.primary_image_id, images)}")
    lines += [
        f"  thumbnail: {thumb.uri}  {thumb.width}x{thumb.height}"
        for thumb in suggestions.primary_thumbnails
    ]
    lines += [
        f"  warning: {warning.kind.name}  image {warning.image_id}  {warning.message}"
        for warning in suggestions.quality_warnings
    ]
    lines += [f"  suggestion warning: {warning}" for warning in suggestions.suggestion_warnings]
    return lines


def _from(source: m.SuggestionSource) -> str:
    """Where a suggestion came from, when the model was involved (a reader then wants to know)."""
    if source == m.SuggestionSource.VISION_MODEL:
        return "  (vision model)"
    return ""


def _image_name(image_id: str, images: list[m.ItemImage]) -> str:
    """The image's id with its URI, which is what a person recognises."""
    uris = [image.uri for image in images if image.image_id == image_id]
    return f"{image_id}  {uris[0]}" if uris else image_id


def describe_status(status: m.ItemRunStatus | m.BatchRunStatus) -> str:
    if isinstance(status, m.BatchRunStatus):
        return f"batch {status.batch_id}  {status.state.name}  {bar(status.progress)}"
    text = f"item {status.item_id}  {status.state.name}  stage {status.stage.name}"
    if status.error is not None and status.error.code:
        text += f"  error {status.error.code}: {status.error.message}"
    if status.result is not None and status.result.title:
        text += f"  suggested title {status.result.title!r}"
    return text


def bar(progress: m.BatchProgress | None) -> str:
    """A bar with one segment per outcome, then every count (skipped and cancelled included)."""
    if progress is None or progress.total == 0:
        return "[no items]"
    cells = ""
    done = 0
    for field, char in BAR_SEGMENTS:
        done += getattr(progress, field)
        cells += char * (BAR_WIDTH * min(done, progress.total) // progress.total - len(cells))
    return (
        f"[{cells}{'.' * (BAR_WIDTH - len(cells))}] {done}/{progress.total}"
        f"  ok {progress.succeeded}  skipped {progress.skipped}  failed {progress.failed}"
        f"  cancelled {progress.cancelled}  running {progress.running}"
    )


def failed_items(status: m.BatchRunStatus) -> list[str]:
    """One line per failed item of a batch, and a last one when the server cut the list off."""
    lines = [f"failed item {item_id}" for item_id in status.failed_item_ids]
    if status.failed_item_ids_truncated and status.progress is not None:
        shown = len(status.failed_item_ids)
        lines.append(f"... and {status.progress.failed - shown} more failed items")
    return lines
