from __future__ import annotations

import hashlib
from typing import Any, TypeAlias

import pytest

from bubble.processing.v1 import analysis_pb2
from bubble_worker.analysis.suggestions import (
    BLURRY_MAX_SHARPNESS,
    LOW_CONTRAST_MAX,
    MIN_SHORT_SIDE,
    NEAR_DUPLICATE_MAX_DISTANCE,
    TOO_BRIGHT_MIN_BRIGHTNESS,
    TOO_DARK_MAX_BRIGHTNESS,
    suggest_for_item,
)

Kind: TypeAlias = analysis_pb2.QualityWarningKind.ValueType


def analysis(image_id: str, **fields: Any) -> analysis_pb2.ImageAnalysis:
    """A good 1600x1200 red and white image; ``fields`` override single facts, ``colors`` takes
    (name, fraction) pairs."""
    colors = fields.pop("colors", (("red", 0.7), ("white", 0.3)))
    values: dict[str, Any] = {
        "image_id": image_id,
        "width": 1600,
        "height": 1200,
        "sha256": hashlib.sha256(image_id.encode()).hexdigest(),
        "perceptual_hash": hashlib.blake2b(image_id.encode(), digest_size=8).hexdigest(),
        "perceptual_hash_algorithm": "dhash64",
        "brightness": 0.5,
        "contrast": 0.2,
        "sharpness": 500.0,
        "thumbnails": [analysis_pb2.Thumbnail(uri=f"thumbnails/{image_id}-256.webp", width=256)],
        "dominant_colors": [
            analysis_pb2.ColorSwatch(name=name, fraction=fraction) for name, fraction in colors
        ],
    }
    values.update(fields)
    return analysis_pb2.ImageAnalysis(**values)


def kinds(suggestions: analysis_pb2.ItemSuggestions) -> list[tuple[str, Kind]]:
    return [(w.image_id, w.kind) for w in suggestions.quality_warnings]


def test_no_images_no_suggestions() -> None:
    assert suggest_for_item([], item_title="Jacket") == analysis_pb2.ItemSuggestions()


@pytest.mark.parametrize(
    ("item_title", "expected"),
    [
        ("Leather jacket", "Leather jacket in red"),
        ("  leather   jacket ", "leather jacket in red"),
        ("Nike Air Max 90 sneakers", "Nike Air Max 90 sneakers in red"),
        ("iPhone 13 case", "iPhone 13 case in red"),
        ("Dark red leather jacket", ""),
        ("Grey hoodie", ""),
    ],
)
def test_title_keeps_the_owners_words_as_typed(item_title: str, expected: str) -> None:
    suggestions = suggest_for_item([analysis("a")], item_title=item_title)

    assert suggestions.title == expected
    source = analysis_pb2.SUGGESTION_SOURCE_IMAGE_FACTS if expected else 0
    assert suggestions.sources.title == source


def test_no_title_is_invented_when_there_is_nothing_to_add() -> None:
    assert suggest_for_item([analysis("a")]).title == ""
    assert suggest_for_item([analysis("a", colors=(("navy", 1.0),))]).title == ""
    assert suggest_for_item([analysis("a", colors=())], item_title="Lamp").title == ""


def test_colours_are_ranked_over_all_images_and_deduplicated() -> None:
    analyses = [
        analysis("a", colors=(("red", 0.5), ("white", 0.25), ("red", 0.2))),
        analysis("b", colors=(("blue", 0.6), ("white", 0.4))),
        analysis("c", colors=(("green", 0.5), ("black", 0.3), ("pink", 0.2))),
    ]

    assert list(suggest_for_item(analyses).colors) == ["red", "white", "blue", "green", "black"]


def test_tags_describe_colours_and_the_cover_image() -> None:
    cover = analysis("a", width=3000, height=3000, brightness=0.8, has_alpha=True)

    tags = suggest_for_item([cover]).tags

    assert list(tags) == ["red", "white", "square", "transparent-background"]


@pytest.mark.parametrize(
    "fields",
    [
        {"width": 400, "height": 300},
        {"width": 4000, "height": 3000},
        {"brightness": 0.1},
        {"brightness": 0.2},
        {"brightness": 0.95},
        {"sharpness": 1.0},
        {"contrast": 0.01},
    ],
)
def test_image_quality_is_never_a_tag(fields: dict[str, Any]) -> None:
    tags = suggest_for_item([analysis("a", **fields)]).tags

    assert list(tags) == ["red", "white", "landscape"]


@pytest.mark.parametrize(
    ("fields", "tag"),
    [
        ({"width": 800, "height": 1200}, "portrait"),
        ({"width": 1200, "height": 800}, "landscape"),
    ],
)
def test_single_tags(fields: dict[str, Any], tag: str) -> None:
    assert tag in suggest_for_item([analysis("a", **fields)]).tags


@pytest.mark.parametrize(
    ("fields", "kind", "value", "threshold"),
    [
        ({"sharpness": 12.5}, analysis_pb2.QUALITY_WARNING_KIND_BLURRY, 12.5, BLURRY_MAX_SHARPNESS),
        (
            {"width": 640, "height": 360},
            analysis_pb2.QUALITY_WARNING_KIND_TOO_SMALL,
            360,
            MIN_SHORT_SIDE,
        ),
        (
            {"brightness": 0.05},
            analysis_pb2.QUALITY_WARNING_KIND_TOO_DARK,
            0.05,
            TOO_DARK_MAX_BRIGHTNESS,
        ),
        (
            {"brightness": 0.97},
            analysis_pb2.QUALITY_WARNING_KIND_TOO_BRIGHT,
            0.97,
            TOO_BRIGHT_MIN_BRIGHTNESS,
        ),
        (
            {"contrast": 0.01},
            analysis_pb2.QUALITY_WARNING_KIND_LOW_CONTRAST,
            0.01,
            LOW_CONTRAST_MAX,
        ),
    ],
)
def test_quality_warnings(
    fields: dict[str, Any], kind: Kind, value: float, threshold: float
) -> None:
    (warning,) = suggest_for_item([analysis("a"), analysis("b", **fields)]).quality_warnings

    assert (warning.kind, warning.image_id, warning.related_image_id) == (kind, "b", "")
    assert warning.value == pytest.approx(value)
    assert warning.threshold == threshold
    assert warning.message.startswith("Image 2 ")


def test_good_images_have_no_warnings() -> None:
    assert not suggest_for_item([analysis("a"), analysis("b")]).quality_warnings


def test_exact_duplicate_points_at_the_first_copy_and_hides_other_warnings() -> None:
    first = analysis("a", sharpness=1.0)
    copy = analysis("c", sha256=first.sha256, perceptual_hash=first.perceptual_hash, sharpness=1.0)

    suggestions = suggest_for_item([first, analysis("b"), copy])

    assert kinds(suggestions) == [
        ("a", analysis_pb2.QUALITY_WARNING_KIND_BLURRY),
        ("c", analysis_pb2.QUALITY_WARNING_KIND_EXACT_DUPLICATE),
    ]
    duplicate = suggestions.quality_warnings[1]
    assert (duplicate.related_image_id, duplicate.value, duplicate.threshold) == ("a", 0, 0)


def test_near_duplicate_points_at_the_closest_better_image() -> None:
    a = analysis("a", perceptual_hash="ffff0000ffff0000")
    b = analysis("b", perceptual_hash="ffff0000ffff00ff")  # 8 bits from a
    c = analysis("c", perceptual_hash="ffff0000ffff000f")  # 4 from a, 4 from b
    far = analysis("d", perceptual_hash="0000ffff0000ffff")

    warnings = suggest_for_item([a, b, c, far]).quality_warnings

    assert [(w.image_id, w.related_image_id, w.value) for w in warnings] == [
        ("b", "a", NEAR_DUPLICATE_MAX_DISTANCE),
        ("c", "a", 4),
    ]
    assert all(w.kind == analysis_pb2.QUALITY_WARNING_KIND_NEAR_DUPLICATE for w in warnings)


def test_of_two_near_duplicates_the_worse_one_is_flagged_and_the_better_one_is_the_cover() -> None:
    """[blurred.jpg, coffee.png]: the blurry first shot, not the sharp retake, is the duplicate."""
    blurred = analysis("blurred", perceptual_hash="ffff0000ffff0000", sharpness=12.0)
    sharp = analysis("sharp", perceptual_hash="ffff0000ffff0003", sharpness=300.0)

    suggestions = suggest_for_item([blurred, sharp])

    assert suggestions.primary_image_id == "sharp"
    assert kinds(suggestions) == [
        ("blurred", analysis_pb2.QUALITY_WARNING_KIND_NEAR_DUPLICATE),
        ("blurred", analysis_pb2.QUALITY_WARNING_KIND_BLURRY),
    ]
    assert suggestions.quality_warnings[0].related_image_id == "sharp"
    assert "image 2" in suggestions.quality_warnings[0].message


def test_of_two_equally_good_near_duplicates_the_sharper_is_kept() -> None:
    first = analysis("a", perceptual_hash="ffff0000ffff0000", sharpness=200.0)
    second = analysis("b", perceptual_hash="ffff0000ffff0001", sharpness=400.0)

    suggestions = suggest_for_item([first, second])

    assert kinds(suggestions) == [("a", analysis_pb2.QUALITY_WARNING_KIND_NEAR_DUPLICATE)]
    assert suggestions.primary_image_id == "b"


def test_hashes_of_other_algorithms_are_not_compared() -> None:
    a = analysis("a", perceptual_hash="ffff0000ffff0000")
    b = analysis("b", perceptual_hash="ffff0000ffff0000", perceptual_hash_algorithm="phash64")

    assert not suggest_for_item([a, b]).quality_warnings


def test_primary_is_the_sharpest_image_without_problems() -> None:
    images = [
        analysis("a", sharpness=2.0),
        analysis("b", sharpness=900.0, brightness=0.05),
        analysis("c", sharpness=300.0),
        analysis("d", sharpness=500.0),
        analysis("e", sharpness=400.0),
    ]
    suggestions = suggest_for_item(images)

    assert suggestions.primary_image_id == "d"
    assert list(suggestions.primary_thumbnails) == list(analysis("d").thumbnails)


def test_primary_is_the_first_of_equally_sharp_images_without_problems() -> None:
    suggestions = suggest_for_item([analysis("a", sharpness=2.0), analysis("b"), analysis("c")])

    assert suggestions.primary_image_id == "b"
    assert list(suggestions.primary_thumbnails) == list(analysis("b").thumbnails)


def test_primary_prefers_milder_problems_then_sharpness() -> None:
    blurry = analysis("a", sharpness=2.0)
    flat = analysis("b", contrast=0.01)
    also_flat = analysis("c", contrast=0.02)

    assert suggest_for_item([blurry, flat, also_flat]).primary_image_id == "b"
    assert suggest_for_item([analysis("x"), analysis("y")]).primary_image_id == "x"


def test_primary_is_never_the_later_copy_of_a_duplicate() -> None:
    first = analysis("a", brightness=0.05)
    copy = analysis(
        "b", sha256=first.sha256, perceptual_hash=first.perceptual_hash, brightness=0.05
    )

    assert suggest_for_item([first, copy]).primary_image_id == "a"


def test_deterministic() -> None:
    analyses = [analysis("a", sharpness=3.0), analysis("b"), analysis("c", brightness=0.99)]

    first = suggest_for_item(analyses, item_title="Table lamp")
    second = suggest_for_item(
        [analysis_pb2.ImageAnalysis.FromString(a.SerializeToString()) for a in analyses],
        item_title="Table lamp",
    )

    assert first.SerializeToString(deterministic=True) == second.SerializeToString(
        deterministic=True
    )
