"""The pictures sent to the model: the cover first, then the next images that are not
duplicates, each a JPEG of at most 512 pixels a side as a data URL.

512 pixels is what vision models look at anyway (they tile or scale larger images), and JPEG is
the one format every OpenAI-compatible server decodes (llama.cpp's server reads no WebP).
The image's own thumbnail is used when one at least that large was rendered, else the original is
decoded.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from PIL import Image

from bubble.processing.v1 import analysis_pb2, item_pb2
from bubble_shared.media import resolve_media_path
from bubble_worker.analysis.decoding import decode_image

MAX_SIDE: Final = 512
JPEG_QUALITY: Final = 85

_DUPLICATES: Final = frozenset(
    {
        analysis_pb2.QUALITY_WARNING_KIND_EXACT_DUPLICATE,
        analysis_pb2.QUALITY_WARNING_KIND_NEAR_DUPLICATE,
    }
)


@dataclass(frozen=True)
class Picture:
    image_id: str
    sha256: str
    """Of the original file: with the model and the prompt, it keys the cached answer."""
    source: Path


def pick_pictures(
    images: Sequence[item_pb2.ItemImage],
    analysis: analysis_pb2.ItemAnalysis,
    suggestions: analysis_pb2.ItemSuggestions,
    *,
    media_root: Path,
    limit: int,
) -> list[Picture]:
    """Up to ``limit`` pictures: the suggested cover, then the others in the owner's order,
    leaving out duplicates (they show the model nothing new)."""
    analyses = {image.image_id: image for image in analysis.images}
    duplicates = {w.image_id for w in suggestions.quality_warnings if w.kind in _DUPLICATES}
    ordered = sorted(images, key=lambda image: image.image_id != suggestions.primary_image_id)
    pictures = []
    for image in ordered:
        facts = analyses.get(image.image_id)
        if facts is None or image.image_id in duplicates:
            continue
        pictures.append(Picture(image.image_id, facts.sha256, _source(image, facts, media_root)))
        if len(pictures) == limit:
            break
    return pictures


def _source(image: item_pb2.ItemImage, facts: analysis_pb2.ImageAnalysis, media_root: Path) -> Path:
    """The smallest rendered thumbnail that is at least MAX_SIDE (or the whole picture), else
    the original: a thumbnail decodes in a fraction of the time."""
    longest = max(facts.width, facts.height)
    large_enough = [
        thumbnail
        for thumbnail in facts.thumbnails
        if max(thumbnail.width, thumbnail.height) >= min(MAX_SIDE, longest)
    ]
    if large_enough:
        smallest = min(large_enough, key=lambda thumbnail: max(thumbnail.width, thumbnail.height))
        path = resolve_media_path(media_root, smallest.uri)
        if path.is_file():
            return path
    return resolve_media_path(media_root, image.uri)


def data_url(picture: Picture) -> str:
    """The picture as ``data:image/jpeg;base64,...``, upright, transparency on white (decoding
    already fits it within MAX_SIDE, as "RGB" or "RGBA")."""
    image = decode_image(picture.source, image_id=picture.image_id, max_edge=MAX_SIDE).image
    if image.mode == "RGBA":
        flattened = Image.new("RGB", image.size, "white")
        flattened.paste(image, mask=image.getchannel("A"))
        image = flattened
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=JPEG_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
