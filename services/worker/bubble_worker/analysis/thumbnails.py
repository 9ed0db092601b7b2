"""WebP thumbnails of the upright image, stored once per distinct file under MEDIA_ROOT."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import imagecodecs
import numpy as np

from bubble.processing.v1 import analysis_pb2
from bubble_worker.analysis.geometry import fit_within
from bubble_worker.analysis.resampling import Pixels, shrink

THUMBNAIL_SIZES: Final = (256, 768)
"""Longer side of each thumbnail, smallest first: list tiles and the item page on high-density
screens. The decoder never produces more pixels than the largest of them."""

THUMBNAIL_DIR: Final = "thumbnails"
CONTENT_TYPE: Final = "image/webp"

WEBP_QUALITY: Final = 80
"""libwebp's quality, a common web default: no artefacts visible at thumbnail sizes."""

WEBP_METHOD: Final = 0
"""libwebp's effort (0-6; Pillow's default is 4). Measured on 768 px photo thumbnails: method 0
encodes in a quarter of method 4's time at the same PSNR, for files about 30 % larger (about
38 kB instead of 29 kB at 768 px). Encoding was the analyser's largest cost, more than decoding
the photo."""

_FILE_MODE: Final = 0o644
"""Thumbnails are served by other processes (web server, CDN origin); mkstemp creates 0600."""


def thumbnail_uri(sha256: str, size: int) -> str:
    """Where the ``size`` thumbnail of the file with this SHA-256 lives, relative to MEDIA_ROOT.

    Keyed by content, so every copy of a file shares its thumbnails and a re-analysis finds
    them already there. The name carries no analyser version: a change to how thumbnails look
    must change this scheme too, or files rendered by older versions would be kept. (Analysers
    1.1 and 1.2 render faster but alike, within a fraction of a decibel: see
    ``quality_test.py``.)
    """
    return f"{THUMBNAIL_DIR}/{sha256[:2]}/{sha256}-{size}.webp"


def write_thumbnails(
    copies: Sequence[Pixels], *, sha256: str, media_root: Path
) -> list[analysis_pb2.Thumbnail]:
    """Renders (or reuses) one thumbnail per :data:`THUMBNAIL_SIZES`, never upscaled.

    ``copies`` are upright copies of one picture at different sizes, largest first (RGB or
    RGBA; WebP keeps the alpha channel): each thumbnail is scaled from the smallest copy that
    is at least as large, so no thumbnail costs a pass over more pixels than it needs. Files
    are written to a temporary name and renamed into place, so a reader, a crash or a
    concurrent worker rendering the same file never sees a partial thumbnail.
    """
    largest_height, largest_width = copies[0].shape[:2]
    thumbnails = []
    for size in THUMBNAIL_SIZES:
        uri = thumbnail_uri(sha256, size)
        width, height = fit_within((largest_width, largest_height), size)
        path = media_root.joinpath(*uri.split("/"))
        if not path.is_file():
            source = min(
                (copy for copy in copies if copy.shape[1] >= width and copy.shape[0] >= height),
                key=lambda copy: copy.shape[1],
            )
            _write_atomically(path, _encode(source, (width, height)))
        thumbnails.append(
            analysis_pb2.Thumbnail(uri=uri, width=width, height=height, content_type=CONTENT_TYPE)
        )
    return thumbnails


def _encode(pixels: Pixels, size: tuple[int, int]) -> bytes:
    """WebP of ``pixels`` scaled to ``size``, by libwebp through imagecodecs at the settings
    Pillow would be given (with both on libwebp 1.6, the same bytes), without Pillow's copy of
    the picture into libwebp's ARGB layout: about 0.6 ms of the 768 px thumbnail's 7."""
    scaled = np.ascontiguousarray(shrink(pixels, size))
    return bytes(imagecodecs.webp_encode(scaled, WEBP_QUALITY, lossless=False, method=WEBP_METHOD))


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            # Without fsync a crash could leave an empty file under the final name, which
            # would then be reused forever because existing thumbnails are skipped.
            os.fsync(file.fileno())
            os.fchmod(file.fileno(), _FILE_MODE)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
