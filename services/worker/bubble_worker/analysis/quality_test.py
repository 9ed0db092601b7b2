"""The analyser's shortcuts (DCT-scaled decoding, bicubic steps, a fast WebP effort, thumbnails
from the nearest copy) against a careful reference on the same files: full decode, Lanczos from
full resolution, WebP at libwebp's default effort (what analyser 1.0 wrote, and better).

Thumbnails are compared by PSNR against the ideal (Lanczos, not encoded): ours may lose at most
a fraction of a decibel to the reference's own encoding. Colours and the perceptual hash are
compared with the reference's, computed the same way from its Lanczos copy.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageChops, ImageOps, ImageStat

from bubble_worker.analysis.colors import color_distance, dominant_colors
from bubble_worker.analysis.geometry import fit_within
from bubble_worker.analysis.hashing import dhash64, hamming_distance
from bubble_worker.analysis.measures import greyscale
from bubble_worker.analysis.pillow_analyzer import ANALYSIS_EDGE, PillowAnalyzer
from bubble_worker.analysis.synthetic import photo_like
from bubble_worker.analysis.thumbnails import WEBP_QUALITY

ORIENTATION_TAG = 0x0112
SAME_COLOUR = 10.0
"""CIELAB distance below which two swatches name the same colour to a buyer: noticeable side
by side, never another colour. (The DCT-scaled decode moves a gradient's clusters by up to 8.)"""


def psnr(first: Image.Image, second: Image.Image) -> float:
    """Peak signal-to-noise ratio in dB of two same-sized images (as RGB): higher is closer."""
    difference = ImageChops.difference(first.convert("RGB"), second.convert("RGB"))
    mse = sum(rms * rms for rms in ImageStat.Stat(difference).rms) / 3
    return math.inf if mse == 0 else 10 * math.log10(255 * 255 / mse)


def upright_full(path: Path) -> Image.Image:
    with Image.open(path) as opened:
        opened.load()
        return ImageOps.exif_transpose(opened).convert("RGB")


def reference_webp(ideal: Image.Image) -> Image.Image:
    buffer = io.BytesIO()
    ideal.save(buffer, format="WEBP", quality=WEBP_QUALITY)  # libwebp's default effort
    return Image.open(io.BytesIO(buffer.getvalue()))


@pytest.fixture(scope="module", params=["phone.jpg", "noisy.jpg", "shot.png"])
def photo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("quality") / str(request.param)
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = 6
    if path.name == "phone.jpg":
        photo_like((4032, 3024), seed=21, noise=4).save(path, quality=90, exif=exif)
    elif path.name == "noisy.jpg":
        photo_like((4032, 3024), seed=22).save(path, quality=90, exif=exif)
    else:
        photo_like((2048, 1536), seed=23, noise=4).save(path)
    return path


def test_thumbnails_are_as_clean_as_the_reference(photo: Path, tmp_path: Path) -> None:
    analysis = PillowAnalyzer().analyze(image_id="img", path=photo, media_root=tmp_path)
    full = upright_full(photo)

    for thumbnail in analysis.thumbnails:
        ideal = full.resize((thumbnail.width, thumbnail.height), Image.Resampling.LANCZOS)
        with Image.open(tmp_path / thumbnail.uri) as ours:
            assert ours.size == ideal.size
            ours_db = psnr(ours, ideal)
        reference_db = psnr(reference_webp(ideal), ideal)
        assert ours_db >= reference_db - 0.75, (thumbnail.uri, ours_db, reference_db)


def test_colours_and_hash_match_the_reference(photo: Path, tmp_path: Path) -> None:
    analysis = PillowAnalyzer().analyze(image_id="img", path=photo, media_root=tmp_path)
    full = upright_full(photo)
    measured = full.resize(fit_within(full.size, ANALYSIS_EDGE), Image.Resampling.LANCZOS)

    # The same names, and every colour covering a tenth of the picture found again as the same
    # colour to a buyer (noticeable only side by side). Their order may differ where a smooth
    # gradient is split between two clusters of near-equal size: that moves with any change of
    # the pixels, JPEG re-encoding included. (A smaller colour sample moves whole clusters: up
    # to 34 CIELAB units at 64 px instead of 128 on these photos, which is why it was kept.)
    reference_colours = dominant_colors(np.asarray(measured))
    assert sorted(c.name for c in analysis.dominant_colors) == sorted(
        c.name for c in reference_colours
    )
    for theirs in reference_colours:
        if theirs.fraction >= 0.1:
            nearest = min(color_distance(theirs.hex, ours.hex) for ours in analysis.dominant_colors)
            assert nearest < SAME_COLOUR, (theirs.hex, nearest)
    assert hamming_distance(analysis.perceptual_hash, dhash64(greyscale(measured))) <= 2
