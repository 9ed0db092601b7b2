"""Content hashes: SHA-256 of the file's bytes and the dHash of its pixels."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Final

from PIL import Image

DHASH_ALGORITHM: Final = "dhash64"
"""Value of ImageAnalysis.perceptual_hash_algorithm for :func:`dhash64` hashes."""

_DHASH_WIDTH: Final = 9
_DHASH_HEIGHT: Final = 8
_CHUNK_BYTES: Final = 1024 * 1024


def file_sha256(path: Path) -> str:
    """SHA-256 of the file at ``path`` as 64 lowercase hex characters, read in chunks so that
    large files never sit in memory whole."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def dhash64(grey: Image.Image) -> str:
    """Difference hash of a greyscale ("L") image as 16 lowercase hex characters.

    The image is scaled to 9x8 pixels; each of the 8 horizontally adjacent pairs per row gives
    one bit, 1 when the left pixel is brighter, rows top to bottom, most significant bit first
    (the "dhash64" algorithm of analysis.proto). Comparing neighbours instead of absolute
    values makes the hash survive re-encoding, resizing and global brightness changes.
    """
    if grey.mode != "L":
        raise ValueError(f"dhash64 needs a greyscale 'L' image, not {grey.mode!r}")
    small = grey.resize((_DHASH_WIDTH, _DHASH_HEIGHT), Image.Resampling.LANCZOS)
    pixels = small.tobytes()
    bits = 0
    for row in range(_DHASH_HEIGHT):
        for column in range(_DHASH_WIDTH - 1):
            left = pixels[row * _DHASH_WIDTH + column]
            right = pixels[row * _DHASH_WIDTH + column + 1]
            bits = (bits << 1) | (left > right)
    return f"{bits:016x}"


def hamming_distance(first: str, second: str) -> int:
    """Number of differing bits between two hex hashes of the same algorithm."""
    return (int(first, 16) ^ int(second, 16)).bit_count()
