"""Hostile input is normal input: damaged files must be rejected cleanly, never crash."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from bubble_worker.analysis.decoding import decode_image
from bubble_worker.analysis.errors import ImageRejectedError
from bubble_worker.analysis.synthetic import photo_like

# Pillow warns about some damage it recovers from (e.g. "Truncated File Read" in TIFF tags).
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,  # the same examples on every run: CI must not flake on a new one
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def encoded(save_format: str) -> bytes:
    buffer = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6
    photo_like((96, 64), seed=1).save(buffer, format=save_format, exif=exif)
    return buffer.getvalue()


ORIGINALS = {name: encoded(name) for name in ("JPEG", "PNG", "WEBP", "TIFF", "GIF")}


def decode_or_reject(path: Path, data: bytes) -> None:
    """Decodes ``data``: a usable image or an ImageRejectedError are fine, anything else fails."""
    path.write_bytes(data)
    try:
        decoded = decode_image(path, image_id="fuzz", max_edge=64)
    except ImageRejectedError as err:
        rejection = err
    else:
        assert min(decoded.width, decoded.height, *decoded.image.size) >= 1
        return
    assert rejection.code in {"IMAGE_CORRUPT", "IMAGE_UNSUPPORTED", "IMAGE_TOO_LARGE"}
    assert "\n" not in rejection.reason


@FUZZ
@given(
    name=st.sampled_from(sorted(ORIGINALS)),
    flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), min_size=1, max_size=8),
    cut=st.integers(0, 10**6),
)
def test_damaged_files_are_decoded_or_rejected(
    tmp_path: Path, name: str, flips: list[tuple[int, int]], cut: int
) -> None:
    data = bytearray(ORIGINALS[name])
    for position, mask in flips:
        data[position % len(data)] ^= mask
    decode_or_reject(tmp_path / "fuzzed", bytes(data[: max(1, len(data) - cut % len(data))]))


@FUZZ
@given(payload=st.binary(max_size=300))
def test_junk_exif_never_fails_an_image(tmp_path: Path, payload: bytes) -> None:
    path = tmp_path / "junk-exif.jpg"
    photo_like((48, 32), seed=2).save(path, exif=b"Exif\x00\x00II*\x00\x08\x00\x00\x00" + payload)

    decoded = decode_image(path, image_id="fuzz", max_edge=64)

    assert (decoded.width, decoded.height) in {(48, 32), (32, 48)}
