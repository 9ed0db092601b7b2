"""Item-level suggestions (title, tags, colours, warnings, cover image) from image analyses.

These are the image facts: what a vision model adds (``bubble_worker.vision``) is merged into
them, and when there is no model, or it fails, they are the suggestions."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from bubble.processing.v1 import analysis_pb2
from bubble_worker.analysis.colors import COLOR_NAMES
from bubble_worker.analysis.hashing import hamming_distance

# Thresholds. Sharpness, brightness and contrast are those of the "pillow" analyser 1.x
# (analysis.proto: sharpness is only comparable within one analyser version). They are starting
# points: BLURRY and NEAR_DUPLICATE were checked on the synthetic photos of the tests, none of
# them on real listing photos yet, so tune them once real data is at hand.

BLURRY_MAX_SHARPNESS: Final = 40.0
"""Variance of the Laplacian on the 512 px analysis copy. The tests' synthetic photos (12 MP
JPEGs) measure 340 to 520 with analyser 1.1 (500 to 770 with 1.0, which scaled with Lanczos); a
Gaussian blur of 1 px at that size (about 8 px on a 4000 px original, clearly soft on a listing
page) brings them to 14-27 with either version, and half of that blur leaves them at 100-160
(130-210)."""

MIN_SHORT_SIDE: Final = 500
"""Shorter side in pixels below which an image is TOO_SMALL: the common marketplace minimum,
and smaller images look soft in the 768 px item view and cannot be zoomed."""

TOO_DARK_MAX_BRIGHTNESS: Final = 0.15
"""Mean luma below which shadows swallow the product, and low enough that deliberately dark,
low-key shots (a dark product on black) stay unflagged."""

TOO_BRIGHT_MIN_BRIGHTNESS: Final = 0.93
"""Mean luma above which most of the image must be clipped white; high enough that a product
on a white backdrop, which is darker than its backdrop, stays unflagged."""

LOW_CONTRAST_MAX: Final = 0.05
"""RMS contrast below which an image looks flat or foggy: the luma varies by less than about
13 grey levels; the tests' synthetic photos measure about 0.1."""

NEAR_DUPLICATE_MAX_DISTANCE: Final = 8
"""dhash64 Hamming distance at or below which two images show the same picture. A resized and
re-encoded copy changes at most a few of the 64 bits (at most 4 in the tests); unrelated images
differ in about half of them. Kept well below that so two angles of one product are not taken
for copies."""

SQUARE_TOLERANCE: Final = 0.05
"""Relative difference of the sides up to which an image is tagged "square"; crops are rarely
exact."""

MAX_TAGS: Final = 20
MAX_COLORS: Final = 5

_PENALTIES: Final[dict[analysis_pb2.QualityWarningKind.ValueType, int]] = {
    analysis_pb2.QUALITY_WARNING_KIND_EXACT_DUPLICATE: 8,
    analysis_pb2.QUALITY_WARNING_KIND_NEAR_DUPLICATE: 4,
    analysis_pb2.QUALITY_WARNING_KIND_BLURRY: 4,
    analysis_pb2.QUALITY_WARNING_KIND_TOO_SMALL: 2,
    analysis_pb2.QUALITY_WARNING_KIND_TOO_DARK: 2,
    analysis_pb2.QUALITY_WARNING_KIND_TOO_BRIGHT: 2,
    analysis_pb2.QUALITY_WARNING_KIND_LOW_CONTRAST: 1,
}
"""How much each warning disqualifies an image as the cover (see :func:`_primary_index`) or as
the one of two near-duplicates to keep."""

_COLOR_WORDS: Final = re.compile(
    r"\b(?:"
    + "|".join(
        re.escape(word)
        for word in sorted(
            {*COLOR_NAMES, "grey", "gold", "cream", "ivory", "khaki", "tan", "violet", "multicolor"}
        )
    )
    + r")\b",
    re.IGNORECASE,
)
"""Colour words in an owner's title: when there is one, the owner already named the colour."""


@dataclass(frozen=True)
class _Image:
    position: int
    """1-based position, as an owner counts images in messages."""
    analysis: analysis_pb2.ImageAnalysis


def suggest_for_item(
    analyses: Sequence[analysis_pb2.ImageAnalysis], *, item_title: str = ""
) -> analysis_pb2.ItemSuggestions:
    """Suggestions for an item from the analyses of its images, in image position order.

    Deterministic: the same analyses and title always give the same suggestions. Tags other
    than colours describe the suggested cover image, which is what a buyer sees first.
    """
    if not analyses:
        return analysis_pb2.ItemSuggestions()
    images = [_Image(position, analysis) for position, analysis in enumerate(analyses, start=1)]
    own = [_own_warnings(image) for image in images]
    rank = _ranks(images, own)
    originals = _originals(images)
    warnings = [
        _duplicate_warnings(image, images, own, rank, originals) or own_
        for image, own_ in zip(images, own, strict=True)
    ]
    primary = analyses[_primary_index(analyses, warnings)]
    colors = _item_colors(analyses)
    title = _title(item_title, colors)
    return analysis_pb2.ItemSuggestions(
        title=title,
        tags=_tags(colors, primary),
        colors=colors,
        quality_warnings=[warning for image_warnings in warnings for warning in image_warnings],
        primary_image_id=primary.image_id,
        primary_thumbnails=primary.thumbnails,
        sources=analysis_pb2.SuggestionSources(
            title=analysis_pb2.SUGGESTION_SOURCE_IMAGE_FACTS
            if title
            else analysis_pb2.SUGGESTION_SOURCE_UNSPECIFIED
        ),
    )


def _duplicate_warnings(
    image: _Image,
    images: Sequence[_Image],
    own: Sequence[Sequence[analysis_pb2.QualityWarning]],
    rank: dict[int, tuple[int, float, int]],
    originals: dict[int, _Image],
) -> list[analysis_pb2.QualityWarning]:
    """The image's duplicate warning and its own warnings, or [] when it duplicates nothing.

    An exact duplicate (the later copy of the same file) gets only that warning: its other
    problems are the earlier copy's and are reported there. Of two images that look almost the
    same, the worse one (more serious warnings, then less sharp, then later) is the duplicate:
    a blurry first shot is not kept over the sharp retake that follows it.
    """
    number = image.position
    original = originals.get(number)
    if original is not None:
        return [
            _warning(
                analysis_pb2.QUALITY_WARNING_KIND_EXACT_DUPLICATE,
                image,
                f"Image {number} is the same file as image {original.position}; remove one of"
                " them.",
                value=0,
                threshold=0,
                related=original.analysis.image_id,
            )
        ]
    better = [
        other
        for other in images
        if other is not image
        and rank[other.position] < rank[image.position]
        and other.position not in originals
    ]
    similar = _nearest_duplicate(image, better)
    if similar is None:
        return []
    distance, match = similar
    return [
        _warning(
            analysis_pb2.QUALITY_WARNING_KIND_NEAR_DUPLICATE,
            image,
            f"Image {number} looks almost the same as image {match.position}, which is better;"
            " show another angle or detail instead.",
            value=distance,
            threshold=NEAR_DUPLICATE_MAX_DISTANCE,
            related=match.analysis.image_id,
        ),
        *own[number - 1],
    ]


def _ranks(
    images: Sequence[_Image], own: Sequence[Sequence[analysis_pb2.QualityWarning]]
) -> dict[int, tuple[int, float, int]]:
    """Each image's rank (position -> sortable key): milder warnings, then sharper, then earlier."""
    return {
        image.position: (
            _penalty(own[image.position - 1]),
            -image.analysis.sharpness,
            image.position,
        )
        for image in images
    }


def _originals(images: Sequence[_Image]) -> dict[int, _Image]:
    """For each image that repeats an earlier file (equal sha256): its position -> the first
    image with those bytes."""
    first: dict[str, _Image] = {}
    originals: dict[int, _Image] = {}
    for image in images:
        sha256 = image.analysis.sha256
        if not sha256:
            continue
        if sha256 in first:
            originals[image.position] = first[sha256]
        else:
            first[sha256] = image
    return originals


def _own_warnings(image: _Image) -> list[analysis_pb2.QualityWarning]:
    """The warnings of one image about itself (not about its duplicates), in a fixed order."""
    analysis, number = image.analysis, image.position
    found = []
    short_side = min(analysis.width, analysis.height)
    if short_side < MIN_SHORT_SIDE:
        found.append(
            _warning(
                analysis_pb2.QUALITY_WARNING_KIND_TOO_SMALL,
                image,
                f"Image {number} is only {short_side} pixels on its shorter side; upload one"
                f" with at least {MIN_SHORT_SIDE}.",
                value=short_side,
                threshold=MIN_SHORT_SIDE,
            )
        )
    if analysis.sharpness < BLURRY_MAX_SHARPNESS:
        found.append(
            _warning(
                analysis_pb2.QUALITY_WARNING_KIND_BLURRY,
                image,
                f"Image {number} looks blurry; retake it with a steady hand and the product"
                " in focus.",
                value=analysis.sharpness,
                threshold=BLURRY_MAX_SHARPNESS,
            )
        )
    if analysis.brightness < TOO_DARK_MAX_BRIGHTNESS:
        found.append(
            _warning(
                analysis_pb2.QUALITY_WARNING_KIND_TOO_DARK,
                image,
                f"Image {number} is too dark; retake it in brighter light.",
                value=analysis.brightness,
                threshold=TOO_DARK_MAX_BRIGHTNESS,
            )
        )
    if analysis.brightness > TOO_BRIGHT_MIN_BRIGHTNESS:
        found.append(
            _warning(
                analysis_pb2.QUALITY_WARNING_KIND_TOO_BRIGHT,
                image,
                f"Image {number} is overexposed; retake it with less light or a lower exposure.",
                value=analysis.brightness,
                threshold=TOO_BRIGHT_MIN_BRIGHTNESS,
            )
        )
    if analysis.contrast < LOW_CONTRAST_MAX:
        found.append(
            _warning(
                analysis_pb2.QUALITY_WARNING_KIND_LOW_CONTRAST,
                image,
                f"Image {number} looks flat and washed out; retake it in more direct light.",
                value=analysis.contrast,
                threshold=LOW_CONTRAST_MAX,
            )
        )
    return found


def _nearest_duplicate(image: _Image, others: Sequence[_Image]) -> tuple[int, _Image] | None:
    """The other image whose perceptual hash is closest within the threshold (the first on a
    tie), with its distance. Hashes of different algorithms are not comparable."""
    analysis = image.analysis
    if not analysis.perceptual_hash:
        return None
    candidates = [
        (hamming_distance(analysis.perceptual_hash, other.analysis.perceptual_hash), other)
        for other in others
        if other.analysis.perceptual_hash
        and other.analysis.perceptual_hash_algorithm == analysis.perceptual_hash_algorithm
    ]
    within = [c for c in candidates if c[0] <= NEAR_DUPLICATE_MAX_DISTANCE]
    return min(within, key=lambda c: (c[0], c[1].position), default=None)


def _warning(
    kind: analysis_pb2.QualityWarningKind.ValueType,
    image: _Image,
    message: str,
    *,
    value: float,
    threshold: float,
    related: str = "",
) -> analysis_pb2.QualityWarning:
    return analysis_pb2.QualityWarning(
        kind=kind,
        image_id=image.analysis.image_id,
        message=message,
        related_image_id=related,
        value=value,
        threshold=threshold,
    )


def _penalty(warnings: Sequence[analysis_pb2.QualityWarning]) -> int:
    return sum(_PENALTIES.get(warning.kind, 1) for warning in warnings)


def _primary_index(
    analyses: Sequence[analysis_pb2.ImageAnalysis],
    warnings: Sequence[Sequence[analysis_pb2.QualityWarning]],
) -> int:
    """Index of the suggested cover image: the sharpest of the images without warnings (well
    exposed, large enough, not a duplicate), the earliest on a tie; when every image has some,
    the mildest warnings first, then the sharpest.

    Duplicates weigh most, so the kept image of a duplicated pair is preferred.
    """
    return min(
        range(len(analyses)),
        key=lambda index: (_penalty(warnings[index]), -analyses[index].sharpness, index),
    )


def _item_colors(analyses: Sequence[analysis_pb2.ImageAnalysis]) -> list[str]:
    """Colour names by their share of all images together (each image weighs the same), the
    alphabetically first on a tie; deduplicated, at most :data:`MAX_COLORS`."""
    shares: defaultdict[str, float] = defaultdict(float)
    for analysis in analyses:
        for swatch in analysis.dominant_colors:
            shares[swatch.name] += swatch.fraction
    ranked = sorted(shares, key=lambda name: (-shares[name], name))
    return ranked[:MAX_COLORS]


def _title(item_title: str, colors: Sequence[str]) -> str:
    """The owner's title with the dominant colour, e.g. "Leather jacket in red", or "" when
    there is nothing to add: no title to add it to (colours alone name no item), no colours, or
    the title already names one. The owner's words keep their spelling ("iPhone", "USB")."""
    title = " ".join(item_title.split())
    if not title or not colors or _COLOR_WORDS.search(title):
        return ""
    return f"{title} in {colors[0]}"


def _tags(colors: Sequence[str], primary: analysis_pb2.ImageAnalysis) -> list[str]:
    """What a buyer could search for: colours and the cover's shape. Image quality (resolution,
    exposure, focus) is never a tag; it is a warning for the owner."""
    tags = [*colors, _orientation(primary.width, primary.height)]
    if primary.has_alpha:
        tags.append("transparent-background")
    return list(dict.fromkeys(tag.lower() for tag in tags))[:MAX_TAGS]


def _orientation(width: int, height: int) -> str:
    if abs(width - height) <= SQUARE_TOLERANCE * max(width, height):
        return "square"
    return "portrait" if height > width else "landscape"
