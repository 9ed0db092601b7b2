from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bubble_worker.analysis import files
from bubble_worker.analysis.decoding import MAX_PIXELS, DecodedImage, decode_image
from bubble_worker.analysis.errors import ImageRejectedError
from bubble_worker.analysis.synthetic import photo_like

RED = (255, 0, 0)
BLUE = (0, 0, 255)

_INVERSE: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}
"""How a camera stores an upright picture for each EXIF orientation (the inverse of what a
viewer applies)."""


def decode(path: Path, max_edge: int = 768) -> DecodedImage:
    return decode_image(path, image_id="img-1", max_edge=max_edge)


def rejection(path: Path) -> ImageRejectedError:
    with pytest.raises(ImageRejectedError) as caught:
        decode(path)
    err = caught.value
    assert err.image_id == "img-1"
    assert "Traceback" not in err.reason
    assert "\n" not in err.reason
    return err


def upright_marker_image() -> Image.Image:
    """Blue, 300 wide and 400 high, with a red square in the top-right corner."""
    image = Image.new("RGB", (300, 400), BLUE)
    image.paste(RED, (240, 0, 300, 60))
    return image


def save_with_orientation(image: Image.Image, path: Path, orientation: int, **params: Any) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    image.save(path, exif=exif, **params)


def assert_is_upright_marker(image: Image.Image) -> None:
    assert image.size == (300, 400)
    assert _close(image.getpixel((285, 15)), RED)  # top right
    assert _close(image.getpixel((15, 15)), BLUE)
    assert _close(image.getpixel((285, 385)), BLUE)


def _close(pixel: object, expected: tuple[int, int, int], tolerance: int = 40) -> bool:
    assert isinstance(pixel, tuple)
    return all(abs(int(a) - b) <= tolerance for a, b in zip(pixel, expected, strict=False))


def test_jpeg_with_orientation_6_is_upright_with_swapped_size(tmp_path: Path) -> None:
    path = tmp_path / "rotated.jpg"
    stored = upright_marker_image().transpose(_INVERSE[6])
    assert stored.size == (400, 300)
    save_with_orientation(stored, path, 6, quality=95)

    decoded = decode(path)

    assert (decoded.width, decoded.height) == (300, 400)
    assert decoded.exif is not None
    assert (decoded.exif.orientation, decoded.exif.orientation_applied) == (6, True)
    assert_is_upright_marker(decoded.image)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_ends_upright(tmp_path: Path, orientation: int) -> None:
    upright = upright_marker_image()
    stored = upright.transpose(_INVERSE[orientation]) if orientation in _INVERSE else upright
    path = tmp_path / "oriented.png"
    save_with_orientation(stored, path, orientation)

    decoded = decode(path)

    assert (decoded.width, decoded.height) == (300, 400)
    assert decoded.exif is not None
    assert decoded.exif.orientation_applied == (orientation != 1)
    assert decoded.image.tobytes() == upright.tobytes()


def test_large_jpeg_is_decoded_at_reduced_scale(tmp_path: Path) -> None:
    path = tmp_path / "camera.jpg"
    Image.new("RGB", (4000, 3000), (90, 120, 200)).save(path, quality=90)

    decoded = decode(path, max_edge=768)

    # DCT scaling decodes at 1/4: 1/16 of the pixels, still at least 768 px on the long side.
    assert decoded.decoded_size == (1000, 750)
    assert (decoded.width, decoded.height) == (4000, 3000)
    assert decoded.image.size == (768, 576)


def test_non_jpeg_is_decoded_fully_then_reduced(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    photo_like((2000, 1000), seed=1).save(path)

    decoded = decode(path, max_edge=768)

    assert decoded.decoded_size == (2000, 1000)
    assert decoded.image.size == (768, 384)


def test_png_with_used_alpha_stays_rgba(tmp_path: Path) -> None:
    path = tmp_path / "cutout.png"
    image = Image.new("RGBA", (200, 100), (0, 0, 0, 0))
    image.paste((200, 30, 30, 255), (50, 0, 150, 100))
    image.save(path)

    decoded = decode(path)

    assert (decoded.format, decoded.mode, decoded.image.mode) == ("PNG", "RGBA", "RGBA")


def test_opaque_alpha_channel_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "opaque.png"
    Image.new("RGBA", (50, 50), (10, 20, 30, 255)).save(path)

    decoded = decode(path)

    assert (decoded.mode, decoded.image.mode) == ("RGBA", "RGB")


def test_greyscale_keeps_its_mode_as_a_fact(tmp_path: Path) -> None:
    path = tmp_path / "grey.png"
    Image.new("L", (60, 40), 77).save(path)

    decoded = decode(path)

    assert (decoded.mode, decoded.image.mode) == ("L", "RGB")
    assert decoded.image.getpixel((0, 0)) == (77, 77, 77)
    assert decoded.exif is None


def test_sixteen_bit_greyscale_is_scaled_not_clipped(tmp_path: Path) -> None:
    path = tmp_path / "grey16.png"
    Image.new("I;16", (20, 20), 32768).save(path)

    decoded = decode(path)

    assert decoded.mode == "I;16"
    assert decoded.image.getpixel((0, 0)) == (128, 128, 128)


def test_cmyk_jpeg_is_reported_as_cmyk_and_measured_as_rgb(tmp_path: Path) -> None:
    path = tmp_path / "print.jpg"
    Image.new("CMYK", (120, 80), (0, 255, 255, 0)).save(path, quality=95)  # red ink

    decoded = decode(path)

    assert (decoded.format, decoded.mode, decoded.image.mode) == ("JPEG", "CMYK", "RGB")
    assert _close(decoded.image.getpixel((60, 40)), RED)


def test_palette_gif_with_frames(tmp_path: Path) -> None:
    path = tmp_path / "anim.gif"
    frames = [Image.new("RGB", (64, 48), color).convert("P") for color in (RED, BLUE, RED)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)

    decoded = decode(path)

    assert (decoded.format, decoded.mode, decoded.frame_count) == ("GIF", "P", 3)
    assert _close(decoded.image.getpixel((10, 10)), RED)  # the first frame


def test_gif_transparency_counts_as_alpha(tmp_path: Path) -> None:
    path = tmp_path / "sticker.gif"
    image = Image.new("P", (40, 40), 0)
    image.putpalette([0, 0, 0, 255, 0, 0])
    image.paste(1, (10, 10, 30, 30))
    image.save(path, transparency=0)

    decoded = decode(path)

    assert decoded.image.mode == "RGBA"


@pytest.mark.parametrize(
    ("suffix", "save_format", "expected"),
    [
        (".webp", "WEBP", "WEBP"),
        (".bmp", "BMP", "BMP"),
        (".tif", "TIFF", "TIFF"),
        (".gif", "GIF", "GIF"),
        (".png", "PNG", "PNG"),
        (".jpg", "JPEG", "JPEG"),
    ],
)
def test_allowed_formats_are_decoded(
    tmp_path: Path, suffix: str, save_format: str, expected: str
) -> None:
    path = tmp_path / f"image{suffix}"
    photo_like((90, 60), seed=2).save(path, format=save_format)

    decoded = decode(path)

    assert (decoded.format, decoded.width, decoded.height) == (expected, 90, 60)


def test_mpo_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "stereo.jpg"
    left, right = photo_like((90, 60), seed=3), photo_like((90, 60), seed=4)
    left.save(path, format="MPO", save_all=True, append_images=[right])

    decoded = decode(path)

    assert (decoded.format, decoded.frame_count) == ("MPO", 2)


def test_misleading_extension_does_not_matter(tmp_path: Path) -> None:
    path = tmp_path / "actually-a-png.jpg"
    Image.new("RGB", (10, 10)).save(path, format="PNG")

    assert decode(path).format == "PNG"


# Rejections.


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares its size and has no pixel data: what a decompression bomb's header
    looks like, without needing the bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("width", "height", "said"),
    [
        pytest.param(100_000, 100_000, "100000 × 100000 pixels (10,000 megapixels)", id="huge"),  # noqa: RUF001
        pytest.param(30_000, 30_000, "30000 × 30000 pixels (900 megapixels)", id="pillow-error"),  # noqa: RUF001
        pytest.param(8_001, 8_001, "8001 × 8001 pixels (64.02 megapixels)", id="ours-only"),  # noqa: RUF001
    ],
)
def test_decompression_bomb_png_states_its_own_size_and_the_limit(
    tmp_path: Path, width: int, height: int, said: str
) -> None:
    path = tmp_path / "huge.png"
    path.write_bytes(png_header(width, height))
    assert path.stat().st_size < 100  # the header alone: nothing is decoded to find the size

    err = rejection(path)

    assert err.code == "IMAGE_TOO_LARGE"
    assert err.reason == f"is {said}, more than the {MAX_PIXELS // 1_000_000} megapixels allowed"


@pytest.mark.parametrize(
    "pillow_warning",
    [
        pytest.param(
            "ignored",
            marks=pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning"),
        ),
        pytest.param(
            "raised", marks=pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")
        ),
    ],
)
def test_pillow_bomb_warning_never_lets_an_image_through(
    tmp_path: Path, pillow_warning: str
) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(png_header(10_000, 10_000))  # between Pillow's warning and error limits

    err = rejection(path)

    assert err.code == "IMAGE_TOO_LARGE", pillow_warning
    assert err.reason.startswith("is 10000 × 10000 pixels (100 megapixels),"), pillow_warning  # noqa: RUF001


def test_decompression_bomb_gif_is_too_large(tmp_path: Path) -> None:
    path = tmp_path / "bomb.gif"
    screen = struct.pack("<HH", 65535, 65535) + b"\x00\x00\x00"
    frame = b"," + struct.pack("<HHHH", 0, 0, 65535, 65535) + b"\x00\x02\x02\x4c\x01\x00"
    path.write_bytes(b"GIF89a" + screen + frame + b";")

    err = rejection(path)

    assert err.code == "IMAGE_TOO_LARGE"
    assert err.reason.startswith("is 65535 × 65535 pixels (4,295 megapixels),")  # noqa: RUF001


def test_oversized_file_is_too_large(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.png"
    Image.new("RGB", (10, 10)).save(path)
    monkeypatch.setattr(files, "MAX_FILE_BYTES", 10)

    err = rejection(path)

    assert err.code == "IMAGE_TOO_LARGE"
    assert err.reason == f"is {path.stat().st_size:,} bytes, more than the 10 bytes allowed"


def test_truncated_jpeg_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "cut.jpg"
    photo_like((400, 300), seed=6).save(path, quality=90)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    assert rejection(path).code == "IMAGE_CORRUPT"


def test_truncated_large_jpeg_is_corrupt_even_when_decoded_at_reduced_scale(
    tmp_path: Path,
) -> None:
    path = tmp_path / "cut.jpg"
    photo_like((2400, 1800), seed=6).save(path, quality=90)
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 9 // 10])

    assert rejection(path).code == "IMAGE_CORRUPT"


def test_truncated_png_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "cut.png"
    photo_like((200, 100), seed=7).save(path)
    path.write_bytes(path.read_bytes()[:-200])

    assert rejection(path).code == "IMAGE_CORRUPT"


def test_png_with_broken_header_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "broken.png"
    data = bytearray(png_header(10, 10))
    data[29] ^= 0xFF  # the IHDR checksum
    path.write_bytes(bytes(data))

    err = rejection(path)

    assert (err.code, err.reason) == (
        "IMAGE_CORRUPT",
        "is corrupt: it starts like a PNG image but cannot be read",
    )


def test_empty_file_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.touch()

    err = rejection(path)

    assert (err.code, err.reason) == ("IMAGE_CORRUPT", "is empty (0 bytes)")


def test_text_file_named_jpg_is_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("this is not a picture\n" * 20)

    assert rejection(path).code == "IMAGE_UNSUPPORTED"


@pytest.mark.parametrize(("name", "save_format"), [("vector.jpg", "EPS"), ("scan.png", "PCX")])
def test_images_of_disallowed_formats_are_unsupported(
    tmp_path: Path, name: str, save_format: str
) -> None:
    path = tmp_path / name
    Image.new("RGB", (32, 32), RED).save(path, format=save_format)
    with Image.open(path) as unrestricted:  # Pillow itself would parse it
        assert unrestricted.format == save_format

    err = rejection(path)

    assert err.code == "IMAGE_UNSUPPORTED"
    assert "JPEG" in err.reason


def test_psd_like_file_is_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "layers.png"
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, 32, 32, 8, 3)
    path.write_bytes(header + struct.pack(">III", 0, 0, 0) + b"\x00\x00" + b"\x00" * 3072)

    assert rejection(path).code == "IMAGE_UNSUPPORTED"


def test_missing_file_is_not_found(tmp_path: Path) -> None:
    err = rejection(tmp_path / "nope.jpg")

    assert (err.code, err.reason) == ("IMAGE_NOT_FOUND", "does not exist")


def test_a_folder_says_it_is_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "folder.jpg"
    folder.mkdir()

    err = rejection(folder)

    assert (err.code, err.reason) == ("IMAGE_NOT_FOUND", "is a folder, not an image file")


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning")
def test_junk_exif_does_not_fail_the_image(tmp_path: Path) -> None:
    path = tmp_path / "junk-exif.jpg"
    Image.new("RGB", (64, 48), BLUE).save(
        path, exif=b"Exif\x00\x00II*\x00\xff\xff\xff\x7f" + b"\xa5" * 64
    )

    decoded = decode(path)

    assert (decoded.width, decoded.height) == (64, 48)
    assert decoded.exif is None or decoded.exif.orientation == 0
