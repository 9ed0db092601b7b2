from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import ExifTags, Image

from bubble_worker.analysis.exif import MAX_TEXT_LENGTH, read_exif


def reopen(tmp_path: Path, exif: Image.Exif) -> Image.Image:
    path = tmp_path / "photo.jpg"
    Image.new("RGB", (32, 24), (120, 130, 140)).save(path, exif=exif)
    image = Image.open(path)
    image.load()
    return image


def camera_exif(**exif_ifd: object) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "  Canon\x00 "
    exif[ExifTags.Base.Model] = "Canon EOS R6"
    exif[ExifTags.Base.Orientation] = 3
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    for name, value in exif_ifd.items():
        sub[ExifTags.Base[name]] = value
    return exif


def test_camera_and_orientation(tmp_path: Path) -> None:
    info = read_exif(reopen(tmp_path, camera_exif()))

    assert info is not None
    assert (info.orientation, info.orientation_applied) == (3, False)
    assert (info.camera_make, info.camera_model) == ("Canon", "Canon EOS R6")
    assert not info.HasField("capture_time")


def test_capture_time_applies_the_offset(tmp_path: Path) -> None:
    exif = camera_exif(DateTimeOriginal="2024:06:01 14:30:05", OffsetTimeOriginal="+02:00")

    info = read_exif(reopen(tmp_path, exif))

    assert info is not None
    assert info.capture_time.ToDatetime(tzinfo=UTC) == datetime(2024, 6, 1, 12, 30, 5, tzinfo=UTC)


def test_capture_time_without_offset_is_taken_as_utc(tmp_path: Path) -> None:
    info = read_exif(reopen(tmp_path, camera_exif(DateTimeOriginal="2024:06:01 14:30:05")))

    assert info is not None
    assert info.capture_time.ToDatetime(tzinfo=UTC) == datetime(2024, 6, 1, 14, 30, 5, tzinfo=UTC)


def test_capture_time_falls_back_to_datetime(tmp_path: Path) -> None:
    exif = camera_exif()
    exif[ExifTags.Base.DateTime] = "2023:12:31 23:59:59"

    info = read_exif(reopen(tmp_path, exif))

    assert info is not None
    assert info.capture_time.ToDatetime(tzinfo=UTC) == datetime(
        2023, 12, 31, 23, 59, 59, tzinfo=UTC
    )


@pytest.mark.parametrize("junk", ["0000:00:00 00:00:00", "yesterday", "", "2024:13:45 99:00:00"])
def test_unparsable_capture_time_is_unset(tmp_path: Path, junk: str) -> None:
    info = read_exif(
        reopen(tmp_path, camera_exif(DateTimeOriginal=junk, OffsetTimeOriginal="+99:99"))
    )

    assert info is not None
    assert not info.HasField("capture_time")


def test_junk_values_are_dropped_not_fatal(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 42
    exif[ExifTags.Base.Make] = "\x01\x02" + "x" * 5000
    exif[ExifTags.Base.Model] = "\x00\x00 "

    info = read_exif(reopen(tmp_path, exif))

    assert info is not None
    assert info.orientation == 0
    assert info.camera_make == "x" * MAX_TEXT_LENGTH
    assert info.camera_model == ""


def test_no_exif_block_is_none(tmp_path: Path) -> None:
    path = tmp_path / "plain.png"
    Image.new("RGB", (8, 8)).save(path)

    with Image.open(path) as image:
        image.load()
        assert read_exif(image) is None
