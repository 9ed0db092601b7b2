"""The one error the analyser raises on purpose: the image itself is unusable."""

from __future__ import annotations

from typing import Final

IMAGE_NOT_FOUND: Final = "IMAGE_NOT_FOUND"
IMAGE_CORRUPT: Final = "IMAGE_CORRUPT"
IMAGE_TOO_LARGE: Final = "IMAGE_TOO_LARGE"
IMAGE_UNSUPPORTED: Final = "IMAGE_UNSUPPORTED"

REJECTION_CODES: Final = frozenset(
    {IMAGE_NOT_FOUND, IMAGE_CORRUPT, IMAGE_TOO_LARGE, IMAGE_UNSUPPORTED}
)
"""The ProcessingError codes (run.proto) that mean "fix the image, retrying will not help"."""


class ImageRejectedError(Exception):
    """Non-retryable: this image can never be analysed as it is.

    ``code`` is one of :data:`REJECTION_CODES` and becomes the ProcessingError code; ``reason``
    is what is wrong, said of the image ("is empty (0 bytes)"), so that the activity can put it
    after the image's position and filename, which only it knows. Never exception text or a
    traceback, because it reaches item owners. Anything else the analyser raises is a bug or an
    infrastructure failure and stays retryable.
    """

    def __init__(self, *, code: str, image_id: str, reason: str) -> None:
        if code not in REJECTION_CODES:
            raise ValueError(f"unknown rejection code {code!r}")
        super().__init__(f"image {image_id!r} {reason}")
        self.code = code
        self.image_id = image_id
        self.reason = reason

    def __reduce__(self) -> tuple[object, ...]:
        # The default reduction replays ``args`` positionally, which the keyword-only
        # constructor rejects, so errors raised in a process pool would not cross back.
        return (_rebuild, (self.code, self.image_id, self.reason))


def _rebuild(code: str, image_id: str, reason: str) -> ImageRejectedError:
    return ImageRejectedError(code=code, image_id=image_id, reason=reason)
