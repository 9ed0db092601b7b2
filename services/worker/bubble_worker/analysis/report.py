"""The sentence an owner reads when some of an item's images cannot be used.

It names every bad image the way the owner knows it, by its place in the item and its file name
(image ids mean nothing to them), and stays one line within the failure message limit: when
everything does not fit, the first images are listed whole and the rest counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from bubble_worker.analysis.errors import ImageRejectedError
from bubble_worker.error_codes import MAX_MESSAGE_CHARS, bounded

MAX_NAME_CHARS: Final = 60
"""Longest file name shown; stored names may have 255 characters, which would crowd out the
other images. The cut keeps both ends, where names differ and where the extension is."""

MAX_ENTRY_CHARS: Final = 200
"""Longest description of one image in a list, so that at least two always fit."""


@dataclass(frozen=True)
class ImageProblem:
    """One image of an item that cannot be used, and where it is in the item."""

    number: int
    """1-based place of the image in the item ("image 2 of 3")."""
    label: str
    """The name shown for the image: see :func:`image_label`."""
    rejection: ImageRejectedError

    def describe(self, total: int | None = None) -> str:
        """E.g. "image 2 of 3 'back.jpg' is empty (0 bytes)"; without "of 3" in a list."""
        place = f"{self.number} of {total}" if total is not None else str(self.number)
        return f"image {place} {_shown(self.label)} {self.rejection.reason}"


def image_label(filename: str, uri: str) -> str:
    """The name the owner gave the file at creation, else the last segment of its URI."""
    return filename or uri.rstrip("/").rsplit("/", 1)[-1] or uri


def summarize(problems: Sequence[ImageProblem], total: int, limit: int = MAX_MESSAGE_CHARS) -> str:
    """One line of at most ``limit`` characters naming every problem that fits, in item order.

    E.g. "2 of 5 images cannot be used: image 2 'back.jpg' is empty (0 bytes); image 4
    'x.png' is a folder, not an image file", ending "; and 3 more" when some do not fit.
    """
    ordered = sorted(problems, key=lambda problem: problem.number)
    if len(ordered) == 1:
        return bounded(ordered[0].describe(total), limit)
    head = f"{len(ordered)} of {total} images cannot be used: "
    entries = [bounded(problem.describe(), MAX_ENTRY_CHARS) for problem in ordered]
    for shown in range(len(entries), 0, -1):
        more = len(entries) - shown
        text = head + "; ".join(entries[:shown]) + (f"; and {more} more" if more else "")
        if len(text) <= limit:
            return text
    return bounded(text, limit)


def _shown(name: str) -> str:
    """``name`` quoted, escaped (no control characters reach a message) and cut to length."""
    if len(name) > MAX_NAME_CHARS:
        keep = MAX_NAME_CHARS - 1
        name = name[: keep - keep // 3] + "…" + name[-(keep // 3) :]
    return repr(name)
