from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from PIL import Image

from bubble_worker.analysis.hashing import dhash64, file_sha256, hamming_distance
from bubble_worker.analysis.synthetic import photo_like


def test_file_sha256_streams_large_files(tmp_path: Path) -> None:
    data = bytes(range(256)) * 10_000  # several read chunks
    path = tmp_path / "blob.bin"
    path.write_bytes(data)

    assert file_sha256(path) == hashlib.sha256(data).hexdigest()


def test_dhash_bit_order_left_brighter_is_one() -> None:
    falling = (
        Image.linear_gradient("L").transpose(Image.Transpose.ROTATE_270).resize((90, 80))
    )  # bright left, dark right
    row = falling.crop((0, 40, 90, 41)).tobytes()
    assert row[0] > row[-1]

    assert dhash64(falling) == "ffffffffffffffff"
    assert dhash64(falling.transpose(Image.Transpose.FLIP_LEFT_RIGHT)) == "0000000000000000"


def test_dhash_is_16_lowercase_hex_characters() -> None:
    value = dhash64(photo_like((300, 200), seed=3).convert("L"))

    assert len(value) == 16
    assert value == value.lower()
    int(value, 16)


def test_resized_and_reencoded_copy_hashes_close_and_other_photo_far() -> None:
    original = photo_like((800, 600), seed=1)
    buffer = io.BytesIO()
    original.resize((400, 300)).save(buffer, format="JPEG", quality=60)
    copy = Image.open(buffer).convert("L")
    other = photo_like((800, 600), seed=2).convert("L")

    reference = dhash64(original.convert("L"))

    assert hamming_distance(reference, dhash64(copy)) <= 4
    assert hamming_distance(reference, dhash64(other)) >= 16


def test_dhash_refuses_colour_images() -> None:
    with pytest.raises(ValueError, match="greyscale"):
        dhash64(Image.new("RGB", (9, 8)))
