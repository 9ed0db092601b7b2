from __future__ import annotations

import pickle

import pytest

from bubble_worker.analysis.errors import ImageRejectedError


def test_message_names_the_image_and_the_reason() -> None:
    err = ImageRejectedError(code="IMAGE_CORRUPT", image_id="img-7", reason="is empty (0 bytes)")

    assert str(err) == "image 'img-7' is empty (0 bytes)"
    assert (err.code, err.image_id, err.reason) == ("IMAGE_CORRUPT", "img-7", "is empty (0 bytes)")


def test_pickles_round_trip() -> None:
    err = ImageRejectedError(code="IMAGE_TOO_LARGE", image_id="a", reason="too many pixels")

    copy = pickle.loads(pickle.dumps(err))

    assert isinstance(copy, ImageRejectedError)
    assert (copy.code, copy.image_id, copy.reason, str(copy)) == (
        err.code,
        err.image_id,
        err.reason,
        str(err),
    )


def test_unknown_code_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown rejection code"):
        ImageRejectedError(code="INTERNAL", image_id="a", reason="b")
