from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from PIL import Image, ImageFilter

from bubble.processing.v1 import analysis_pb2
from bubble_worker.analysis.hashing import hamming_distance
from bubble_worker.analysis.pillow_analyzer import PillowAnalyzer
from bubble_worker.analysis.suggestions import NEAR_DUPLICATE_MAX_DISTANCE, suggest_for_item
from bubble_worker.analysis.synthetic import checkerboard, photo_like

ANALYZER = PillowAnalyzer()


def analyze(path: Path, image_id: str = "img-1") -> analysis_pb2.ImageAnalysis:
    return ANALYZER.analyze(image_id=image_id, path=path, media_root=path.parent / "media")


def test_rotated_camera_jpeg(tmp_path: Path) -> None:
    stored = photo_like((1200, 900), seed=1)
    stored.paste((255, 0, 0), (0, 0, 150, 150))  # top left as stored: top right when upright
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "Pixelmaker"
    exif[0x0110] = "P-1"
    path = tmp_path / "photo.jpg"
    stored.save(path, quality=90, exif=exif)

    result = analyze(path)

    assert (result.image_id, result.format, result.mode) == ("img-1", "JPEG", "RGB")
    assert (result.width, result.height) == (900, 1200)
    assert result.size_bytes == path.stat().st_size
    assert result.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert len(result.perceptual_hash) == 16
    assert result.perceptual_hash_algorithm == "dhash64"
    assert 1 <= len(result.dominant_colors) <= 5
    assert 0 < result.brightness < 1
    assert 0 < result.contrast < 0.5
    assert result.sharpness > 0
    assert (result.has_alpha, result.frame_count) == (False, 1)
    assert (result.exif.orientation, result.exif.orientation_applied) == (6, True)
    assert (result.exif.camera_make, result.exif.camera_model) == ("Pixelmaker", "P-1")
    assert (result.analyzer_name, result.analyzer_version) == ("pillow", PillowAnalyzer.version)
    assert not result.HasField("analyze_time")
    assert [(t.width, t.height) for t in result.thumbnails] == [(192, 256), (576, 768)]
    with Image.open(tmp_path / "media" / result.thumbnails[1].uri) as thumbnail:
        rgb = thumbnail.convert("RGB")
        assert rgb.getpixel((570, 5)) == (255, 0, 0) or _reddish(rgb.getpixel((570, 5)))
        assert not _reddish(rgb.getpixel((5, 5)))


def _reddish(pixel: object) -> bool:
    assert isinstance(pixel, tuple)
    red, green, blue = pixel
    return bool(red > 200 and green < 60 and blue < 60)


def test_transparent_png(tmp_path: Path) -> None:
    image = Image.new("RGBA", (600, 600), (0, 0, 0, 0))
    image.paste((20, 60, 210, 255), (150, 150, 450, 450))
    path = tmp_path / "cutout.png"
    image.save(path)

    result = analyze(path)

    assert (result.mode, result.has_alpha) == ("RGBA", True)
    assert [c.name for c in result.dominant_colors] == ["blue"]
    assert not result.HasField("exif")
    assert "transparent-background" in suggest_for_item([result]).tags


def test_same_bytes_same_result(tmp_path: Path) -> None:
    path = tmp_path / "a.jpg"
    photo_like((800, 600), seed=2).save(path, quality=85)
    copy = tmp_path / "b.jpg"
    shutil.copyfile(path, copy)

    first, second = analyze(path, "a"), analyze(copy, "a")

    assert first == second
    warnings = suggest_for_item([first, analyze(copy, "b")]).quality_warnings
    assert [(w.kind, w.related_image_id) for w in warnings] == [
        (analysis_pb2.QUALITY_WARNING_KIND_EXACT_DUPLICATE, "a")
    ]


def test_resized_reencoded_copy_is_a_near_duplicate_and_another_photo_is_not(
    tmp_path: Path,
) -> None:
    original = photo_like((1600, 1200), seed=3)
    original.save(tmp_path / "original.jpg", quality=92)
    original.resize((1000, 750)).save(tmp_path / "copy.webp", quality=70)
    photo_like((1600, 1200), seed=4).save(tmp_path / "other.jpg", quality=92)

    first = analyze(tmp_path / "original.jpg", "first")
    copy = analyze(tmp_path / "copy.webp", "copy")
    other = analyze(tmp_path / "other.jpg", "other")

    assert hamming_distance(first.perceptual_hash, copy.perceptual_hash) <= 4
    assert (
        hamming_distance(first.perceptual_hash, other.perceptual_hash) > NEAR_DUPLICATE_MAX_DISTANCE
    )
    warnings = suggest_for_item([first, other, copy]).quality_warnings
    assert [(w.kind, w.image_id, w.related_image_id) for w in warnings] == [
        (analysis_pb2.QUALITY_WARNING_KIND_NEAR_DUPLICATE, "copy", "first")
    ]


def test_blurry_dark_and_bright_photos_are_flagged(tmp_path: Path) -> None:
    sharp = checkerboard((1200, 900), square=24)
    sharp.save(tmp_path / "sharp.png")
    sharp.filter(ImageFilter.GaussianBlur(12)).save(tmp_path / "blurred.png")
    photo = photo_like((1200, 900), seed=5)
    Image.eval(photo, lambda value: value // 6).save(tmp_path / "dark.jpg")
    Image.eval(photo, lambda value: 224 + value // 8).save(tmp_path / "bright.jpg")

    analyses = [
        analyze(tmp_path / name, name)
        for name in ("sharp.png", "blurred.png", "dark.jpg", "bright.jpg")
    ]
    suggestions = suggest_for_item(analyses)

    flagged = {(w.image_id, w.kind) for w in suggestions.quality_warnings}
    assert ("blurred.png", analysis_pb2.QUALITY_WARNING_KIND_BLURRY) in flagged
    assert ("dark.jpg", analysis_pb2.QUALITY_WARNING_KIND_TOO_DARK) in flagged
    assert ("bright.jpg", analysis_pb2.QUALITY_WARNING_KIND_TOO_BRIGHT) in flagged
    assert not {kind for image_id, kind in flagged if image_id == "sharp.png"}
    assert suggestions.primary_image_id == "sharp.png"
